//! Request decoding: the parameters of a `/client/api` request as CloudStack's servlet sees
//! them. The query string and an `application/x-www-form-urlencoded` body are merged, the query
//! string winning; for a repeated name only the first value counts. Names keep the case they
//! were sent in (the signature covers them as sent) and are looked up case-insensitively, as
//! `BaseCmd.unpackParams` lowercases them. Map parameters (`tags[0].key=env`) and comma lists
//! are read from here too. Pure functions, tested below.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::error::ApiError;

/// The reply format a request asks for with `response=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CloudStack's default when `response` is absent.
    Xml,
    Json,
}

/// The decoded parameters of one request.
#[derive(Debug, Clone, Default)]
pub struct Params {
    /// Each distinct name as sent, with its winning value, in arrival order (query first).
    pairs: Vec<(String, String)>,
    /// Lowercased name -> index of its first pair.
    index: HashMap<String, usize>,
}

impl Params {
    /// Merges a query string and a form body; query-string values win.
    pub fn decode(query: Option<&str>, form_body: Option<&[u8]>) -> Self {
        let mut params = Self::default();
        let mut seen = HashSet::new();
        let query = query
            .into_iter()
            .flat_map(|q| form_urlencoded::parse(q.as_bytes()));
        let body = form_body.into_iter().flat_map(form_urlencoded::parse);
        for (name, value) in query.chain(body) {
            if !seen.insert(name.clone()) {
                continue;
            }
            params
                .index
                .entry(name.to_lowercase())
                .or_insert(params.pairs.len());
            params.pairs.push((name.into_owned(), value.into_owned()));
        }
        params
    }

    /// Every parameter as sent: what the signature covers.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The value of a parameter, by name in any case.
    pub fn get(&self, name: &str) -> Option<&str> {
        let i = match self.index.get(name) {
            Some(i) => *i,
            None => *self.index.get(&name.to_lowercase())?,
        };
        self.pairs.get(i).map(|(_, v)| v.as_str())
    }

    /// The `command` parameter: its value is case-sensitive.
    pub fn command(&self) -> Option<&str> {
        self.get("command").filter(|c| !c.is_empty())
    }

    pub fn format(&self) -> Format {
        match self.get("response") {
            Some(r) if r.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Xml,
        }
    }

    /// The map parameter `name` (`name[i].field=value`), one map per index in index order.
    /// The part before `[` is matched in any case; field names keep theirs.
    pub fn map(&self, name: &str) -> Result<Vec<BTreeMap<String, String>>, ApiError> {
        let mut by_index: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        for (key, value) in &self.pairs {
            let Some(entry) = parse_map_key(key)? else {
                continue;
            };
            if entry.name.eq_ignore_ascii_case(name) {
                by_index
                    .entry(entry.index)
                    .or_default()
                    .entry(entry.field.to_owned())
                    .or_insert_with(|| value.clone());
            }
        }
        Ok(by_index.into_values().collect())
    }

    /// Checks that every parameter whose name has a `[` is a well-formed map entry.
    pub fn check_map_syntax(&self) -> Result<(), ApiError> {
        for (key, _) in &self.pairs {
            parse_map_key(key)?;
        }
        Ok(())
    }

    /// The first value that holds an ASCII control character CloudStack refuses (tab included,
    /// line breaks allowed), as (name, value).
    pub fn first_control_character(&self) -> Option<(&str, &str)> {
        self.pairs
            .iter()
            .find(|(_, v)| v.chars().any(is_refused_control))
            .map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

fn is_refused_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{9}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{7f}')
}

/// One `name[index].field` key.
#[derive(Debug, PartialEq, Eq)]
struct MapKey<'a> {
    name: &'a str,
    index: u32,
    field: &'a str,
}

