//! The native door end to end, through `handle`, over a port that answers from memory: what a
//! client sees on the wire for signed and session requests, errors, envelopes and formats.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use cirrus_native::requests::{self, DomainRef, Login};
use cirrus_native::signature::{sign, string_to_sign, Variant};
use cirrus_native::types as wire;
use cirrus_native::{Caller, Listing, LoginUser, NativePort, PortError, Role};
use serde_json::Value;

const ADMIN_KEY: &str = "CKADMINADMINADMINADM";
const ADMIN_SECRET: &str = "admin-secret-admin-secret-admin-secret-0";
const USER_KEY: &str = "CKUSERUSERUSERUSERUS";
const USER_SECRET: &str = "user-secret-user-secret-user-secret-user";
const ZONE_IDS: [&str; 3] = [
    "00000000-0000-4000-8000-000000000001",
    "00000000-0000-4000-8000-000000000002",
    "00000000-0000-4000-8000-000000000003",
];

fn caller(role: Role) -> Caller {
    let (name, id) = match role {
        Role::User => ("bob", "u-bob"),
        _ => ("admin", "u-admin"),
    };
    Caller {
        user_id: id.into(),
        user_name: name.into(),
        account_id: format!("a-{name}"),
        account_name: name.into(),
        role,
        domain_id: "d-root".into(),
        domain_path: "ROOT".into(),
    }
}

#[derive(Default)]
struct MemoryPort {
    sessions: Mutex<HashMap<String, Caller>>,
}

fn internal<T>() -> Result<T, PortError> {
    Err(PortError::Internal("not served by this test port".into()))
}

#[async_trait::async_trait]
impl NativePort for MemoryPort {
    async fn credential(&self, api_key: &str) -> Result<Option<(Caller, String)>, PortError> {
        Ok(match api_key {
            ADMIN_KEY => Some((caller(Role::RootAdmin), ADMIN_SECRET.into())),
            USER_KEY => Some((caller(Role::User), USER_SECRET.into())),
            _ => None,
        })
    }

    async fn login(&self, req: &Login) -> Result<Option<LoginUser>, PortError> {
        let root = matches!(&req.domain, DomainRef::Path(p) if p == "/" || p == "ROOT");
        Ok(
            (root && req.username == "admin" && req.password == "pa ss+w&rd").then(|| LoginUser {
                caller: caller(Role::RootAdmin),
                first_name: "Ada".into(),
                last_name: "Admin".into(),
            }),
        )
    }

    async fn start_session(
        &self,
        _user: &str,
        digest: &str,
        _idle: Duration,
    ) -> Result<(), PortError> {
        let mut s = self
            .sessions
            .lock()
            .map_err(|_| PortError::Internal("poisoned".into()))?;
        s.insert(digest.to_owned(), caller(Role::RootAdmin));
        Ok(())
    }

    async fn session(&self, digest: &str, _idle: Duration) -> Result<Option<Caller>, PortError> {
        let s = self
            .sessions
            .lock()
            .map_err(|_| PortError::Internal("poisoned".into()))?;
        Ok(s.get(digest).cloned())
    }

    async fn end_session(&self, digest: &str) -> Result<(), PortError> {
        let mut s = self
            .sessions
            .lock()
            .map_err(|_| PortError::Internal("poisoned".into()))?;
        s.remove(digest);
        Ok(())
    }

    async fn capabilities(&self, _c: &Caller) -> Result<wire::Capability, PortError> {
        Ok(wire::Capability {
            cloudstackversion: "4.20.0.0".into(),
            ..Default::default()
        })
    }

    async fn list_zones(
        &self,
        _c: &Caller,
        req: &requests::ListInfra,
    ) -> Result<Listing<wire::Zone>, PortError> {
        if let Some(id) = &req.id {
            if !ZONE_IDS.contains(&id.as_str()) {
                return Err(PortError::UnknownId {
                    param: "id",
                    value: id.clone(),
                });
            }
        }
        let zones = ZONE_IDS
            .iter()
            .filter(|id| req.id.as_deref().is_none_or(|want| want == **id))
            .map(|id| wire::Zone {
                id: (*id).into(),
                name: format!("zone <{}> & co", &id[35..]),
                ..Default::default()
            })
            .collect();
        Ok(req.page.slice(zones))
    }

