//! A fleet on a real etcd for the discovery tests: movie service instances that register
//! themselves, the recommendation client following them, a view of the registry as the
//! test sees it, and the tally of the client's calls.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use portcullis_discovery::{EtcdRegistry, ServiceView};

use super::process::Process;
use super::service::{Service, example_command};

/// The registry lease TTL the tests give their services: short, so that a crash shows
/// within seconds.
pub const TEST_TTL_SECS: u64 = 2;

/// The name the tests' movie services register under.
pub const MOVIES: &str = "movie_service";

/// Services and clients sharing one etcd endpoint and one key prefix of their own.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// The etcd client endpoint.
    pub etcd: String,
    /// The key prefix, unique to the test.
    pub prefix: String,
}

impl Fleet {
    /// A fleet on the etcd at `etcd`, under a prefix unique to `label` and this run.
    pub fn new(etcd: &str, label: &str) -> Self {
        Self {
            etcd: etcd.to_owned(),
            prefix: super::etcd::unique_prefix(label),
        }
    }

    /// Starts a movie service instance on any free port, registering itself with `weight`
    /// and [`TEST_TTL_SECS`] once ready.
    pub fn movie_service(&self, weight: u32) -> Service {
        self.movie_service_on(0, weight)
    }

    /// As [`movie_service`](Self::movie_service), with `extra` environment variables.
    pub fn movie_service_with(&self, weight: u32, extra: &[(&str, &str)]) -> Service {
        let mut command = self.movie_command(weight);
        command.env("PORTCULLIS_PORT", "0");
        for (key, value) in extra {
            command.env(key, value);
        }
        Service::start("movie_service", command)
    }

    /// As [`movie_service`](Self::movie_service), on `port`.
    pub fn movie_service_on(&self, port: u16, weight: u32) -> Service {
        let mut command = self.movie_command(weight);
        command.env("PORTCULLIS_PORT", port.to_string());
        Service::start("movie_service", command)
    }

    fn movie_command(&self, weight: u32) -> std::process::Command {
        let mut command = example_command("movie_service");
        command
            .env("PORTCULLIS_REGISTRY_ADDRS", &self.etcd)
            .env("PORTCULLIS_REGISTRY_PREFIX", &self.prefix)
            .env("PORTCULLIS_REGISTRY_TTL_SECS", TEST_TTL_SECS.to_string())
            .env("PORTCULLIS_REGISTRY_WEIGHT", weight.to_string());
        command
    }

    /// Starts the recommendation client following the fleet's movie services: `rounds`
    /// list calls, `interval_ms` apart. No IAM is registered: the list is public, and each
    /// round's login fails at once without an instance.
    pub fn recommendation_client(&self, rounds: u64, interval_ms: u64) -> Process {
        let mut command = example_command("recommendation_client");
        command
            .env("RUST_LOG", "warn")
            .arg("--registry")
            .arg(&self.etcd)
            .arg("--registry-prefix")
            .arg(&self.prefix)
            .arg("--rounds")
            .arg(rounds.to_string())
            .arg("--interval-ms")
            .arg(interval_ms.to_string());
        Process::spawn("recommendation_client", command)
    }

    /// The registry as the test sees it: a live view of `service`. Call within a tokio
    /// runtime; the view follows etcd while it lives.
    pub fn view(&self, service: &str) -> ServiceView {
        EtcdRegistry::builder()
            .endpoint(self.etcd.clone())
            .prefix(self.prefix.clone())
            .build()
            .expect("a registry client for the test")
            .watch(service)
            .expect("a view of the service")
    }
}

/// Waits until `view` lists exactly the instances at `urls` (base URLs), or panics after
/// `within`; returns how long it took.
pub async fn wait_for_urls(view: &ServiceView, urls: &[&str], within: Duration) -> Duration {
    let started = Instant::now();
    let mut wanted: Vec<String> = urls.iter().map(|url| format!("{url}/")).collect();
    wanted.sort();
    loop {
        let mut listed: Vec<String> = view
            .snapshot()
            .iter()
            .map(|instance| instance.url.to_string())
            .collect();
        listed.sort();
        if listed == wanted {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "the registry lists {listed:?}, not {wanted:?}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The recommendation client's `call:` lines, counted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Calls {
    /// Successful list calls by base URL (`http://127.0.0.1:<port>`).
    pub ok: BTreeMap<String, usize>,
    /// Every other `call:` line (failed, rejected, unauthorized), whole.
    pub not_ok: Vec<String>,
}

impl Calls {
    /// Counts the `call:` lines among `lines`.
    pub fn of(lines: &[String]) -> Self {
        let mut calls = Self::default();
        for line in lines.iter().filter(|line| line.starts_with("call: ")) {
            let url = line
                .split_whitespace()
                .find_map(|field| field.strip_prefix("url="))
                .and_then(|url| url.strip_suffix("/api/v1/movies/list"));
            match url {
                Some(base) if line.starts_with("call: ok ") => {
                    *calls.ok.entry(base.to_owned()).or_default() += 1;
                }
                _ => calls.not_ok.push(line.clone()),
            }
        }
        calls
    }

    /// Successful calls in all.
    pub fn ok_total(&self) -> usize {
        self.ok.values().sum()
    }

    /// Successful calls that went to `base_url`.
    pub fn ok_at(&self, base_url: &str) -> usize {
        self.ok.get(base_url).copied().unwrap_or_default()
    }
}

/// Every stdout line of a running client, collected as it is read.
#[derive(Debug, Default)]
pub struct ClientLines {
    /// The lines so far, in order.
    pub lines: Vec<String>,
}

impl ClientLines {
    /// Reads what `client` has written since the last call.
    pub fn read(&mut self, client: &mut Process) -> &[String] {
        self.lines.extend(client.take_ready_lines());
        &self.lines
    }

    /// Reads until the client has made `calls` successful calls in all, or panics after
    /// `within` (with the client's output).
    pub async fn until_ok(&mut self, client: &mut Process, calls: usize, within: Duration) {
        let started = Instant::now();
        while Calls::of(self.read(client)).ok_total() < calls {
            assert!(
                started.elapsed() < within,
                "{calls} successful calls not reached within {within:?}\n{}",
                client.report()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Reads until the client exits (or panics after `within`); returns its exit code.
    pub async fn until_exit(&mut self, client: &mut Process, within: Duration) -> i32 {
        let started = Instant::now();
        loop {
            self.read(client);
            if !client.is_running() {
                let code = client.wait_for_exit(Duration::from_secs(5));
                // The reader thread passes on the last lines after the pipe closes.
                tokio::time::sleep(Duration::from_millis(200)).await;
                self.read(client);
                return code.unwrap_or(-1);
            }
            assert!(
                started.elapsed() < within,
                "the client did not finish within {within:?}\n{}",
                client.report()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
