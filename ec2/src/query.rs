//! ec2Query request decoding: the query string and a form body merged into one parameter map,
//! and the typed readers the actions parse with (scalars, flattened `Name.N` lists, filters).
//!
//! Readers *take* what they read, so once an action has parsed its request whatever is left
//! is a parameter it does not understand: [`Params::finish`] turns that into `UnknownParameter`
//! (a name the EC2 model does not have) or `InvalidParameter` (a known name in a shape Cirrus
//! does not read), never into a silently ignored value.

use std::collections::BTreeMap;

use crate::error::{Code, Ec2Error};
use crate::filter::Filter;
use crate::sigv4::AUTH_QUERY_PARAMS;

/// The parameters of one request, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    /// Merges the query string and, for a form-encoded request, its body. A name given twice
    /// with different values is refused; the presigned form's `X-Amz-*` authentication
    /// parameters are left out (they belong to the signature, not to the action).
    pub fn decode(query: Option<&str>, form_body: Option<&[u8]>) -> Result<Self, Ec2Error> {
        let mut map = BTreeMap::new();
        let sources = [query.map(str::as_bytes), form_body];
        for source in sources.into_iter().flatten() {
            for (k, v) in form_urlencoded::parse(source) {
                if AUTH_QUERY_PARAMS.contains(&k.as_ref()) {
                    continue;
                }
                match map.get(k.as_ref()) {
                    Some(old) if old != v.as_ref() => {
                        return Err(Ec2Error::new(
                            Code::InvalidParameterCombination,
                            format!("The parameter {k} is given twice, with different values."),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        map.insert(k.into_owned(), v.into_owned());
                    }
                }
            }
        }
        Ok(Self { map })
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self {
            map: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// The members of one structure (from [`Params::take_structs`]) as parameters of their own.
    pub fn from_map(map: BTreeMap<String, String>) -> Self {
        Self { map }
    }

    /// Looks at a parameter without taking it.
    pub fn peek(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    pub fn take(&mut self, name: &str) -> Option<String> {
        self.map.remove(name)
    }

    pub fn take_required(&mut self, name: &str) -> Result<String, Ec2Error> {
        self.take(name).ok_or_else(|| {
            Ec2Error::new(
                Code::MissingParameter,
                format!("The request must contain the parameter {name}."),
            )
        })
    }

    /// A boolean: `true` or `false` (any case).
    pub fn take_bool(&mut self, name: &str) -> Result<Option<bool>, Ec2Error> {
        let Some(v) = self.take(name) else {
            return Ok(None);
        };
        match v.to_ascii_lowercase().as_str() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(Ec2Error::invalid_value(format!(
                "Invalid value '{v}' for {name}: it must be true or false."
            ))),
        }
    }

    /// An integer within `min..=max`.
    pub fn take_int(&mut self, name: &str, min: i64, max: i64) -> Result<Option<i64>, Ec2Error> {
        let Some(v) = self.take(name) else {
            return Ok(None);
        };
        match v.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(Ec2Error::invalid_value(format!(
                "Invalid value '{v}' for {name}: it must be an integer from {min} to {max}."
            ))),
        }
    }

    /// The `DryRun` flag, false when absent.
    pub fn take_dry_run(&mut self) -> Result<bool, Ec2Error> {
        Ok(self.take_bool("DryRun")?.unwrap_or(false))
    }

    /// A flattened list of strings: `Prefix.1`, `Prefix.2`, ... in index order.
    pub fn take_list(&mut self, prefix: &str) -> Result<Vec<String>, Ec2Error> {
        let keys = self.indexed_keys(prefix, |rest| rest.is_empty())?;
        Ok(keys
            .into_iter()
            .filter_map(|(_, key)| self.map.remove(&key))
            .collect())
    }

    /// The `Filter.N.Name` / `Filter.N.Value.M` filters, in index order.
    pub fn take_filters(&mut self) -> Result<Vec<Filter>, Ec2Error> {
        let mut indexes: Vec<u32> = Vec::new();
        for key in self.map.keys() {
            let Some(rest) = key.strip_prefix("Filter.") else {
                continue;
            };
            let (index, _) = rest.split_once('.').unwrap_or((rest, ""));
            let n = parse_index("Filter", index, key)?;
            if !indexes.contains(&n) {
                indexes.push(n);
            }
        }
        indexes.sort_unstable();
        let mut filters = Vec::with_capacity(indexes.len());
        for n in indexes {
            let name_key = format!("Filter.{n}.Name");
            let name = self.take(&name_key).ok_or_else(|| {
                Ec2Error::new(
                    Code::MissingParameter,
                    format!("The request must contain the parameter {name_key}."),
                )
            })?;
            let values = self.take_list(&format!("Filter.{n}.Value"))?;
            if values.is_empty() {
                return Err(Ec2Error::invalid_value(format!(
                    "The filter '{name}' has no values: give at least one Filter.{n}.Value.1."
                )));
            }
            filters.push(Filter::new(name, values));
        }
        Ok(filters)
    }

    /// A flattened list of structures, `Prefix.N.Member...`: for each index in order, its
    /// members by the name after `Prefix.N.` (nested names keep their dots).
    pub fn take_structs(
        &mut self,
        prefix: &str,
    ) -> Result<Vec<BTreeMap<String, String>>, Ec2Error> {
        let keys = self.indexed_keys(prefix, |rest| rest.len() > 1)?;
        let mut out: Vec<(u32, BTreeMap<String, String>)> = Vec::new();
        for (n, key) in keys {
            let member = key[prefix.len() + 1..]
                .split_once('.')
                .map(|(_, m)| m.to_owned())
                .unwrap_or_default();
            let Some(value) = self.map.remove(&key) else {
                continue;
            };
            match out.last_mut() {
                Some((last, members)) if *last == n => {
                    members.insert(member, value);
                }
                _ => out.push((n, BTreeMap::from([(member, value)]))),
            }
        }
        Ok(out.into_iter().map(|(_, m)| m).collect())
    }

    /// The keys `Prefix.N<rest>` with their indexes, sorted by index, where `rest_ok` accepts
    /// what follows the index.
    fn indexed_keys(
        &self,
        prefix: &str,
        rest_ok: impl Fn(&str) -> bool,
    ) -> Result<Vec<(u32, String)>, Ec2Error> {
        let mut found = Vec::new();
        for key in self.map.keys() {
            let Some(after) = key.strip_prefix(prefix).and_then(|s| s.strip_prefix('.')) else {
                continue;
            };
            let (index, rest) = match after.find('.') {
                Some(i) => (&after[..i], &after[i..]),
                None => (after, ""),
            };
            if !rest_ok(rest) {
                continue;
            }
            found.push((parse_index(prefix, index, key)?, key.clone()));
        }
        found.sort_unstable();
        Ok(found)
    }

    /// Refuses whatever the action did not take. `known` lists the action's top-level
    /// parameters in the EC2 model.
    pub fn finish(self, known: &[&str]) -> Result<(), Ec2Error> {
        let Some(key) = self.map.keys().next() else {
            return Ok(());
        };
        let top = key.split('.').next().unwrap_or(key);
        if known.contains(&top) {
            Err(Ec2Error::new(
                Code::InvalidParameter,
                format!(
                    "The parameter {key} is not supported in this form; Cirrus reads {top} as \
                     the EC2 API documents it."
                ),
            ))
        } else {
            Err(Ec2Error::new(
                Code::UnknownParameter,
                format!("The parameter {key} is not recognized."),
            ))
        }
    }
}

fn parse_index(prefix: &str, index: &str, key: &str) -> Result<u32, Ec2Error> {
    match index.parse::<u32>() {
        Ok(n) if n >= 1 && !index.starts_with('0') => Ok(n),
        _ => Err(Ec2Error::invalid_value(format!(
            "The parameter {key} has no valid index: number {prefix} parameters from 1, as in \
             {prefix}.1."
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)] // tests fail loudly; case tables
mod tests {
    use super::*;

    #[test]
    fn query_and_body_merge() {
        let cases: &[(Option<&str>, Option<&[u8]>, &[(&str, &str)])] = &[
            (
                Some("Action=DescribeRegions&Version=2016-11-15"),
                None,
                &[("Action", "DescribeRegions"), ("Version", "2016-11-15")],
            ),
            (
                None,
                Some(b"Action=DescribeImages&Owner.1=self&Filter.1.Value.1=a%20b+c"),
                &[
                    ("Action", "DescribeImages"),
                    ("Filter.1.Value.1", "a b c"),
                    ("Owner.1", "self"),
                ],
            ),
            (
                Some("Action=X&X-Amz-Signature=ab&X-Amz-Date=1"),
                Some(b"Version=1&Action=X"),
                &[("Action", "X"), ("Version", "1")],
            ),
        ];
        for (query, body, want) in cases {
            let p = Params::decode(*query, *body).unwrap();
            assert_eq!(p, Params::from_pairs(want), "{query:?} {body:?}");
        }
        let clash = Params::decode(Some("Action=A"), Some(b"Action=B")).unwrap_err();
        assert_eq!(clash.code, Code::InvalidParameterCombination);
    }

    #[test]
    fn lists_in_index_order() {
        let mut p = Params::from_pairs(&[
            ("ImageId.10", "ami-j"),
            ("ImageId.2", "ami-b"),
            ("ImageId.1", "ami-a"),
            ("ImageIds", "other"),
        ]);
        assert_eq!(p.take_list("ImageId").unwrap(), ["ami-a", "ami-b", "ami-j"]);
        assert_eq!(p.take_list("ImageId").unwrap(), Vec::<String>::new());
        assert_eq!(p.peek("ImageIds"), Some("other"));

        for bad in ["ImageId.0", "ImageId.x", "ImageId.01", "ImageId."] {
            let mut p = Params::from_pairs(&[(bad, "v")]);
            let e = p.take_list("ImageId").unwrap_err();
            assert_eq!(e.code, Code::InvalidParameterValue, "{bad}");
        }
    }

    #[test]
    fn filters() {
        let mut p = Params::from_pairs(&[
            ("Filter.2.Name", "state"),
            ("Filter.2.Value.1", "available"),
            ("Filter.1.Name", "name"),
            ("Filter.1.Value.2", "b*"),
            ("Filter.1.Value.1", "a?"),
        ]);
        let f = p.take_filters().unwrap();
        assert_eq!(
            f,
            [
                Filter::new("name".into(), vec!["a?".into(), "b*".into()]),
                Filter::new("state".into(), vec!["available".into()]),
            ]
        );
        assert!(p.finish(&[]).is_ok());

        let mut p = Params::from_pairs(&[("Filter.1.Value.1", "x")]);
        assert_eq!(p.take_filters().unwrap_err().code, Code::MissingParameter);
        let mut p = Params::from_pairs(&[("Filter.1.Name", "x")]);
        assert_eq!(
            p.take_filters().unwrap_err().code,
            Code::InvalidParameterValue
        );
    }

    #[test]
    fn scalars() {
        let mut p = Params::from_pairs(&[
            ("DryRun", "TRUE"),
            ("AllRegions", "yes"),
            ("MaxResults", "5"),
            ("Big", "1001"),
        ]);
        assert!(p.take_dry_run().unwrap());
        assert_eq!(
            p.take_bool("AllRegions").unwrap_err().code,
            Code::InvalidParameterValue
        );
        assert_eq!(p.take_int("MaxResults", 5, 1000).unwrap(), Some(5));
        assert!(p.take_int("Big", 5, 1000).is_err());
        assert_eq!(p.take_int("Missing", 5, 1000).unwrap(), None);
        assert_eq!(
            p.take_required("Action").unwrap_err().code,
            Code::MissingParameter
        );
    }

    #[test]
    fn leftovers_are_refused() {
        let p = Params::from_pairs(&[("Bogus", "1")]);
        assert_eq!(
            p.finish(&["Filter"]).unwrap_err().code,
            Code::UnknownParameter
        );
        let p = Params::from_pairs(&[("ImageId", "ami-1")]);
        assert_eq!(
            p.finish(&["ImageId"]).unwrap_err().code,
            Code::InvalidParameter
        );
    }
}