    async fn list_pods(
        &self,
        _c: &Caller,
        _r: &requests::ListInfra,
    ) -> Result<Listing<wire::Pod>, PortError> {
        Ok(Listing::default())
    }
    async fn list_clusters(
        &self,
        _c: &Caller,
        _r: &requests::ListInfra,
    ) -> Result<Listing<wire::Cluster>, PortError> {
        internal()
    }
    async fn list_hosts(
        &self,
        _c: &Caller,
        _r: &requests::ListInfra,
    ) -> Result<Listing<wire::Host>, PortError> {
        internal()
    }
    async fn list_hypervisors(
        &self,
        _c: &Caller,
        _r: &requests::ListHypervisors,
    ) -> Result<Listing<wire::Hypervisor>, PortError> {
        internal()
    }
    async fn list_service_offerings(
        &self,
        _c: &Caller,
        _r: &requests::ListNamed,
    ) -> Result<Listing<wire::ServiceOffering>, PortError> {
        internal()
    }
    async fn list_disk_offerings(
        &self,
        _c: &Caller,
        _r: &requests::ListNamed,
    ) -> Result<Listing<wire::DiskOffering>, PortError> {
        internal()
    }
    async fn list_templates(
        &self,
        _c: &Caller,
        _r: &requests::ListTemplates,
    ) -> Result<Listing<wire::Template>, PortError> {
        Ok(Listing::default())
    }
    async fn list_os_types(
        &self,
        _c: &Caller,
        _r: &requests::ListNamed,
    ) -> Result<Listing<wire::OsType>, PortError> {
        internal()
    }
    async fn list_domains(
        &self,
        _c: &Caller,
        _r: &requests::ListDomains,
    ) -> Result<Listing<wire::Domain>, PortError> {
        internal()
    }
    async fn list_accounts(
        &self,
        _c: &Caller,
        _r: &requests::ListOwned,
    ) -> Result<Listing<wire::Account>, PortError> {
        Err(PortError::PermissionDenied(
            "Account bob may not list resources of another account".into(),
        ))
    }
    async fn list_users(
        &self,
        _c: &Caller,
        _r: &requests::ListOwned,
    ) -> Result<Listing<wire::User>, PortError> {
        internal()
    }
    async fn get_user(&self, _c: &Caller, _r: &requests::GetUser) -> Result<wire::User, PortError> {
        internal()
    }
    async fn list_virtual_machines(
        &self,
        _c: &Caller,
        _r: &requests::ListVirtualMachines,
    ) -> Result<Listing<wire::VirtualMachine>, PortError> {
        Ok(Listing::default())
    }
    async fn list_projects(
        &self,
        _c: &Caller,
        _r: &requests::ListOwned,
    ) -> Result<Listing<wire::Project>, PortError> {
        Ok(Listing::default())
    }
    async fn deploy_virtual_machine(
        &self,
        _c: &Caller,
        r: &requests::DeployVirtualMachine,
    ) -> Result<(String, String), PortError> {
        if r.service_offering_id == ZONE_IDS[2] {
            return Err(PortError::InsufficientCapacity(
                "host h1 has 1 free vCPU of the 2 asked".into(),
            ));
        }
        Ok(("vm-1".into(), "job-1".into()))
    }
    async fn virtual_machine_action(
        &self,
        _c: &Caller,
        r: &requests::VmRequest,
    ) -> Result<String, PortError> {
        match r.action {
            requests::VmAction::Stop { forced: true } => Ok("job-stop-forced".into()),
            _ => Ok("job-other".into()),
        }
    }
}

