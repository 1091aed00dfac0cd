//! A command's arguments: the request's parameters checked against the command's spec (required,
//! type, length) with CloudStack's rules and texts, then read by name, typed. Parameters a
//! command does not declare are ignored, as CloudStack ignores them. Paging (`page`,
//! `pagesize`) and `keyword` are read here too.

use std::collections::{BTreeMap, HashMap};

use crate::error::ApiError;
use crate::params::{split_list, Params};
use crate::registry::{CommandSpec, ParamKind};

/// CloudStack's `default.page.size`: the default and the largest page.
pub const MAX_PAGE_SIZE: u64 = 500;

/// Which slice of a list to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: u64,
    /// `None` for everything (`pagesize=-1`).
    pub limit: Option<u64>,
}

impl Default for Page {
    /// What a list answers without paging parameters: the first 500.
    fn default() -> Self {
        Self {
            offset: 0,
            limit: Some(MAX_PAGE_SIZE),
        }
    }
}

impl Page {
    pub const ALL: Page = Page {
        offset: 0,
        limit: None,
    };

    /// Applies CloudStack's paging rules to `page` and `pagesize`.
    pub fn from_params(page: Option<i64>, page_size: Option<i64>) -> Result<Self, ApiError> {
        match (page, page_size) {
            (None, None) => Ok(Self::default()),
            (Some(_), None) => Err(ApiError::param_error(
                "\"pagesize\" parameter is required when \"page\" is specified",
            )),
            (None, Some(-1)) => Ok(Self::ALL),
            (None, Some(_)) => Err(ApiError::param_error(
                "\"page\" parameter is required when \"pagesize\" is specified",
            )),
            (Some(_), Some(-1)) => Err(ApiError::invalid_parameter(
                "Can't specify page parameter when pagesize is -1 (Unlimited)",
            )),
            (Some(_), Some(size)) if size > MAX_PAGE_SIZE as i64 => {
                Err(ApiError::invalid_parameter(format!(
                    "Page size can't exceed max allowed page size value: {MAX_PAGE_SIZE}"
                )))
            }
            (Some(_), Some(size)) if size < 1 => Err(ApiError::invalid_parameter(format!(
                "Page size {size} is not valid: use -1 for everything or 1 to {MAX_PAGE_SIZE}"
            ))),
            (Some(page), Some(size)) => {
                let size = size.unsigned_abs();
                // CloudStack reads a page below 1 as the first.
                let index = page.max(1).unsigned_abs() - 1;
                Ok(Self {
                    offset: index.saturating_mul(size),
                    limit: Some(size),
                })
            }
        }
    }

    /// This page of an already ordered list, with the total.
    pub fn slice<T>(&self, items: Vec<T>) -> Listing<T> {
        let count = items.len() as u64;
        let offset = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let items = items.into_iter().skip(offset);
        let items = match self.limit {
            Some(n) => items
                .take(usize::try_from(n).unwrap_or(usize::MAX))
                .collect(),
            None => items.collect(),
        };
        Listing { count, items }
    }
}

/// One page of a list and the total across all pages.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing<T> {
    pub count: u64,
    pub items: Vec<T>,
}

impl<T> Default for Listing<T> {
    fn default() -> Self {
        Self {
            count: 0,
            items: Vec::new(),
        }
    }
}

/// True if `keyword` is absent or found, in any case, in one of `fields`.
pub fn keyword_matches(keyword: Option<&str>, fields: &[&str]) -> bool {
    let Some(k) = keyword.filter(|k| !k.is_empty()) else {
        return true;
    };
    let k = k.to_lowercase();
    fields.iter().any(|f| f.to_lowercase().contains(&k))
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Str(String),
    Bool(bool),
    Int(i64),
    List(Vec<String>),
    Map(Vec<BTreeMap<String, String>>),
}

/// The checked arguments of one command.
#[derive(Debug)]
pub struct Args {
    command: &'static str,
    values: HashMap<&'static str, Arg>,
}

/// CloudStack's UUID test: lowercase hex, dashed.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

/// Java's `Integer.valueOf`/`Long.valueOf`: an optional sign and decimal digits.
fn parse_java_int(s: &str, min: i64, max: i64) -> Option<i64> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.starts_with('+') || digits.is_empty() {
        return None;
    }
    digits
        .parse::<i64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
}

impl Args {
    /// Checks the request's parameters against the command's spec.
    pub fn parse(spec: &'static CommandSpec, params: &Params) -> Result<Self, ApiError> {
        let mut values = HashMap::new();
        for p in spec.params() {
            let raw = params.get(p.name);
            let value = match p.kind {
                ParamKind::Map => {
                    let entries = params.map(p.name)?;
                    (!entries.is_empty()).then_some(Arg::Map(entries))
                }
                _ => match raw {
                    None => None,
                    Some(raw) => Self::convert(spec, p, raw)?,
                },
            };
            match value {
                Some(v) => {
                    values.insert(p.name, v);
                }
                None if p.required => {
                    return Err(ApiError::missing_parameter(spec.name, p.name));
                }
                None => {}
            }
        }
        Ok(Self {
            command: spec.name,
            values,
        })
    }

