//! Runs the shipped `docs/deploy/nginx/nginx.conf` with loopback addresses.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use portcullis_examples::testing::{ChildGuard, TempDir};

/// The sample instance addresses of the shipped configuration, in file order.
const SAMPLE_USER_INSTANCES: [&str; 2] = ["192.168.1.9:8808", "192.168.1.10:8808"];
const SAMPLE_MOVIE_INSTANCES: [&str; 3] =
    ["192.168.1.9:8809", "192.168.1.10:8809", "192.168.1.12:8809"];

/// The nginx binary: `PATH` first, then Debian's location (not on a non-root `PATH`).
pub(crate) fn find_nginx() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("nginx"));
    on_path
        .chain(["/usr/sbin/nginx", "/usr/local/sbin/nginx"].map(PathBuf::from))
        .find(|candidate| candidate.is_file())
}

/// Replaces `from` by `to`, insisting that `from` occurs exactly once, so that the test
/// fails loudly when the shipped file changes shape instead of silently testing less.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "docs/deploy/nginx/nginx.conf should contain `{from}` exactly once"
    );
    text.replacen(from, to, 1)
}

/// The shipped configuration with loopback instances, a loopback listen port and every
/// file nginx writes (pid, logs, temp files) inside `dir`.
pub(crate) fn render_config(
    shipped: &str,
    users: &[SocketAddr],
    movies: &[SocketAddr],
    listen_port: u16,
    dir: &Path,
) -> String {
    assert_eq!(users.len(), SAMPLE_USER_INSTANCES.len());
    assert_eq!(movies.len(), SAMPLE_MOVIE_INSTANCES.len());
    let dir = dir.display();
    let mut conf = shipped.to_owned();
    // Run as one process (`master_process off` on the command line): SIGKILL then ends
    // all of nginx, and no worker changes user.
    conf = replace_once(&conf, "\nuser www-data;", "\n# user www-data;");
    conf = replace_once(
        &conf,
        "pid /run/nginx-portcullis.pid;",
        &format!("pid {dir}/nginx.pid;"),
    );
    conf = replace_once(
        &conf,
        "error_log /var/log/nginx/portcullis-error.log warn;",
        &format!("error_log {dir}/error.log info;"),
    );
    conf = replace_once(
        &conf,
        "access_log /var/log/nginx/portcullis-access.log portcullis;",
        &format!("access_log {dir}/access.log portcullis;"),
    );
    conf = replace_once(
        &conf,
        "\nhttp {\n",
        &format!(
            "\nhttp {{\n    client_body_temp_path {dir}/client_body;\n    \
             proxy_temp_path {dir}/proxy;\n    fastcgi_temp_path {dir}/fastcgi;\n    \
             uwsgi_temp_path {dir}/uwsgi;\n    scgi_temp_path {dir}/scgi;\n"
        ),
    );
    conf = replace_once(
        &conf,
        "listen 7777;",
        &format!("listen 127.0.0.1:{listen_port};"),
    );
    for (sample, addr) in SAMPLE_USER_INSTANCES
        .iter()
        .zip(users)
        .chain(SAMPLE_MOVIE_INSTANCES.iter().zip(movies))
    {
        conf = replace_once(
            &conf,
            &format!("server {sample} "),
            &format!("server {addr} "),
        );
    }
    conf
}

/// nginx in front of the instances; killed when dropped.
#[derive(Debug)]
pub(crate) struct Nginx {
    port: u16,
    dir: PathBuf,
    child: ChildGuard,
}

impl Nginx {
    /// Starts nginx on `port` with the rendered configuration and waits until it accepts
    /// connections.
    pub(crate) fn start(
        binary: &Path,
        port: u16,
        users: &[SocketAddr],
        movies: &[SocketAddr],
        tmp: &TempDir,
    ) -> Self {
        let dir = tmp.path().join("nginx");
        std::fs::create_dir_all(&dir).expect("create nginx dir");
        let shipped_path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/deploy/nginx/nginx.conf");
        let shipped = std::fs::read_to_string(shipped_path).expect("read shipped nginx.conf");
        let conf_path = dir.join("nginx.conf");
        std::fs::write(
            &conf_path,
            render_config(&shipped, users, movies, port, &dir),
        )
        .expect("write nginx.conf");

        let run = |extra: &[&str]| {
            let mut command = Command::new(binary);
            command
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(&conf_path)
                .args(["-g", "daemon off; master_process off;"])
                .args(extra)
                .stdin(Stdio::null());
            command
        };
        let check = run(&["-t", "-q"]).output().expect("run nginx -t");
        assert!(
            check.status.success(),
            "nginx -t rejects the rendered configuration:\n{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let stderr = std::fs::File::create(dir.join("stderr.log")).expect("stderr log");
        let child = run(&[])
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn nginx");
        let mut nginx = Self {
            port,
            dir,
            child: ChildGuard(Some(child)),
        };
        nginx.wait_until_listening();
        nginx
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            let exited = self
                .child
                .0
                .as_mut()
                .and_then(|child| child.try_wait().ok())
                .flatten();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "nginx is not listening on {addr} (exit status {exited:?}):\n{}",
                self.error_log()
            );
            // Polling for readiness, not timing anything.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The tail of nginx's error log, for failure messages.
    pub(crate) fn error_log(&self) -> String {
        let mut text = String::new();
        for file in ["stderr.log", "error.log"] {
            let content = std::fs::read_to_string(self.dir.join(file)).unwrap_or_default();
            let lines: Vec<&str> = content.lines().collect();
            text.push_str(&lines[lines.len().saturating_sub(30)..].join("\n"));
            text.push('\n');
        }
        text
    }
}
