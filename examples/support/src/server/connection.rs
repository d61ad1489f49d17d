//! One accepted connection under the server's limits: a stream that counts its reads, and
//! the timer that gives hyper's head-read timeout two phases (idle, then reading).
//!
//! hyper starts its `header_read_timeout` as soon as it waits for a request head: right
//! after accept and right after each response on a kept-alive connection. With one short
//! timeout (10 s) idle kept-alive connections would be closed after 10 s, under the 60 s
//! a reverse proxy such as nginx keeps its upstream connections, which makes the proxy
//! send requests into connections being closed. So the timer hyper gets here waits for
//! the first byte of the next request for up to the idle timeout, and only then allows
//! the head-read timeout for the rest of the head.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::rt::{Sleep, Timer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How many reads brought bytes on one connection, shared by its stream and its timer.
#[derive(Debug, Clone, Default)]
pub(super) struct Reads(Arc<AtomicU64>);

impl Reads {
    fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A TCP stream that counts the reads that brought bytes.
#[derive(Debug)]
pub(super) struct CountingStream {
    inner: TcpStream,
    reads: Reads,
}

impl CountingStream {
    pub(super) fn new(inner: TcpStream, reads: Reads) -> Self {
        Self { inner, reads }
    }
}

impl AsyncRead for CountingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.reads.0.fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// hyper's timer for one connection. hyper uses it for the head-read timeout only; every
/// sleep it asks for becomes a [`HeadSleep`]: up to `idle` for the first byte, then the
/// requested duration from that byte on.
#[derive(Debug, Clone)]
pub(super) struct HeadTimer {
    reads: Reads,
    idle: Duration,
}

impl HeadTimer {
    pub(super) fn new(reads: Reads, idle: Duration) -> Self {
        Self { reads, idle }
    }
}

impl Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        Box::pin(HeadSleep::new(self.reads.clone(), self.idle, duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        self.sleep(deadline.saturating_duration_since(Instant::now()))
    }
}

/// Waits for the next byte (at most `idle`), then for `head` more; done when either runs
/// out. hyper polls it each time reading the head returns `Pending`, that is right after
/// every read that did not complete the head, so the switch happens when the byte comes.
#[derive(Debug)]
struct HeadSleep {
    reads: Reads,
    reads_at_start: u64,
    head: Duration,
    /// False while waiting for the first byte.
    reading: bool,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl HeadSleep {
    fn new(reads: Reads, idle: Duration, head: Duration) -> Self {
        Self {
            reads_at_start: reads.count(),
            reads,
            head,
            reading: false,
            sleep: Box::pin(tokio::time::sleep(idle)),
        }
    }
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !self.reading && self.reads.count() != self.reads_at_start {
            self.reading = true;
            let deadline = tokio::time::Instant::now() + self.head;
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

impl Sleep for HeadSleep {}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll_once(sleep: &mut HeadSleep) -> Poll<()> {
        Pin::new(sleep).poll(&mut Context::from_waker(std::task::Waker::noop()))
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_byte_the_idle_timeout_ends_the_wait() {
        let reads = Reads::default();
        let mut sleep = HeadSleep::new(reads, Duration::from_secs(60), Duration::from_secs(10));
        assert!(poll_once(&mut sleep).is_pending());
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(poll_once(&mut sleep).is_pending(), "idle, under 60 s");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(poll_once(&mut sleep).is_ready(), "idle for 60 s");
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_first_byte_the_head_timeout_runs_from_that_byte() {
        let reads = Reads::default();
        let mut sleep = HeadSleep::new(
            reads.clone(),
            Duration::from_secs(60),
            Duration::from_secs(10),
        );
        tokio::time::advance(Duration::from_secs(30)).await;
        reads.0.fetch_add(1, Ordering::Relaxed);
        assert!(poll_once(&mut sleep).is_pending(), "a byte came at 30 s");
        tokio::time::advance(Duration::from_secs(9)).await;
        reads.0.fetch_add(1, Ordering::Relaxed);
        assert!(
            poll_once(&mut sleep).is_pending(),
            "more bytes do not extend the head's 10 s"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(
            poll_once(&mut sleep).is_ready(),
            "10 s after the first byte"
        );
    }
}
