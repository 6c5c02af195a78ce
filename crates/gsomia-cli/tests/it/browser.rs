//! The console in a real browser: headless Chromium driven over WebDriver (chromedriver, spoken
//! to with the node's own HTTP client on loopback). Three real `gsomia serve` nodes, KOR, JPN
//! and USA, over TLS, play the model case in their consoles: KOR's analyst publishes Korea's
//! report; KOR's officer previews its release to Japan (the decision and its rule before
//! anything is sent) and releases it to Japan and to the United States; Japan's analyst reads it
//! under a GOKUHI banner and reports a possible compromise that Korea's officer then sees; the
//! United States' officer asks Korea's consent to pass it to Japan (TISA), Korea's authority
//! gives it (signed) in the console, and the US officer then sees the release allowed; Korea's
//! officer reads Japan's custody proofs of the report, verified by Korea's node. Every
//! page visited passes axe-core with no serious or critical violation. Screenshots of the pages
//! go to `target/console/`. Skipped with a message where Chromium is not installed, except
//! under CI (`.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{M, root, run, stdout_of, token};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver session.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: gsomia_node::client::Client,
    runtime: tokio::runtime::Runtime,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.call("DELETE", "", None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    fn start(profile: &Path) -> Option<Browser> {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| Path::new(p).exists())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            client: gsomia_node::client::Client::new(None).unwrap(),
            runtime,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while browser.call("GET", "/status", None).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            // The nodes' certificates are self-signed; the nodes are what is tested here.
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--no-first-run", "--window-size=1280,900",
                         format!("--user-data-dir={}", profile.display())],
            },
        }}});
        let created = browser.call("POST", "/session", Some(caps)).unwrap();
        browser.session = created["value"]["sessionId"].as_str().unwrap().to_owned();
        Some(browser)
    }

    /// A WebDriver command on this session (`path` after `/session/ID`, or from the root when
    /// there is no session yet); its `value`.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = if self.session.is_empty() || path == "/status" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let (status, bytes) = self.runtime.block_on(self.client.send(
            method,
            &url,
            &[("content-type", "application/json")],
            body,
        ))?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        if status == 200 {
            Ok(v)
        } else {
            Err(format!("{method} {path}: {status} {v}"))
        }
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })))
            .unwrap();
    }

    fn find(&self, css: &str) -> String {
        let v = self
            .call(
                "POST",
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .unwrap_or_else(|e| panic!("{css}: {e}\n{}", self.source()));
        v["value"][ELEMENT].as_str().unwrap().to_owned()
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({ "text": text })),
        )
        .unwrap();
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.call("POST", &format!("/element/{e}/click"), Some(json!({})))
            .unwrap();
    }

    /// The page once it contains `text` (a click's navigation may finish after the click
    /// returns); waits at most 10 s.
    fn page_with(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let page = self.source();
            if page.contains(text) {
                return page;
            }
            assert!(Instant::now() < deadline, "no `{text}` in:\n{page}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn source(&self) -> String {
        self.call("GET", "/source", None)
            .map(|v| v["value"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    }

    fn screenshot(&self, to: &Path) {
        use base64::Engine;
        let v = self.call("GET", "/screenshot", None).unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(v["value"].as_str().unwrap())
            .unwrap();
        std::fs::write(to, png).unwrap();
    }

    /// Runs `script` in the page (WebDriver's execute, outside the page's CSP) with `args`.
    fn execute(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .unwrap()["value"]
            .clone()
    }

    /// axe-core's serious and critical violations on the page shown (WCAG 2.1 A and AA and
    /// best practice), as `id (impact): help, N nodes`.
    fn accessibility(&self, axe: &str) -> Vec<String> {
        let script = format!(
            "{axe}\nconst done = arguments[arguments.length - 1];\n\
             axe.run(document, {{ resultTypes: ['violations'] }})\n\
               .then(r => done(r.violations.map(v => ({{ id: v.id, impact: v.impact, help: v.help, \
                 nodes: v.nodes.map(n => n.target.join(' ')) }}))))\n\
               .catch(e => done([{{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }}]));"
        );
        let v = self
            .call(
                "POST",
                "/execute/async",
                Some(json!({ "script": script, "args": [] })),
            )
            .unwrap();
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| matches!(x["impact"].as_str(), Some("serious" | "critical")))
            .map(|x| {
                format!(
                    "{} ({}): {} on {}",
                    x["id"], x["impact"], x["help"], x["nodes"]
                )
            })
            .collect()
    }

    fn sign_out(&self) {
        self.click("nav form.signout button");
        self.page_with("<h1>Sign in</h1>");
    }

    fn sign_in(&self, node: &str, user: &str, token: &str) {
        self.go(&format!("{node}/console/signin"));
        self.type_into("input[name=user]", user);
        self.type_into("input[name=token]", token);
        self.click("button[type=submit]");
        self.page_with("<h1>Home</h1>");
    }

    /// Goes to `url` again every 200 ms until the page contains `text` (a partner's message
    /// may still be on its way); at most 20 s.
    fn until(&self, url: &str, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            self.go(url);
            let page = self.source();
            if page.contains(text) {
                return page;
            }
            assert!(Instant::now() < deadline, "no `{text}` at {url}:\n{page}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// axe-core's script (`conformance/axe/fetch.sh` fetches it, pinned, if `.ci/run` has not).
fn axe() -> String {
    let dir = root().join("target/axe");
    let out = Command::new("bash")
        .arg(root().join("conformance/axe/fetch.sh"))
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(dir.join("axe-4.10.2.min.js")).unwrap()
}

/// A node in `dir` listening on `port` with that URL as its endpoint: its data folder and URL.
fn node(dir: &Path, party: &str, port: u16) -> (PathBuf, String) {
    let data = dir.join(party.to_lowercase());
    let url = format!("https://127.0.0.1:{port}");
    let out = run(&[
        "init",
        "--data",
        data.to_str().unwrap(),
        "--party",
        party,
        "--scheme",
        &format!("{M}/schemes/{party}.json"),
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--endpoint",
        &url,
    ]);
    assert!(out.starts_with("exit 0"), "{out}");
    (data, url)
}

#[test]
fn the_console_in_chromium_kor_releases_to_jpn_which_reads_it_under_a_gokuhi_banner() {
    let dir = std::env::temp_dir().join(format!("gsomia-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let Some(browser) = Browser::start(&dir.join("profile")) else {
        assert!(
            std::env::var("CI").is_err(),
            "Chromium and chromedriver are missing under CI (.ci/run installs them)"
        );
        eprintln!(
            "skipped: Chromium or chromedriver is not installed (apt-get install chromium chromium-driver)"
        );
        return;
    };
    let axe = axe();
    // Three free ports, held together so that they differ.
    let held: Vec<std::net::TcpListener> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = held
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    drop(held);
    let (kor, kor_url) = node(&dir, "KOR", ports[0]);
    let (jpn, jpn_url) = node(&dir, "JPN", ports[1]);
    let (usa, usa_url) = node(&dir, "USA", ports[2]);
    let nodes = [("KOR", &kor), ("JPN", &jpn), ("USA", &usa)];
    for (party, here) in nodes {
        for (other, there) in nodes {
            if other == party {
                continue;
            }
            let file = dir.join("descriptor.json");
            std::fs::write(
                &file,
                stdout_of(&["party", "export", "--data", there.to_str().unwrap()]),
            )
            .unwrap();
            let out = run(&[
                "party",
                "import",
                "--data",
                here.to_str().unwrap(),
                file.to_str().unwrap(),
            ]);
            assert!(out.starts_with("exit 0"), "{out}");
        }
        for a in ["kor-jpn-gsomia", "usa-kor-gsomia", "usa-jpn-gsomia", "tisa"] {
            if !a.contains(&party.to_lowercase()) && a != "tisa" {
                continue;
            }
            let file = format!("examples/model-case/agreements/{a}.json");
            let out = run(&[
                "agreement",
                "import",
                "--data",
                here.to_str().unwrap(),
                &file,
            ]);
            assert!(out.starts_with("exit 0"), "{out}");
        }
    }
    let kim = token(&kor, "kim", "analyst", "II");
    let park = token(&kor, "park", "security_officer", "I");
    let lim = token(&kor, "lim", "authority", "I");
    let sato = token(&jpn, "sato", "analyst", "GOKUHI");
    let smith = token(&usa, "smith", "security_officer", "TOP_SECRET");
    let (mut k, _) = super::crash::start(&kor);
    let (mut j, _) = super::crash::start(&jpn);
    let (mut u, _) = super::crash::start(&usa);
    // The check can fail: a page with an image without text has a critical violation.
    browser.go("data:text/html,<html lang=en><title>t</title><main><img src=x.png></main></html>");
    let found = browser.accessibility(&axe);
    assert!(
        found.iter().any(|v| v.starts_with("\"image-alt\"")),
        "{found:?}"
    );
    // Every page a check: axe-core finds no serious or critical violation.
    let accessible = |what: &str| {
        let found = browser.accessibility(&axe);
        assert!(found.is_empty(), "{what}: {found:#?}");
    };
    // KOR's analyst publishes Korea's report in the console: the STIX object as exported, the
    // label from the form.
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join(M).join("items/kor-missile-report.json")).unwrap(),
    )
    .unwrap();
    let id = report["object"]["id"].as_str().unwrap().to_owned();
    let shots = root().join("target/console");
    std::fs::create_dir_all(&shots).unwrap();
    browser.go(&format!("{kor_url}/console/signin"));
    accessible("sign-in");
    browser.sign_in(&kor_url, "kim", &kim);
    browser.go(&format!("{kor_url}/console/publish"));
    accessible("publish");
    browser.type_into("textarea[name=object]", &report["object"].to_string());
    browser.click("select[name=level] option[value=II]");
    browser.type_into("input[name=topics]", "dprk-missile");
    browser.type_into("input[name=purpose]", "missile-warning");
    browser.type_into("input[name=releasable_to]", "JPN, USA");
    browser.type_into("input[name=grading]", "B2");
    browser.screenshot(&shots.join("publish.png"));
    browser.click("form.publish button[type=submit]");
    browser.page_with("Two short-range ballistic missiles");
    // Search finds it by a word of its name, with the field that matched.
    browser.type_into("nav input[name=q]", "wonsan\u{E007}");
    let page = browser.page_with("<h1>Search</h1>");
    assert!(page.contains(&id) && page.contains("name"), "{page}");
    accessible("search");
    browser.screenshot(&shots.join("search.png"));
    browser.sign_out();
    // KOR's officer: the item under a II banner, the preview, the release.
    browser.sign_in(&kor_url, "park", &park);
    accessible("home");
    browser.screenshot(&shots.join("home.png"));
    browser.go(&format!("{kor_url}/console/items"));
    accessible("items");
    browser.go(&format!("{kor_url}/console/agreements/kor-jpn-gsomia"));
    accessible("agreement");
    browser.screenshot(&shots.join("agreement.png"));
    browser.go(&format!("{kor_url}/console/audit"));
    accessible("audit");
    browser.go(&format!("{kor_url}/console/items/{id}"));
    accessible("item");
    let page = browser.source();
    assert!(page.contains("군사II급비밀 II — originator KOR"), "{page}");
    browser.screenshot(&shots.join("item.png"));
    browser.click("form[action$='/release'] button");
    let page = browser.page_with("<h1>Release</h1>");
    assert!(
        page.contains("Allowed under")
            && page.contains("kor-jpn-gsomia")
            && page.contains("極秘 GOKUHI"),
        "{page}"
    );
    accessible("release preview");
    browser.screenshot(&shots.join("release-preview.png"));
    browser.click("form[method=post][action$='/release'] button");
    browser.page_with("Released: queued for JPN");
    // And to the United States, under their bilateral agreement.
    browser.go(&format!("{kor_url}/console/items/{id}/release?to=USA"));
    browser.page_with("Allowed under");
    browser.click("form[method=post][action$='/release'] button");
    browser.page_with("Released: queued for USA");
    browser.sign_out();

    // JPN's analyst: Korea's report, re-marked, under a GOKUHI banner.
    browser.sign_in(&jpn_url, "sato", &sato);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        browser.go(&format!("{jpn_url}/console/items"));
        let page = browser.source();
        if page.contains(&id) {
            assert!(
                page.contains("banner rank-2") && page.contains("極秘 GOKUHI — originator KOR"),
                "{page}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the item never reached JPN's console:\n{page}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    browser.screenshot(&shots.join("items-jpn.png"));
    browser.go(&format!("{jpn_url}/console/items/{id}"));
    let page = browser.source();
    assert!(
        page.contains("Two short-range ballistic missiles") && page.contains("KOR → JPN"),
        "{page}"
    );
    browser.screenshot(&shots.join("item-jpn.png"));
    // Japan's analyst reports a possible compromise; Korea's officer sees it (P6).
    browser.type_into("input[name=description]", "a briefing copy left on a train");
    browser.click("form[action$='/incident'] button");
    browser.page_with("it goes to KOR");
    browser.sign_out();
    browser.sign_in(&kor_url, "park", &park);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        browser.go(&format!("{kor_url}/console/incidents"));
        let page = browser.source();
        if page.contains("a briefing copy left on a train") {
            assert!(
                page.contains("JPN: sato") && page.contains("possible compromise"),
                "{page}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the report never reached KOR:\n{page}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    accessible("incidents");
    browser.screenshot(&shots.join("incidents-kor.png"));
    // The custody proofs: Japan's audit entries about the report (Sato's read among them),
    // each proven in a checkpoint of Japan's log that Korea witnessed, verified by KOR's node.
    let page = browser.until(
        &format!("{kor_url}/console/items/{id}/custody?holder=JPN"),
        "<td>sato</td>",
    );
    assert!(
        page.contains("✓ verified") && page.contains("item.read"),
        "{page}"
    );
    accessible("custody proofs");
    browser.screenshot(&shots.join("custody-kor.png"));
    browser.sign_out();

    // TISA: the United States' officer asks Korea's consent to pass the report to Japan…
    browser.sign_in(&usa_url, "smith", &smith);
    browser.until(&format!("{usa_url}/console/items"), &id);
    browser.go(&format!("{usa_url}/console/items/{id}"));
    browser.click("form[action$='/consent'] select[name=to] option[value=JPN]");
    browser.execute(
        "document.querySelector(\"form[action$='/consent'] input[name=until]\").value = arguments[0];",
        json!(["2030-12-31"]),
    );
    browser.click("form[action$='/consent'] button");
    browser.page_with("Asked;");
    browser.sign_out();
    // …Korea's authority gives it, signed, in the console…
    browser.sign_in(&kor_url, "lim", &lim);
    let page = browser.until(
        &format!("{kor_url}/console/consents"),
        "Holder <strong>USA</strong>",
    );
    assert!(
        page.contains(&id) && page.contains("<strong>JPN</strong>"),
        "{page}"
    );
    accessible("consents");
    browser.screenshot(&shots.join("consent-request-kor.png"));
    browser.click("button[name=approve][value=yes]");
    browser.page_with("Answered: consented");
    browser.sign_out();
    // …and the US officer holds it: the release to Japan is now allowed (R4).
    browser.sign_in(&usa_url, "smith", &smith);
    let page = browser.until(
        &format!("{usa_url}/console/consents"),
        &format!("<code>{id}</code>"),
    );
    assert!(page.contains("by KOR"), "{page}");
    browser.go(&format!("{usa_url}/console/items/{id}/release?to=JPN"));
    let page = browser.page_with("<h1>Release</h1>");
    assert!(page.contains("Allowed under"), "{page}");
    browser.screenshot(&shots.join("release-preview-usa.png"));
    // The same page in Korean and Japanese: the words change, the level names do not.
    browser.click("nav form.lang option[value=ja]");
    browser.click("nav form.lang button");
    browser.page_with("<h1>ホーム</h1>");
    browser.go(&format!("{usa_url}/console/items/{id}"));
    let page = browser.page_with("<h1>資料</h1>");
    assert!(
        page.contains("<html lang=\"ja\"") && page.contains("作成者 KOR"),
        "{page}"
    );
    accessible("item in Japanese");
    browser.screenshot(&shots.join("item-usa-ja.png"));
    drop(browser);
    for c in [&mut k, &mut j, &mut u] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
