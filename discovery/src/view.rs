//! The live view of one service's instances: a snapshot and change streams, written by a
//! source (etcd, DNS, a fixed list).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::{mpsc, watch};
use tower::discover::Change;

use crate::{Instance, SourceHealth};

/// Whatever keeps a source running (its task); dropped with the last view and stream.
pub(crate) type SourceGuard = Arc<dyn Send + Sync>;

#[derive(Default)]
struct State {
    instances: BTreeMap<String, Instance>,
    subscribers: Vec<mpsc::UnboundedSender<Change<String, Instance>>>,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    health: watch::Sender<SourceHealth>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The live set of one service's instances: a [`snapshot`](Self::snapshot) at any time,
/// [`changes`](Self::changes) as a stream, and the source's [`health`](Self::health).
///
/// Cheap to clone. The source behind it (a watch on etcd, a DNS loop) runs until the last
/// view and the last change stream are dropped.
#[derive(Clone)]
pub struct ServiceView {
    service: Arc<str>,
    shared: Arc<Shared>,
    pub(crate) source: SourceGuard,
}

impl fmt::Debug for ServiceView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceView")
            .field("service", &self.service)
            .field("instances", &self.shared.lock().instances.len())
            .field("health", &*self.shared.health.borrow())
            .finish_non_exhaustive()
    }
}

impl ServiceView {
    /// A view and the writer its source feeds.
    pub(crate) fn new(service: &str, source: SourceGuard) -> (Self, ViewWriter) {
        let (health, _) = watch::channel(SourceHealth::Connecting);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            health,
        });
        let view = Self {
            service: service.into(),
            shared: shared.clone(),
            source,
        };
        (view, ViewWriter { shared })
    }

    /// The service this view follows.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The instances known now, ordered by id.
    pub fn snapshot(&self) -> Vec<Instance> {
        self.shared.lock().instances.values().cloned().collect()
    }

    /// A stream of changes: first a [`Change::Insert`] for every instance known now, then
    /// every change as it happens. An `Insert` for a key already inserted replaces that
    /// instance (an update), as tower's balancers read it.
    ///
    /// The stream ends when the source stops (never, for a running etcd or DNS source).
    pub fn changes(&self) -> Changes {
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut state = self.shared.lock();
        for (id, instance) in &state.instances {
            let _ = sender.send(Change::Insert(id.clone(), instance.clone()));
        }
        if !state.closed {
            state.subscribers.push(sender);
        }
        Changes {
            receiver,
            _source: self.source.clone(),
        }
    }

    /// The source's health, to watch: stale while the registry cannot be reached.
    pub fn health(&self) -> watch::Receiver<SourceHealth> {
        self.shared.health.subscribe()
    }

    /// Whether the source is following the registry live right now.
    pub fn is_healthy(&self) -> bool {
        self.shared.health.borrow().is_healthy()
    }
}

/// The changes of a [`ServiceView`], as a `Stream` of [`Change`]s keyed by instance id.
///
/// For a tower balancer, which takes a `Discover` (a stream of `Result<Change, E>`), use
/// [`into_discover`](Self::into_discover).
pub struct Changes {
    receiver: mpsc::UnboundedReceiver<Change<String, Instance>>,
    _source: SourceGuard,
}

impl fmt::Debug for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Changes").finish_non_exhaustive()
    }
}

impl Stream for Changes {
    type Item = Change<String, Instance>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.receiver.poll_recv(cx)
    }
}

impl Changes {
    /// The same changes as a tower `Discover` (a stream of `Result<Change, Infallible>`):
    /// registry errors never reach the stream (see [`ServiceView::health`]).
    pub fn into_discover(self) -> DiscoverChanges {
        DiscoverChanges { inner: self }
    }
}

/// [`Changes`] as a tower `Discover`; see [`Changes::into_discover`].
#[derive(Debug)]
pub struct DiscoverChanges {
    inner: Changes,
}

impl Stream for DiscoverChanges {
    type Item = Result<Change<String, Instance>, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner)
            .poll_next(cx)
            .map(|next| next.map(Ok))
    }
}

/// The writing side of a view, held by its source.
pub(crate) struct ViewWriter {
    shared: Arc<Shared>,
}

