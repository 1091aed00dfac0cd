//! EC2 filters: `Filter.N.Name` with `Filter.N.Value.M`. A resource passes when every filter
//! (AND across names) has a value that matches one of the resource's values for that name (OR
//! across values). Values match case-sensitively, with `*` for any run of characters, `?` for
//! one character, and `\` escaping either. Each action names the filters it knows; any other
//! name is `InvalidParameterValue`, never silently ignored.

use std::borrow::Cow;

use crate::error::Ec2Error;

/// One filter of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

/// A tag on a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

impl Filter {
    pub fn new(name: String, values: Vec<String>) -> Self {
        Self { name, values }
    }

    /// True if any of the resource's values matches any of the filter's.
    pub fn matches<'a>(&self, resource_values: impl IntoIterator<Item = Cow<'a, str>>) -> bool {
        resource_values
            .into_iter()
            .any(|v| self.values.iter().any(|p| wildcard_match(p, &v)))
    }
}

/// The filters an action accepts: exact names, and whether `tag:<key>`, `tag-key` and
/// `tag-value` apply to its resources.
#[derive(Debug, Clone, Copy)]
pub struct FilterNames {
    pub names: &'static [&'static str],
    pub tags: bool,
}

impl FilterNames {
    /// Refuses any filter the action does not know.
    pub fn check(&self, filters: &[Filter]) -> Result<(), Ec2Error> {
        for f in filters {
            let tag_filter =
                f.name.starts_with("tag:") || f.name == "tag-key" || f.name == "tag-value";
            let known = self.names.contains(&f.name.as_str()) || (self.tags && tag_filter);
            if !known {
                return Err(Ec2Error::invalid_value(format!(
                    "The filter '{}' is invalid; this action knows the filters {}.",
                    f.name,
                    self.describe()
                )));
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let mut names: Vec<&str> = self.names.to_vec();
        if self.tags {
            names.extend(["tag:<key>", "tag-key", "tag-value"]);
        }
        names.join(", ")
    }
}

/// The values of a resource's tags for a tag filter, or `None` if `name` is not a tag filter.
pub fn tag_values<'a>(tags: &'a [Tag], name: &str) -> Option<Vec<Cow<'a, str>>> {
    if let Some(key) = name.strip_prefix("tag:") {
        return Some(
            tags.iter()
                .filter(|t| t.key == key)
                .map(|t| Cow::Borrowed(t.value.as_str()))
                .collect(),
        );
    }
    match name {
        "tag-key" => Some(tags.iter().map(|t| Cow::Borrowed(t.key.as_str())).collect()),
        "tag-value" => Some(
            tags.iter()
                .map(|t| Cow::Borrowed(t.value.as_str()))
                .collect(),
        ),
        _ => None,
    }
}

/// True if the resource passes every filter; `values` gives the resource's values for a
/// filter name (already checked to be known).
pub fn passes<T>(
    filters: &[Filter],
    resource: &T,
    values: impl for<'a> Fn(&'a T, &str) -> Vec<Cow<'a, str>>,
) -> bool {
    filters.iter().all(|f| f.matches(values(resource, &f.name)))
}

/// Keeps the resources that pass every filter.
pub fn apply<T>(
    filters: &[Filter],
    resources: Vec<T>,
    values: impl for<'a> Fn(&'a T, &str) -> Vec<Cow<'a, str>>,
) -> Vec<T> {
    if filters.is_empty() {
        return resources;
    }
    resources
        .into_iter()
        .filter(|r| passes(filters, r, &values))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
    AnyRun,
}

fn tokens(pattern: &str) -> Vec<Token> {
    let mut out = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '\\' => Token::Char(chars.next().unwrap_or('\\')),
            '*' => Token::AnyRun,
            '?' => Token::Any,
            c => Token::Char(c),
        });
    }
    out
}

