//! A real browser for tests: Debian's headless Chromium driven over the
//! W3C WebDriver protocol by Debian's chromedriver, both started by the
//! test on 127.0.0.1 and stopped by PID. The protocol is a handful of JSON
//! requests; this speaks the few a test needs.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use geowp_localrun::http::{self, Request};
use geowp_localrun::proc::Group;
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const TIMEOUT: Duration = Duration::from_secs(60);

pub struct Browser {
    _driver: Group,
    addr: SocketAddr,
    session: String,
}

fn need(p: &str, package: &str) -> &'static str {
    assert!(
        Path::new(p).exists(),
        "{p} is missing: run `make test` (it installs Debian's {package}) or `scripts/tools.sh browser`"
    );
    Box::leak(p.to_string().into_boxed_str())
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile in
    /// `profile`; `resolve` maps host names to addresses (`--host-resolver-rules`),
    /// so one site name can lead to one region.
    pub fn start(profile: &Path, resolve: &[(&str, &str)]) -> Browser {
        Browser::start_with(profile, resolve, &[])
    }

    /// As `start`, with more Chromium switches (e.g.
    /// `--ignore-certificate-errors` for a test's own certificate).
    pub fn start_with(profile: &Path, resolve: &[(&str, &str)], extra: &[&str]) -> Browser {
        let driver = need("/usr/bin/chromedriver", "chromium-driver");
        let chromium = need("/usr/bin/chromium", "chromium");
        let port = crate::syncthing::free_port();
        let mut c = Command::new(driver);
        c.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let g = Group::spawn(c).expect("start chromedriver");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        assert!(
            geowp_localrun::mariadb::wait_port(addr, Duration::from_secs(20)),
            "chromedriver did not listen"
        );
        std::fs::create_dir_all(profile).unwrap();
        let mut args = vec![
            "--headless=new".to_string(),
            // root needs no sandbox; the rest keeps Chromium off the network
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--user-data-dir={}", profile.display()),
            "--window-size=1280,900".into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        if !resolve.is_empty() {
            let rules: Vec<String> = resolve
                .iter()
                .map(|(h, a)| format!("MAP {h} {a}"))
                .collect();
            args.push(format!("--host-resolver-rules={}", rules.join(",")));
        }
        let mut b = Browser {
            _driver: g,
            addr,
            session: String::new(),
        };
        // the console's log, read by console_errors
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": chromium, "args": args}}}});
        let v = b.call("POST", "/session", Some(caps));
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_string();
        b
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let text = body.map(|b| b.to_string()).unwrap_or_default();
        let mut req = Request {
            method,
            path,
            headers: vec![("Content-Type", "application/json".into())],
            body: text.as_bytes(),
        };
        if method == "POST" && text.is_empty() {
            req.body = b"{}";
        }
        let r = http::send(self.addr, None, &req, TIMEOUT)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let v: Value = serde_json::from_slice(&r.bytes)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}: {}", r.text()));
        if r.status >= 400 {
            panic!(
                "WebDriver {method} {path} answered {}: {}",
                r.status, v["value"]
            );
        }
        v["value"].clone()
    }

    fn at(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub fn go(&self, url: &str) {
        self.call("POST", &self.at("/url"), Some(json!({"url": url})));
    }

    /// Navigates to `url`; Chromium's network error (`net::ERR_...`) when
    /// the page could not be loaded.
    pub fn try_go(&self, url: &str) -> Result<(), String> {
        let body = json!({"url": url}).to_string();
        let r = http::send(
            self.addr,
            None,
            &Request {
                method: "POST",
                path: &self.at("/url"),
                headers: vec![("Content-Type", "application/json".into())],
                body: body.as_bytes(),
            },
            TIMEOUT,
        )
        .map_err(|e| format!("WebDriver: {e}"))?;
        if r.status < 400 {
            return Ok(());
        }
        let v: Value = serde_json::from_slice(&r.bytes).unwrap_or(Value::Null);
        Err(v["value"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| r.text()))
    }

    pub fn url(&self) -> String {
        self.call("GET", &self.at("/url"), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub fn source(&self) -> String {
        self.call("GET", &self.at("/source"), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The element `css` selects, waiting for it to appear.
    pub fn find(&self, css: &str) -> String {
        let t = Instant::now();
        loop {
            let body = json!({"using": "css selector", "value": css}).to_string();
            let r = http::send(
                self.addr,
                None,
                &Request {
                    method: "POST",
                    path: &self.at("/element"),
                    headers: vec![("Content-Type", "application/json".into())],
                    body: body.as_bytes(),
                },
                TIMEOUT,
            )
            .expect("WebDriver element");
            let v: Value = serde_json::from_slice(&r.bytes).unwrap_or_default();
            if let Some(id) = v["value"][ELEMENT].as_str() {
                return id.to_string();
            }
            // a bound, not a clock anything waits on: generous for a busy machine
            assert!(
                t.elapsed() < Duration::from_secs(180),
                "no element {css:?} at {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call("POST", &self.at(&format!("/element/{e}/clear")), None);
        self.call(
            "POST",
            &self.at(&format!("/element/{e}/value")),
            Some(json!({"text": text})),
        );
    }

    /// Gives a file input a file (the absolute path on this machine).
    pub fn attach(&self, css: &str, file: &Path) {
        let e = self.find(css);
        self.call(
            "POST",
            &self.at(&format!("/element/{e}/value")),
            Some(json!({"text": file.display().to_string()})),
        );
    }

    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.call("POST", &self.at(&format!("/element/{e}/click")), None);
    }

    /// Waits until the page's source contains `text`.
    pub fn wait_for_text(&self, text: &str, limit: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < limit {
            if self.source().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        false
    }

    /// The console's errors since the last call: what Chromium logs at
    /// level SEVERE (a script, style or image that failed to load, an
    /// uncaught exception, `console.error`), read through chromedriver's
    /// log endpoint.
    pub fn console_errors(&self) -> Vec<String> {
        let v = self.call(
            "POST",
            &self.at("/se/log"),
            Some(json!({"type": "browser"})),
        );
        v.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// A PNG of the window.
    pub fn screenshot(&self) -> Vec<u8> {
        let b64 = self.call("GET", &self.at("/screenshot"), None);
        geowp_common::b64::decode(b64.as_str().unwrap_or("")).expect("screenshot is base64")
    }

    /// Logs in through wp-login.php at `site_url`.
    pub fn log_in(&self, site_url: &str, user: &str, password: &str) {
        self.go(&format!("{site_url}/wp-login.php"));
        self.type_into("#user_login", user);
        self.type_into("#user_pass", password);
        self.click("#wp-submit");
        assert!(
            self.wait_for_text("wp-admin-bar", Duration::from_secs(180)),
            "not logged in: {}",
            self.url()
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = http::send(
                self.addr,
                None,
                &Request {
                    method: "DELETE",
                    path: &path,
                    headers: vec![],
                    body: b"",
                },
                Duration::from_secs(10),
            );
        }
    }
}
