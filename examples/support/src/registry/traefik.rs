//! The keys Traefik's etcd provider reads, as each instance publishes them beside its own
//! entry (`traefikRootKey`): Traefik then routes to exactly the instances in the registry.
//!
//! Traefik v3's KV provider builds its dynamic configuration from keys under a root key
//! (`providers.etcd.rootKey`, default `traefik`). A load balancer's servers are a list,
//! `.../loadBalancer/servers/<n>/url`; Traefik reads a list's entries in key order
//! whatever their names, so each instance writes its own entry, named by its instance id,
//! bound to its registration's lease: it goes when the instance leaves or its lease
//! expires. The routers and middlewares are written once by the operator
//! (`docs/deploy/traefik-etcd/`).

/// The key of the URL of the server `id` of the Traefik service `service`:
/// `{root_key}/http/services/{service}/loadBalancer/servers/{id}/url`.
pub fn server_url_key(root_key: &str, service: &str, id: &str) -> String {
    format!(
        "{}/http/services/{service}/loadBalancer/servers/{id}/url",
        root_key.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_traefiks_load_balancer_server_url() {
        assert_eq!(
            server_url_key("traefik/", "movie_service", "movies-1-8809"),
            "traefik/http/services/movie_service/loadBalancer/servers/movies-1-8809/url"
        );
    }
}