/// Parses a map key; a name without `[` is not one (`Ok(None)`), a name with `[` that is not
/// `name[digits].field` is malformed (430).
fn parse_map_key(key: &str) -> Result<Option<MapKey<'_>>, ApiError> {
    let Some((name, rest)) = key.split_once('[') else {
        return Ok(None);
    };
    let malformed = || {
        ApiError::malformed(format!(
            "Unable to decode parameter {key}: map parameters are written name[index].field"
        ))
    };
    let (index, field) = rest.split_once("].").ok_or_else(malformed)?;
    let index_ok =
        !index.is_empty() && index.len() <= 9 && index.bytes().all(|b| b.is_ascii_digit());
    if name.is_empty() || field.is_empty() || !index_ok {
        return Err(malformed());
    }
    let index = index.parse().map_err(|_| malformed())?;
    Ok(Some(MapKey { name, index, field }))
}

/// A comma-separated list, empty items dropped (as Java's `StringTokenizer` does).
pub fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_wins_over_body_and_first_value_counts() {
        let p = Params::decode(
            Some("command=listZones&name=q&name=q2&response=json"),
            Some(b"name=b&zoneId=z1&command=deployVirtualMachine"),
        );
        assert_eq!(p.get("name"), Some("q"));
        assert_eq!(p.command(), Some("listZones"));
        assert_eq!(p.get("zoneid"), Some("z1"));
        assert_eq!(p.get("ZONEID"), Some("z1"));
        assert_eq!(p.format(), Format::Json);
        // The names signed are the distinct names as sent.
        let names: Vec<&str> = p.pairs().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["command", "name", "response", "zoneId"]);
    }

    #[test]
    fn values_are_form_decoded() {
        let cases = [
            ("a=b+c", "b c"),
            ("a=b%2Bc", "b+c"),
            ("a=%7E%2A%5B%5D", "~*[]"),
            ("a=%C3%A9t%C3%A9", "été"),
            ("a=", ""),
        ];
        for (q, want) in cases {
            assert_eq!(Params::decode(Some(q), None).get("a"), Some(want), "{q}");
        }
    }

    #[test]
    fn format_defaults_to_xml() {
        let cases = [
            ("", Format::Xml),
            ("response=xml", Format::Xml),
            ("response=json", Format::Json),
            ("response=JSON", Format::Json),
            ("Response=json", Format::Json),
            ("response=yaml", Format::Xml),
        ];
        for (q, want) in cases {
            assert_eq!(Params::decode(Some(q), None).format(), want, "{q}");
        }
    }

    #[test]
    fn command_is_case_sensitive_in_value() {
        let p = Params::decode(Some("command=listzones"), None);
        assert_eq!(p.command(), Some("listzones"));
        assert_eq!(Params::decode(Some("command="), None).command(), None);
    }

    #[test]
    fn map_parameters() {
        let p = Params::decode(
            Some("tags[1].key=b&Tags[0].key=a&tags[0].value=1&tags[1].Value=2&details[0].cpuNumber=4"),
            None,
        );
        let tags = p.map("tags").unwrap_or_default();
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].get("key").map(String::as_str), Some("a"));
        assert_eq!(tags[0].get("value").map(String::as_str), Some("1"));
        assert_eq!(tags[1].get("Value").map(String::as_str), Some("2"));
        let details = p.map("details").unwrap_or_default();
        assert_eq!(details[0].get("cpuNumber").map(String::as_str), Some("4"));
        assert!(p.map("nothing").unwrap_or_default().is_empty());
        assert!(p.check_map_syntax().is_ok());
    }

    #[test]
    fn malformed_map_keys_are_430() {
        for key in [
            "tags[x].key",
            "tags[0]",
            "tags[0].",
            "[0].key",
            "tags[].key",
            "tags[0]key",
        ] {
            let p = Params::decode(Some(&format!("{key}=v")), None);
            let err = p.check_map_syntax().err();
            assert_eq!(err.map(|e| e.code.number()), Some(430), "{key}");
        }
    }

    #[test]
    fn lists_drop_empty_items() {
        assert_eq!(split_list("a,b,,c,"), ["a", "b", "c"]);
        assert!(split_list("").is_empty());
    }

    #[test]
    fn control_characters() {
        let cases = [
            ("a=x%09y", true),
            ("a=x%00", true),
            ("a=x%7F", true),
            ("a=line%0Anext%0D", false),
            ("a=plain", false),
        ];
        for (q, refused) in cases {
            let p = Params::decode(Some(q), None);
            assert_eq!(p.first_control_character().is_some(), refused, "{q}");
        }
    }
}
