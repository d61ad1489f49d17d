//! etcd for the discovery tests: the shared server of `ETCD_ENDPOINTS` (started by
//! `scripts/etcd-test-server`), a unique key prefix per test, and [`EtcdServer`], an etcd
//! of a test's own for the tests that stop and restart it.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::process::{ChildGuard, TempDir, free_port};

/// How long an etcd of a test's own may take to answer after start.
const ETCD_START_TIMEOUT: Duration = Duration::from_secs(30);

/// The shared etcd's client endpoint, from `ETCD_ENDPOINTS`. Panics (the test fails) with
/// how to start one when it is not set.
pub fn etcd_endpoints() -> String {
    std::env::var("ETCD_ENDPOINTS")
        .ok()
        .and_then(|list| list.split(',').next().map(str::trim).map(str::to_owned))
        .filter(|endpoint| !endpoint.is_empty())
        .expect(
            "ETCD_ENDPOINTS is not set: run `export \"$(scripts/etcd-test-server start)\"` first",
        )
}

/// A key prefix no other test (or run) uses, so tests sharing one etcd never see each
/// other's instances.
pub fn unique_prefix(label: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!("/portcullis-test/{label}-{}-{nanos}", std::process::id())
}

/// The etcd binary: `ETCD_BIN`, else `etcd` on `PATH`, else Debian's `/usr/bin/etcd`.
fn etcd_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("ETCD_BIN") {
        return bin.into();
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("etcd"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from("/usr/bin/etcd"))
}

/// An etcd of the test's own on loopback, stopped and started again on the same port and
/// data (an outage the callers must ride out); killed and its data deleted on drop.
pub struct EtcdServer {
    endpoint: String,
    client_port: u16,
    peer_port: u16,
    data: TempDir,
    process: ChildGuard,
}

impl std::fmt::Debug for EtcdServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdServer")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl EtcdServer {
    /// Starts one on free ports and waits until it answers.
    pub fn start() -> Self {
        let client_port = free_port();
        let peer_port = free_port();
        let mut server = Self {
            endpoint: format!("http://127.0.0.1:{client_port}"),
            client_port,
            peer_port,
            data: TempDir::new("etcd"),
            process: ChildGuard(None),
        };
        server.resume();
        server
    }

    /// The client endpoint (`http://127.0.0.1:<port>`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Kills it (SIGKILL): every client call fails until [`resume`](Self::resume).
    pub fn stop(&mut self) {
        self.process = ChildGuard(None);
    }

    /// Starts it again on the same port with the same data, and waits until it answers.
    pub fn resume(&mut self) {
        let log = std::fs::File::create(self.data.path().join("etcd.log")).expect("etcd log");
        let child = Command::new(etcd_binary())
            .arg("--name=portcullis-test")
            .arg(format!(
                "--data-dir={}",
                self.data.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={}", self.endpoint))
            .arg(format!("--advertise-client-urls={}", self.endpoint))
            .arg(format!(
                "--listen-peer-urls=http://127.0.0.1:{}",
                self.peer_port
            ))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{}",
                self.peer_port
            ))
            .arg(format!(
                "--initial-cluster=portcullis-test=http://127.0.0.1:{}",
                self.peer_port
            ))
            .stdout(log.try_clone().expect("etcd log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "start etcd ({}): {error}; install it with scripts/etcd-test-server install",
                    etcd_binary().display()
                )
            });
        self.process = ChildGuard(Some(child));
        let deadline = Instant::now() + ETCD_START_TIMEOUT;
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "etcd on port {} did not answer within {ETCD_START_TIMEOUT:?}",
                self.client_port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether `/health` says it is healthy.
    fn answers(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.client_port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = format!(
            "GET /health HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.client_port
        );
        let mut reply = String::new();
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_to_string(&mut reply).is_ok()
            && reply.contains("\"health\":\"true\"")
    }
}