#[cfg_attr(not(feature = "etcd"), allow(dead_code))]
impl ViewWriter {
    /// Inserts or replaces one instance; no change is sent when it is unchanged.
    pub(crate) fn upsert(&self, instance: Instance) {
        let mut state = self.shared.lock();
        if state.instances.get(&instance.id) == Some(&instance) {
            return;
        }
        let change = Change::Insert(instance.id.clone(), instance.clone());
        state.instances.insert(instance.id.clone(), instance);
        publish(&mut state, &change);
    }

    /// Removes one instance, if known.
    pub(crate) fn remove(&self, id: &str) {
        let mut state = self.shared.lock();
        if state.instances.remove(id).is_some() {
            publish(&mut state, &Change::Remove(id.to_owned()));
        }
    }

    /// Replaces the whole set, sending only the differences.
    pub(crate) fn replace_all(&self, instances: impl IntoIterator<Item = Instance>) {
        let fresh: BTreeMap<String, Instance> = instances
            .into_iter()
            .map(|instance| (instance.id.clone(), instance))
            .collect();
        let mut state = self.shared.lock();
        let gone: Vec<String> = state
            .instances
            .keys()
            .filter(|id| !fresh.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            state.instances.remove(&id);
            publish(&mut state, &Change::Remove(id));
        }
        for (id, instance) in fresh {
            if state.instances.get(&id) != Some(&instance) {
                state.instances.insert(id.clone(), instance.clone());
                publish(&mut state, &Change::Insert(id, instance));
            }
        }
    }

    /// Reports the source live.
    pub(crate) fn healthy(&self) {
        self.shared.health.send_if_modified(|health| {
            let changed = !health.is_healthy();
            *health = SourceHealth::Healthy;
            changed
        });
    }

    /// Reports the source stale (the set stays as it is).
    pub(crate) fn stale(&self, error: impl fmt::Display) {
        let error = error.to_string();
        self.shared.health.send_if_modified(|health| {
            let was_healthy = !matches!(health, SourceHealth::Stale { .. });
            if was_healthy {
                tracing::warn!(%error, "service registry unreachable; keeping the last known instances");
            }
            *health = SourceHealth::Stale { error };
            was_healthy
        });
    }
}

impl Drop for ViewWriter {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        state.subscribers.clear();
    }
}

fn publish(state: &mut State, change: &Change<String, Instance>) {
    state
        .subscribers
        .retain(|subscriber| subscriber.send(change.clone()).is_ok());
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use url::Url;

    use super::*;

    fn instance(id: &str, weight: u32) -> Instance {
        Instance::new("movies", id, Url::parse("http://127.0.0.1:1").unwrap()).with_weight(weight)
    }

    fn key(change: &Change<String, Instance>) -> String {
        match change {
            Change::Insert(id, instance) => format!("+{id}/{}", instance.weight),
            Change::Remove(id) => format!("-{id}"),
        }
    }

    #[tokio::test]
    async fn a_replacement_sends_only_the_differences_and_late_subscribers_start_from_the_set() {
        let (view, writer) = ServiceView::new("movies", Arc::new(()));
        let mut early = view.changes();
        writer.replace_all([instance("a", 1), instance("b", 1)]);
        writer.replace_all([instance("b", 1), instance("c", 1), instance("a", 2)]);
        writer.upsert(instance("c", 1));
        writer.remove("zzz");
        drop(writer);
        let seen: Vec<String> = early.by_ref().map(|change| key(&change)).collect().await;
        assert_eq!(seen, ["+a/1", "+b/1", "+a/2", "+c/1"]);
        let late: Vec<String> = view.changes().map(|change| key(&change)).collect().await;
        assert_eq!(late, ["+a/2", "+b/1", "+c/1"]);
        assert_eq!(view.snapshot().len(), 3);
    }

    #[test]
    fn the_change_stream_is_a_tower_discover() {
        fn discover<D: tower::discover::Discover<Key = String, Service = Instance>>(_: &D) {}
        let (view, _writer) = ServiceView::new("movies", Arc::new(()));
        discover(&view.changes().into_discover());
    }

    #[test]
    fn a_stale_source_keeps_its_instances_and_says_why() {
        let (view, writer) = ServiceView::new("movies", Arc::new(()));
        writer.replace_all([instance("a", 1)]);
        writer.healthy();
        assert!(view.is_healthy());
        writer.stale("connection refused");
        assert!(!view.is_healthy());
        assert_eq!(
            *view.health().borrow(),
            SourceHealth::Stale {
                error: "connection refused".into()
            }
        );
        assert_eq!(view.snapshot().len(), 1);
    }
}
