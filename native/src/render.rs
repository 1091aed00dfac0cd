//! Rendering: CloudStack's envelopes in JSON or XML. A reply body is a JSON value (an object)
//! under one key, `<command lowercased>response`; lists are `{"count": total, "<object>":
//! [...]}` and an empty list is `{}`; errors carry `uuidList`, `errorcode`, `cserrorcode` and
//! `errortext`. XML is the same tree as elements under a root that names the response, an
//! array becoming repeated elements. Dates are `yyyy-MM-dd'T'HH:mm:ssZ`.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::params::Format;

/// The version this server claims to be wire-compatible with.
pub const CLOUDSTACK_VERSION: &str = "4.20.0.0";

pub const JSON_CONTENT_TYPE: &str = "application/json; charset=UTF-8";
pub const XML_CONTENT_TYPE: &str = "text/xml";

/// A CloudStack date from milliseconds since the epoch, in UTC: `2020-07-23T20:21:28+0000`.
pub fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%z")
        .to_string()
}

/// The name of a command's reply: `listZones` -> `listzonesresponse`.
pub fn response_name(command: &str) -> String {
    format!("{}response", command.to_ascii_lowercase())
}

/// The body of a list reply: `count` is the total across pages; nothing at all when the total
/// is zero; only `count` when the page is past the end.
pub fn list_body(object_name: &str, count: u64, items: Vec<Value>) -> Value {
    let mut body = Map::new();
    if count == 0 {
        return Value::Object(body);
    }
    body.insert("count".into(), Value::from(count));
    if !items.is_empty() {
        body.insert(object_name.into(), Value::Array(items));
    }
    Value::Object(body)
}

/// The body of an error reply.
pub fn error_body(err: &ApiError) -> Value {
    let mut body = Map::new();
    body.insert("uuidList".into(), Value::Array(Vec::new()));
    body.insert("errorcode".into(), Value::from(err.code.number()));
    if let Some(cs) = err.cs_code {
        body.insert("cserrorcode".into(), Value::from(cs));
    }
    body.insert("errortext".into(), Value::from(err.text.clone()));
    Value::Object(body)
}

/// Renders `{response_name: body}` in the asked format: (content type, bytes).
pub fn envelope(format: Format, response_name: &str, body: &Value) -> (&'static str, Bytes) {
    match format {
        Format::Json => {
            // The name is an API name plus `response`: nothing in it needs escaping.
            let mut out = Vec::with_capacity(256);
            out.extend_from_slice(b"{\"");
            out.extend_from_slice(response_name.as_bytes());
            out.extend_from_slice(b"\":");
            if serde_json::to_writer(&mut out, body).is_err() {
                out.extend_from_slice(b"{}");
            }
            out.push(b'}');
            (JSON_CONTENT_TYPE, Bytes::from(out))
        }
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
            out.push('<');
            out.push_str(response_name);
            out.push_str(" cloud-stack-version=\"");
            out.push_str(CLOUDSTACK_VERSION);
            out.push_str("\">");
            xml_children(body, &mut out);
            out.push_str("</");
            out.push_str(response_name);
            out.push('>');
            (XML_CONTENT_TYPE, Bytes::from(out))
        }
    }
}

fn xml_children(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                xml_element(k, v, out);
            }
        }
        other => xml_text(other, out),
    }
}

fn xml_element(name: &str, value: &Value, out: &mut String) {
    match value {
        Value::Null => {}
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                xml_element(name, item, out);
            }
        }
        _ => {
            out.push('<');
            out.push_str(name);
            out.push('>');
            xml_children(value, out);
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
    }
}

fn xml_text(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => escape_xml(s, out),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => {}
    }
}

fn escape_xml(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(format: Format, name: &str, body: &Value) -> String {
        String::from_utf8(envelope(format, name, body).1.to_vec()).unwrap_or_default()
    }

    #[test]
    fn dates() {
        assert_eq!(date(1_595_535_688_000), "2020-07-23T20:21:28+0000");
        assert_eq!(date(0), "1970-01-01T00:00:00+0000");
    }

    #[test]
    fn response_names() {
        assert_eq!(
            response_name("listVirtualMachines"),
            "listvirtualmachinesresponse"
        );
        assert_eq!(response_name("login"), "loginresponse");
    }

    #[test]
    fn list_shapes() {
        let cases = [
            (0, vec![], json!({})),
            (
                2,
                vec![json!({"id": "a"})],
                json!({"count": 2, "zone": [{"id": "a"}]}),
            ),
            (5, vec![], json!({"count": 5})),
        ];
        for (count, items, want) in cases {
            assert_eq!(list_body("zone", count, items), want);
        }
    }

    #[test]
    fn json_envelope() {
        let body = list_body(
            "zone",
            1,
            vec![json!({"id": "z", "name": "<a&b>", "n": 2, "ok": true})],
        );
        let (ct, _) = envelope(Format::Json, "listzonesresponse", &body);
        assert_eq!(ct, "application/json; charset=UTF-8");
        assert_eq!(
            text(Format::Json, "listzonesresponse", &body),
            r#"{"listzonesresponse":{"count":1,"zone":[{"id":"z","name":"<a&b>","n":2,"ok":true}]}}"#
        );
    }

    #[test]
    fn xml_envelope() {
        let body =
            json!({"count": 2, "zone": [{"id": "a", "tags": [], "name": "x<y"}, {"id": "b"}]});
        let (ct, _) = envelope(Format::Xml, "listzonesresponse", &body);
        assert_eq!(ct, "text/xml");
        assert_eq!(
            text(Format::Xml, "listzonesresponse", &body),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><listzonesresponse \
             cloud-stack-version=\"4.20.0.0\"><count>2</count><zone><id>a</id><tags></tags>\
             <name>x&lt;y</name></zone><zone><id>b</id></zone></listzonesresponse>"
        );
    }

    #[test]
    fn error_envelopes() {
        let err = ApiError::missing_parameter("listTemplates", "templatefilter");
        assert_eq!(
            text(Format::Json, "listtemplatesresponse", &error_body(&err)),
            "{\"listtemplatesresponse\":{\"uuidList\":[],\"errorcode\":431,\"cserrorcode\":9999,\
             \"errortext\":\"Unable to execute API command listtemplates due to missing \
             parameter templatefilter\"}}"
        );
        assert_eq!(
            text(
                Format::Xml,
                "errorresponse",
                &error_body(&ApiError::unauthorized())
            ),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><errorresponse \
             cloud-stack-version=\"4.20.0.0\"><uuidList></uuidList><errorcode>401</errorcode>\
             <errortext>unable to verify user credentials and/or request signature</errortext>\
             </errorresponse>"
        );
    }
}
