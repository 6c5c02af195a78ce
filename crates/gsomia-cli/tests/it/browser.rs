//! The console in a real browser: headless Chromium driven over WebDriver (chromedriver, spoken
//! to with the node's own HTTP client on loopback). Two real `gsomia serve` nodes, KOR and JPN,
//! over TLS: KOR's officer signs in, previews the release of Korea's report to Japan (the
//! decision and its rule before anything is sent) and releases it; Japan's analyst signs in and
//! reads it under a GOKUHI banner, and reports a possible compromise that Korea's officer then
//! sees. Screenshots of the pages go to `target/console/`. Skipped
//! with a message where Chromium is not installed, except under CI (`.ci/run` installs it).

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

    fn sign_in(&self, node: &str, user: &str, token: &str) {
        self.go(&format!("{node}/console/signin"));
        self.type_into("input[name=user]", user);
        self.type_into("input[name=token]", token);
        self.click("button[type=submit]");
        self.page_with("<h1>Home</h1>");
    }
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
    // Two free ports, held together so that they differ.
    let held: Vec<std::net::TcpListener> = (0..2)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = held
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    drop(held);
    let (kor, kor_url) = node(&dir, "KOR", ports[0]);
    let (jpn, jpn_url) = node(&dir, "JPN", ports[1]);
    for (here, there) in [(&kor, &jpn), (&jpn, &kor)] {
        let file = dir.join("descriptor.json");
        std::fs::write(
            &file,
            stdout_of(&["party", "export", "--data", there.to_str().unwrap()]),
        )
        .unwrap();
        for args in [
            vec![
                "party",
                "import",
                "--data",
                here.to_str().unwrap(),
                file.to_str().unwrap(),
            ],
            vec![
                "agreement",
                "import",
                "--data",
                here.to_str().unwrap(),
                "examples/model-case/agreements/kor-jpn-gsomia.json",
            ],
        ] {
            let out = run(&args);
            assert!(out.starts_with("exit 0"), "{out}");
        }
    }
    let kim = token(&kor, "kim", "analyst", "II");
    let park = token(&kor, "park", "security_officer", "I");
    let sato = token(&jpn, "sato", "analyst", "GOKUHI");
    let (mut k, _) = super::crash::start(&kor);
    let (mut j, _) = super::crash::start(&jpn);
    // KOR's analyst publishes Korea's report in the console: the STIX object as exported, the
    // label from the form.
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join(M).join("items/kor-missile-report.json")).unwrap(),
    )
    .unwrap();
    let id = report["object"]["id"].as_str().unwrap().to_owned();
    let shots = root().join("target/console");
    std::fs::create_dir_all(&shots).unwrap();
    browser.sign_in(&kor_url, "kim", &kim);
    browser.go(&format!("{kor_url}/console/publish"));
    browser.type_into("textarea[name=object]", &report["object"].to_string());
    browser.click("select[name=level] option[value=II]");
    browser.type_into("input[name=topics]", "dprk-missile");
    browser.type_into("input[name=purpose]", "missile-warning");
    browser.type_into("input[name=releasable_to]", "JPN, USA");
    browser.type_into("input[name=grading]", "B2");
    browser.screenshot(&shots.join("publish.png"));
    browser.click("form.publish button[type=submit]");
    browser.page_with("Two short-range ballistic missiles");
    browser.click("nav button[type=submit]");
    browser.page_with("<h1>Sign in</h1>");
    // KOR's officer: the item under a II banner, the preview, the release.
    browser.sign_in(&kor_url, "park", &park);
    browser.screenshot(&shots.join("home.png"));
    browser.go(&format!("{kor_url}/console/items/{id}"));
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
    browser.screenshot(&shots.join("release-preview.png"));
    browser.click("form[method=post][action$='/release'] button");
    browser.page_with("Released: queued for JPN");
    browser.click("nav button[type=submit]");
    browser.page_with("<h1>Sign in</h1>");

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
    browser.click("nav button[type=submit]");
    browser.page_with("<h1>Sign in</h1>");
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
    browser.screenshot(&shots.join("incidents-kor.png"));
    drop(browser);
    for c in [&mut k, &mut j] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
