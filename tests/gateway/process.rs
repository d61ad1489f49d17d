//! Child processes the gateway test starts: example services and nginx. Every child is
//! owned by a guard that kills it (SIGKILL) and reaps it when dropped, so a failing or
//! panicking test leaves nothing running.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a service may take from spawn to its `listening on` line.
const STARTUP_LIMIT: Duration = Duration::from_secs(20);

/// A directory under the system temp dir, removed when dropped.
#[derive(Debug)]
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub(crate) fn new(label: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos();
        let path =
            std::env::temp_dir().join(format!("portcullis-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A loopback port that was free a moment ago (for nginx, which cannot report the port
/// it bound). The small race with other processes is acceptable in a test.
pub(crate) fn free_loopback_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// The `target/<profile>/examples/<name>` binary next to this test's executable.
pub(crate) fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/gateway-<hash> -> target/<profile>/examples/<name>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary in target/<profile>/deps");
    profile_dir.join("examples").join(name)
}

/// The last lines a child printed, for failure messages.
#[derive(Debug, Clone, Default)]
pub(crate) struct OutputTail(Arc<Mutex<Vec<String>>>);

impl OutputTail {
    fn push(&self, line: String) {
        let mut lines = self.0.lock().expect("output lock");
        if lines.len() >= 40 {
            lines.remove(0);
        }
        lines.push(line);
    }

    pub(crate) fn text(&self) -> String {
        self.0.lock().expect("output lock").join("\n")
    }
}

/// How to start one example service instance.
#[derive(Debug, Clone)]
pub(crate) struct ServiceSpec {
    /// The example's name (`user_service`, `movie_service`).
    pub(crate) example: &'static str,
    /// The instance id, sent back by the service as `x-instance-id`.
    pub(crate) instance_id: String,
    /// The service's configuration file (the seed's camelCase keys), written to the log
    /// directory and passed as `PORTCULLIS_CONFIG`; `port` and `instanceId` are set here.
    pub(crate) config: serde_json::Map<String, serde_json::Value>,
    /// Environment variables (secrets) beyond `PORTCULLIS_CONFIG`, `PORTCULLIS_PORT` and
    /// `PORTCULLIS_INSTANCE_ID`.
    pub(crate) env: HashMap<String, OsString>,
}

/// A running example service; killed when dropped.
#[derive(Debug)]
pub(crate) struct Service {
    spec: ServiceSpec,
    child: Option<Child>,
    addr: SocketAddr,
    output: OutputTail,
    log_dir: PathBuf,
}

impl Service {
    /// Starts the service on any free loopback port and waits for its `listening on` line.
    pub(crate) fn start(spec: ServiceSpec, log_dir: &Path) -> Self {
        Self::start_on(spec, log_dir, "127.0.0.1:0")
    }

    fn start_on(spec: ServiceSpec, log_dir: &Path, port: &str) -> Self {
        let binary = example_binary(spec.example);
        assert!(
            binary.exists(),
            "{} is missing: a whole `cargo test` builds the examples first; with `--test gateway` \
             run `cargo build --examples --all-features` before",
            binary.display()
        );
        // Appended to, so that a restarted instance keeps the first run's lines.
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_dir.join(format!("{}.stderr", spec.instance_id)))
            .expect("open stderr log");
        let mut config = spec.config.clone();
        config.insert("port".into(), port.into());
        config.insert("instanceId".into(), spec.instance_id.clone().into());
        let config_file = log_dir.join(format!("{}.json", spec.instance_id));
        std::fs::write(
            &config_file,
            serde_json::to_string_pretty(&config).expect("config to JSON"),
        )
        .expect("write config file");
        let mut command = Command::new(&binary);
        command
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("MONGODB_URI")
            .env("PORTCULLIS_CONFIG", &config_file)
            .env("PORTCULLIS_PORT", port)
            .env("PORTCULLIS_INSTANCE_ID", &spec.instance_id)
            .envs(&spec.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let output = OutputTail::default();
        let (port_tx, port_rx) = mpsc::channel();
        let tail = output.clone();
        // Reads the whole of stdout so that the child never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut port_tx = Some(port_tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let addr = line
                    .trim()
                    .strip_prefix("listening on http://")
                    .and_then(|rest| rest.trim_end_matches('/').parse::<SocketAddr>().ok());
                if let Some(addr) = addr
                    && let Some(tx) = port_tx.take()
                {
                    let _ = tx.send(addr);
                }
                tail.push(line);
            }
        });
        let mut service = Self {
            spec,
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            output,
            log_dir: log_dir.to_path_buf(),
        };
        if let Ok(addr) = port_rx.recv_timeout(STARTUP_LIMIT) {
            service.addr = addr;
            return service;
        }
        let status = service
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok())
            .flatten();
        panic!(
            "{} ({}) printed no `listening on` line within {STARTUP_LIMIT:?} \
             (exit status: {status:?})\nstdout:\n{}\nstderr:\n{}",
            service.spec.example,
            service.spec.instance_id,
            service.output.text(),
            service.stderr_text()
        );
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn instance_id(&self) -> &str {
        &self.spec.instance_id
    }

    /// Kills the process with SIGKILL (no graceful shutdown) and reaps it.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the killed instance again on the same port.
    pub(crate) fn restart(&mut self) {
        assert!(self.child.is_none(), "restart only a killed instance");
        let port = self.addr.to_string();
        let restarted = Self::start_on(self.spec.clone(), &self.log_dir, &port);
        assert_eq!(restarted.addr, self.addr, "restarted on another port");
        *self = restarted;
    }

    pub(crate) fn stderr_text(&self) -> String {
        let path = self
            .log_dir
            .join(format!("{}.stderr", self.spec.instance_id));
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Kills and reaps a child when dropped.
#[derive(Debug)]
pub(crate) struct ChildGuard(pub Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
