//! Follows a discovery source: applies its changes to the client's set of instances and
//! publishes each new set whole.

use std::future::poll_fn;
use std::pin::pin;
use std::sync::{Arc, Weak};
use std::task::Poll;

use futures_core::Stream;
use reqwest::Url;
use tokio::sync::oneshot;
use tower::discover::Change;

use super::set::{Instance, UpstreamSet};
use super::{ClientInner, Upstream};
use crate::{CircuitBreaker, CircuitBreakerBuilder};

/// The instances a client knows: the fixed ones and those the source announced, by key.
pub(super) struct Members<K> {
    fixed: Vec<(Arc<Instance>, u32)>,
    discovered: Vec<(K, Arc<Instance>, u32)>,
    breaker: CircuitBreakerBuilder,
    /// Each instance's breaker is named after it: `"{service}/{host}:{port}"`.
    service: String,
}

impl<K: PartialEq> Members<K> {
    pub(super) fn new(service: &str, breaker: CircuitBreakerBuilder) -> Self {
        Self {
            fixed: Vec::new(),
            discovered: Vec::new(),
            breaker,
            service: service.to_owned(),
        }
    }

    /// Adds an instance that no change removes.
    pub(super) fn add_fixed(&mut self, upstream: Upstream) {
        let breaker = self.breaker_for(&upstream);
        let instance = Arc::new(Instance {
            base: upstream.base,
            breaker,
        });
        self.fixed.push((instance, upstream.weight));
    }

    /// The breaker for an instance at `upstream`: the one of an instance with the same
    /// origin if there is one (the same server), else a fresh one.
    fn breaker_for(&self, upstream: &Upstream) -> CircuitBreaker {
        let origin = upstream.base.origin();
        self.fixed
            .iter()
            .map(|(instance, _)| instance)
            .chain(self.discovered.iter().map(|(_, instance, _)| instance))
            .find(|instance| instance.base.origin() == origin)
            .map_or_else(
                || {
                    let name = breaker_name(&self.service, &upstream.base);
                    CircuitBreaker::from_builder(self.breaker.clone().name(name))
                },
                |same| same.breaker.clone(),
            )
    }

    pub(super) fn apply(&mut self, change: Change<K, Upstream>) {
        match change {
            Change::Insert(key, upstream) => {
                let breaker = self.breaker_for(&upstream);
                let instance = Arc::new(Instance {
                    base: upstream.base,
                    breaker,
                });
                match self.discovered.iter_mut().find(|(known, ..)| *known == key) {
                    Some(entry) => *entry = (key, instance, upstream.weight),
                    None => self.discovered.push((key, instance, upstream.weight)),
                }
            }
            Change::Remove(key) => self.discovered.retain(|(known, ..)| *known != key),
        }
    }

    pub(super) fn set(&self) -> UpstreamSet {
        UpstreamSet::new(
            self.fixed
                .iter()
                .cloned()
                .chain(
                    self.discovered
                        .iter()
                        .map(|(_, instance, weight)| (instance.clone(), *weight)),
                )
                .collect(),
        )
    }
}

/// The name of the breaker of the instance at `base`: the service, then the authority
/// (host and port, the scheme's default port if none is given).
fn breaker_name(service: &str, base: &Url) -> String {
    let host = base.host_str().unwrap_or_default();
    match base.port_or_known_default() {
        Some(port) => format!("{service}/{host}:{port}"),
        None => format!("{service}/{host}"),
    }
}

/// Applies `changes` to the client behind `client` until the client is dropped (`stop`
/// resolves) or the stream ends; the set then stays as it was.
pub(super) async fn follow<S, K>(
    changes: S,
    mut members: Members<K>,
    client: Weak<ClientInner>,
    mut stop: oneshot::Receiver<()>,
) where
    S: Stream<Item = Change<K, Upstream>>,
    K: PartialEq,
{
    let mut changes = pin!(changes);
    loop {
        let first = poll_fn(|cx| {
            if stop_requested(&mut stop, cx) {
                return Poll::Ready(None);
            }
            changes.as_mut().poll_next(cx).map(Some)
        })
        .await;
        let Some(Some(change)) = first else {
            return;
        };
        members.apply(change);
        // Take every change already waiting, then publish one set for them all.
        let mut ended = false;
        loop {
            match poll_fn(|cx| Poll::Ready(changes.as_mut().poll_next(cx))).await {
                Poll::Ready(Some(change)) => members.apply(change),
                Poll::Ready(None) => {
                    ended = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        let Some(client) = client.upgrade() else {
            return;
        };
        client.set.store(Arc::new(members.set()));
        if ended {
            return;
        }
    }
}

fn stop_requested(stop: &mut oneshot::Receiver<()>, cx: &mut std::task::Context<'_>) -> bool {
    std::future::Future::poll(std::pin::Pin::new(stop), cx).is_ready()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_breaker_is_named_after_the_service_and_the_authority() {
        let name = |url: &str| breaker_name("movies", &Url::parse(url).unwrap());
        assert_eq!(name("http://10.0.0.5:8080/v1"), "movies/10.0.0.5:8080");
        assert_eq!(
            name("https://movies.internal"),
            "movies/movies.internal:443"
        );
        assert_eq!(name("http://[::1]:81"), "movies/[::1]:81");
    }

    #[test]
    fn an_instance_that_left_is_freed_with_the_last_set_that_held_it() {
        let mut members = Members::new("movies", CircuitBreaker::builder());
        members.apply(Change::Insert(
            "a",
            Upstream::new("http://127.0.0.1:1", 1).unwrap(),
        ));
        let before = members.set();
        let left = Arc::downgrade(&before.instances[0]);
        members.apply(Change::Remove("a"));
        let after = members.set();
        assert!(after.instances.is_empty());
        assert!(
            left.upgrade().is_some(),
            "a request in flight holds the old set"
        );
        drop(before);
        assert!(
            left.upgrade().is_none(),
            "then its instance and breaker are dropped"
        );
    }

    #[test]
    fn an_update_keeps_the_breaker_and_a_new_origin_gets_a_fresh_one() {
        let mut members = Members::new("movies", CircuitBreaker::builder());
        let upstream = |url: &str, weight| Upstream::new(url, weight).unwrap();
        members.apply(Change::Insert("a", upstream("http://127.0.0.1:1", 1)));
        let first = members.set().instances[0].breaker.clone();
        first.force_open();
        members.apply(Change::Insert("a", upstream("http://127.0.0.1:1/v2", 4)));
        assert_eq!(
            members.set().instances[0].breaker.state(),
            crate::State::ForcedOpen
        );
        members.apply(Change::Insert("a", upstream("http://127.0.0.1:2", 4)));
        assert_eq!(
            members.set().instances[0].breaker.state(),
            crate::State::Closed
        );
        assert_eq!(
            members.set().instances[0].breaker.name(),
            "movies/127.0.0.1:2"
        );
    }
}