    fn convert(
        spec: &CommandSpec,
        p: &crate::registry::ParamSpec,
        raw: &str,
    ) -> Result<Option<Arg>, ApiError> {
        let invalid = || ApiError::invalid_value(spec.name, p.name, raw);
        let unknown = |v: &str| ApiError::unknown_id(spec.name, p.name, v);
        Ok(match p.kind {
            ParamKind::String => {
                if raw.encode_utf16().count() > p.length as usize {
                    return Err(ApiError::invalid_value_because(
                        spec.name,
                        &format!(
                            "Value greater than max allowed length {} for param: {}",
                            p.length, p.name
                        ),
                    ));
                }
                Some(Arg::Str(raw.to_owned()))
            }
            ParamKind::Boolean => Some(Arg::Bool(raw.trim().eq_ignore_ascii_case("true"))),
            // CloudStack skips a blank integer and lets the command use its default.
            ParamKind::Integer if raw.trim().is_empty() => None,
            ParamKind::Integer => Some(Arg::Int(
                parse_java_int(raw, i64::from(i32::MIN), i64::from(i32::MAX))
                    .ok_or_else(invalid)?,
            )),
            ParamKind::Long => Some(Arg::Int(
                parse_java_int(raw, i64::MIN, i64::MAX).ok_or_else(invalid)?,
            )),
            ParamKind::Uuid if raw.is_empty() => None,
            ParamKind::Uuid if raw == "-1" || is_uuid(raw) => Some(Arg::Str(raw.to_owned())),
            // Newer parameters ignore what is not a UUID; older ones call it unknown.
            ParamKind::Uuid if !p.since.is_empty() => None,
            ParamKind::Uuid => return Err(unknown(raw)),
            ParamKind::UuidList => {
                let mut ids = Vec::new();
                for id in split_list(raw) {
                    if is_uuid(&id) {
                        ids.push(id);
                    } else if p.since.is_empty() {
                        return Err(unknown(&id));
                    }
                }
                Some(Arg::List(ids))
            }
            ParamKind::StringList => Some(Arg::List(split_list(raw))),
            ParamKind::Map => None,
        })
    }

