//! The console through the router: sign-in and its session cookie, CSRF, idle sessions,
//! banners, default deny (a user who may not read an item sees neither it nor its topic),
//! every view audited, fields shown as text, and a release previewed before it is made.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use gsomia_node::Node;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{REPORT_ID, call, clock, init, item_id, jpn_node, kor_node, report, temp_dir};

/// An answer: status, headers, body.
struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn send(
    node: &Arc<Node>,
    method: &str,
    uri: &str,
    cookie: &str,
    form: Option<&str>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    if !cookie.is_empty() {
        req = req.header(header::COOKIE, cookie);
    }
    let req = match form {
        Some(f) => req
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(f.to_owned()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let resp = gsomia_node::api::app(node.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

/// The value a `Set-Cookie` of the answer gives `name`, and the whole header.
fn set_cookie(a: &Answer, name: &str) -> (String, String) {
    let line = a
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|l| l.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", a.headers));
    let value = line[name.len() + 1..].split(';').next().unwrap().to_owned();
    (value, line)
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Signs `user` in with `token`: the session cookie (`gsomia_session=…`) and the CSRF token
/// of its forms.
async fn sign_in(node: &Arc<Node>, user: &str, token: &str) -> (String, String) {
    let page = send(node, "GET", "/console/signin", "", None).await;
    assert_eq!(page.status, StatusCode::OK);
    let (signin, line) = set_cookie(&page, "gsomia_signin");
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Strict"),
        "{line}"
    );
    let form = format!(
        "user={}&token={}&csrf={}",
        encode(user),
        encode(token),
        encode(&signin)
    );
    let a = send(
        node,
        "POST",
        "/console/signin",
        &format!("gsomia_signin={signin}"),
        Some(&form),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let (session, line) = set_cookie(&a, "gsomia_session");
    assert!(
        line.contains("HttpOnly")
            && line.contains("SameSite=Strict")
            && line.contains("Secure")
            && line.contains("Path=/console"),
        "{line}"
    );
    let cookie = format!("gsomia_session={session}");
    let home = send(node, "GET", "/console/", &cookie, None).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    let csrf = home
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    (cookie, csrf)
}

fn audit_actions(node: &Node) -> Vec<Value> {
    node.store()
        .audit_after(0, usize::MAX)
        .unwrap()
        .iter()
        .map(|e| serde_json::from_str(&e.body).unwrap())
        .collect()
}

#[tokio::test]
async fn console_sign_in_banners_default_deny_and_every_view_audited() {
    let f = jpn_node("console-jpn", "2019-07-25");
    // Without a session, every page is the sign-in page; headers forbid scripts, framing and
    // caching.
    let a = send(&f.node, "GET", "/console/items", "", None).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.headers[header::LOCATION], "/console/signin");
    let page = send(&f.node, "GET", "/console/signin", "", None).await;
    assert!(
        page.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    assert_eq!(page.headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    assert!(!page.body.contains("<script"), "{}", page.body);
    // A wrong token: refused, no session.
    let (signin, _) = set_cookie(&page, "gsomia_signin");
    let a = send(
        &f.node,
        "POST",
        "/console/signin",
        &format!("gsomia_signin={signin}"),
        Some(&format!("user=sato&token=nope&csrf={signin}")),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(
        a.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("gsomia_session"))
    );
    // Sato (GOKUHI, missile warning) sees Korea's report under a GOKUHI banner, top and
    // bottom, in Japan's own script.
    let (sato, _) = sign_in(&f.node, "sato", &f.tokens["sato"]).await;
    let list = send(&f.node, "GET", "/console/items", &sato, None).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(
        list.body.matches("極秘 GOKUHI — originator KOR").count(),
        2,
        "{}",
        list.body
    );
    assert!(list.body.contains("banner rank-2"));
    assert!(list.body.contains(REPORT_ID));
    let before = audit_actions(&f.node).len();
    let item = send(
        &f.node,
        "GET",
        &format!("/console/items/{REPORT_ID}"),
        &sato,
        None,
    )
    .await;
    assert_eq!(item.status, StatusCode::OK, "{}", item.body);
    assert!(item.body.contains("Two short-range ballistic missiles"));
    let read = &audit_actions(&f.node)[before..];
    assert!(
        read.iter().any(|e| e["action"] == "item.read"
            && e["detail"]["via"] == "console"
            && e["actor"] == "sato"),
        "{read:?}"
    );
    // Tanaka, a contractor, may not read another party's item (P2): neither the item nor its
    // topic appears, and asking for it by id is answered as if it did not exist.
    let (tanaka, _) = sign_in(&f.node, "tanaka", &f.tokens["tanaka"]).await;
    let list = send(&f.node, "GET", "/console/items", &tanaka, None).await;
    assert!(
        list.body.contains("Nothing you may read here"),
        "{}",
        list.body
    );
    assert!(!list.body.contains("dprk-missile") && !list.body.contains(REPORT_ID));
    assert!(list.body.contains("NO CLASSIFIED CONTENT ON THIS PAGE"));
    let item = send(
        &f.node,
        "GET",
        &format!("/console/items/{REPORT_ID}"),
        &tanaka,
        None,
    )
    .await;
    assert_eq!(item.status, StatusCode::NOT_FOUND);
    assert!(
        !item.body.contains("GOKUHI") && !item.body.contains("missile"),
        "{}",
        item.body
    );
}

#[tokio::test]
async fn console_forms_need_the_sessions_csrf_token_and_release_is_previewed_first() {
    let f = kor_node("console-kor", "2019-07-25");
    super::publish(&f).await;
    let (park, csrf) = sign_in(&f.node, "park", &f.tokens["park"]).await;
    // The preview: the decision and its rule, before anything is sent; audited as a preview.
    let counts = f.node.store().counts().unwrap();
    let preview = send(
        &f.node,
        "GET",
        &format!("/console/items/{REPORT_ID}/release?to=JPN"),
        &park,
        None,
    )
    .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(
        preview.body.contains("kor-jpn-gsomia") && preview.body.contains("極秘 GOKUHI"),
        "{}",
        preview.body
    );
    assert_eq!(
        f.node
            .store()
            .outbox_pending(crate::code("JPN"), 10)
            .unwrap()
            .len(),
        0
    );
    assert_eq!(f.node.store().counts().unwrap().audit, counts.audit + 1);
    // Without this session's CSRF token: refused, nothing released.
    let forged = send(
        &f.node,
        "POST",
        &format!("/console/items/{REPORT_ID}/release"),
        &park,
        Some("csrf=forged&to=JPN"),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.body.contains("CSRF"));
    assert_eq!(
        f.node
            .store()
            .outbox_pending(crate::code("JPN"), 10)
            .unwrap()
            .len(),
        0
    );
    // With it: released.
    let done = send(
        &f.node,
        "POST",
        &format!("/console/items/{REPORT_ID}/release"),
        &park,
        Some(&format!("csrf={}&to=JPN", encode(&csrf))),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(
        f.node
            .store()
            .outbox_pending(crate::code("JPN"), 10)
            .unwrap()
            .len(),
        1
    );
    // A refusal names its rule: kim, an analyst, may not release (R7).
    let (kim, _) = sign_in(&f.node, "kim", &f.tokens["kim"]).await;
    let refused = send(
        &f.node,
        "GET",
        &format!("/console/items/{REPORT_ID}/release?to=JPN"),
        &kim,
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("R7"), "{}", refused.body);
    // Sign-out needs the token too, and ends the session.
    let a = send(
        &f.node,
        "POST",
        "/console/signout",
        &park,
        Some("csrf=forged"),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = send(
        &f.node,
        "POST",
        "/console/signout",
        &park,
        Some(&format!("csrf={}", encode(&csrf))),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let a = send(&f.node, "GET", "/console/", &park, None).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    // A sign-in form from elsewhere (its token not the browser's cookie): refused.
    let a = send(
        &f.node,
        "POST",
        "/console/signin",
        "gsomia_signin=mine",
        Some(&format!("user=kim&token={}&csrf=theirs", f.tokens["kim"])),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn console_shows_what_partners_wrote_as_text_never_as_markup() {
    let f = kor_node("console-xss", "2019-07-25");
    let mut r = report();
    r["object"]["name"] = "<script>alert('x')</script><img src=x onerror=alert(1)>".into();
    r["object"]["description"] = "\"><b>bold</b>".into();
    let (s, b) = call(
        &f,
        "POST",
        "/api/v1/items",
        Some("kim"),
        Some(r.to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (kim, _) = sign_in(&f.node, "kim", &f.tokens["kim"]).await;
    for uri in [
        "/console/items".to_owned(),
        format!("/console/items/{REPORT_ID}"),
    ] {
        let a = send(&f.node, "GET", &uri, &kim, None).await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(!a.body.contains("<script") && !a.body.contains("<img") && !a.body.contains("<b>"));
        assert!(a.body.contains("&lt;script&gt;"), "{}", a.body);
    }
}

#[tokio::test]
async fn a_console_session_ends_when_idle_or_when_its_token_is_disabled() {
    let root = temp_dir("console-idle");
    let dir = root.join("KOR");
    init(&dir, "KOR");
    let config = dir.join("gsomia.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("console_idle_secs = 900", "console_idle_secs = 1"),
    )
    .unwrap();
    let node = Node::open(&dir, clock("2019-07-25").0).unwrap();
    let user = |id: &str| {
        let u = serde_json::from_value(json!({"id": id, "party": "KOR", "roles": ["analyst"], "clearance": "II", "duties": ["missile-warning"]})).unwrap();
        node.add_user(u).unwrap()
    };
    let (a, b) = (user("a"), user("b"));
    let (session, _) = sign_in(&node, "a", &a).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let page = send(&node, "GET", "/console/", &session, None).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.headers[header::LOCATION], "/console/signin");
    // Disabled: the session ends at once.
    let (session, _) = sign_in(&node, "b", &b).await;
    node.disable_user("b").unwrap();
    let page = send(&node, "GET", "/console/", &session, None).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_agreement_page_tells_the_story_shows_a_what_if_and_records_a_confirmed_event() {
    let root = temp_dir("console-agreement");
    for p in ["KOR", "JPN"] {
        init(&root.join(p), p);
    }
    let node = Node::open(&root.join("KOR"), clock("2019-08-23").0).unwrap();
    let jpn = Node::open(&root.join("JPN"), clock("2019-08-23").0).unwrap();
    node.import_party(jpn.descriptor().unwrap()).unwrap();
    jpn.close();
    // The GSOMIA as signed in 2016; the 2019 events are for the console to record.
    let mut file: Value =
        serde_json::from_str(&super::read("agreements/kor-jpn-gsomia.json")).unwrap();
    file["events"].as_array_mut().unwrap().truncate(2);
    node.import_agreement(serde_json::from_value(file).unwrap())
        .unwrap();
    let add = |id: &str, roles: Value| {
        let u = serde_json::from_value(json!({"id": id, "party": "KOR", "roles": roles, "clearance": "I", "duties": ["missile-warning"]})).unwrap();
        node.add_user(u).unwrap()
    };
    let (moon, kim) = (
        add("moon", json!(["authority"])),
        add("kim", json!(["analyst"])),
    );
    let (authority, csrf) = sign_in(&node, "moon", &moon).await;
    let uri = "/console/agreements/kor-jpn-gsomia";
    let page = send(&node, "GET", uri, &authority, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for text in [
        "the agreement enters into force (A1)",
        "notice must be received by 2019-08-24",
        "Record an event (KOR)",
        "군사II급비밀 II",
    ] {
        assert!(page.body.contains(text), "no `{text}` in {}", page.body);
    }
    // What if KOR gave notice today?
    let page = send(
        &node,
        "GET",
        &format!("{uri}?notice=2019-08-23"),
        &authority,
        None,
    )
    .await;
    assert!(
        page.body.contains("terminates on 2019-11-23"),
        "{}",
        page.body
    );
    // The notice, reviewed, then recorded with the session's token only.
    let review = send(
        &node,
        "GET",
        &format!("{uri}/event?type=notice&on=2019-08-23"),
        &authority,
        None,
    )
    .await;
    assert!(
        review.body.contains("Record it") && review.body.contains("terminates on 2019-11-23"),
        "{}",
        review.body
    );
    let forged = send(
        &node,
        "POST",
        &format!("{uri}/event"),
        &authority,
        Some("csrf=x&type=notice&on=2019-08-23"),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(
        node.world()
            .agreement("kor-jpn-gsomia")
            .unwrap()
            .events()
            .len()
            == 2
    );
    let done = send(
        &node,
        "POST",
        &format!("{uri}/event"),
        &authority,
        Some(&format!("csrf={}&type=notice&on=2019-08-23", encode(&csrf))),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = send(&node, "GET", uri, &authority, None).await;
    assert!(
        page.body.contains("KOR gives notice of termination"),
        "{}",
        page.body
    );
    assert_eq!(
        node.store()
            .outbox_pending(crate::code("JPN"), 10)
            .unwrap()
            .len(),
        1
    );
    // An analyst reads the story but records nothing.
    let (analyst, _) = sign_in(&node, "kim", &kim).await;
    let page = send(&node, "GET", uri, &analyst, None).await;
    assert!(!page.body.contains("Record an event"));
}

#[tokio::test]
async fn a_holder_reports_an_incident_and_asks_consent_from_the_item_page() {
    let f = jpn_node("console-holder", "2019-07-25");
    let (sato, csrf) = sign_in(&f.node, "sato", &f.tokens["sato"]).await;
    let item = send(
        &f.node,
        "GET",
        &format!("/console/items/{REPORT_ID}"),
        &sato,
        None,
    )
    .await;
    assert!(item.body.contains("Report to the originator"));
    // An analyst may not ask for consent: no form.
    assert!(!item.body.contains("Ask the originator"));
    let a = send(
        &f.node,
        "POST",
        &format!("/console/items/{REPORT_ID}/incident"),
        &sato,
        Some(&format!(
            "csrf={}&kind=possible_compromise&description=left+on+a+train",
            encode(&csrf)
        )),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("it goes to KOR"), "{}", a.body);
    assert!(
        f.node
            .store()
            .outbox_pending(crate::code("KOR"), 10)
            .unwrap()
            .iter()
            .any(|m| m.kind == "incident")
    );
    let (suzuki, csrf) = sign_in(&f.node, "suzuki", &f.tokens["suzuki"]).await;
    let a = send(
        &f.node,
        "POST",
        &format!("/console/items/{REPORT_ID}/consent"),
        &suzuki,
        Some(&format!("csrf={}&to=USA&until=2019-12-31", encode(&csrf))),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(
        f.node
            .store()
            .outbox_pending(crate::code("KOR"), 10)
            .unwrap()
            .iter()
            .any(|m| m.kind == "consent_request")
    );
}

#[tokio::test]
async fn an_analyst_publishes_from_the_console_and_a_refusal_keeps_the_form() {
    let f = kor_node("console-publish", "2019-07-25");
    let object = report()["object"].to_string();
    let form = |csrf: &str, level: &str| {
        format!(
            "csrf={}&object={}&level={level}&topics=dprk-missile&purpose=missile-warning&releasable_to=JPN%2C+USA&grading=B2",
            encode(csrf),
            encode(&object)
        )
    };
    // Choi (cleared III) may not classify at II (P1): refused, named, the form kept.
    let (choi, csrf) = sign_in(&f.node, "choi", &f.tokens["choi"]).await;
    let a = send(
        &f.node,
        "POST",
        "/console/publish",
        &choi,
        Some(&form(&csrf, "II")),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(
        a.body.contains("Refused, <strong>P1</strong>"),
        "{}",
        a.body
    );
    assert!(a.body.contains("Two short-range ballistic missiles"));
    assert!(
        f.node
            .store()
            .item(&item_id(REPORT_ID), None)
            .unwrap()
            .is_none()
    );
    // Malformed JSON: named, nothing stored.
    let a = send(
        &f.node,
        "POST",
        "/console/publish",
        &choi,
        Some(&format!(
            "csrf={}&object=%7Bnope&level=III&topics=x&purpose=y",
            encode(&csrf)
        )),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.contains("not JSON"), "{}", a.body);
    // Kim (II) publishes: the item page, under a II banner.
    let (kim, csrf) = sign_in(&f.node, "kim", &f.tokens["kim"]).await;
    let a = send(
        &f.node,
        "POST",
        "/console/publish",
        &kim,
        Some(&form(&csrf, "II")),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(
        a.headers[header::LOCATION],
        format!("/console/items/{REPORT_ID}")
    );
    let stored = f
        .node
        .store()
        .item(&item_id(REPORT_ID), None)
        .unwrap()
        .unwrap();
    assert_eq!(stored.label.level.as_str(), "II");
    assert_eq!(
        stored.label.grading.map(|g| g.to_string()).as_deref(),
        Some("B2")
    );
    // Without the session's token: nothing.
    let a = send(
        &f.node,
        "POST",
        "/console/publish",
        &kim,
        Some(&form("forged", "II")),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn officers_read_the_audit_log_in_the_console_and_analysts_are_refused() {
    let f = kor_node("console-audit", "2019-07-25");
    super::publish(&f).await;
    let (park, _) = sign_in(&f.node, "park", &f.tokens["park"]).await;
    let page = send(&f.node, "GET", "/console/audit?q=item.publish", &park, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("item.publish") && page.body.contains(REPORT_ID),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("user.add"),
        "the filter kept other actions"
    );
    let (kim, _) = sign_in(&f.node, "kim", &f.tokens["kim"]).await;
    let before = f.node.store().counts().unwrap().audit;
    let page = send(&f.node, "GET", "/console/audit", &kim, None).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("P7"), "{}", page.body);
    assert_eq!(
        f.node.store().counts().unwrap().audit,
        before + 1,
        "the refusal is audited"
    );
}

#[tokio::test]
async fn a_passphrase_signs_in_is_kept_only_as_argon2id_and_changing_it_ends_sessions() {
    let f = kor_node("console-passphrase", "2019-07-25");
    let short = f.node.set_passphrase("kim", "too short").unwrap_err();
    assert!(short.to_string().contains("12 characters"), "{short}");
    f.node
        .set_passphrase("kim", "correct horse battery staple")
        .unwrap();
    let phc = f.node.store().passphrase("kim").unwrap().unwrap();
    assert!(
        phc.starts_with("$argon2id$") && !phc.contains("horse"),
        "{phc}"
    );
    assert!(
        audit_actions(&f.node)
            .iter()
            .any(|e| e["action"] == "user.passwd"
                && e["subject"] == "kim"
                && !e.to_string().contains("horse"))
    );
    let (session, _) = sign_in(&f.node, "kim", "correct horse battery staple").await;
    // Another user's passphrase, or a wrong one: refused.
    let page = send(&f.node, "GET", "/console/signin", "", None).await;
    let (signin, _) = set_cookie(&page, "gsomia_signin");
    for (user, pass) in [
        ("park", "correct horse battery staple"),
        ("kim", "wrong horse battery staple"),
    ] {
        let a = send(
            &f.node,
            "POST",
            "/console/signin",
            &format!("gsomia_signin={signin}"),
            Some(&format!("user={user}&token={}&csrf={signin}", encode(pass))),
        )
        .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{user}");
    }
    // A new passphrase ends the sessions opened with the old one.
    f.node
        .set_passphrase("kim", "a different passphrase entirely")
        .unwrap();
    let a = send(&f.node, "GET", "/console/", &session, None).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
}

/// Waits (bounded) until the node's search index has finished its start-up rebuild.
async fn index_ready(node: &Node) {
    node.start_index();
    for _ in 0..500 {
        if node.index.ready().is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the search index was not ready after 5 s");
}

/// A KOR indicator of `name` about `ip`, as a publish body.
fn indicator(n: u32, name: &str, ip: &str) -> String {
    let label = super::report()["label"].clone();
    json!({ "label": label, "object": {
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-00000000000{n}"),
        "created": "2019-07-25T01:00:00.000Z", "modified": "2019-07-25T01:00:00.000Z",
        "name": name, "pattern": format!("[ipv4-addr:value = '{ip}']"),
        "pattern_type": "stix", "valid_from": "2019-07-25T01:00:00Z",
    }})
    .to_string()
}

fn ids(v: &Value) -> Vec<&str> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn search_answers_only_what_the_user_may_read_correlates_values_and_forgets_destroyed_content()
 {
    let f = kor_node("search", "2019-07-25");
    index_ready(&f.node).await;
    super::publish(&f).await;
    for (n, name) in [(1, "Wonsan control server"), (2, "Relay near the coast")] {
        let body = indicator(n, name, "198.51.100.7");
        let (s, b) = call(&f, "POST", "/api/v1/items", Some("kim"), Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (first, second) = (
        "indicator--00000000-0000-4000-8000-000000000001",
        "indicator--00000000-0000-4000-8000-000000000002",
    );
    // Full text, newest first, with the field that matched.
    let (s, v) = call(&f, "GET", "/api/v1/search?q=wonsan", Some("kim"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(ids(&v), [first, REPORT_ID]);
    assert_eq!(v["items"][1]["matched"], json!(["name"]));
    assert_eq!(v["items"][0]["marking"]["level"], "II");
    // A STIX field, and Japanese-style text without spaces would be pairs (core tests).
    let (_, v) = call(&f, "GET", "/api/v1/search?q=name:wonsan", Some("kim"), None).await;
    assert_eq!(ids(&v), [first, REPORT_ID]);
    let (_, v) = call(
        &f,
        "GET",
        "/api/v1/search?q=type:report+east",
        Some("kim"),
        None,
    )
    .await;
    assert_eq!(ids(&v), [REPORT_ID]);
    // An observable's value correlates both indicators: each lists the other as related.
    let (_, v) = call(
        &f,
        "GET",
        "/api/v1/search?q=value:198.51.100.7",
        Some("kim"),
        None,
    )
    .await;
    assert_eq!(ids(&v), [second, first]);
    assert_eq!(v["items"][0]["related"][0]["id"], first);
    assert_eq!(
        v["items"][0]["related"][0]["values"],
        json!(["198.51.100.7"])
    );
    let (s, v) = call(
        &f,
        "GET",
        &format!("/api/v1/items/{first}/related"),
        Some("kim"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["related"][0]["id"], second);
    // Users who may not read them find nothing, not even a count: choi's clearance is below
    // the level (P1), jung has no duty covering them (P1).
    for user in ["choi", "jung"] {
        let (s, v) = call(&f, "GET", "/api/v1/search?q=wonsan", Some(user), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["items"], json!([]), "{user}: {v}");
        assert_eq!(v["more"], false);
        let (s, _) = call(
            &f,
            "GET",
            &format!("/api/v1/items/{first}/related"),
            Some(user),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    // A bad query is named; a search is audited with what it returned.
    let (s, v) = call(&f, "GET", "/api/v1/search?q=colour:red", Some("kim"), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("colour"),
        "{v}"
    );
    let searches: Vec<Value> = audit_actions(&f.node)
        .into_iter()
        .filter(|e| e["action"] == "item.search")
        .collect();
    assert!(searches.iter().any(|e| e["actor"] == "kim"
        && e["detail"]["query"] == "wonsan"
        && e["detail"]["returned"][0][0] == first));
    // The console says the same, for each of them.
    let (kim, _) = sign_in(&f.node, "kim", &f.tokens["kim"]).await;
    let page = send(&f.node, "GET", "/console/search?q=wonsan", &kim, None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Wonsan control server") && page.body.contains("군사II급비밀 II"));
    let item = send(
        &f.node,
        "GET",
        &format!("/console/items/{first}"),
        &kim,
        None,
    )
    .await;
    assert!(item.body.contains(second), "related items on the item page");
    let (jung, _) = sign_in(&f.node, "jung", &f.tokens["jung"]).await;
    let page = send(&f.node, "GET", "/console/search?q=wonsan", &jung, None).await;
    assert!(page.body.contains("No match you may read"), "{}", page.body);
    assert!(!page.body.contains("Wonsan") || !page.body.contains("control server"));
    assert!(page.body.contains("NO CLASSIFIED CONTENT ON THIS PAGE"));
    // P5: once the first indicator is destroyed, its words are gone from the index (not only
    // hidden), and its value correlates nothing any more.
    assert!(f.node.index.knows("control"));
    let (s, b) = call(
        &f,
        "POST",
        &format!("/api/v1/items/{first}/destroy"),
        Some("park"),
        Some(json!({"reason": "superseded"}).to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(!f.node.index.knows("control") && !f.node.index.knows("server"));
    let (_, v) = call(
        &f,
        "GET",
        "/api/v1/search?q=value:198.51.100.7",
        Some("kim"),
        None,
    )
    .await;
    assert_eq!(ids(&v), [second]);
    assert_eq!(v["items"][0]["related"], json!([]));
}

#[tokio::test]
async fn the_index_is_rebuilt_from_the_sealed_items_when_the_node_starts() {
    let f = kor_node("search-restart", "2019-07-25");
    index_ready(&f.node).await;
    super::publish(&f).await;
    f.node.close();
    drop(f);
    // kor_node's folder, named after the test.
    let kor = std::env::temp_dir()
        .join(format!("gsomia-node-{}-search-restart", std::process::id()))
        .join("KOR");
    let node = Node::open(&kor, clock("2019-07-25").0).unwrap();
    index_ready(&node).await;
    assert!(node.index.knows("wonsan"));
    assert_eq!(node.index.size().0, 1);
}

#[tokio::test]
async fn the_console_speaks_korean_and_japanese_and_keeps_level_names_in_their_script() {
    let f = jpn_node("console-lang", "2019-07-25");
    let (sato, csrf) = sign_in(&f.node, "sato", &f.tokens["sato"]).await;
    let get = |lang: &'static str, cookie: String| {
        let node = f.node.clone();
        async move {
            let mut req = Request::builder()
                .uri("/console/items")
                .header(header::COOKIE, cookie);
            if !lang.is_empty() {
                req = req.header(header::ACCEPT_LANGUAGE, lang);
            }
            let resp = gsomia_node::api::app(node)
                .oneshot(req.body(Body::empty()).unwrap())
                .await
                .unwrap();
            let b = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            String::from_utf8(b.to_vec()).unwrap()
        }
    };
    let ja = get("ja-JP,ja;q=0.9,en;q=0.5", sato.clone()).await;
    assert!(
        ja.contains("<html lang=\"ja\"") && ja.contains(">資料<"),
        "{ja}"
    );
    assert!(ja.contains("極秘 GOKUHI — 作成者 KOR"), "{ja}");
    let ko = get("ko", sato.clone()).await;
    assert!(ko.contains("<html lang=\"ko\"") && ko.contains(">자료<"));
    assert!(
        ko.contains("極秘 GOKUHI — 생산자 KOR"),
        "level names stay in Japan's script"
    );
    assert!(get("", sato.clone()).await.contains(">Items<"));
    // The user's setting wins over the browser's.
    let set = send(
        &f.node,
        "POST",
        "/console/lang",
        &sato,
        Some(&format!("lang=ko&csrf={csrf}")),
    )
    .await;
    assert_eq!(set.status, StatusCode::SEE_OTHER);
    let (value, _) = set_cookie(&set, "gsomia_lang");
    assert_eq!(value, "ko");
    let page = get("ja", format!("{sato}; gsomia_lang=ko")).await;
    assert!(page.contains("<html lang=\"ko\""));
}

#[tokio::test]
async fn console_items_filter_by_level_and_day_and_officers_derive_reclassify_and_destroy() {
    let f = kor_node("console-actions", "2019-07-25");
    super::publish(&f).await;
    let (park, csrf) = sign_in(&f.node, "park", &f.tokens["park"]).await;
    let list = |q: &'static str| {
        let (node, park) = (f.node.clone(), park.clone());
        async move {
            send(&node, "GET", &format!("/console/items?{q}"), &park, None)
                .await
                .body
        }
    };
    assert!(list("level=II").await.contains(REPORT_ID));
    assert!(!list("level=I").await.contains(REPORT_ID));
    assert!(
        list("since=2019-07-25&until=2019-07-25")
            .await
            .contains(REPORT_ID)
    );
    assert!(!list("since=2019-07-26").await.contains(REPORT_ID));
    let bad = send(
        &f.node,
        "GET",
        "/console/items?since=yesterday",
        &park,
        None,
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    // The item page offers what each one's roles allow: the officer destroys, releases and
    // asks partners for custody proofs; only the authority reclassifies (M4).
    let item = send(
        &f.node,
        "GET",
        &format!("/console/items/{REPORT_ID}"),
        &park,
        None,
    )
    .await;
    for form in ["/destroy", "/custody", "/release"] {
        assert!(item.body.contains(&format!("{REPORT_ID}{form}")), "{form}");
    }
    assert!(!item.body.contains(&format!("{REPORT_ID}/reclassify")));
    let (kang, kang_csrf) = sign_in(&f.node, "kang", &f.tokens["kang"]).await;
    let item = send(
        &f.node,
        "GET",
        &format!("/console/items/{REPORT_ID}"),
        &kang,
        None,
    )
    .await;
    assert!(item.body.contains(&format!("{REPORT_ID}/reclassify")));
    // Reclassify to I: the item now reads at I.
    let a = send(
        &f.node,
        "POST",
        &format!("/console/items/{REPORT_ID}/reclassify"),
        &kang,
        Some(&format!("level=I&csrf={kang_csrf}")),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert!(list("level=I").await.contains(REPORT_ID));
    // A forged form does nothing.
    let a = send(
        &f.node,
        "POST",
        &format!("/console/items/{REPORT_ID}/destroy"),
        &park,
        Some("reason=x&csrf=forged"),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(
        f.node
            .store()
            .item(&item_id(REPORT_ID), None)
            .unwrap()
            .unwrap()
            .content
            .is_some()
    );
    // Destroy (P5) through the console: the content is gone, the certificate shown.
    let a = send(
        &f.node,
        "POST",
        &format!("/console/items/{REPORT_ID}/destroy"),
        &park,
        Some(&format!("reason=superseded&csrf={csrf}")),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(
        a.body
            .contains("&quot;reason&quot;: &quot;superseded&quot;"),
        "{}",
        a.body
    );
    assert!(
        f.node
            .store()
            .item(&item_id(REPORT_ID), None)
            .unwrap()
            .unwrap()
            .content
            .is_none()
    );
}

#[tokio::test]
async fn an_analyst_derives_a_translation_in_the_console_and_it_takes_the_sources_label() {
    let f = kor_node("console-derive", "2019-07-25");
    super::publish(&f).await;
    let (kim, csrf) = sign_in(&f.node, "kim", &f.tokens["kim"]).await;
    let object = json!({
        "type": "report", "spec_version": "2.1",
        "id": "report--00000000-0000-4000-8000-0000000000aa",
        "created": "2019-07-25T02:00:00.000Z", "modified": "2019-07-25T02:00:00.000Z",
        "name": "원산 인근 단거리 탄도미사일 2발 발사", "published": "2019-07-25T02:00:00.000Z",
        "object_refs": ["location--0c3b6a4e-5f0e-4d43-8f47-8b5e1c1f7a11"],
    });
    let a = send(
        &f.node,
        "POST",
        &format!("/console/items/{REPORT_ID}/derive"),
        &kim,
        Some(&format!(
            "object={}&purpose=missile-warning&csrf={csrf}",
            encode(&object.to_string())
        )),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let derived = f
        .node
        .store()
        .item(
            &item_id("report--00000000-0000-4000-8000-0000000000aa"),
            None,
        )
        .unwrap()
        .unwrap();
    assert_eq!(derived.label.level.as_str(), "II");
    assert_eq!(
        derived.label.derived_from.len(),
        0,
        "same originator: no foreign source"
    );
    let page = send(
        &f.node,
        "GET",
        a.headers[header::LOCATION].to_str().unwrap(),
        &kim,
        None,
    )
    .await;
    assert!(page.body.contains("원산 인근"), "{}", page.body);
}

#[tokio::test]
async fn an_incident_gets_its_follow_up_in_the_console_and_officers_see_receipts_and_consents() {
    let f = kor_node("console-incident", "2019-07-25");
    super::publish(&f).await;
    let (park, csrf) = sign_in(&f.node, "park", &f.tokens["park"]).await;
    let item = send(
        &f.node,
        "GET",
        &format!("/console/items/{REPORT_ID}"),
        &park,
        None,
    )
    .await;
    assert!(item.body.contains("<h2>Receipts</h2>") && item.body.contains("<h2>Consents</h2>"));
    let (kim, _) = sign_in(&f.node, "kim", &f.tokens["kim"]).await;
    let item = send(
        &f.node,
        "GET",
        &format!("/console/items/{REPORT_ID}"),
        &kim,
        None,
    )
    .await;
    assert!(
        !item.body.contains("<h2>Receipts</h2>"),
        "an analyst does not decide releases"
    );
    let a = send(
        &f.node,
        "POST",
        &format!("/console/items/{REPORT_ID}/incident"),
        &park,
        Some(&format!(
            "kind=loss&description=a+copy+is+missing&csrf={csrf}"
        )),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let page = send(&f.node, "GET", "/console/incidents", &park, None).await;
    assert!(
        page.body.contains("/console/incidents/1/result"),
        "{}",
        page.body
    );
    let a = send(
        &f.node,
        "POST",
        "/console/incidents/1/result",
        &park,
        Some(&format!(
            "result=found+in+the+safe&measures=inventory+weekly&csrf={csrf}"
        )),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = send(&f.node, "GET", "/console/incidents", &park, None).await;
    assert!(page.body.contains("result (#1)"), "{}", page.body);
    assert!(
        !page.body.contains("/console/incidents/1/result"),
        "followed up once"
    );
}

/// V1 in the console: Korea's authority sees Japan's visit request on the treaty page and
/// authorises it with a signed form, which shows the visitor's token once; the page then shows
/// the authorisation, letters and assurances; an analyst is refused the page, and a form
/// without the session's CSRF token does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authority_answers_a_visit_request_on_the_treaty_page() {
    use super::federation::{halt, http, pair, until, user};
    let (_root, kor, k, jpn, j, _) = pair("console-visit").await;
    let park = user(&kor, "park", json!(["authority"]), "I");
    let abe = user(&jpn, "abe", json!(["authority"]), "TOKUTEI_HIMITSU");
    let assurance = json!({ "to": "KOR", "agreement": "kor-jpn-gsomia", "level": "GOKUHI",
                            "recipient": "Sato Hanako", "purpose": "liaison", "until": "2019-12-31" });
    let (s, b) = http(
        &j.addr,
        "POST",
        "/api/v1/assurances",
        Some(&abe),
        Some(assurance.to_string()),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let sure = b["assurance"]["id"].as_str().unwrap().to_owned();
    until("the assurance at KOR", || {
        kor.world().assurances().iter().any(|a| a.id == sure)
    })
    .await;
    let visit = json!({ "agreement": "kor-jpn-gsomia", "host": "KOR", "visitor": "Sato Hanako",
                        "assurance": sure, "facility": "MND Seoul", "from": "2019-07-25",
                        "until": "2019-07-31", "level": "II", "topics": ["dprk-missile"],
                        "purpose": "liaison on missile warning" });
    let (s, b) = http(
        &j.addr,
        "POST",
        "/api/v1/visits",
        Some(&abe),
        Some(visit.to_string()),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let request = b["letter"]["id"].as_str().unwrap().to_owned();
    until("the request at KOR", || {
        kor.store()
            .letters("kor-jpn-gsomia")
            .unwrap()
            .iter()
            .any(|l| l.id == request)
    })
    .await;
    let (officer, csrf) = sign_in(&kor, "park", &park).await;
    let page = send(&kor, "GET", "/console/treaty", &officer, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let action = format!("/console/visits/{request}/answer");
    assert!(
        page.body.contains("Sato Hanako") && page.body.contains(&action),
        "{}",
        page.body
    );
    let forged = send(
        &kor,
        "POST",
        &action,
        &officer,
        Some("csrf=nope&authorise=yes"),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(kor.store().letters("kor-jpn-gsomia").unwrap().len(), 1);
    let a = send(
        &kor,
        "POST",
        &action,
        &officer,
        Some(&format!("csrf={csrf}&authorise=yes")),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(
        a.body.contains("gsomia_"),
        "the token is shown once: {}",
        a.body
    );
    let page = send(&kor, "GET", "/console/treaty", &officer, None).await;
    assert!(
        page.body.contains("Authorised") && !page.body.contains(&action),
        "{}",
        page.body
    );
    let lee = user(&kor, "lee", json!(["analyst"]), "II");
    let (analyst, _) = sign_in(&kor, "lee", &lee).await;
    let page = send(&kor, "GET", "/console/treaty", &analyst, None).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    halt(k).await;
    halt(j).await;
}

/// A9 in the console: the agreement page lists an amendment with who signed it and, until
/// every party has, that it awaits a signature.
#[tokio::test]
async fn the_agreement_page_lists_amendments_with_their_signatures() {
    let f = kor_node("console-amend", "2019-07-25");
    let body = json!({ "id": "kor-jpn-2019-1", "equivalence": [
        { "common": "SECRET", "levels": { "JPN": ["TOKUTEI_HIMITSU", "GOKUHI"], "KOR": ["II"] } },
        { "common": "CONFIDENTIAL", "levels": { "JPN": ["HI"], "KOR": ["III"] } }
    ] });
    let (s, b) = call(
        &f,
        "POST",
        "/api/v1/agreements/kor-jpn-gsomia/amendments",
        Some("jung"),
        Some(body.to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (jung, _) = sign_in(&f.node, "jung", &f.tokens["jung"]).await;
    let page = send(
        &f.node,
        "GET",
        "/console/agreements/kor-jpn-gsomia",
        &jung,
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    let amendments = page
        .body
        .split("<h2>Amendments</h2>")
        .nth(1)
        .unwrap_or_default();
    assert!(
        amendments.contains("kor-jpn-2019-1")
            && amendments.contains("KOR (2019-07-25)")
            && amendments.contains("awaiting signature"),
        "{}",
        page.body
    );
}
