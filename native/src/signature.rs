//! Request signatures: `Base64(HMAC-SHA1(secret, s))`, where `s` is every parameter but
//! `signature`, sorted by name, each written `name=value` with the value encoded as Java's
//! `URLEncoder` does (then `+` as `%20`), joined by `&` and lowercased. That is what CloudStack's
//! `ApiServer.verifyRequest` computes. Widely used clients differ from it (`~`, `*` and `[]`
//! left raw or encoded otherwise, names sorted lowercased), so when the values hold such
//! characters the variants are tried too; every comparison is in constant time.
//!
//! `signatureVersion=3` requires an `expires` time in the future.

use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// How one client spells the string it signs, where it differs from Java's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Variant {
    /// `~` left raw (cs, cmk, cloudstack-go, libcloud) instead of `%7E`.
    pub tilde_raw: bool,
    /// `*` encoded as `%2A` instead of left raw.
    pub star_encoded: bool,
    /// `[` and `]` left raw in values (libcloud).
    pub brackets_raw: bool,
    /// Names sorted after lowercasing (libcloud, cloudmonkey) instead of as sent.
    pub lowercase_sort: bool,
}

impl Variant {
    /// What CloudStack's server computes.
    pub const JAVA: Variant = Variant {
        tilde_raw: false,
        star_encoded: false,
        brackets_raw: false,
        lowercase_sort: false,
    };
}

