//! Headless Chromium driven over the DevTools protocol: open a page, run a
//! script in it, wait until something holds, take a screenshot. Waits poll
//! the page with a deadline, so a slow machine makes a test slower, not red.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// Where the Debian package `chromium` installs the browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// How long a page may take to reach what a test waits for.
const PATIENCE: Duration = Duration::from_secs(20);

/// A headless Chromium with one tab; killed when dropped.
pub struct Chromium {
    child: Child,
    _profile: tempfile::TempDir,
    ws: WebSocket<TcpStream>,
    next_id: u64,
    session: String,
}

impl Chromium {
    /// Starts the browser and opens a blank tab.
    pub fn launch() -> Chromium {
        assert!(
            Path::new(CHROMIUM).exists(),
            "the browser test needs headless Chromium at {CHROMIUM}: install the Debian package \
             with `apt-get install chromium` (scripts/test.sh installs it when it is missing)"
        );
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                "--mute-audio",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMIUM}: {e}"));
        // Chromium picks a free port and writes it, with the browser's
        // WebSocket path, to DevToolsActivePort in the profile directory.
        let file = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + PATIENCE;
        let (port, path) = loop {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                break (port.to_owned(), path.to_owned());
            }
            assert!(
                Instant::now() < deadline,
                "Chromium did not open its DevTools port"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let stream = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let (ws, _) = tungstenite::client(format!("ws://127.0.0.1:{port}{path}"), stream).unwrap();
        let mut browser = Chromium {
            child,
            _profile: profile,
            ws,
            next_id: 0,
            session: String::new(),
        };
        let target = browser.send("Target.createTarget", json!({"url": "about:blank"}), false);
        let attached = browser.send(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
            false,
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        browser
    }

    /// Sends one command (to the tab, or to the browser) and returns its result.
    fn send(&mut self, method: &str, params: Value, to_tab: bool) -> Value {
        self.next_id += 1;
        let mut command = json!({"id": self.next_id, "method": method, "params": params});
        if to_tab {
            command["sessionId"] = json!(self.session);
        }
        self.ws.send(Message::text(command.to_string())).unwrap();
        loop {
            let message = self
                .ws
                .read()
                .unwrap_or_else(|e| panic!("no answer from Chromium to {method}: {e}"));
            let Message::Text(text) = message else {
                continue;
            };
            let reply: Value = serde_json::from_str(text.as_str()).unwrap();
            // Events and answers to other commands are not ours.
            if reply["id"] != json!(self.next_id) {
                continue;
            }
            assert!(reply["error"].is_null(), "{method} failed: {reply}");
            return reply["result"].clone();
        }
    }

    /// Opens `url` in a viewport of that size and waits until it has loaded.
    pub fn open(&mut self, url: &str, width: u32, height: u32) {
        self.viewport(width, height);
        self.send("Page.navigate", json!({ "url": url }), true);
        self.wait_for(
            "document.readyState === 'complete'",
            &format!("{url} to load"),
        );
    }

    fn viewport(&mut self, width: u32, height: u32) {
        let params = json!({
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600,
        });
        self.send("Emulation.setDeviceMetricsOverride", params, true);
    }

    /// Runs `expression` in the page; its value (promises awaited).
    pub fn eval(&mut self, expression: &str) -> Value {
        let params = json!({"expression": expression, "returnByValue": true, "awaitPromise": true});
        let result = self.send("Runtime.evaluate", params, true);
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression} threw: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// Polls `expression` until it is truthy; returns its value.
    pub fn wait_for(&mut self, expression: &str, what: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let value = self.eval(expression);
            if !matches!(value, Value::Null | Value::Bool(false)) {
                return value;
            }
            assert!(Instant::now() < deadline, "waited {PATIENCE:?} for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A PNG of the whole page at `width`, written to `file`.
    pub fn screenshot(&mut self, width: u32, height: u32, file: &Path) {
        self.eval("document.fonts.ready.then(() => true)");
        // Grow the viewport to the page so the picture holds all of it.
        let full = self
            .eval("document.documentElement.scrollHeight")
            .as_u64()
            .unwrap();
        self.viewport(width, height.max(full as u32));
        let shot = self.send("Page.captureScreenshot", json!({"format": "png"}), true);
        self.viewport(width, height);
        let png = data_encoding::BASE64
            .decode(shot["data"].as_str().unwrap().as_bytes())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, png).unwrap();
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // Closing through the protocol lets Chromium end its helper
        // processes too; a kill is the fallback.
        let close = json!({"id": self.next_id + 1, "method": "Browser.close"});
        let _ = self.ws.send(Message::text(close.to_string()));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
