//! Support for the end-to-end tests: the example binaries started as real processes on
//! loopback ports, their output read line by line, and a plain reqwest client.
//!
//! Every process is killed when its guard drops (also when a test panics), and every wait
//! is bounded by a deadline, so a hung service fails a test instead of hanging the run.
//! When a test panics, the captured output of every process it started is printed, which
//! is usually the fastest way to see why.

// Each `tests/e2e_*.rs` file uses a different part of this module.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a service may take from spawn to its `listening on` line.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The issuer and audience every test service is configured with.
pub(crate) const ISSUER: &str = "seedotech";

/// The bootstrap administrator's password in the tests (never a real secret).
pub(crate) const ADMIN_PASSWORD: &str = "e2e-admin-password";

/// The path of an example binary built by cargo beside this test binary.
///
/// `current_exe()` is `target/<profile>/deps/<test>-<hash>`; cargo builds the package's
/// examples into `target/<profile>/examples/<name>` before it runs integration tests.
pub(crate) fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("the test binary lives in target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "example binary {} is missing; run the tests with `cargo test` (which builds the examples) or `cargo build --examples` first",
        path.display()
    );
    path
}

/// A port that was free a moment ago (for a process that must be restarted on the same
/// port, or for an address where nothing listens).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind an ephemeral loopback port")
        .port()
}

/// Lines a process wrote, shared between the reader thread and the test.
#[derive(Debug, Default)]
struct Output {
    /// Every line, in order, for the failure report.
    all: Vec<String>,
}

/// A running child process whose stdout is read line by line; killed on drop.
#[derive(Debug)]
pub(crate) struct Process {
    name: String,
    child: Child,
    lines: Receiver<String>,
    /// Lines received but not yet consumed by a wait.
    pending: VecDeque<String>,
    stdout: Arc<Mutex<Output>>,
    stderr: Arc<Mutex<Output>>,
}

impl Process {
    /// Spawns `command` (stdout and stderr piped and drained by threads).
    pub(crate) fn spawn(name: &str, mut command: Command) -> Self {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("spawn {name}: {error}"));
        let (sender, lines) = mpsc::channel();
        let stdout = Arc::new(Mutex::new(Output::default()));
        let stderr = Arc::new(Mutex::new(Output::default()));
        let out = child.stdout.take().expect("stdout is piped");
        drain(out, Arc::clone(&stdout), Some(sender));
        let err = child.stderr.take().expect("stderr is piped");
        drain(err, Arc::clone(&stderr), None);
        Self {
            name: name.to_owned(),
            child,
            lines,
            pending: VecDeque::new(),
            stdout,
            stderr,
        }
    }

    /// The process id.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the next stdout line that satisfies `matches`, consuming
    /// it and every line before it. Panics (with the output so far) on timeout or exit.
    pub(crate) fn wait_for_line(
        &mut self,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(line) = self.pending.pop_front() {
                if matches(&line) {
                    return line;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.pending.push_back(line),
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{}: no line with {what} within {timeout:?}\n{}",
                    self.name,
                    self.report()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "{}: stdout closed before a line with {what} (status {:?})\n{}",
                    self.name,
                    self.child.try_wait(),
                    self.report()
                ),
            }
        }
    }

    /// Every stdout line received so far that has not been consumed by a wait, without
    /// waiting.
    pub(crate) fn take_ready_lines(&mut self) -> Vec<String> {
        while let Ok(line) = self.lines.try_recv() {
            self.pending.push_back(line);
        }
        self.pending.drain(..).collect()
    }

    /// Whether the process has not exited yet (checked now, without waiting).
    pub(crate) fn is_running(&mut self) -> bool {
        self.child
            .try_wait()
            .expect("query the child's status")
            .is_none()
    }

    /// Waits up to `timeout` for the process to exit by itself and returns its exit code.
    pub(crate) fn wait_for_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("query the child's status") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "{}: still running after {timeout:?}\n{}",
                self.name,
                self.report()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub(crate) fn kill(&mut self) {
        // An already exited child makes kill fail; that is the state we want anyway.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The captured stdout and stderr, for failure messages.
    pub(crate) fn report(&self) -> String {
        let stdout = self
            .stdout
            .lock()
            .map(|o| o.all.join("\n"))
            .unwrap_or_default();
        let stderr = self
            .stderr
            .lock()
            .map(|o| o.all.join("\n"))
            .unwrap_or_default();
        format!(
            "----- {name} stdout -----\n{stdout}\n----- {name} stderr -----\n{stderr}\n-----",
            name = self.name
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!("{}", self.report());
        }
    }
}

/// Reads `pipe` line by line on a thread until it closes, keeping every line and sending
/// it on `sender` (so the pipe never fills and blocks the child).
fn drain(
    pipe: impl Read + Send + 'static,
    sink: Arc<Mutex<Output>>,
    sender: Option<mpsc::Sender<String>>,
) {
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut output) = sink.lock() {
                output.all.push(line.clone());
            }
            if let Some(sender) = &sender {
                // The test may have stopped listening; the line is still kept above.
                let _ = sender.send(line);
            }
        }
    });
}

/// A command for an example binary with a clean, test-controlled environment: no
/// inherited `PORTCULLIS_*` or `MONGODB_URI` (so a developer's shell cannot point a test at
/// a real database), no colours, the working directory at the package root.
pub(crate) fn example_command(name: &str) -> Command {
    let mut command = Command::new(example_binary(name));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        if key_text.starts_with("PORTCULLIS_") || key_text == "MONGODB_URI" {
            command.env_remove(&key);
        }
    }
    command
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .env("PORTCULLIS_ISSUER", ISSUER);
    command
}

