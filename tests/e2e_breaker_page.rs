//! End to end, in a real browser: the recommendation client's breaker page
//! (`--breaker-view`) follows a movie service outage live, without a reload.
//!
//! Headless chromium is driven over the Chrome `DevTools` Protocol (a WebSocket of JSON
//! messages): the page is opened once, then the state cell is read with
//! `Runtime.evaluate` while the movie service is killed and started again on the same
//! port. The page shows `closed`, then `open` with the time left, then `closed` again.
//!
//! Needs chromium (`scripts/install-chromium`, or `CHROMIUM=/path/to/chrome`): ignored by
//! default, run with `--include-ignored` (as `.ci/run` does); without chromium it then
//! fails and says how to install it.
//!
//! With `PORTCULLIS_UPDATE_SCREENSHOTS=1` the test writes its screenshots to
//! `docs/images/breakers-closed.png` and `docs/images/breakers-open.png` (the README shows
//! them); otherwise it writes nothing into the source tree.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt as _, StreamExt as _};
use portcullis_examples::testing::{
    ADMIN_PASSWORD, Process, TempDir, example_command, http_client, repository_root,
    start_movie_service, start_user_service,
};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long the page may take to show a state, and the client to print a line.
const WAIT: Duration = Duration::from_secs(45);
/// The client's breaker stays open this long before a probe: long enough to see `open`.
const RESET_TIMEOUT_MS: u64 = 4000;

/// Chromium: `CHROMIUM`, else `chromium` (Debian) or `chromium-browser` on `PATH`.
fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path)).filter(|path| path.is_file());
    }
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
        .collect();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/bin/chromium")])
        .find(|candidate| candidate.is_file())
}

/// Whether the test runs as root, where chromium refuses its sandbox.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|uids| uids.split_whitespace().next())
            == Some("0")
    })
}

/// Headless chromium with its `DevTools` endpoint on a free port, profile in `profile`.
fn start_chromium(binary: &PathBuf, profile: &TempDir) -> (Process, String) {
    let mut command = Command::new(binary);
    command
        .arg("--headless")
        .arg("--remote-debugging-address=127.0.0.1")
        .arg("--remote-debugging-port=0")
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args([
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--hide-scrollbars",
        ]);
    if is_root() {
        command.arg("--no-sandbox");
    }
    command.arg("about:blank");
    let chromium = Process::spawn("chromium", command);
    // Chromium writes the port it took, and the browser target's path, to this file.
    let active_port = profile.path().join("DevToolsActivePort");
    let started = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(&active_port) {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                return (
                    chromium,
                    format!("ws://127.0.0.1:{}{}", port.trim(), path.trim()),
                );
            }
        }
        assert!(
            started.elapsed() < WAIT,
            "chromium wrote no DevToolsActivePort within {WAIT:?}\n{}",
            chromium.report()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `DevTools` protocol connection: one command at a time, events skipped.
struct DevTools {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    session: Option<String>,
}

impl DevTools {
    async fn connect(url: &str) -> Self {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .unwrap_or_else(|error| panic!("connect to {url}: {error}"));
        Self {
            socket,
            next_id: 1,
            session: None,
        }
    }

    /// Sends `method` (to the attached page, once there is one) and returns its result.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = &self.session {
            command["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(command.to_string()))
            .await
            .expect("send a DevTools command");
        let reply = tokio::time::timeout(WAIT, async {
            loop {
                let message = self
                    .socket
                    .next()
                    .await
                    .expect("the DevTools connection closed")
                    .expect("read from DevTools");
                let Message::Text(text) = message else {
                    continue;
                };
                let reply: Value = serde_json::from_str(text.as_str()).expect("DevTools JSON");
                if reply["id"] == id {
                    return reply;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no reply to {method} within {WAIT:?}"));
        assert!(reply.get("error").is_none(), "{method}: {reply}");
        reply["result"].clone()
    }

    /// Opens `url` in a new tab and attaches to it.
    async fn open(&mut self, url: &str) {
        let target = self
            .call("Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let attached = self
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        self.session = Some(
            attached["sessionId"]
                .as_str()
                .expect("a session id")
                .to_owned(),
        );
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 960, "height": 200, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await;
        self.call("Page.enable", json!({})).await;
        let navigated = self.call("Page.navigate", json!({ "url": url })).await;
        assert!(navigated.get("errorText").is_none(), "{navigated}");
    }

    /// The value of `expression` in the page.
    async fn evaluate(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true }),
            )
            .await;
        assert!(result.get("exceptionDetails").is_none(), "{result}");
        result["result"]["value"].clone()
    }

    /// A PNG of the page.
    async fn screenshot(&mut self) -> Vec<u8> {
        let shot = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("base64 data"))
            .expect("valid base64");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        png
    }
}

/// The first row as the page shows it, with the page's connection status and a marker
/// that a reload would clear.
const READ_ROW: &str = r"(() => {
    const row = document.querySelector('#breakers tr');
    const text = (selector) => row.querySelector(selector).textContent;
    return row === null ? null : {
        name: text('.name'), state: text('.state'), left: text('.left'),
        successes: Number(text('.successes')), failures: Number(text('.failures')),
        rejections: Number(text('.rejections')),
        status: document.getElementById('status').textContent,
        styled: getComputedStyle(document.querySelector('table')).borderCollapse === 'collapse',
        marker: window.portcullisTestMarker ?? null,
    };
})()";