/// Encodes a value as `URLEncoder.encode(v, "UTF-8").replace("+", "%20")`, or as a variant.
pub fn encode_value(value: &str, variant: Variant, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in value.bytes() {
        let raw = b.is_ascii_alphanumeric()
            || matches!(b, b'.' | b'-' | b'_')
            || (b == b'*' && !variant.star_encoded)
            || (b == b'~' && variant.tilde_raw)
            || (matches!(b, b'[' | b']') && variant.brackets_raw);
        if raw {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
}

/// The string a client signs for these parameters (the `signature` parameter excluded).
pub fn string_to_sign(params: &[(&str, &str)], variant: Variant) -> String {
    let mut sorted: Vec<&(&str, &str)> = params
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("signature"))
        .collect();
    if variant.lowercase_sort {
        sorted.sort_by_cached_key(|(n, _)| n.to_lowercase());
    } else {
        // Java's String.compareTo: UTF-16 code units.
        sorted.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    }
    let mut s = String::with_capacity(params.len() * 24);
    for (i, (name, value)) in sorted.iter().enumerate() {
        if i > 0 {
            s.push('&');
        }
        s.push_str(name);
        s.push('=');
        encode_value(value, variant, &mut s);
    }
    s.to_lowercase()
}

/// `Base64(HMAC-SHA1(secret, s))`.
pub fn sign(secret: &str, s: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret.as_bytes()) else {
        // HMAC takes a key of any length; this branch cannot be reached.
        return String::new();
    };
    mac.update(s.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The spellings worth trying for these parameters: Java's first, then only the variants that
/// would change the string.
pub fn variants_for(params: &[(&str, &str)]) -> Vec<Variant> {
    let any_value = |f: fn(char) -> bool| params.iter().any(|(_, v)| v.chars().any(f));
    let tilde = any_value(|c| c == '~');
    let star = any_value(|c| c == '*');
    let brackets = any_value(|c| c == '[' || c == ']');
    let upper_names = params
        .iter()
        .any(|(n, _)| n.chars().any(char::is_uppercase));
    let mut out = Vec::with_capacity(16);
    for tilde_raw in [false, true] {
        for star_encoded in [false, true] {
            for brackets_raw in [false, true] {
                for lowercase_sort in [false, true] {
                    let useless = (tilde_raw && !tilde)
                        || (star_encoded && !star)
                        || (brackets_raw && !brackets)
                        || (lowercase_sort && !upper_names);
                    if !useless {
                        out.push(Variant {
                            tilde_raw,
                            star_encoded,
                            brackets_raw,
                            lowercase_sort,
                        });
                    }
                }
            }
        }
    }
    out
}

/// True if `signature` signs `params` with `secret` in Java's spelling or a client variant.
/// Every candidate is compared, in constant time, whatever matched before.
pub fn verify(params: &[(&str, &str)], secret: &str, signature: &str) -> bool {
    // A `+` sent raw in a query string arrives as a space.
    let given = signature.trim().replace(' ', "+");
    let mut matched = subtle::Choice::from(0u8);
    for variant in variants_for(params) {
        let expected = sign(secret, &string_to_sign(params, variant));
        matched |= expected.as_bytes().ct_eq(given.as_bytes());
    }
    bool::from(matched)
}

/// Why a signature-version-3 request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    #[error("signatureVersion 3 needs an expires parameter")]
    Missing,
    #[error("the expires value '{0}' is not a date like 2026-01-31T12:00:00+0000")]
    Unparseable(String),
    #[error("the request expired at {0}")]
    Expired(String),
}

/// Parses `expires`: `yyyy-MM-dd'T'HH:mm:ssZ` with `+0000`, `Z` or `+00:00`, optionally with
/// fractional seconds, and CloudStack's legacy `...'Z'+0000`.
pub fn parse_expires(value: &str) -> Option<DateTime<Utc>> {
    // A `+` sent raw in a query string arrives as a space.
    let v = value.trim().replace(' ', "+");
    let v = v.as_str();
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f%:z"] {
        if let Ok(t) = DateTime::parse_from_str(v, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(t.with_timezone(&Utc));
    }
    // Legacy `yyyy-MM-dd'T'HH:mm:ss'Z'Z`: a literal Z followed by the offset.
    if let Some((head, tail)) = v.split_once('Z') {
        if !tail.is_empty() {
            return parse_expires(&format!("{head}{tail}"));
        }
    }
    // A bare UTC time with a trailing Z and fractional seconds chrono did not take above.
    NaiveDateTime::parse_from_str(v.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .filter(|_| v.ends_with('Z'))
        .map(|t| t.and_utc())
}

/// Checks `signatureVersion`/`expires` (both read case-insensitively by the caller).
pub fn check_expiry(
    signature_version: Option<&str>,
    expires: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), ExpiryError> {
    if signature_version.map(str::trim) != Some("3") {
        return Ok(());
    }
    let raw = expires.ok_or(ExpiryError::Missing)?;
    let at = parse_expires(raw).ok_or_else(|| ExpiryError::Unparseable(raw.to_owned()))?;
    if at <= now {
        return Err(ExpiryError::Expired(raw.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

    const SECRET: &str =
        "VDaACYb0LV9eNjTetIOElcVQkvJck_J_QljX_FcHRj87ZKiy0z0ty0ZsYBkoXkY9b7eq1EhwJaw7FF3akA3KBQ";

    /// Python's `quote(v, safe="*")`: unreserved `A-Za-z0-9_.-~` plus `*` (cs).
    const PY_SAFE_STAR: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'_')
        .remove(b'.')
        .remove(b'-')
        .remove(b'~')
        .remove(b'*');
    /// Python's `quote(v, safe="[]*")` (libcloud).
    const PY_SAFE_BRACKETS: &AsciiSet = &PY_SAFE_STAR.remove(b'[').remove(b']');
    /// Go's `url.QueryEscape` unreserved set.
    const GO_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'_')
        .remove(b'.')
        .remove(b'-')
        .remove(b'~');
    /// Java's `URLEncoder` unreserved set, written out independently of the code under test.
    const JAVA_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'_')
        .remove(b'.')
        .remove(b'-')
        .remove(b'*');

    fn python_quote(v: &str, set: &'static AsciiSet) -> String {
        utf8_percent_encode(v, set).to_string()
    }

    /// Go's `url.QueryEscape` then `+`->`%20`, `%2A`->`*` (cmk, cloudstack-go).
    fn go_escape(v: &str) -> String {
        utf8_percent_encode(v, GO_UNRESERVED)
            .to_string()
            .replace("%2A", "*")
    }

    /// What the `cs` client signs: `sorted()` names as sent, `quote(v, safe="*")`, lowercased.
    fn cs_sign(params: &[(&str, &str)]) -> String {
        let mut p: Vec<_> = params.to_vec();
        p.sort();
        let s: Vec<String> = p
            .iter()
            .map(|(k, v)| format!("{k}={}", python_quote(v, PY_SAFE_STAR)))
            .collect();
        sign(SECRET, &s.join("&").to_lowercase())
    }

    /// What libcloud signs: names lowercased then sorted, `quote(v, safe="[]*")`.
    fn libcloud_sign(params: &[(&str, &str)]) -> String {
        let mut p: Vec<(String, &str)> =
            params.iter().map(|(k, v)| (k.to_lowercase(), *v)).collect();
        p.sort();
        let s: Vec<String> = p
            .iter()
            .map(|(k, v)| format!("{k}={}", python_quote(v, PY_SAFE_BRACKETS).to_lowercase()))
            .collect();
        sign(SECRET, &s.join("&"))
    }

    /// What cmk and cloudstack-go sign: `sort.Strings` on names as sent, Go's escaping.
    fn go_sign(params: &[(&str, &str)]) -> String {
        let mut p: Vec<_> = params.to_vec();
        p.sort();
        let s: Vec<String> = p
            .iter()
            .map(|(k, v)| format!("{k}={}", go_escape(v)))
            .collect();
        sign(SECRET, &s.join("&").to_lowercase())
    }

    /// Java's server side: names sorted as sent, `URLEncoder`, lowercased.
    fn java_sign(params: &[(&str, &str)]) -> String {
        let mut p: Vec<_> = params.to_vec();
        p.sort();
        let s: Vec<String> = p
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, JAVA_UNRESERVED)))
            .collect();
        sign(SECRET, &s.join("&").to_lowercase())
    }

    fn base(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut p = vec![
            ("apiKey", "CKABCDEFGHIJKLMNOPQR"),
            ("command", "listVirtualMachines"),
            ("response", "json"),
        ];
        p.extend_from_slice(extra);
        p
    }

    #[test]
    fn java_encoding() {
        let cases = [
            ("abcXYZ019", "abcXYZ019"),
            ("a b", "a%20b"),
            ("a+b", "a%2Bb"),
            ("*", "*"),
            ("~", "%7E"),
            ("[]", "%5B%5D"),
            ("é", "%C3%A9"),
            ("a/b=c&d", "a%2Fb%3Dc%26d"),
            (".-_", ".-_"),
        ];
        for (v, want) in cases {
            let mut s = String::new();
            encode_value(v, Variant::JAVA, &mut s);
            assert_eq!(s, want, "{v}");
        }
    }

    #[test]
    fn known_vector() {
        // The HMAC was computed outside Rust (Python's hmac) from the string written by hand.
        let params = [
            ("command", "listZones"),
            ("apiKey", "key"),
            ("response", "json"),
        ];
        let s = string_to_sign(&params, Variant::JAVA);
        assert_eq!(s, "apikey=key&command=listzones&response=json");
        assert_eq!(sign("secret", &s), "CB2VceYQ2lFqNkAe+39yeUIsH5w=");
        assert!(verify(&params, "secret", "CB2VceYQ2lFqNkAe+39yeUIsH5w="));
    }

    #[test]
    fn every_client_variant_verifies() {
        let values: &[&[(&str, &str)]] = &[
            &[],
            &[("name", "web server 1")],
            &[("name", "a+b*c")],
            &[("name", "tilde~name")],
            &[("keyword", "x[1]")],
            &[("tags[0].key", "env"), ("tags[0].value", "prod~1")],
            &[("displayText", "été ünïcode ☃")],
            &[("userdata", "IyEvYmluL3NoCmVjaG8gaGk=")],
            &[
                ("zoneId", "z"),
                ("displayname", "d"),
                ("displayText", "t~*[x]"),
            ],
            &[
                ("signatureVersion", "3"),
                ("expires", "2030-01-01T00:00:00+0000"),
            ],
        ];
        for extra in values {
            let params = base(extra);
            for (client, sig) in [
                ("java", java_sign(&params)),
                ("cs", cs_sign(&params)),
                ("cmk/cloudstack-go", go_sign(&params)),
                ("libcloud", libcloud_sign(&params)),
            ] {
                assert!(verify(&params, SECRET, &sig), "{client} {extra:?}");
            }
        }
    }

    #[test]
    fn wrong_signatures_fail() {
        let params = base(&[("name", "x~y")]);
        let good = cs_sign(&params);
        assert!(!verify(&params, "other-secret", &good));
        assert!(!verify(&params, SECRET, ""));
        assert!(!verify(&params, SECRET, &good[1..]));
        let mut tampered = params.clone();
        tampered[3] = ("name", "x~z");
        assert!(!verify(&tampered, SECRET, &good));
        // The signature parameter itself is never signed.
        let mut with_sig = params.clone();
        with_sig.push(("signature", "whatever"));
        assert!(verify(&with_sig, SECRET, &good));
    }

    #[test]
    fn letter_case_of_values_is_not_covered() {
        // A consequence of lowercasing the string, kept for compatibility.
        let a = base(&[("name", "Web")]);
        let b = base(&[("name", "web")]);
        assert!(verify(&b, SECRET, &java_sign(&a)));
    }

    #[test]
    fn plus_sent_raw_still_verifies() {
        let params = base(&[]);
        let sig = java_sign(&params);
        assert!(verify(&params, SECRET, &sig.replace('+', " ")));
    }

    #[test]
    fn variants_only_when_needed() {
        assert_eq!(variants_for(&[("command", "listZones")]), [Variant::JAVA]);
        assert_eq!(variants_for(&[("apiKey", "k")]).len(), 2);
        assert_eq!(variants_for(&[("apiKey", "~*[")]).len(), 16);
    }

    #[test]
    fn expires_formats() {
        let want = DateTime::parse_from_rfc3339("2030-01-02T03:04:05Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        for v in [
            "2030-01-02T03:04:05+0000",
            "2030-01-02T03:04:05Z",
            "2030-01-02T03:04:05+00:00",
            "2030-01-02T03:04:05 0000",
            "2030-01-02T03:04:05Z+0000",
            "2030-01-02T05:04:05+0200",
            "2030-01-02T05:04:05+02:00",
        ] {
            assert_eq!(parse_expires(v), want, "{v}");
        }
        for v in [
            "2030-01-02T03:04:05.123Z",
            "2030-01-02T03:04:05.123+0000",
            "2030-01-02T03:04:05.123+00:00",
        ] {
            let got = parse_expires(v).map(|t| t.timestamp_millis());
            assert_eq!(got, want.map(|t| t.timestamp_millis() + 123), "{v}");
        }
        for v in ["", "tomorrow", "2030-01-02", "2030-13-02T03:04:05Z"] {
            assert_eq!(parse_expires(v), None, "{v}");
        }
    }

    #[test]
    fn expiry_rules() {
        let now = DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let future = Some("2030-01-01T00:10:00+0000");
        let past = Some("2029-12-31T23:59:59Z");
        assert_eq!(check_expiry(None, None, now), Ok(()));
        assert_eq!(check_expiry(Some("2"), past, now), Ok(()));
        assert_eq!(check_expiry(Some("3"), future, now), Ok(()));
        assert_eq!(
            check_expiry(Some("3"), None, now),
            Err(ExpiryError::Missing)
        );
        assert!(matches!(
            check_expiry(Some("3"), past, now),
            Err(ExpiryError::Expired(_))
        ));
        assert!(matches!(
            check_expiry(Some("3"), Some("soon"), now),
            Err(ExpiryError::Unparseable(_))
        ));
    }
}
