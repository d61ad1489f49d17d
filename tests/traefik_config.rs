//! The shipped Traefik v3 configuration (`docs/deploy/traefik/`) parses and routes as the
//! seed's `traefik.toml` did. Traefik itself is not available to the tests, so these check
//! the YAML and the keys Traefik reads: entry point, dashboard, file provider, routers,
//! rules, the stripPrefix middleware, weights and health checks; and the etcd variant
//! (`docs/deploy/traefik-etcd/`), whose servers the services publish themselves.

use serde_norway::Value;

fn load(file: &str) -> Value {
    let path = format!("{}/docs/deploy/traefik/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path} is not valid YAML: {e}"))
}

/// Follows a path of mapping keys, failing with the path when one is missing.
fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(value, |node, key| {
        node.get(key)
            .unwrap_or_else(|| panic!("missing key `{}`", path.join(".")))
    })
}

fn text<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    at(value, path)
        .as_str()
        .unwrap_or_else(|| panic!("`{}` is not a string", path.join(".")))
}

fn strings(value: &Value, path: &[&str]) -> Vec<String> {
    at(value, path)
        .as_sequence()
        .unwrap_or_else(|| panic!("`{}` is not a list", path.join(".")))
        .iter()
        .map(|item| item.as_str().expect("a string item").to_owned())
        .collect()
}

/// The children of a weighted service as (service name, weight) pairs.
fn weights(dynamic: &Value, service: &str) -> Vec<(String, u64)> {
    at(
        dynamic,
        &["http", "services", service, "weighted", "services"],
    )
    .as_sequence()
    .expect("weighted.services is a list")
    .iter()
    .map(|child| {
        let name = child["name"]
            .as_str()
            .expect("a child has a name")
            .to_owned();
        let weight = child["weight"].as_u64().expect("a child has a weight");
        (name, weight)
    })
    .collect()
}

#[test]
fn static_config_opens_the_seed_entry_point_with_the_dashboard_and_the_file_provider() {
    let config = load("traefik.yml");

    assert_eq!(text(&config, &["entryPoints", "web", "address"]), ":7777");
    assert_eq!(at(&config, &["api", "dashboard"]).as_bool(), Some(true));
    // The dashboard is served on loopback only, never on the public entry point.
    assert!(text(&config, &["entryPoints", "traefik", "address"]).starts_with("127.0.0.1:"));
    assert!(text(&config, &["providers", "file", "filename"]).ends_with("dynamic.yml"));
}

#[test]
fn routers_match_the_seed_prefixes_and_strip_them() {
    let dynamic = load("dynamic.yml");

    for (router, prefix) in [
        ("usermanagement", "/seedotech.usermanagement"),
        ("moviemanagement", "/seedotech.moviemanagement"),
    ] {
        let base = ["http", "routers", router];
        assert_eq!(
            text(&dynamic, &[&base[..], &["rule"]].concat()),
            format!("PathPrefix(`{prefix}`)")
        );
        assert_eq!(
            strings(&dynamic, &[&base[..], &["entryPoints"]].concat()),
            ["web"]
        );
        assert_eq!(text(&dynamic, &[&base[..], &["service"]].concat()), router);

        let middlewares = strings(&dynamic, &[&base[..], &["middlewares"]].concat());
        let strip = middlewares
            .iter()
            .find(|name| {
                dynamic["http"]["middlewares"][name.as_str()]
                    .get("stripPrefix")
                    .is_some()
            })
            .unwrap_or_else(|| panic!("router {router} has no stripPrefix middleware"));
        let prefixes = strings(
            &dynamic,
            &["http", "middlewares", strip, "stripPrefix", "prefixes"],
        );
        assert!(
            prefixes.iter().any(|p| p == prefix),
            "{strip} does not strip {prefix}"
        );
        for name in &middlewares {
            assert!(
                dynamic["http"]["middlewares"].get(name.as_str()).is_some(),
                "router {router} uses undefined middleware {name}"
            );
        }
    }
}

#[test]
fn services_are_weighted_three_to_one_and_three_to_one_to_two() {
    let dynamic = load("dynamic.yml");

    let users: Vec<u64> = weights(&dynamic, "usermanagement")
        .into_iter()
        .map(|(_, w)| w)
        .collect();
    let movies: Vec<u64> = weights(&dynamic, "moviemanagement")
        .into_iter()
        .map(|(_, w)| w)
        .collect();
    assert_eq!(users, [3, 1]);
    assert_eq!(movies, [3, 1, 2]);
}

