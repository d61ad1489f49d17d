//! Logging: human-readable lines on stderr, and (when `enableGinFileLog` is on) JSON lines
//! in `logFilename`, rotated by size like the seed's lumberjack logs.
//!
//! stdout is kept for the one `listening on http://...` line that tests and scripts read,
//! so logs go to stderr. The level comes from `RUST_LOG` (default `info`).

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

use super::config::Config;

const MEGABYTE: usize = 1024 * 1024;

/// Installs the global subscriber described by `config`. Call once, first thing in `main`.
pub(crate) fn init(config: &Config) -> io::Result<()> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info"));
    let console = config.enable_gin_console_log.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(io::stderr)
            .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
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
    // A second `init` (local_stack runs two services in one process) keeps the first.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(console)
        .with(file)
        .try_init();
    Ok(())
}

/// A size-rotated log file: `service.log`, then `service.log.1` (newest) ... `.N`.
///
/// `file-rotate` keeps at most `logMaxBackups` rotated files; files older than
/// `logMaxAge` days are removed on every rotation check as well.
pub(crate) struct RotatingFile {
    inner: FileRotate<AppendCount>,
    path: PathBuf,
    max_age: Option<Duration>,
    last_prune: SystemTime,
}

impl RotatingFile {
    /// Opens (creating the folder if needed) the log file named in `config`.
    pub(crate) fn open(config: &Config) -> io::Result<Self> {
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
    pub(crate) fn path(&self) -> &Path {
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
