//! Logging: on the console, human-readable lines on stderr or (`consoleLogFormat=json`)
//! JSON lines on stdout; and (when `enableGinFileLog` is on) JSON lines in `logFilename`,
//! rotated by size like the original project's lumberjack logs.
//!
//! Text logs go to stderr so that stdout holds only the `listening on http://...` line
//! that tests and scripts read. JSON logs go to stdout, the container convention (what
//! `docker logs` and Kubernetes collect); that one line stays the only non-JSON line there.
//! A request's lines carry its `request_id` (the `x-request-id` of the response) under
//! `span`. The level comes from `RUST_LOG` (default `info`).
//!
//! With the `otel` feature and `otlpEndpoint` set, the same spans are also exported over
//! OTLP/HTTP (see the `otel` module).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{CommonConfig, ConsoleLogFormat};

const MEGABYTE: usize = 1024 * 1024;

/// Installs the global subscriber described by `config` for the service named `service`
/// (the `service.name` of exported spans). Call once, first thing in `main`, on the tokio
/// runtime.
pub fn init(service: &str, config: &CommonConfig) -> io::Result<()> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info"));
    let console = config.enable_gin_console_log;
    let text = (console && config.console_log_format == ConsoleLogFormat::Text).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(io::stderr)
            .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
    });
    let json = (console && config.console_log_format == ConsoleLogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_span_list(false)
            .with_writer(io::stdout)
    });
    let file = if config.enable_gin_file_log {
        let writer = RotatingFile::open(config)?;
        Some(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(false)
                .with_writer(Mutex::new(writer)),
        )
    } else {
        None
    };
    #[cfg(feature = "otel")]
    let otel = crate::otel::layer(service, config)?;
    #[cfg(not(feature = "otel"))]
    let (otel, _) = (None::<tracing_subscriber::layer::Identity>, service);
    // A second `init` (local_stack runs two services in one process) keeps the first.
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(text)
        .with(json)
        .with(file)
        .with(otel)
        .try_init();
    #[cfg(feature = "otel")]
    if installed.is_ok() {
        crate::otel::announce(config);
    }
    let _ = installed;
    Ok(())
}

/// A size-rotated log file: `service.log`, then `service.log.1` (newest) ... `.N`.
///
/// `file-rotate` keeps at most `logMaxBackups` rotated files; files older than
/// `logMaxAge` days are removed on every rotation check as well.
pub struct RotatingFile {
    inner: FileRotate<AppendCount>,
    path: PathBuf,
    max_age: Option<Duration>,
    last_prune: SystemTime,
}

impl RotatingFile {
    /// Opens (creating the folder if needed) the log file named in `config`.
    pub fn open(config: &CommonConfig) -> io::Result<Self> {
        let path = config.log_filename.clone();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)?;
        }
        let max_bytes = usize::try_from(config.log_max_size.max(1))
            .unwrap_or(usize::MAX / MEGABYTE)
            .saturating_mul(MEGABYTE);
        // 0 backups means "keep all", as in lumberjack.
        let backups = match config.log_max_backups {
            0 => usize::MAX,
            n => n,
        };
        let inner = FileRotate::new(
            &path,
            AppendCount::new(backups),
            ContentLimit::BytesSurpassed(max_bytes),
            Compression::None,
            None,
        );
        let max_age = (config.log_max_age > 0)
            .then(|| Duration::from_secs(config.log_max_age.saturating_mul(24 * 60 * 60)));
        let mut file = Self {
            inner,
            path,
            max_age,
            last_prune: SystemTime::UNIX_EPOCH,
        };
        file.prune_old_files();
        Ok(file)
    }

    /// Removes rotated files older than `logMaxAge`, at most once a minute.
    fn prune_old_files(&mut self) {
        let Some(max_age) = self.max_age else { return };
        let now = SystemTime::now();
        if now
            .duration_since(self.last_prune)
            .is_ok_and(|d| d < Duration::from_secs(60))
        {
            return;
        }
        self.last_prune = now;
        for rotated in self.inner.log_paths() {
            if is_older_than(&rotated, now, max_age) {
                let _ = fs::remove_file(rotated);
            }
        }
    }

    /// The live log file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn is_older_than(path: &Path, now: SystemTime, age: Duration) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| now.duration_since(modified).ok())
        .is_some_and(|elapsed| elapsed > age)
}

impl io::Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.prune_old_files();
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl std::fmt::Debug for RotatingFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatingFile")
            .field("path", &self.path)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::Write;

    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("portcullis-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn config(dir: &Path, backups: usize, max_age_days: u64) -> CommonConfig {
        CommonConfig {
            log_filename: dir.join("service.log"),
            log_max_size: 1,
            log_max_backups: backups,
            log_max_age: max_age_days,
            ..CommonConfig::default()
        }
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_log_rotates_past_max_size_and_keeps_max_backups() {
        let dir = temp_dir("rotate");
        let mut log = RotatingFile::open(&config(&dir, 2, 0)).unwrap();
        let line = format!("{}\n", "x".repeat(1023));
        // 4.5 MB in 1 KB lines with a 1 MB limit: four rotations, two backups kept.
        for _ in 0..(4 * 1024 + 512) {
            log.write_all(line.as_bytes()).unwrap();
        }
        log.flush().unwrap();
        assert_eq!(
            files_in(&dir),
            ["service.log", "service.log.1", "service.log.2"]
        );
        for name in files_in(&dir) {
            let size = fs::metadata(dir.join(&name)).unwrap().len();
            assert!(size <= 1024 * 1024 + 1024, "{name} holds {size} bytes");
        }
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn rotated_files_older_than_max_age_are_removed() {
        let dir = temp_dir("age");
        fs::write(dir.join("service.log"), "current\n").unwrap();
        let old = File::create(dir.join("service.log.1")).unwrap();
        old.set_modified(SystemTime::now() - Duration::from_secs(3 * 24 * 60 * 60))
            .unwrap();
        drop(old);
        fs::write(dir.join("service.log.2"), "recent but numbered after\n").unwrap();

        let _log = RotatingFile::open(&config(&dir, 5, 2)).unwrap();
        assert!(
            !dir.join("service.log.1").exists(),
            "a 3-day-old backup outlives maxAge 2"
        );
        assert!(dir.join("service.log.2").exists());
        assert!(dir.join("service.log").exists());
        fs::remove_dir_all(dir).unwrap();
    }
}
