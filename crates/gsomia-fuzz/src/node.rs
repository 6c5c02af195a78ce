//! The node targets: a real KOR node (SQLite in a temporary folder, its router in process) that
//! knows JPN and the GSOMIA between them, a user for TAXII, and JPN's real keys to seal what the
//! fuzzer writes. Made once per process.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use gsomia_core::{AgreementFile, PartyCode, Scheme, User};
use gsomia_node::{InitOptions, Node};
use serde_json::{Value, json};

const KOR_SCHEME: &str = include_str!("../../../examples/model-case/schemes/KOR.json");
const JPN_SCHEME: &str = include_str!("../../../examples/model-case/schemes/JPN.json");
const GSOMIA: &str = include_str!("../../../examples/model-case/agreements/kor-jpn-gsomia.json");
const REPORT: &str = include_str!("../../../examples/model-case/items/kor-missile-report.json");

struct Fixture {
    rt: tokio::runtime::Runtime,
    node: Arc<Node>,
    /// A KOR analyst's bearer token.
    token: String,
    /// A TAXII collection that holds the report.
    collection: String,
    /// JPN's signing key, as a hostile JPN holds it.
    jpn: gsomia_crypto::SigningKey,
    /// KOR's X25519 public key.
    kor_key: [u8; 32],
}

fn init(dir: &Path, party: &str, scheme: &str) {
    let opts = InitOptions {
        party: party.parse().unwrap(),
        scheme: Scheme::from_json(scheme).unwrap(),
        name: None,
        listen: "127.0.0.1:0".into(),
        endpoint: Some("https://127.0.0.1:9".into()),
        database_url: None,
    };
    gsomia_node::init(dir, opts, "2019-01-01T00:00:00Z").unwrap();
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("gsomia-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        init(&root.join("KOR"), "KOR", KOR_SCHEME);
        init(&root.join("JPN"), "JPN", JPN_SCHEME);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let day = time::macros::datetime!(2019-07-25 00:00 UTC);
        let clock: gsomia_node::Clock = Arc::new(move || day);
        let (node, jpn, token) = rt.block_on(async {
            let kor = Node::open(&root.join("KOR"), clock.clone()).unwrap();
            let jpn = Node::open(&root.join("JPN"), clock).unwrap();
            kor.import_party(jpn.descriptor().unwrap()).unwrap();
            let jpn_key = jpn.keys().signing.clone();
            jpn.close();
            let file: AgreementFile = serde_json::from_str(GSOMIA).unwrap();
            kor.import_agreement(file).unwrap();
            let user: User = serde_json::from_value(json!({
                "id": "kim", "party": "KOR", "roles": ["analyst"], "clearance": "I",
                "duties": ["missile-warning", "dprk-missile"],
            }))
            .unwrap();
            let token = kor.add_user(user).unwrap();
            (kor, jpn_key, token)
        });
        let kor_key = x25519_dalek::PublicKey::from(&node.keys().encryption).to_bytes();
        let mut f = Fixture {
            rt,
            node,
            token,
            collection: String::new(),
            jpn,
            kor_key,
        };
        let (status, _) = f.send(
            "POST",
            "/api/v1/items",
            Some(REPORT.as_bytes().to_vec()),
            "application/json",
        );
        assert_eq!(status, 201, "the fixture's report is published");
        let (_, body) = f.send("GET", "/taxii2/api/collections/", None, "");
        let list: Value = serde_json::from_slice(&body).unwrap();
        f.collection = list["collections"][0]["id"].as_str().unwrap().to_owned();
        f
    })
}

impl Fixture {
    /// Sends a request to the node's router with the analyst's token: the status and body.
    fn send(&self, method: &str, uri: &str, body: Option<Vec<u8>>, kind: &str) -> (u16, Vec<u8>) {
        let auth = format!("Bearer {}", self.token);
        let mut headers = vec![("authorization", auth.as_str())];
        if uri.starts_with("/taxii2/") {
            headers.push(("accept", "application/taxii+json;version=2.1"));
        }
        if !kind.is_empty() {
            headers.push(("content-type", kind));
        }
        let body = body.unwrap_or_default();
        self.rt
            .block_on(gsomia_node::api::call(
                self.node.clone(),
                method,
                uri,
                &headers,
                body,
            ))
            .unwrap()
    }
}

/// Panics on a server error: no client's or partner's bytes may make the node fail.
fn no_server_error(what: &str, (status, body): (u16, Vec<u8>)) {
    assert!(
        status < 500,
        "{what} answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
}

fn percent(data: &[u8]) -> String {
    data.iter()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'=' | b'&' => {
                (*b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// TAXII query parameters and `next` tokens: the input is the query string of a page of the
/// collection's objects.
pub fn taxii_query(data: &[u8]) {
    let f = fixture();
    let uri = format!(
        "/taxii2/api/collections/{}/objects/?{}",
        f.collection,
        percent(data)
    );
    no_server_error("a TAXII query", f.send("GET", &uri, None, ""));
}

/// TAXII envelopes: the input is the body of a POST of objects to the collection.
pub fn taxii_post(data: &[u8]) {
    let f = fixture();
    let uri = format!("/taxii2/api/collections/{}/objects/", f.collection);
    let kind = "application/taxii+json;version=2.1";
    no_server_error(
        "a TAXII POST",
        f.send("POST", &uri, Some(data.to_vec()), kind),
    );
}

/// The federation inbox, from a hostile JPN with its real keys: the input is the envelope's
/// payload. Where it reads as `{"messages": [...]}`, the messages are numbered to follow what
/// the node applied, so that they reach the checks behind the numbering.
pub fn inbox(data: &[u8]) {
    use gsomia_crypto::envelope::{Header, PROTOCOL, seal};
    let f = fixture();
    let jpn: PartyCode = "JPN".parse().unwrap();
    let first = f.node.store().inbox_mark(jpn).unwrap() + 1;
    let (payload, last) = match serde_json::from_slice::<Value>(data) {
        Ok(Value::Object(mut o)) => {
            let mut n = 0;
            if let Some(Value::Array(messages)) = o.get_mut("messages") {
                for m in messages.iter_mut().filter_map(Value::as_object_mut) {
                    m.insert("seq".into(), json!(first + n));
                    n += 1;
                }
            }
            (
                Value::Object(o).to_string().into_bytes(),
                first + n.max(1) - 1,
            )
        }
        _ => (data.to_vec(), first),
    };
    let header = Header {
        protocol: PROTOCOL,
        from: jpn,
        to: f.node.party(),
        id: format!("fuzz-{first}-{}", data.len()),
        seq: (first, last),
        sent: "2019-07-25T00:00:00Z".into(),
    };
    let mut rng = gsomia_node::federation::OsRng;
    let env = seal(&f.jpn, &f.kor_key, header, &payload, &mut rng).unwrap();
    let body = serde_json::to_vec(&env).unwrap();
    no_server_error(
        "the federation inbox",
        f.send(
            "POST",
            "/federation/v1/inbox",
            Some(body),
            "application/json",
        ),
    );
}
