//! A fixed list of instances: the static source, for configuration that names them.

use std::sync::Arc;

use crate::{Instance, ServiceView};

impl ServiceView {
    /// A view of a fixed list of instances; always healthy, never changes. Instances of
    /// another service than `service` are left out.
    ///
    /// ```
    /// use portcullis_discovery::{Instance, ServiceView};
    ///
    /// let url = "http://127.0.0.1:8808".parse().unwrap();
    /// let view = ServiceView::fixed("iam", [Instance::new("iam", "local", url)]);
    /// assert_eq!(view.snapshot().len(), 1);
    /// assert!(view.is_healthy());
    /// ```
    pub fn fixed(service: &str, instances: impl IntoIterator<Item = Instance>) -> Self {
        let (mut view, writer) = Self::new(service, Arc::new(()));
        writer.replace_all(
            instances
                .into_iter()
                .filter(|instance| instance.service == service),
        );
        writer.healthy();
        // The view keeps its writer, so that change streams stay open like a live source's.
        view.source = Arc::new(writer);
        view
    }
}

#[cfg(test)]
mod tests {
    use futures_util::{FutureExt, StreamExt};
    use tower::discover::Change;
    use url::Url;

    use super::*;

    #[tokio::test]
    async fn a_fixed_view_inserts_its_instances_once_and_then_stays_pending() {
        let url = |port| Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let view = ServiceView::fixed(
            "movies",
            [
                Instance::new("movies", "a", url(1)),
                Instance::new("iam", "x", url(2)),
                Instance::new("movies", "b", url(3)).with_weight(2),
            ],
        );
        let mut changes = view.changes();
        let mut ids = Vec::new();
        for _ in 0..2 {
            match changes.next().await.unwrap() {
                Change::Insert(id, _) => ids.push(id),
                Change::Remove(id) => panic!("unexpected removal of {id}"),
            }
        }
        assert_eq!(ids, ["a", "b"]);
        assert!(changes.next().now_or_never().is_none(), "no further change");
    }
}