/// A service started from an example binary, with the base URL it printed.
#[derive(Debug)]
pub(crate) struct Service {
    /// `http://127.0.0.1:<port>`, as printed on the `listening on` line.
    pub(crate) base_url: String,
    /// The port it listens on.
    pub(crate) port: u16,
    /// The process (killed on drop).
    pub(crate) process: Process,
}

impl Service {
    /// Spawns `command` and waits for its `listening on http://...` line.
    pub(crate) fn start(name: &str, command: Command) -> Self {
        let mut process = Process::spawn(name, command);
        let line = process.wait_for_line("`listening on http://`", START_TIMEOUT, |line| {
            line.contains("listening on http://")
        });
        let base_url = line[line.find("http://").expect("matched above")..]
            .trim()
            .trim_end_matches('/')
            .to_owned();
        let port = base_url
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("{name}: no port in {line:?}"));
        Self {
            base_url,
            port,
            process,
        }
    }

    /// `base_url` + `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Kills the service (SIGKILL: the abrupt failure the breaker is there for).
    pub(crate) fn kill(&mut self) {
        self.process.kill();
    }
}

/// Starts the user service (the IAM) on `port` (0 for any free port).
pub(crate) fn start_user_service(port: u16) -> Service {
    let mut command = example_command("user_service");
    command
        .env("PORTCULLIS_PORT", port.to_string())
        .env("PORTCULLIS_ADMIN_PASSWORD", ADMIN_PASSWORD);
    Service::start("user_service", command)
}

/// Starts the movie service on `port` (0 for any free port), trusting the IAM at
/// `auth_addr`, with `extra` environment variables.
pub(crate) fn start_movie_service(port: u16, auth_addr: &str, extra: &[(&str, &str)]) -> Service {
    let mut command = example_command("movie_service");
    command
        .env("PORTCULLIS_PORT", port.to_string())
        .env("PORTCULLIS_AUTH_ADDR", auth_addr);
    for (key, value) in extra {
        command.env(key, value);
    }
    Service::start("movie_service", command)
}

/// The user service and a movie service that trusts it.
#[derive(Debug)]
pub(crate) struct Stack {
    /// The IAM.
    pub(crate) users: Service,
    /// The resource service.
    pub(crate) movies: Service,
}

impl Stack {
    /// Starts both services on ephemeral ports.
    pub(crate) fn start() -> Self {
        let users = start_user_service(0);
        let movies = start_movie_service(0, &users.base_url, &[]);
        Self { users, movies }
    }
}

/// A reqwest client for the tests: loopback only, no proxy, bounded in time.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .no_proxy()
        .build()
        .expect("build the test HTTP client")
}

/// Logs in at `login_url` with the form fields `user`/`password` and returns the token.
pub(crate) async fn login(
    client: &reqwest::Client,
    login_url: &str,
    user: &str,
    password: &str,
) -> String {
    let response = client
        .post(login_url)
        .form(&[("user", user), ("password", password)])
        .send()
        .await
        .expect("send the login request");
    let status = response.status();
    let body: serde_json::Value = response.json().await.expect("login answers JSON");
    assert_eq!(status, reqwest::StatusCode::OK, "login failed: {body}");
    body["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {body}"))
        .to_owned()
}

/// Asserts that `body` is the error model: exactly `{"code": <int>, "message": <string>}`.
pub(crate) fn assert_error_model(body: &serde_json::Value, context: &str) {
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("{context}: error body is not an object: {body}"));
    assert!(
        object.get("code").is_some_and(serde_json::Value::is_i64),
        "{context}: no integer code in {body}"
    );
    assert!(
        object
            .get("message")
            .is_some_and(serde_json::Value::is_string),
        "{context}: no string message in {body}"
    );
}

/// Sends one HTTP/1.1 request over a raw TCP connection and returns the status and body.
///
/// For bodies the server rejects before reading them (413): the server answers and
/// closes, and an HTTP client library fails on the broken pipe while still writing,
/// before it reads the answer. Here the body is written on its own thread, write errors
/// are ignored, and the answer is read regardless.
pub(crate) fn raw_request(
    base_url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    use std::io::Write;
    use std::net::TcpStream;

    let address = base_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connect for a raw request");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("set a read timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {address}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.extend([name, ": ", value, "\r\n"]);
    }
    head.push_str("\r\n");
    let mut writer = stream.try_clone().expect("clone the stream");
    let writing = thread::spawn(move || {
        // A server that answers early closes the connection: EPIPE/ECONNRESET here is
        // expected and harmless.
        let _ = writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(&body));
    });
    let mut response = Vec::new();
    let mut chunk = [0_u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                response.extend_from_slice(&chunk[..n]);
                if response_complete(&response) {
                    break;
                }
            }
            // A reset after the answer arrived: keep what was read.
            Err(error)
                if !response.is_empty() && error.kind() == std::io::ErrorKind::ConnectionReset =>
            {
                break;
            }
            Err(error) => panic!("read the raw response to {method} {path}: {error}"),
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = writing.join();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no complete response head: {:?}",
                String::from_utf8_lossy(&response)
            )
        });
    let status_line = String::from_utf8_lossy(&response[..split])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    (status, response[split + 4..].to_vec())
}

/// Whether `response` holds a whole head and as many body bytes as its content-length.
fn response_complete(response: &[u8]) -> bool {
    let Some(split) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok());
    length.is_some_and(|length| response.len() >= split + 4 + length)
}