fn encode(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// A query string signed with Java's rule, as CloudStack's own clients would.
fn signed(key: &str, secret: &str, params: &[(&str, &str)]) -> String {
    let mut all: Vec<(&str, &str)> = params.to_vec();
    all.push(("apiKey", key));
    let sig = sign(secret, &string_to_sign(&all, Variant::JAVA));
    let mut q: Vec<String> = all
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    q.push(format!("signature={}", encode(&sig)));
    q.join("&")
}

struct Reply {
    status: u16,
    content_type: String,
    headers: http::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

async fn call(
    port: &MemoryPort,
    method: &str,
    query: &str,
    body: Option<&str>,
    cookie: Option<&str>,
) -> Reply {
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("/client/api?{query}"));
    if body.is_some() {
        req = req.header("content-type", "application/x-www-form-urlencoded");
    }
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let req = req
        .body(Bytes::from(body.unwrap_or("").to_owned()))
        .expect("a request");
    let resp = cirrus_native::handle(port, req, "test-request").await;
    Reply {
        status: resp.status().as_u16(),
        content_type: resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        headers: resp.headers().clone(),
        body: String::from_utf8_lossy(resp.body()).into_owned(),
    }
}

async fn get(port: &MemoryPort, query: &str) -> Reply {
    call(port, "GET", query, None, None).await
}

#[tokio::test]
async fn signed_list_in_json() {
    let port = MemoryPort::default();
    let r = get(
        &port,
        &signed(
            ADMIN_KEY,
            ADMIN_SECRET,
            &[("command", "listZones"), ("response", "json")],
        ),
    )
    .await;
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (200, "application/json; charset=UTF-8")
    );
    let v = r.json();
    assert_eq!(v["listzonesresponse"]["count"], 3);
    assert_eq!(
        v["listzonesresponse"]["zone"][0]["name"], "zone <1> & co",
        "strings are sent raw"
    );
}

#[tokio::test]
async fn xml_is_the_default() {
    let port = MemoryPort::default();
    let r = get(
        &port,
        &signed(
            ADMIN_KEY,
            ADMIN_SECRET,
            &[("command", "listZones"), ("page", "2"), ("pagesize", "2")],
        ),
    )
    .await;
    assert_eq!((r.status, r.content_type.as_str()), (200, "text/xml"));
    assert!(r.body.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><listzonesresponse cloud-stack-version=\"4.20.0.0\"><count>3</count><zone><id>00000000-0000-4000-8000-000000000003</id><name>zone &lt;3&gt; &amp; co</name>"
    ), "{}", r.body);
}

#[tokio::test]
async fn post_form_merges_with_the_query_which_wins() {
    let port = MemoryPort::default();
    // Signed over the merged parameters; the body's `response=xml` loses to the query's json.
    let all = [
        ("command", "listZones"),
        ("response", "json"),
        ("apiKey", ADMIN_KEY),
    ];
    let sig = sign(ADMIN_SECRET, &string_to_sign(&all, Variant::JAVA));
    let body = format!(
        "command=listZones&apiKey={ADMIN_KEY}&signature={}&response=xml",
        encode(&sig)
    );
    let r = call(&port, "POST", "response=json", Some(&body), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["listzonesresponse"]["count"], 3);
}

#[tokio::test]
async fn authentication_failures_are_401() {
    let port = MemoryPort::default();
    let good = signed(
        ADMIN_KEY,
        ADMIN_SECRET,
        &[("command", "listZones"), ("response", "json")],
    );
    let cases = [
        (
            "bad signature",
            good.replace("signature=", "signature=x"),
            "listzonesresponse",
        ),
        (
            "unknown key",
            signed(
                "CKNOBODY",
                ADMIN_SECRET,
                &[("command", "listZones"), ("response", "json")],
            ),
            "listzonesresponse",
        ),
        (
            "no credentials",
            "command=listZones&response=json".to_owned(),
            "listzonesresponse",
        ),
        (
            "unknown command",
            signed(
                ADMIN_KEY,
                ADMIN_SECRET,
                &[("command", "listzones"), ("response", "json")],
            ),
            "errorresponse",
        ),
        (
            "expired",
            signed(
                ADMIN_KEY,
                ADMIN_SECRET,
                &[
                    ("command", "listZones"),
                    ("response", "json"),
                    ("signatureVersion", "3"),
                    ("expires", "2001-01-01T00:00:00+0000"),
                ],
            ),
            "listzonesresponse",
        ),
        (
            "sigv3 without expires",
            signed(
                ADMIN_KEY,
                ADMIN_SECRET,
                &[
                    ("command", "listZones"),
                    ("response", "json"),
                    ("signatureversion", "3"),
                ],
            ),
            "listzonesresponse",
        ),
        (
            "a user calling an admin command",
            signed(
                USER_KEY,
                USER_SECRET,
                &[("command", "listPods"), ("response", "json")],
            ),
            "listpodsresponse",
        ),
    ];
    for (what, query, name) in cases {
        let r = get(&port, &query).await;
        assert_eq!(r.status, 401, "{what}: {}", r.body);
        let e = &r.json()[name];
        assert_eq!(e["errorcode"], 401, "{what}: {}", r.body);
        assert_eq!(
            e["errortext"],
            "unable to verify user credentials and/or request signature"
        );
        assert!(e.get("cserrorcode").is_none(), "{what}");
        assert_eq!(e["uuidList"], Value::Array(vec![]));
    }
}

