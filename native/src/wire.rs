//! The machinery behind the response objects: [`wire_object!`] declares a response object once,
//! as data (field, CloudStack name, type and description), and derives from that both the Rust
//! struct and its field list for `listApis`, so what we describe is what we send. Absent
//! optional fields are left out, as CloudStack's Gson does; empty lists are sent as `[]`.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::registry::FieldSpec;

/// A response object: its fields as `listApis` describes them.
pub trait WireObject {
    const FIELDS: &'static [FieldSpec];
}

/// Whether a field value is left out of the reply (only `None` is).
pub trait Absent {
    fn absent(&self) -> bool {
        false
    }
}

/// The fields of a nested object, for `listApis`; none for plain values.
pub trait Children {
    const CHILDREN: &'static [FieldSpec] = &[];
}

impl<T> Absent for Option<T> {
    fn absent(&self) -> bool {
        self.is_none()
    }
}
impl<T: Children> Children for Option<T> {
    const CHILDREN: &'static [FieldSpec] = T::CHILDREN;
}
impl<T> Absent for Vec<T> {}
impl<T: Children> Children for Vec<T> {
    const CHILDREN: &'static [FieldSpec] = T::CHILDREN;
}

macro_rules! plain {
    ($($t:ty),*) => { $( impl Absent for $t {} impl Children for $t {} )* };
}
plain!(String, bool, i64, u64, i32, u32, Timestamp, BTreeMap<String, String>, serde_json::Value);

/// A point in time, sent as `yyyy-MM-dd'T'HH:mm:ssZ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timestamp(pub i64);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::render::date(self.0))
    }
}

/// The CloudStack name of a field: the Rust name, or the one given with `as`.
#[macro_export]
#[doc(hidden)]
macro_rules! wire_name {
    ($field:ident) => {
        stringify!($field)
    };
    ($field:ident, $wire:literal) => {
        $wire
    };
}

/// Declares a response object: `field [as "wireName"]: Type = "type", "description";`.
#[macro_export]
#[doc(hidden)]
macro_rules! wire_object {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $field:ident $(as $wire:literal)? : $ty:ty = $kind:literal, $desc:literal; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $name {
            $( pub $field: $ty, )*
        }

        impl $crate::wire::WireObject for $name {
            const FIELDS: &'static [$crate::registry::FieldSpec] = &[
                $( $crate::registry::FieldSpec {
                    name: $crate::wire_name!($field $(, $wire)?),
                    kind: $kind,
                    description: $desc,
                    children: <$ty as $crate::wire::Children>::CHILDREN,
                }, )*
            ];
        }

        impl $crate::wire::Absent for $name {}
        impl $crate::wire::Children for $name {
            const CHILDREN: &'static [$crate::registry::FieldSpec] =
                <$name as $crate::wire::WireObject>::FIELDS;
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = s.serialize_map(None)?;
                $(
                    if !$crate::wire::Absent::absent(&self.$field) {
                        map.serialize_entry($crate::wire_name!($field $(, $wire)?), &self.$field)?;
                    }
                )*
                map.end()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    wire_object! {
        /// A test object.
        pub struct Inner {
            key: String = "string", "a key";
        }
    }

    wire_object! {
        /// Another.
        pub struct Outer {
            id: String = "string", "the id";
            r#type as "type": String = "string", "a keyword-named field";
            count: i64 = "integer", "a number";
            when: Timestamp = "date", "a date";
            maybe: Option<String> = "string", "sometimes there";
            inner: Vec<Inner> = "list", "nested";
        }
    }

    #[test]
    fn serializes_as_declared() {
        let o = Outer {
            id: "x".into(),
            r#type: "T".into(),
            count: 3,
            when: Timestamp(0),
            maybe: None,
            inner: vec![Inner { key: "k".into() }],
        };
        let v = serde_json::to_value(&o).unwrap_or_default();
        assert_eq!(
            v,
            serde_json::json!({"id": "x", "type": "T", "count": 3,
                "when": "1970-01-01T00:00:00+0000", "inner": [{"key": "k"}]})
        );
    }

    #[test]
    fn fields_describe_what_is_sent() {
        let names: Vec<&str> = Outer::FIELDS.iter().map(|f| f.name).collect();
        assert_eq!(names, ["id", "type", "count", "when", "maybe", "inner"]);
        assert_eq!(Outer::FIELDS[5].children.len(), 1);
        assert_eq!(Outer::FIELDS[5].children[0].name, "key");
    }
}