#[test]
fn every_instance_is_health_checked_on_healthz_and_health_propagates_upwards() {
    let dynamic = load("dynamic.yml");

    for (service, port) in [("usermanagement", "8808"), ("moviemanagement", "8809")] {
        // Without a healthCheck on the weighted parent, a dead child keeps its share.
        assert!(
            at(&dynamic, &["http", "services", service, "weighted"])
                .get("healthCheck")
                .is_some(),
            "{service} does not propagate health"
        );
        for (child, _) in weights(&dynamic, service) {
            let balancer = ["http", "services", child.as_str(), "loadBalancer"];
            assert_eq!(
                text(
                    &dynamic,
                    &[&balancer[..], &["healthCheck", "path"]].concat()
                ),
                "/healthz"
            );
            assert!(
                at(
                    &dynamic,
                    &[&balancer[..], &["healthCheck", "interval"]].concat()
                )
                .as_str()
                .is_some()
            );
            let servers = at(&dynamic, &[&balancer[..], &["servers"]].concat())
                .as_sequence()
                .expect("servers is a list");
            assert_eq!(servers.len(), 1, "{child} is one instance");
            let url = servers[0]["url"].as_str().expect("a server url");
            assert!(
                url.starts_with("http://") && url.ends_with(&format!(":{port}")),
                "{child}: {url}"
            );
        }
    }
}

/// `docs/deploy/traefik-etcd/routes.txt` as (key, value) pairs.
fn etcd_routes() -> Vec<(String, String)> {
    let path = format!(
        "{}/docs/deploy/traefik-etcd/routes.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, value) = line
                .split_once(' ')
                .unwrap_or_else(|| panic!("not `key value`: {line:?}"));
            (key.to_owned(), value.trim().to_owned())
        })
        .collect()
}

#[test]
fn the_etcd_variant_reads_its_routes_from_the_registrys_etcd_under_the_root_key() {
    let path = format!(
        "{}/docs/deploy/traefik-etcd/traefik.yml",
        env!("CARGO_MANIFEST_DIR")
    );
    let source = std::fs::read_to_string(&path).unwrap();
    let config: Value = serde_norway::from_str(&source).unwrap();
    let root = text(&config, &["providers", "etcd", "rootKey"]);
    assert_eq!(root, "traefik");
    assert!(!strings(&config, &["providers", "etcd", "endpoints"]).is_empty());
    assert_eq!(text(&config, &["entryPoints", "web", "address"]), ":7777");

    let routes = etcd_routes();
    let value = |key: &str| {
        let (_, value) = routes
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("routes.txt has no {key}"));
        value.as_str()
    };
    assert!(
        routes
            .iter()
            .all(|(key, _)| key.starts_with("traefik/http/"))
    );
    for (router, prefix, service) in [
        (
            "usermanagement",
            "/seedotech.usermanagement",
            "user_service",
        ),
        (
            "moviemanagement",
            "/seedotech.moviemanagement",
            "movie_service",
        ),
    ] {
        assert_eq!(
            value(&format!("traefik/http/routers/{router}/rule")),
            format!("PathPrefix(`{prefix}`)")
        );
        // The router's service is the one the instances publish their servers under.
        assert_eq!(
            value(&format!("traefik/http/routers/{router}/service")),
            service
        );
        let published =
            portcullis_examples::registry::traefik::server_url_key(root, service, "id-1");
        assert!(
            published.starts_with(&format!(
                "traefik/http/services/{service}/loadBalancer/servers/"
            )),
            "{published}"
        );
        let middleware = value(&format!("traefik/http/routers/{router}/middlewares/0"));
        assert!(
            routes.iter().any(|(key, v)| key.starts_with(&format!(
                "traefik/http/middlewares/{middleware}/stripPrefix/prefixes/"
            )) && v == prefix),
            "{middleware} does not strip {prefix}"
        );
        assert_eq!(
            value(&format!(
                "traefik/http/services/{service}/loadBalancer/healthCheck/path"
            )),
            "/healthz"
        );
    }
}
