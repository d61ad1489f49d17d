//! What the page shows of one breaker ([`Row`]), and the two kinds of message the event
//! stream carries ([`Message`]).

use std::time::Duration;

use axum::response::sse::Event;
use portcullis_circuit_breaker::{BalancedClient, CircuitBreaker};
use serde::Serialize;

/// One breaker as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// The breaker's name: `service/host:port`.
    pub name: String,
    /// `closed`, `open`, `half_open`, `forced_open` or `forced_closed`.
    pub state: &'static str,
    /// While open: milliseconds until the breaker lets a trial call through.
    pub remaining_open_ms: Option<u64>,
    /// Calls that succeeded.
    pub successes: u64,
    /// Calls that failed (timeouts included).
    pub failures: u64,
    /// Calls rejected without being made.
    pub rejections: u64,
}

impl Row {
    /// The breaker's state and counts now.
    pub fn of(breaker: &CircuitBreaker) -> Self {
        let snapshot = breaker.snapshot();
        Self {
            name: breaker.name().to_owned(),
            state: snapshot.state.as_str(),
            remaining_open_ms: snapshot.remaining_open.map(ms),
            successes: snapshot.successes,
            failures: snapshot.failures.saturating_add(snapshot.timeouts),
            rejections: snapshot.rejections,
        }
    }
}

/// Whole milliseconds, rounded up so that an open breaker never reads `0 ms` left.
fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros().div_ceil(1000)).unwrap_or(u64::MAX)
}

/// Every breaker of `clients`, in the clients' order.
pub(super) fn breakers_of(clients: &[BalancedClient]) -> Vec<CircuitBreaker> {
    clients
        .iter()
        .flat_map(|client| client.upstreams().map(|(_, breaker)| breaker))
        .collect()
}

/// One message of the event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Every breaker: the page replaces its table (`event: snapshot`).
    Snapshot(Vec<Row>),
    /// Some breakers changed: the page updates or adds these rows (`event: update`).
    Update(Vec<Row>),
}

#[derive(Serialize)]
struct Frame<'a> {
    breakers: &'a [Row],
}

impl Message {
    /// The Server-Sent Event: `event: snapshot|update`, `data: {"breakers":[...]}`.
    pub fn to_event(&self) -> Event {
        let (kind, rows) = match self {
            Self::Snapshot(rows) => ("snapshot", rows),
            Self::Update(rows) => ("update", rows),
        };
        let data = serde_json::to_string(&Frame { breakers: rows })
            .expect("rows serialize to JSON: strings and numbers only");
        Event::default().event(kind).data(data)
    }
}