/// Polls the page until its row is in `state` and `also` holds.
async fn wait_for_state(
    devtools: &mut DevTools,
    state: &str,
    also: impl Fn(&Value) -> bool,
    client: &Process,
) -> Value {
    let started = Instant::now();
    loop {
        let row = devtools.evaluate(READ_ROW).await;
        if row["state"] == state && also(&row) {
            return row;
        }
        assert!(
            started.elapsed() < WAIT,
            "the page did not show {state:?} within {WAIT:?}; last row: {row}\n{}",
            client.report()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Writes `png` to `docs/images/NAME` only when asked to.
fn keep_screenshot(name: &str, png: &[u8]) {
    if std::env::var("PORTCULLIS_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        let path = repository_root().join("docs/images").join(name);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("docs/images");
        std::fs::write(&path, png).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        eprintln!("wrote {}", path.display());
    }
}

#[test]
#[ignore = "needs chromium (scripts/install-chromium)"]
fn the_breaker_page_follows_an_outage_live_without_a_reload() {
    let chromium = find_chromium().expect(
        "chromium is not installed: install it with scripts/install-chromium (or set CHROMIUM)",
    );
    let users = start_user_service(0);
    let mut movies = start_movie_service(0, &users.base_url, &[]);
    let movies_port = movies.port;

    // The client with its breaker page on a free loopback port.
    let mut command = example_command("recommendation_client");
    command
        .args(["--iam", &users.base_url, "--movies", &movies.base_url])
        .args(["--rounds", "0", "--interval-ms", "100"])
        .args(["--max-failures", "2", "--call-timeout-ms", "1000"])
        .args(["--reset-timeout-ms", &RESET_TIMEOUT_MS.to_string()])
        .args(["--breaker-view", "127.0.0.1:0"])
        .env("PORTCULLIS_USER", "admin")
        .env("PORTCULLIS_PASSWORD", ADMIN_PASSWORD);
    let mut client = Process::spawn("recommendation_client", command);
    let line = client.wait_for_line("`breaker_view: listening`", WAIT, |line| {
        line.starts_with("breaker_view: listening url=")
    });
    let page_url = line["breaker_view: listening url=".len()..]
        .trim()
        .to_owned();
    client.wait_for_line("a live recommendation", WAIT, |line| {
        line.starts_with("recommendation: ") && line.contains("source=live")
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");

    // The page's policy, as served.
    runtime.block_on(async {
        let response = http_client()
            .get(&page_url)
            .send()
            .await
            .expect("GET /breakers");
        assert_eq!(response.status(), 200);
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .expect("ASCII");
        assert!(policy.starts_with("default-src 'none'"), "{policy}");
    });

    let profile = TempDir::new("breaker-page-chromium");
    let (_chromium, endpoint) = start_chromium(&chromium, &profile);
    let mut devtools = runtime.block_on(DevTools::connect(&endpoint));
    let name = format!("movie_service/127.0.0.1:{movies_port}");

    // Closed, with calls counted; the stylesheet applied under the policy.
    runtime.block_on(async {
        devtools.open(&page_url).await;
        let row = wait_for_state(
            &mut devtools,
            "closed",
            |row| row["successes"].as_u64() > Some(0),
            &client,
        )
        .await;
        assert_eq!(row["name"], name.as_str(), "{row}");
        assert_eq!(row["left"], "–", "{row}");
        assert_eq!(row["status"], "live", "{row}");
        assert_eq!(row["styled"], true, "the stylesheet did not load: {row}");
        // A reload would clear this.
        devtools.evaluate("window.portcullisTestMarker = 42").await;
    });

    // The movie service dies: open, with the time left, on the same page.
    movies.kill();
    let open_png = runtime.block_on(async {
        let row = wait_for_state(
            &mut devtools,
            "open",
            |row| {
                row["left"]
                    .as_str()
                    .is_some_and(|left| left.ends_with(" s"))
            },
            &client,
        )
        .await;
        assert_eq!(row["marker"], 42, "the page was reloaded: {row}");
        assert!(row["failures"].as_u64() >= Some(2), "{row}");
        let seconds: f64 = row["left"]
            .as_str()
            .and_then(|left| left.trim_end_matches(" s").parse().ok())
            .unwrap_or_else(|| panic!("time left in {row}"));
        assert!(
            seconds > 0.0 && seconds <= RESET_TIMEOUT_MS as f64 / 1000.0,
            "{row}"
        );
        // Let a rejection or two be counted for the picture.
        wait_for_state(
            &mut devtools,
            "open",
            |row| row["rejections"].as_u64() > Some(0),
            &client,
        )
        .await;
        devtools.screenshot().await
    });

    // Back on the same port: the probe succeeds and the page shows closed again.
    drop(movies);
    let _movies = start_movie_service(movies_port, &users.base_url, &[]);
    let closed_png = runtime.block_on(async {
        let row = wait_for_state(&mut devtools, "closed", |_| true, &client).await;
        assert_eq!(row["marker"], 42, "the page was reloaded: {row}");
        assert_eq!(row["name"], name.as_str(), "{row}");
        devtools.screenshot().await
    });

    keep_screenshot("breakers-open.png", &open_png);
    keep_screenshot("breakers-closed.png", &closed_png);
}
