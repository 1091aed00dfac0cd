//! Sessions: what `login` hands out and what later requests bring back. A session is a
//! random session key (20 bytes, base64url, as CloudStack makes them) plus a `JSESSIONID`;
//! a request is authenticated by the `sessionkey` parameter together with the `JSESSIONID`
//! cookie, and the `sessionkey` cookie must agree when it is sent. The store only ever sees a
//! SHA-256 digest of both, so neither a leaked database nor a leaked URL (which carries only the
//! key) is enough to use a session.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// How long a session lives without use, in seconds (CloudStack's default).
pub const TIMEOUT_SECS: u64 = 1800;

/// A fresh session: the two secrets the client gets.
pub struct NewSession {
    pub key: String,
    pub jsessionid: String,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewSession(***)")
    }
}

impl NewSession {
    pub fn generate() -> Self {
        let mut rng = rand::rngs::OsRng;
        let mut key = [0u8; 20];
        rng.fill_bytes(&mut key);
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        Self {
            key: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key),
            jsessionid: format!("node0{hex}.node0"),
        }
    }

    pub fn digest(&self) -> String {
        digest(&self.key, &self.jsessionid)
    }
}

/// The digest the store keeps for a session key and its `JSESSIONID`.
pub fn digest(key: &str, jsessionid: &str) -> String {
    let mut h = Sha256::new();
    h.update(key.as_bytes());
    h.update([0u8]);
    h.update(jsessionid.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of the cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
}

/// The `Set-Cookie` values a successful login sends.
pub fn login_cookies(session: &NewSession, secure: bool) -> [String; 2] {
    let flags = if secure { ";Secure" } else { "" };
    [
        format!(
            "JSESSIONID={};Path=/client;HttpOnly{flags}",
            session.jsessionid
        ),
        format!("sessionkey={};Path=/client;HttpOnly{flags}", session.key),
    ]
}

/// The `Set-Cookie` values that expire both cookies at logout.
pub fn logout_cookies() -> [String; 2] {
    let gone = ";Path=/client;HttpOnly;Max-Age=0;Expires=Thu, 01 Jan 1970 00:00:00 GMT";
    [format!("JSESSIONID={gone}"), format!("sessionkey={gone}")]
}

/// What a request brings to prove its session, taken from its parameter and cookies.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionProof {
    /// No `sessionkey` parameter: not a session request.
    None,
    /// A session request that cannot be right (no `JSESSIONID`, or cookie and parameter
    /// disagree).
    Invalid,
    /// The digest to look up.
    Digest(String),
}

/// Reads the proof of a session from the `sessionkey` parameter and the cookies.
pub fn proof(param: Option<&str>, headers: &http::HeaderMap) -> SessionProof {
    let Some(key) = param.filter(|k| !k.is_empty()) else {
        return SessionProof::None;
    };
    let Some(jsessionid) = cookie(headers, "JSESSIONID") else {
        return SessionProof::Invalid;
    };
    if let Some(cookie_key) = cookie(headers, "sessionkey") {
        let same: bool =
            subtle::ConstantTimeEq::ct_eq(cookie_key.as_bytes(), key.as_bytes()).into();
        if !same {
            return SessionProof::Invalid;
        }
    }
    SessionProof::Digest(digest(key, jsessionid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        if let Ok(v) = http::HeaderValue::from_str(cookie) {
            h.insert(http::header::COOKIE, v);
        }
        h
    }

    #[test]
    fn new_sessions_have_cloudstack_shapes() {
        let s = NewSession::generate();
        assert_eq!(s.key.len(), 27, "20 bytes of base64url without padding");
        assert!(s
            .key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(s.jsessionid.starts_with("node0") && s.jsessionid.ends_with(".node0"));
        assert_ne!(s.key, NewSession::generate().key);
        assert_eq!(format!("{s:?}"), "NewSession(***)");
        assert_eq!(s.digest().len(), 64);
        assert_ne!(digest(&s.key, "other"), s.digest());
    }

    #[test]
    fn cookies_are_read() {
        let h = headers("a=1; JSESSIONID=node0x.node0;sessionkey=\"k\"");
        assert_eq!(cookie(&h, "JSESSIONID"), Some("node0x.node0"));
        assert_eq!(cookie(&h, "sessionkey"), Some("k"));
        assert_eq!(cookie(&h, "missing"), None);
    }

    #[test]
    fn proofs() {
        let cases = [
            (None, "JSESSIONID=j", SessionProof::None),
            (Some(""), "JSESSIONID=j", SessionProof::None),
            (Some("k"), "", SessionProof::Invalid),
            (Some("k"), "sessionkey=k", SessionProof::Invalid),
            (
                Some("k"),
                "JSESSIONID=j; sessionkey=other",
                SessionProof::Invalid,
            ),
            (
                Some("k"),
                "JSESSIONID=j; sessionkey=k",
                SessionProof::Digest(digest("k", "j")),
            ),
            (
                Some("k"),
                "JSESSIONID=j",
                SessionProof::Digest(digest("k", "j")),
            ),
        ];
        for (param, cookie, want) in cases {
            assert_eq!(proof(param, &headers(cookie)), want, "{param:?} {cookie}");
        }
    }

    #[test]
    fn login_and_logout_cookies() {
        let s = NewSession {
            key: "k".into(),
            jsessionid: "j".into(),
        };
        let [a, b] = login_cookies(&s, false);
        assert_eq!(a, "JSESSIONID=j;Path=/client;HttpOnly");
        assert_eq!(b, "sessionkey=k;Path=/client;HttpOnly");
        assert!(login_cookies(&s, true)[0].ends_with(";Secure"));
        assert!(logout_cookies().iter().all(|c| c.contains("Max-Age=0")));
    }
}
