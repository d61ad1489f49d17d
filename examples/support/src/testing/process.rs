//! Child processes: [`Process`] (stdout read line by line, everything captured for the
//! failure report), [`ChildGuard`] for a bare child, [`TempDir`], [`free_port`].
//!
//! Every process is killed when its guard drops (also when a test panics), and every wait
//! is bounded by a deadline, so a hung process fails a test instead of hanging the run.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A port that was free a moment ago (for a process that must be restarted on the same
/// port, or for an address where nothing listens).
pub fn free_port() -> u16 {
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
pub struct Process {
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
    pub fn spawn(name: &str, mut command: Command) -> Self {
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
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the next stdout line that satisfies `matches`, consuming
    /// it and every line before it. Panics (with the output so far) on timeout or exit.
    pub fn wait_for_line(
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
    pub fn take_ready_lines(&mut self) -> Vec<String> {
        while let Ok(line) = self.lines.try_recv() {
            self.pending.push_back(line);
        }
        self.pending.drain(..).collect()
    }

    /// Whether the process has not exited yet (checked now, without waiting).
    pub fn is_running(&mut self) -> bool {
        self.child
            .try_wait()
            .expect("query the child's status")
            .is_none()
    }

    /// Waits up to `timeout` for the process to exit by itself and returns its exit code.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<i32> {
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

    /// Sends SIGTERM (what `docker stop` and Kubernetes send first), with kill(1): the
    /// tests need no libc binding for it. The process is not waited for.
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-s", "TERM", &pid])
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill -s TERM {pid}: {status}");
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        // An already exited child makes kill fail; that is the state we want anyway.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The captured stdout and stderr, for failure messages.
    pub fn report(&self) -> String {
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

/// Kills and reaps a child when dropped.
#[derive(Debug)]
pub struct ChildGuard(pub Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A directory under the system temp dir, removed when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `portcullis-<label>-<pid>-<nanos>` in the system temp dir.
    pub fn new(label: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos();
        let path =
            std::env::temp_dir().join(format!("portcullis-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
