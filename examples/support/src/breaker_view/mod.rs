//! `GET /breakers`: a live page of a program's circuit breakers, one row per upstream
//! instance (breaker name, state, time left open, successes, failures, rejections),
//! kept current over Server-Sent Events from the breakers' event streams.
//!
//! | route | what |
//! |-------|------|
//! | `GET /breakers` | the page (HTML, no inline script or style) |
//! | `GET /breakers/app.js`, `GET /breakers/app.css` | its script and style, from this program |
//! | `GET /breakers/events` | `text/event-stream`: `event: snapshot` first, then `event: update`s |
//!
//! Every response carries a Content-Security-Policy that allows the page's own script,
//! style and event stream and nothing else (no inline code, no other origin, no frames,
//! no forms). The script writes every value with `textContent`, never as HTML.
//!
//! At most [`BreakerView::DEFAULT_MAX_VIEWERS`] event streams are served at once; the next
//! viewer gets 503 in the error model. Each stream's work per second is bounded by the
//! number of breakers, not by the call rate (see the `sse` module), and a viewer that
//! falls behind is sent a fresh snapshot: a slow viewer never slows a call.
//!
//! The page reveals internal upstream addresses: the movie service serves it only with
//! `breakerViewEnabled` (docs/security.md), the recommendation client only with
//! `--breaker-view ADDR`.

mod rows;
mod sse;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use portcullis_circuit_breaker::BalancedClient;
use portcullis_response::ApiError;
use tokio::sync::{Semaphore, watch};

pub use rows::{Message, Row};

/// The page's policy: its own script, style and event stream (`'self'`), nothing else;
/// not framed, no `<base>`, no form target (CSP Level 3, W3C).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// How often an idle event stream sends a comment, so that proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long a viewer turned away at the cap is asked to wait.
const RETRY_VIEWERS: Duration = Duration::from_secs(5);

const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");

/// The breakers of some balanced clients, served as a live page (see the
/// [module docs](self)).
#[derive(Clone)]
pub struct BreakerView {
    inner: Arc<Inner>,
}

struct Inner {
    clients: Arc<[BalancedClient]>,
    viewers: Arc<Semaphore>,
    max_viewers: usize,
    closing: watch::Sender<bool>,
}

impl fmt::Debug for BreakerView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerView")
            .field("clients", &self.inner.clients.len())
            .field("max_viewers", &self.inner.max_viewers)
            .field("viewers", &self.viewers())
            .finish_non_exhaustive()
    }
}

impl BreakerView {
    /// Viewers served at once by default.
    pub const DEFAULT_MAX_VIEWERS: usize = 16;

    /// A view of every instance's breaker of `clients` (instances that join later
    /// included), for at most [`DEFAULT_MAX_VIEWERS`](Self::DEFAULT_MAX_VIEWERS) viewers.
    pub fn new(clients: impl IntoIterator<Item = BalancedClient>) -> Self {
        Self::with_max_viewers(clients, Self::DEFAULT_MAX_VIEWERS)
    }

    /// As [`new`](Self::new), for at most `max_viewers` viewers at once (at least one).
    pub fn with_max_viewers(
        clients: impl IntoIterator<Item = BalancedClient>,
        max_viewers: usize,
    ) -> Self {
        let max_viewers = max_viewers.max(1);
        Self {
            inner: Arc::new(Inner {
                clients: clients.into_iter().collect(),
                viewers: Arc::new(Semaphore::new(max_viewers)),
                max_viewers,
                closing: watch::Sender::new(false),
            }),
        }
    }

    /// Event streams open now.
    pub fn viewers(&self) -> usize {
        self.inner.max_viewers - self.inner.viewers.available_permits()
    }

    /// Ends every event stream and refuses new ones (503), so that a graceful shutdown
    /// need not wait for viewers that never hang up.
    pub fn close(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Calls [`close`](Self::close) when `signal` resolves (for example the server's
    /// shutdown signal), on a task of its own.
    pub fn close_on(&self, signal: impl Future<Output = ()> + Send + 'static) {
        let view = self.clone();
        tokio::spawn(async move {
            signal.await;
            view.close();
        });
    }

    /// The routes: `/breakers`, `/breakers/app.js`, `/breakers/app.css`,
    /// `/breakers/events`.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        Router::new()
            .route("/breakers", get(page))
            .route("/breakers/app.js", get(script))
            .route("/breakers/app.css", get(style))
            .route("/breakers/events", get(events))
            .with_state(self.clone())
    }

    /// The event stream of one new viewer: a snapshot, then updates. `None` at the viewer
    /// cap or after [`close`](Self::close).
    fn viewer(&self) -> Option<sse::Viewer> {
        let closing = self.inner.closing.subscribe();
        if *closing.borrow() {
            return None;
        }
        let permit = Arc::clone(&self.inner.viewers).try_acquire_owned().ok()?;
        Some(sse::Viewer::new(
            Arc::clone(&self.inner.clients),
            closing,
            Some(permit),
        ))
    }
}

/// The headers every response of the view carries.
fn with_headers(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

async fn page() -> Response {
    with_headers("text/html; charset=utf-8", PAGE)
}

async fn script() -> Response {
    with_headers("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    with_headers("text/css; charset=utf-8", STYLE)
}

async fn events(State(view): State<BreakerView>) -> Response {
    let Some(viewer) = view.viewer() else {
        return ApiError::unavailable("Too many breaker page viewers, retry later")
            .with_retry_after(RETRY_VIEWERS)
            .into_response();
    };
    let mut response = Sse::new(viewer.into_events())
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // nginx would otherwise hold the events back in its buffer.
    response
        .headers_mut()
        .insert(X_ACCEL_BUFFERING, HeaderValue::from_static("no"));
    response
}

/// Tells nginx not to buffer a response.
const X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");

#[cfg(test)]
mod tests;