#[tokio::test]
async fn sigv3_in_the_future_passes() {
    let port = MemoryPort::default();
    let expires = (chrono::Utc::now() + chrono::Duration::minutes(10))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let q = signed(
        ADMIN_KEY,
        ADMIN_SECRET,
        &[
            ("command", "listZones"),
            ("response", "json"),
            ("signatureVersion", "3"),
            ("expires", &expires),
        ],
    );
    assert_eq!(get(&port, &q).await.status, 200);
}

#[tokio::test]
async fn errors_have_cloudstack_codes_and_texts() {
    let port = MemoryPort::default();
    let q = |params: &[(&str, &str)]| {
        let mut p = vec![("response", "json")];
        p.extend_from_slice(params);
        signed(ADMIN_KEY, ADMIN_SECRET, &p)
    };
    let cases: Vec<(String, &str, u16, Option<u32>, &str)> = vec![
        (q(&[("command", "createVPC")]), "createvpcresponse", 432, Some(9999),
         "The API createVPC is a CloudStack API that this server does not serve yet"),
        (q(&[("command", "createVolume"), ("zoneid", "00000000-0000-4000-8000-00000000000f")]), "createvolumeresponse", 431, Some(4350),
         "At least one of disk Offering ID or snapshot ID must be passed whilst creating volume"),
        (q(&[("command", "createVolume"), ("diskofferingid", "00000000-0000-4000-8000-00000000000f")]), "createvolumeresponse", 431, Some(9999),
         "Unable to execute API command createvolume due to missing parameter zoneid"),
        (q(&[("command", "detachVolume"), ("deviceid", "1")]), "detachvolumeresponse", 431, Some(4350),
         "Please provide either a volume id, or a tuple(device id, instance id)"),
        (q(&[("command", "attachVolume"), ("id", "00000000-0000-4000-8000-00000000000f")]), "attachvolumeresponse", 431, Some(9999),
         "Unable to execute API command attachvolume due to missing parameter virtualmachineid"),
        (q(&[("command", "listTemplates")]), "listtemplatesresponse", 431, Some(9999),
         "Unable to execute API command listtemplates due to missing parameter templatefilter"),
        (q(&[("command", "listZones"), ("id", "00000000-0000-4000-8000-00000000000f")]), "listzonesresponse", 431, Some(9999),
         "Unable to execute API command listzones due to invalid value. Invalid parameter id value=00000000-0000-4000-8000-00000000000f due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class."),
        (q(&[("command", "listZones"), ("page", "1"), ("pagesize", "501")]), "listzonesresponse", 431, Some(4350),
         "Page size can't exceed max allowed page size value: 500"),
        (q(&[("command", "listZones"), ("tags[0]key", "x")]), "listzonesresponse", 430, Some(9999),
         "Unable to decode parameter tags[0]key: map parameters are written name[index].field"),
        (q(&[("command", "listZones"), ("name", "a\tb")]), "listzonesresponse", 431, Some(9999),
         "Received value for parameter name is invalid, contains illegal ASCII non-printable characters"),
        (q(&[("command", "listClusters")]), "listclustersresponse", 530, Some(4250),
         "Internal error executing the command, please contact your system administrator"),
        (q(&[("command", "listTemplates"), ("templatefilter", "nope")]), "listtemplatesresponse", 431, Some(4350),
         "The template filter 'nope' is not one of featured, self, selfexecutable, sharedexecutable, executable, community or all"),
    ];
    for (query, name, status, cs, text) in cases {
        let r = get(&port, &query).await;
        let e = &r.json()[name];
        assert_eq!(r.status, status, "{text}: {}", r.body);
        assert_eq!(e["errorcode"], status, "{}", r.body);
        assert_eq!(e["cserrorcode"].as_u64(), cs.map(u64::from), "{}", r.body);
        assert_eq!(e["errortext"], text);
        assert_eq!(
            r.headers.get("x-description").and_then(|v| v.to_str().ok()),
            Some(text)
        );
    }
    let r = get(
        &port,
        &signed(
            USER_KEY,
            USER_SECRET,
            &[
                ("command", "listAccounts"),
                ("response", "json"),
                ("account", "x"),
            ],
        ),
    )
    .await;
    assert_eq!(
        (
            r.status,
            r.json()["listaccountsresponse"]["cserrorcode"].as_u64()
        ),
        (531, Some(4365))
    );
}

