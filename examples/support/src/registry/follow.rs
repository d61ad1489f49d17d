//! A registry view as the balanced client's source of upstreams: each serving instance is
//! an [`Upstream`] at its URL with its weight; one that leaves, expires or says it is
//! draining is removed.

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use portcullis_circuit_breaker::BalancedClient;
use portcullis_circuit_breaker::client::Upstream;
use portcullis_discovery::{Change, Instance, ServiceView};

/// The changes of `view` as the balanced client's
/// [`build_with_discovery`](portcullis_circuit_breaker::BalancedClientBuilder::build_with_discovery)
/// takes them, keyed by instance id. An instance whose URL the client refuses is logged
/// and left out.
pub fn upstream_changes(
    view: &ServiceView,
) -> impl Stream<Item = Change<String, Upstream>> + Send + 'static {
    view.changes().map(|change| match change {
        Change::Insert(id, instance) => match upstream(&instance) {
            Some(upstream) => Change::Insert(id, upstream),
            None => Change::Remove(id),
        },
        Change::Remove(id) => Change::Remove(id),
    })
}

/// Waits up to `within` until `client` knows at least one instance (with a registry, the
/// first listing arrives shortly after start); returns whether it does.
pub async fn wait_for_any(client: &BalancedClient, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while client.upstreams().next().is_none() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// The upstream for a serving instance; `None` for one that is draining or whose URL the
/// client cannot call.
fn upstream(instance: &Instance) -> Option<Upstream> {
    if !instance.is_serving() {
        return None;
    }
    let base = instance.url.as_str().trim_end_matches('/');
    match Upstream::new(base, instance.weight.max(1)) {
        Ok(upstream) => Some(upstream),
        Err(error) => {
            tracing::warn!(
                service = %instance.service,
                id = %instance.id,
                %error,
                "ignoring a registered instance the client cannot call"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use portcullis_discovery::InstanceHealth;

    use super::*;

    #[test]
    fn serving_instances_become_weighted_upstreams_and_draining_ones_none() {
        let url = "http://127.0.0.1:8809/".parse().unwrap();
        let serving = Instance::new("movies", "m1", url).with_weight(3);
        let upstream = upstream(&serving).unwrap();
        assert_eq!(upstream.base_url().as_str(), "http://127.0.0.1:8809/");
        assert_eq!(upstream.weight(), 3);

        let draining = serving.clone().with_health(InstanceHealth::Draining);
        assert!(super::upstream(&draining).is_none());

        let weightless = serving.with_weight(0);
        assert_eq!(super::upstream(&weightless).unwrap().weight(), 1);
    }
}