    /// The name of the command these arguments are for.
    pub fn command(&self) -> &'static str {
        self.command
    }

    fn get(&self, name: &str) -> Option<&Arg> {
        self.values.get(name)
    }

    /// A string or UUID parameter.
    pub fn string(&self, name: &str) -> Option<String> {
        match self.get(name) {
            Some(Arg::Str(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// A string or UUID parameter given with a value: an empty one counts as absent, as
    /// CloudStack's optional parameters do.
    pub fn non_empty(&self, name: &str) -> Option<String> {
        self.string(name).filter(|s| !s.is_empty())
    }

    pub fn boolean(&self, name: &str) -> Option<bool> {
        match self.get(name) {
            Some(Arg::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// A boolean parameter, false when absent.
    pub fn flag(&self, name: &str) -> bool {
        self.boolean(name).unwrap_or(false)
    }

    pub fn integer(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(Arg::Int(n)) => Some(*n),
            _ => None,
        }
    }

    pub fn list(&self, name: &str) -> Vec<String> {
        match self.get(name) {
            Some(Arg::List(l)) => l.clone(),
            _ => Vec::new(),
        }
    }

    pub fn map(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        match self.get(name) {
            Some(Arg::Map(m)) => m.clone(),
            _ => Vec::new(),
        }
    }

    /// `page`/`pagesize` under CloudStack's rules.
    pub fn page(&self) -> Result<Page, ApiError> {
        Page::from_params(self.integer("page"), self.integer("pagesize"))
    }

    pub fn keyword(&self) -> Option<String> {
        self.string("keyword").filter(|k| !k.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::find;

    fn args(command: &str, query: &str) -> Result<Args, ApiError> {
        let spec = find(command).ok_or_else(ApiError::unauthorized)?;
        Args::parse(spec, &Params::decode(Some(query), None))
    }

    fn err_text(command: &str, query: &str) -> String {
        args(command, query)
            .err()
            .map(|e| e.text)
            .unwrap_or_default()
    }

    #[test]
    fn paging_rules() {
        let ok = |page, size| Page::from_params(page, size).ok();
        assert_eq!(
            ok(None, None),
            Some(Page {
                offset: 0,
                limit: Some(500)
            })
        );
        assert_eq!(ok(None, Some(-1)), Some(Page::ALL));
        assert_eq!(
            ok(Some(1), Some(500)),
            Some(Page {
                offset: 0,
                limit: Some(500)
            })
        );
        assert_eq!(
            ok(Some(3), Some(10)),
            Some(Page {
                offset: 20,
                limit: Some(10)
            })
        );
        assert_eq!(
            ok(Some(0), Some(10)),
            Some(Page {
                offset: 0,
                limit: Some(10)
            })
        );
        let err = |page, size| {
            Page::from_params(page, size)
                .err()
                .map(|e| (e.code.number(), e.text))
        };
        let cases = [
            (
                Some(1),
                Some(501),
                "Page size can't exceed max allowed page size value: 500",
            ),
            (
                Some(1),
                Some(-1),
                "Can't specify page parameter when pagesize is -1 (Unlimited)",
            ),
            (
                Some(1),
                None,
                "\"pagesize\" parameter is required when \"page\" is specified",
            ),
            (
                None,
                Some(10),
                "\"page\" parameter is required when \"pagesize\" is specified",
            ),
            (
                Some(1),
                Some(0),
                "Page size 0 is not valid: use -1 for everything or 1 to 500",
            ),
        ];
        for (page, size, text) in cases {
            assert_eq!(
                err(page, size),
                Some((431, text.to_owned())),
                "{page:?} {size:?}"
            );
        }
    }

    #[test]
    fn slices_keep_the_total() {
        let all: Vec<u32> = (1..=7).collect();
        let page = Page {
            offset: 3,
            limit: Some(3),
        };
        assert_eq!(
            page.slice(all.clone()),
            Listing {
                count: 7,
                items: vec![4, 5, 6]
            }
        );
        let past = Page {
            offset: 30,
            limit: Some(3),
        };
        assert_eq!(
            past.slice(all.clone()),
            Listing {
                count: 7,
                items: vec![]
            }
        );
        assert_eq!(Page::ALL.slice(all).items.len(), 7);
    }

    #[test]
    fn keywords() {
        assert!(keyword_matches(None, &["x"]));
        assert!(keyword_matches(Some("WEB"), &["a", "my-web-1"]));
        assert!(!keyword_matches(Some("db"), &["web"]));
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("0d8a6c1e-1a4b-4b8e-9f3a-7d2f0b9c1e2d"));
        assert!(!is_uuid("0D8A6C1E-1A4B-4B8E-9F3A-7D2F0B9C1E2D"));
        assert!(!is_uuid("0d8a6c1e1a4b4b8e9f3a7d2f0b9c1e2d"));
        assert!(!is_uuid("1"));
    }

    #[test]
    fn typed_values() {
        let a = args(
            "listZones",
            "id=0d8a6c1e-1a4b-4b8e-9f3a-7d2f0b9c1e2d&Name=z&page=%2B2&pagesize=5",
        )
        .ok();
        let a = a.as_ref();
        assert_eq!(
            a.and_then(|a| a.string("id")).as_deref(),
            Some("0d8a6c1e-1a4b-4b8e-9f3a-7d2f0b9c1e2d")
        );
        assert_eq!(a.and_then(|a| a.string("name")).as_deref(), Some("z"));
        assert_eq!(a.and_then(|a| a.integer("page")), Some(2));
        let b = args(
            "listVirtualMachines",
            "listall=TRUE&isrecursive=yes&ids=a,0d8a6c1e-1a4b-4b8e-9f3a-7d2f0b9c1e2d",
        )
        .ok();
        assert_eq!(b.as_ref().map(|b| b.flag("listall")), Some(true));
        assert_eq!(b.as_ref().map(|b| b.flag("isrecursive")), Some(false));
        // `ids` has a since: what is not a UUID is dropped, as CloudStack does.
        assert_eq!(
            b.map(|b| b.list("ids")),
            Some(vec!["0d8a6c1e-1a4b-4b8e-9f3a-7d2f0b9c1e2d".into()])
        );
        let blank = args("listZones", "page=&pagesize=").ok();
        assert_eq!(blank.map(|b| b.page()), Some(Ok(Page::default())));
    }

    #[test]
    fn parameter_errors() {
        let cases = [
            ("listTemplates", "", "Unable to execute API command listtemplates due to missing parameter templatefilter"),
            ("listZones", "page=x", "Unable to execute API command listzones due to invalid value x for parameter page"),
            ("listZones", "page=99999999999", "Unable to execute API command listzones due to invalid value 99999999999 for parameter page"),
            ("listZones", "id=nope", "Unable to execute API command listzones due to invalid value. Invalid parameter id value=nope due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class."),
        ];
        for (command, query, text) in cases {
            assert_eq!(err_text(command, query), text, "{command} {query}");
        }
        let long = format!("name={}", "x".repeat(256));
        assert_eq!(
            err_text("listZones", &long),
            "Unable to execute API command listzones due to invalid value. Value greater than max \
             allowed length 255 for param: name"
        );
        assert!(args("listZones", &format!("name={}", "é".repeat(255))).is_ok());
    }
}