#[tokio::test]
async fn empty_lists_and_single_objects() {
    let port = MemoryPort::default();
    let r = get(
        &port,
        &signed(
            ADMIN_KEY,
            ADMIN_SECRET,
            &[("command", "listVirtualMachines"), ("response", "json")],
        ),
    )
    .await;
    assert_eq!(r.body, r#"{"listvirtualmachinesresponse":{}}"#);
    let r = get(
        &port,
        &signed(
            ADMIN_KEY,
            ADMIN_SECRET,
            &[
                ("command", "listZones"),
                ("response", "json"),
                ("page", "9"),
                ("pagesize", "2"),
            ],
        ),
    )
    .await;
    assert_eq!(r.body, r#"{"listzonesresponse":{"count":3}}"#);
    let r = get(
        &port,
        &signed(
            ADMIN_KEY,
            ADMIN_SECRET,
            &[("command", "listCapabilities"), ("response", "json")],
        ),
    )
    .await;
    assert!(
        r.json()["listcapabilitiesresponse"]["capability"].is_object(),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn list_apis_follows_the_role() {
    let port = MemoryPort::default();
    let names = |r: Reply| -> Vec<String> {
        r.json()["listapisresponse"]["api"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let admin = names(
        get(
            &port,
            &signed(
                ADMIN_KEY,
                ADMIN_SECRET,
                &[("command", "listApis"), ("response", "json")],
            ),
        )
        .await,
    );
    let user = names(
        get(
            &port,
            &signed(
                USER_KEY,
                USER_SECRET,
                &[("command", "listApis"), ("response", "json")],
            ),
        )
        .await,
    );
    assert_eq!(admin.len(), cirrus_native::registry::COMMANDS.len());
    assert!(admin.contains(&"listHosts".to_owned()) && !user.contains(&"listHosts".to_owned()));
    assert!(user.contains(&"listVirtualMachines".to_owned()));
    let one = get(
        &port,
        &signed(
            ADMIN_KEY,
            ADMIN_SECRET,
            &[
                ("command", "listApis"),
                ("response", "json"),
                ("name", "listTemplates"),
            ],
        ),
    )
    .await;
    let api = &one.json()["listapisresponse"]["api"][0];
    assert_eq!(api["name"], "listTemplates");
    assert_eq!(api["isasync"], false);
    let filter = api["params"]
        .as_array()
        .and_then(|p| p.iter().find(|x| x["name"] == "templatefilter").cloned());
    assert_eq!(
        filter.map(|f| (f["required"].clone(), f["type"].clone())),
        Some((Value::Bool(true), Value::from("string")))
    );
}

#[tokio::test]
async fn login_session_logout() {
    let port = MemoryPort::default();
    let form = format!(
        "command=login&username=admin&password={}&domain=%2F&response=json",
        encode("pa ss+w&rd")
    );

    let r = call(&port, "GET", &form, None, None).await;
    assert_eq!(r.status, 405);
    let bad = call(
        &port,
        "POST",
        "",
        Some(&form.replace("pa+ss", "no+ss")),
        None,
    )
    .await;
    assert_eq!(bad.status, 531);
    assert_eq!(bad.json()["loginresponse"]["errorcode"], 531);

    let r = call(&port, "POST", "", Some(&form), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let login = r.json()["loginresponse"].clone();
    assert_eq!(login["timeout"], 1800);
    assert_eq!(login["type"], "1");
    assert_eq!(login["username"], "admin");
    let key = login["sessionkey"].as_str().unwrap_or_default().to_owned();
    let cookies: Vec<String> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect();
    assert_eq!(cookies.len(), 2);
    assert!(cookies
        .iter()
        .any(|c| c.starts_with(&format!("sessionkey={key};"))));
    let jsession = cookies
        .iter()
        .find_map(|c| c.strip_prefix("JSESSIONID="))
        .and_then(|c| c.split(';').next())
        .unwrap_or_default()
        .to_owned();
    let jar = format!("JSESSIONID={jsession}; sessionkey={key}");

    // The query string works too (python cloudmonkey posts it that way).
    assert_eq!(call(&port, "POST", &form, None, None).await.status, 200);

    let list = format!(
        "command=listZones&response=json&sessionkey={}",
        encode(&key)
    );
    assert_eq!(
        call(&port, "GET", &list, None, Some(&jar)).await.status,
        200
    );
    assert_eq!(
        call(&port, "GET", &list, None, None).await.status,
        401,
        "the cookie is needed"
    );
    assert_eq!(
        call(
            &port,
            "GET",
            "command=listZones&response=json",
            None,
            Some(&jar)
        )
        .await
        .status,
        401,
        "so is the parameter"
    );
    let other = format!("JSESSIONID={jsession}; sessionkey=other");
    assert_eq!(
        call(&port, "GET", &list, None, Some(&other)).await.status,
        401,
        "cookie and parameter must agree"
    );

    let out = call(
        &port,
        "GET",
        &format!("command=logout&response=json&sessionkey={}", encode(&key)),
        None,
        Some(&jar),
    )
    .await;
    assert_eq!(out.body, r#"{"logoutresponse":{"description":"success"}}"#);
    assert_eq!(
        call(&port, "GET", &list, None, Some(&jar)).await.status,
        401,
        "the session is over"
    );

    // cloudmonkey logs out with its cookies only.
    let r = call(&port, "POST", "", Some(&form), None).await;
    let key = r.json()["loginresponse"]["sessionkey"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let jsession = r
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("JSESSIONID="))
        .and_then(|c| c.split(';').next())
        .unwrap_or_default()
        .to_owned();
    let jar = format!("JSESSIONID={jsession}; sessionkey={key}");
    let list = format!(
        "command=listZones&response=json&sessionkey={}",
        encode(&key)
    );
    assert_eq!(
        call(&port, "GET", &list, None, Some(&jar)).await.status,
        200
    );
    call(&port, "GET", "command=logout", None, Some(&jar)).await;
    assert_eq!(
        call(&port, "GET", &list, None, Some(&jar)).await.status,
        401,
        "logged out by cookie"
    );
}

#[tokio::test]
async fn no_command_is_400() {
    let port = MemoryPort::default();
    let r = get(&port, "response=json").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["errorresponse"]["errortext"],
        "no command specified"
    );
}

#[tokio::test]
async fn async_commands_answer_their_job() {
    let port = MemoryPort::default();
    let deploy = |key, secret, offering| {
        signed(
            key,
            secret,
            &[
                ("command", "deployVirtualMachine"),
                ("response", "json"),
                ("zoneid", ZONE_IDS[0]),
                ("serviceofferingid", offering),
                ("templateid", ZONE_IDS[1]),
            ],
        )
    };
    let r = get(&port, &deploy(ADMIN_KEY, ADMIN_SECRET, ZONE_IDS[1])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        serde_json::json!({"deployvirtualmachineresponse": {"id": "vm-1", "jobid": "job-1"}})
    );

    let r = get(
        &port,
        &signed(
            USER_KEY,
            USER_SECRET,
            &[
                ("command", "stopVirtualMachine"),
                ("response", "json"),
                ("id", ZONE_IDS[0]),
                ("forced", "true"),
            ],
        ),
    )
    .await;
    assert_eq!(
        r.json(),
        serde_json::json!({"stopvirtualmachineresponse": {"jobid": "job-stop-forced"}})
    );

    // No room: 533 at once, with the placement detail for the root admin only.
    let r = get(&port, &deploy(ADMIN_KEY, ADMIN_SECRET, ZONE_IDS[2])).await;
    assert_eq!(r.status, 533);
    let e = &r.json()["deployvirtualmachineresponse"];
    assert_eq!(
        (e["errorcode"].as_u64(), e["cserrorcode"].as_u64()),
        (Some(533), Some(4335))
    );
    assert!(e["errortext"].as_str().unwrap_or("").contains("host h1"));
    let r = get(&port, &deploy(USER_KEY, USER_SECRET, ZONE_IDS[2])).await;
    assert_eq!(r.status, 533);
    let text = r.json()["deployvirtualmachineresponse"]["errortext"].clone();
    assert!(!text.as_str().unwrap_or("host").contains("host"), "{text}");

    // A command the registry serves but this port does not is CloudStack's 432.
    let r = get(
        &port,
        &signed(
            ADMIN_KEY,
            ADMIN_SECRET,
            &[("command", "listEvents"), ("response", "json")],
        ),
    )
    .await;
    assert_eq!(r.status, 432, "{}", r.body);
}
