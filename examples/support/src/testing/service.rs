//! Example services started as real processes: [`Service`], the clean
//! [`example_command`], and starters for the usual stack.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::binary::example_binary;
use super::process::Process;

/// How long a service may take from spawn to its `listening on` line.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The issuer every test service is configured with.
pub const ISSUER: &str = "seedotech";

/// The bootstrap administrator's password in the tests (never a real secret).
pub const ADMIN_PASSWORD: &str = "e2e-admin-password";

/// A command for an example binary with a clean, test-controlled environment: no
/// inherited `PORTCULLIS_*` or `MONGODB_URI` (so a developer's shell cannot point a test at
/// a real database), no colours, the working directory at the repository root.
pub fn example_command(name: &str) -> Command {
    let mut command = Command::new(example_binary(name));
    command.current_dir(repository_root());
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

/// The repository's root folder (this crate is `examples/support/` in it).
pub fn repository_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Builds the command of one start of a restartable service, given the port to use.
type CommandFactory = Box<dyn Fn(u16) -> Command + Send + Sync>;

/// A service started from an example binary, with the address it printed; killed on drop.
pub struct Service {
    /// `http://127.0.0.1:<port>`, as printed on the `listening on` line.
    pub base_url: String,
    /// The port it listens on.
    pub port: u16,
    /// The process.
    pub process: Process,
    name: String,
    factory: Option<CommandFactory>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("process", &self.process)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// Spawns `command` and waits for its `listening on http://...` line.
    pub fn start(name: &str, command: Command) -> Self {
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
            name: name.to_owned(),
            factory: None,
        }
    }

    /// As [`Service::start`] with the command `factory(0)` (0: any free port), and
    /// [`Service::restart`] possible: it runs `factory(port)` with the port first bound.
    pub fn start_restartable(
        name: &str,
        factory: impl Fn(u16) -> Command + Send + Sync + 'static,
    ) -> Self {
        let mut service = Self::start(name, factory(0));
        service.factory = Some(Box::new(factory));
        service
    }

    /// The name given at start (an instance id such as `movies-3`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The loopback address it listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Kills the service (SIGKILL: the abrupt failure the breaker is there for).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts a killed service again on the same port. Panics unless it was started with
    /// [`Service::start_restartable`].
    pub fn restart(&mut self) {
        let factory = self
            .factory
            .take()
            .unwrap_or_else(|| panic!("{}: only a restartable service restarts", self.name));
        self.kill();
        let restarted = Self::start(&self.name, factory(self.port));
        assert_eq!(
            restarted.port, self.port,
            "{}: restarted on another port",
            self.name
        );
        *self = restarted;
        self.factory = Some(factory);
    }
}

/// Starts the user service (the IAM) on `port` (0 for any free port), with
/// [`ADMIN_PASSWORD`].
pub fn start_user_service(port: u16) -> Service {
    let mut command = example_command("user_service");
    command
        .env("PORTCULLIS_PORT", port.to_string())
        .env("PORTCULLIS_ADMIN_PASSWORD", ADMIN_PASSWORD);
    Service::start("user_service", command)
}

/// Starts the movie service on `port` (0 for any free port), trusting the IAM at
/// `auth_addr`, with `extra` environment variables.
pub fn start_movie_service(port: u16, auth_addr: &str, extra: &[(&str, &str)]) -> Service {
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
pub struct Stack {
    /// The IAM.
    pub users: Service,
    /// The resource service.
    pub movies: Service,
}

impl Stack {
    /// Starts both services on ephemeral ports.
    pub fn start() -> Self {
        let users = start_user_service(0);
        let movies = start_movie_service(0, &users.base_url, &[]);
        Self { users, movies }
    }
}
