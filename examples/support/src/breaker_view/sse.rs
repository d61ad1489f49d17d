//! One viewer's event stream: a snapshot first, then what the breakers do.
//!
//! Each viewer subscribes to every breaker's [`BreakerEvents`]. A state change is sent at
//! once; call outcomes only mark their breaker, whose counts go out with the next refresh
//! (once a second), so a viewer's work and traffic do not grow with the call rate. A
//! viewer that falls behind (a slow reader, a burst of calls) loses events in the
//! breaker's bounded buffer and gets a fresh snapshot instead; it never slows a call.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::Event;
use futures_util::stream::{self, BoxStream, SelectAll, Stream, StreamExt};
use portcullis_circuit_breaker::{BalancedClient, BreakerEvent, CircuitBreaker, State};
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};

use super::rows::{Message, Row, breakers_of};

/// How often a viewer sends the counts of the breakers that had calls, the time left of
/// open ones, and a snapshot when instances joined or left.
pub(super) const REFRESH: Duration = Duration::from_secs(1);

type Subscription = BoxStream<'static, Result<BreakerEvent, RecvError>>;

/// One viewer's state between messages.
pub(super) struct Viewer {
    clients: Arc<[BalancedClient]>,
    /// The breakers subscribed to, by name. Not the breakers themselves: holding them
    /// would keep a departed instance's breaker, and its subscription, alive.
    names: Vec<String>,
    events: SelectAll<Subscription>,
    /// Breakers with calls since the last message that carried them.
    dirty: BTreeSet<Arc<str>>,
    /// A subscription ended (its breaker is gone): take a new look at the instances.
    stale: bool,
    refresh: Interval,
    first: Option<Message>,
    closing: watch::Receiver<bool>,
    /// Held while the stream lives: the viewer cap.
    _permit: Option<OwnedSemaphorePermit>,
}

impl Viewer {
    /// Subscribes to every breaker of `clients`, then takes the first snapshot (in that
    /// order, so that no change falls between the two).
    pub(super) fn new(
        clients: Arc<[BalancedClient]>,
        closing: watch::Receiver<bool>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Self {
        let mut refresh = tokio::time::interval_at(tokio::time::Instant::now() + REFRESH, REFRESH);
        refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut viewer = Self {
            clients,
            names: Vec::new(),
            events: SelectAll::new(),
            dirty: BTreeSet::new(),
            stale: false,
            refresh,
            first: None,
            closing,
            _permit: permit,
        };
        viewer.first = Some(viewer.resubscribe());
        viewer
    }

    /// New subscriptions to the breakers there are now, and their snapshot.
    fn resubscribe(&mut self) -> Message {
        let breakers = breakers_of(&self.clients);
        self.names = breakers.iter().map(|b| b.name().to_owned()).collect();
        self.events = breakers.iter().map(subscription).collect();
        self.stale = false;
        self.snapshot()
    }

    fn snapshot(&mut self) -> Message {
        self.dirty.clear();
        Message::Snapshot(breakers_of(&self.clients).iter().map(Row::of).collect())
    }

    /// The rows of the breakers named in `names`, and of every open one (its time left).
    fn update(&mut self, names: &BTreeSet<Arc<str>>) -> Option<Message> {
        let rows: Vec<Row> = breakers_of(&self.clients)
            .iter()
            .filter(|breaker| names.contains(breaker.name()) || breaker.state() == State::Open)
            .map(Row::of)
            .collect();
        (!rows.is_empty()).then_some(Message::Update(rows))
    }

    /// The next message; `None` once the service is shutting down.
    pub(super) async fn next_message(&mut self) -> Option<Message> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        loop {
            if *self.closing.borrow() {
                return None;
            }
            tokio::select! {
                Some(event) = self.events.next(), if !self.events.is_empty() => match event {
                    Ok(BreakerEvent::StateChange { name, .. }) => {
                        self.dirty.remove(&name);
                        let changed = BTreeSet::from([name]);
                        if let Some(update) = self.update(&changed) {
                            return Some(update);
                        }
                    }
                    Ok(BreakerEvent::Call { name, .. }) => {
                        self.dirty.insert(name);
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => return Some(self.snapshot()),
                    Err(RecvError::Closed) => self.stale = true,
                },
                _ = self.refresh.tick() => {
                    if self.stale || self.instances_changed() {
                        return Some(self.resubscribe());
                    }
                    let dirty = std::mem::take(&mut self.dirty);
                    if let Some(update) = self.update(&dirty) {
                        return Some(update);
                    }
                }
                changed = self.closing.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    /// Whether instances joined or left since the last subscription (one that left and
    /// came back under the same name ends its old subscription: `stale`).
    fn instances_changed(&self) -> bool {
        let now = breakers_of(&self.clients);
        now.len() != self.names.len()
            || now
                .iter()
                .zip(&self.names)
                .any(|(now, then)| now.name() != then)
    }

    /// The messages as Server-Sent Events.
    pub(super) fn into_events(self) -> impl Stream<Item = Result<Event, Infallible>> + Send {
        stream::unfold(self, |mut viewer| async move {
            let message = viewer.next_message().await?;
            Some((Ok(message.to_event()), viewer))
        })
    }
}

/// A breaker's events as a stream that reports its end (`Closed`) once, then ends.
fn subscription(breaker: &CircuitBreaker) -> Subscription {
    stream::unfold(Some(breaker.subscribe()), |events| async move {
        let mut events = events?;
        match events.recv().await {
            Err(RecvError::Closed) => Some((Err(RecvError::Closed), None)),
            other => Some((other, Some(events))),
        }
    })
    .boxed()
}