/// Wildcard match of a whole value: `*` any run, `?` one character, `\` escapes. Linear-time
/// with one backtrack point, so a hostile pattern cannot blow up.
pub fn wildcard_match(pattern: &str, value: &str) -> bool {
    let p = tokens(pattern);
    let v: Vec<char> = value.chars().collect();
    let (mut pi, mut vi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        match p.get(pi) {
            Some(Token::AnyRun) => {
                star = Some((pi, vi));
                pi += 1;
            }
            Some(Token::Any) => {
                pi += 1;
                vi += 1;
            }
            Some(Token::Char(c)) if *c == v[vi] => {
                pi += 1;
                vi += 1;
            }
            _ => match star {
                Some((sp, sv)) => {
                    pi = sp + 1;
                    vi = sv + 1;
                    star = Some((sp, sv + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|t| *t == Token::AnyRun)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let cases = [
            ("abc", "abc", true),
            ("abc", "abcd", false),
            ("abc", "ABC", false),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("*c", "abc", true),
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*b*", "abc", true),
            ("*x*", "abc", false),
            (
                "ubuntu/images/*-22.04-*",
                "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64",
                true,
            ),
            ("a\\*", "a*", true),
            ("a\\*", "ab", false),
            ("a\\?", "a?", true),
            ("*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
            ("ሴ?", "ሴx", true),
        ];
        for (p, v, want) in cases {
            assert_eq!(wildcard_match(p, v), want, "{p:?} ~ {v:?}");
        }
    }

    #[test]
    fn and_across_names_or_across_values() {
        #[derive(Debug, PartialEq)]
        struct R {
            name: &'static str,
            state: &'static str,
        }
        fn values<'a>(r: &'a R, name: &str) -> Vec<Cow<'a, str>> {
            match name {
                "name" => vec![Cow::Borrowed(r.name)],
                "state" => vec![Cow::Borrowed(r.state)],
                _ => vec![],
            }
        }
        let rs = || {
            vec![
                R {
                    name: "web",
                    state: "available",
                },
                R {
                    name: "db",
                    state: "pending",
                },
                R {
                    name: "web2",
                    state: "pending",
                },
            ]
        };
        let f = |n: &str, v: &[&str]| {
            Filter::new(n.to_owned(), v.iter().map(|s| (*s).to_owned()).collect())
        };
        let got = apply(&[f("name", &["web*"])], rs(), values);
        assert_eq!(got.len(), 2);
        let got = apply(
            &[f("name", &["web*"]), f("state", &["pending"])],
            rs(),
            values,
        );
        assert_eq!(
            got,
            [R {
                name: "web2",
                state: "pending"
            }]
        );
        let got = apply(&[f("state", &["available", "pending"])], rs(), values);
        assert_eq!(got.len(), 3);
        assert_eq!(apply(&[], rs(), values).len(), 3);
    }

    #[test]
    fn names_are_checked() {
        let names = FilterNames {
            names: &["name", "state"],
            tags: true,
        };
        let f = |n: &str| Filter::new(n.to_owned(), vec!["x".into()]);
        assert!(names
            .check(&[f("name"), f("tag:Name"), f("tag-key")])
            .is_ok());
        let e = names.check(&[f("nmae")]).unwrap_err();
        assert_eq!(e.code, crate::error::Code::InvalidParameterValue);
        assert!(e.message.contains("'nmae'"), "{}", e.message);
        let no_tags = FilterNames {
            names: &["name"],
            tags: false,
        };
        assert!(no_tags.check(&[f("tag:Name")]).is_err());
    }

    #[test]
    fn tag_filters() {
        let tags = vec![Tag {
            key: "Name".into(),
            value: "web".into(),
        }];
        assert_eq!(
            tag_values(&tags, "tag:Name"),
            Some(vec![Cow::Borrowed("web")])
        );
        assert_eq!(tag_values(&tags, "tag:Other"), Some(vec![]));
        assert_eq!(
            tag_values(&tags, "tag-key"),
            Some(vec![Cow::Borrowed("Name")])
        );
        assert_eq!(tag_values(&tags, "name"), None);
    }
}
