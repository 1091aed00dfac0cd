//! A small XML writer for the door's answers: elements, escaped text, the ec2Query list shape
//! (wrapper + `<item>`), booleans as `true`/`false` and timestamps as UTC ISO 8601 with
//! milliseconds and `Z`. It writes into one `String`; nothing here parses XML.

use bytes::Bytes;
use chrono::{DateTime, Utc};

/// The XML declaration every answer starts with.
pub const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
/// The content type of every answer, success or error.
pub const CONTENT_TYPE: &str = "text/xml;charset=UTF-8";

/// Writes one XML document.
#[derive(Debug)]
pub struct Writer {
    buf: String,
}

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

impl Writer {
    pub fn new() -> Self {
        Self::with_capacity(1024)
    }

    pub fn with_capacity(capacity: usize) -> Self {
        let mut buf = String::with_capacity(capacity);
        buf.push_str(DECLARATION);
        Self { buf }
    }

    pub fn open(&mut self, name: &str) {
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push('>');
    }

    /// Opens the root element with its namespace.
    pub fn open_with_ns(&mut self, name: &str, namespace: &str) {
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push_str(" xmlns=\"");
        escape_attr_into(&mut self.buf, namespace);
        self.buf.push_str("\">");
    }

    pub fn close(&mut self, name: &str) {
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
    }

    /// `<name/>`.
    pub fn empty(&mut self, name: &str) {
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push_str("/>");
    }

    /// `<name>text</name>`, the text escaped.
    pub fn text_element(&mut self, name: &str, text: &str) {
        self.open(name);
        escape_into(&mut self.buf, text);
        self.close(name);
    }

    /// A text element only when there is a value.
    pub fn opt_text(&mut self, name: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.text_element(name, text);
        }
    }

    pub fn bool_element(&mut self, name: &str, value: bool) {
        self.text_element(name, if value { "true" } else { "false" });
    }

    pub fn int_element(&mut self, name: &str, value: i64) {
        self.open(name);
        self.buf.push_str(&value.to_string());
        self.close(name);
    }

    pub fn float_element(&mut self, name: &str, value: f64) {
        self.open(name);
        self.buf.push_str(&value.to_string());
        self.close(name);
    }

    /// A timestamp element: `2026-12-03T21:47:45.000Z`. Never empty.
    pub fn time_element(&mut self, name: &str, at: DateTime<Utc>) {
        self.text_element(name, &timestamp(at));
    }

    /// A list: `<name><item>...</item>...</name>`, or `<name/>` when empty.
    pub fn list<T>(&mut self, name: &str, items: &[T], mut each: impl FnMut(&mut Self, &T)) {
        if items.is_empty() {
            self.empty(name);
            return;
        }
        self.open(name);
        for item in items {
            self.open("item");
            each(self, item);
            self.close("item");
        }
        self.close(name);
    }

    /// A list of plain strings: `<name><item>a</item>...</name>`.
    pub fn string_list(&mut self, name: &str, items: &[&str]) {
        self.list(name, items, |w, s| escape_into(&mut w.buf, s));
    }

    pub fn finish(self) -> String {
        self.buf
    }
}

/// UTC ISO 8601 with milliseconds and `Z`, the form EC2 and every SDK parser accept.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A millisecond Unix time as a timestamp; out-of-range values clamp to the epoch.
pub fn timestamp_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Escapes element content: `&`, `<` and `>` (quotes need no escaping outside attributes).
/// Characters XML 1.0 cannot carry at all (most C0 controls) become U+FFFD rather than making
/// the document unreadable; a carriage return is kept as a character reference.
pub fn escape_into(out: &mut String, text: &str) {
    escape(out, text, false);
}

/// Escapes an attribute value: as element content, plus `"`.
pub fn escape_attr_into(out: &mut String, text: &str) {
    escape(out, text, true);
}

fn escape(out: &mut String, text: &str, attribute: bool) {
    // Most text needs nothing: copy runs of plain characters whole, stopping only at the few
    // that need a replacement (all of them ASCII, apart from the two non-characters).
    let needs = |c: char| {
        matches!(c, '&' | '<' | '>' | '\r' | '\u{FFFE}' | '\u{FFFF}')
            || (c == '"' && attribute)
            || ((c as u32) < 0x20 && c != '\t' && c != '\n')
    };
    let mut rest = text;
    while let Some(at) = rest.find(needs) {
        out.push_str(&rest[..at]);
        let c = rest[at..].chars().next().unwrap_or_default();
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            _ => out.push('\u{FFFD}'),
        }
        rest = &rest[at + c.len_utf8()..];
    }
    out.push_str(rest);
}

/// A complete XML answer with the door's content type.
pub fn response(status: http::StatusCode, body: String) -> http::Response<Bytes> {
    let mut resp = http::Response::new(Bytes::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(CONTENT_TYPE),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        let cases = [
            ("plain", "plain"),
            ("a<b>&c", "a&lt;b&gt;&amp;c"),
            ("\"q\" 'a'", "\"q\" 'a'"),
            ("tab\tnl\ncr\r", "tab\tnl\ncr&#13;"),
            ("bell\u{7}", "bell\u{FFFD}"),
            ("ሴ ünï", "ሴ ünï"),
            ("a\u{FFFE}b&\u{1}", "a\u{FFFD}b&amp;\u{FFFD}"),
        ];
        for (input, want) in cases {
            let mut out = String::new();
            escape_into(&mut out, input);
            assert_eq!(out, want, "{input:?}");
        }
        let mut attr = String::new();
        escape_attr_into(&mut attr, "a\"b<");
        assert_eq!(attr, "a&quot;b&lt;");
    }

    #[test]
    fn lists_and_scalars() {
        let mut w = Writer::new();
        w.open("r");
        w.string_list("set", &["a", "b&"]);
        w.string_list("none", &[]);
        w.bool_element("t", true);
        w.bool_element("f", false);
        w.int_element("n", -3);
        w.time_element("at", timestamp_ms(1_796_333_265_000));
        w.close("r");
        let text = w.finish();
        assert_eq!(
            text.strip_prefix(DECLARATION),
            Some(
                "<r><set><item>a</item><item>b&amp;</item></set><none/><t>true</t><f>false</f>\
                 <n>-3</n><at>2026-12-03T21:27:45.000Z</at></r>"
            )
        );
    }
}
