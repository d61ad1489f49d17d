//! The etcd registry against a real etcd (`scripts/etcd-test-server start` prints
//! `ETCD_ENDPOINTS=...`). Lost connections are made with a proxy the test cuts.
#![cfg(feature = "etcd")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use futures_util::StreamExt;
use portcullis_discovery::{Change, Changes, EtcdRegistry, Instance, ServiceView};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// A compaction is global to the server: the tests that count a resumed watch's exact
/// changes do not run beside the one that compacts.
static HISTORY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn etcd() -> String {
    let endpoints = std::env::var("ETCD_ENDPOINTS").unwrap_or_else(|_| {
        panic!(
            "ETCD_ENDPOINTS is not set: run `export \"$(scripts/etcd-test-server start)\"` first"
        )
    });
    endpoints.split(',').next().unwrap().trim().to_owned()
}

/// A key prefix no other test uses.
fn unique_prefix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("/portcullis-test/{nanos}")
}

fn registry(endpoint: &str, prefix: &str) -> EtcdRegistry {
    EtcdRegistry::builder()
        .endpoint(endpoint)
        .prefix(prefix)
        .ttl(Duration::from_secs(2))
        .retry_interval(Duration::from_millis(100))
        .build()
        .unwrap()
}

fn instance(id: &str) -> Instance {
    Instance::new(
        "movies",
        id,
        format!("http://127.0.0.1:1/{id}").parse().unwrap(),
    )
}

fn show(change: &Change<String, Instance>) -> String {
    match change {
        Change::Insert(id, _) => format!("+{id}"),
        Change::Remove(id) => format!("-{id}"),
    }
}

async fn next(changes: &mut Changes, within: Duration) -> String {
    let change = tokio::time::timeout(within, changes.next())
        .await
        .unwrap_or_else(|_| panic!("no change within {within:?}"))
        .expect("the change stream ended");
    show(&change)
}

/// Waits until the view holds exactly `ids`.
async fn wait_for_set(view: &ServiceView, ids: &[&str], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let now: Vec<String> = view.snapshot().into_iter().map(|i| i.id).collect();
        if now == ids {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the view holds {now:?}, not {ids:?}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_health(view: &ServiceView, healthy: bool) {
    let mut health = view.health();
    tokio::time::timeout(
        Duration::from_secs(5),
        health.wait_for(|health| health.is_healthy() == healthy),
    )
    .await
    .unwrap_or_else(|_| panic!("the view did not turn healthy={healthy}"))
    .unwrap();
}

/// A direct call on etcd's JSON gateway.
async fn gateway(endpoint: &str, path: &str, body: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{endpoint}/v3/{path}"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn current_revision(endpoint: &str) -> i64 {
    let key = base64::engine::general_purpose::STANDARD.encode("/");
    let answer = gateway(
        endpoint,
        "kv/range",
        json!({"key": key, "count_only": true}),
    )
    .await;
    answer["header"]["revision"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A TCP proxy in front of etcd whose connections the test can cut (closed at once) or
/// freeze (left open, silent: a partition).
struct Proxy {
    url: String,
    open: Arc<AtomicBool>,
    frozen: Arc<AtomicBool>,
    freeze: Arc<Notify>,
    connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    async fn start(target: &str) -> Self {
        let target = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let open = Arc::new(AtomicBool::new(true));
        let frozen = Arc::new(AtomicBool::new(false));
        let freeze = Arc::new(Notify::new());
        let connections = Arc::new(Mutex::new(Vec::new()));
        let (accepting, silent, freezing, tasks) = (
            open.clone(),
            frozen.clone(),
            freeze.clone(),
            connections.clone(),
        );
        tokio::spawn(async move {
            // Frozen connections are kept open here, never read.
            let mut held = Vec::new();
            loop {
                let (mut inbound, _) = listener.accept().await.unwrap();
                if !accepting.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused after accept
                }
                if silent.load(Ordering::SeqCst) {
                    held.push(inbound);
                    continue;
                }
                let target = target.clone();
                let freezing = freezing.clone();
                let task = tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = freezing.notified() => {
                            // Silent from now on, and open until the test ends.
                            drop(outbound);
                            std::future::pending::<()>().await;
                            drop(inbound);
                        }
                    }
                });
                tasks.lock().unwrap().push(task.abort_handle());
            }
        });
        Self {
            url,
            open,
            frozen,
            freeze,
            connections,
        }
    }

    /// Drops every connection and refuses new ones.
    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Leaves every connection open but silent, and new ones too.
    fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
        self.freeze.notify_waiters();
    }

    fn restore(&self) {
        self.frozen.store(false, Ordering::SeqCst);
        self.open.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
#[ignore = "needs ETCD_ENDPOINTS (scripts/etcd-test-server)"]
async fn registered_instances_are_watched_and_deregistering_removes_them() {
    let endpoint = etcd();
    let registry = registry(&endpoint, &unique_prefix());
    let view = registry.watch("movies").unwrap();
    let mut changes = view.changes();
    let a = registry
        .register(instance("a").with_weight(3))
        .await
        .unwrap();
    let b = registry.register(instance("b")).await.unwrap();
    assert_eq!(next(&mut changes, Duration::from_secs(2)).await, "+a");
    assert_eq!(next(&mut changes, Duration::from_secs(2)).await, "+b");
    assert_eq!(view.snapshot()[0].weight, 3, "the record arrives whole");
    assert!(view.is_healthy());
    a.deregister().await.unwrap();
    assert_eq!(next(&mut changes, Duration::from_secs(2)).await, "-a");
    drop(b);
    assert_eq!(
        next(&mut changes, Duration::from_secs(2)).await,
        "-b",
        "dropping the handle deregisters too"
    );
    // A second watcher starts from the current set: empty.
    assert!(registry.watch("movies").unwrap().snapshot().is_empty());
}

/// The value of `key`, if etcd holds it.
async fn value_of(endpoint: &str, key: &str) -> Option<String> {
    let engine = base64::engine::general_purpose::STANDARD;
    let answer = gateway(endpoint, "kv/range", json!({"key": engine.encode(key)})).await;
    let value = answer["kvs"].get(0)?["value"].as_str()?.to_owned();
    Some(String::from_utf8(engine.decode(value).unwrap()).unwrap())
}

#[tokio::test]
#[ignore = "needs ETCD_ENDPOINTS (scripts/etcd-test-server)"]
async fn extra_keys_live_and_go_with_the_registration() {
    let endpoint = etcd();
    let prefix = unique_prefix();
    let registry = registry(&endpoint, &prefix);
    let key = format!("{prefix}-traefik/http/services/movies/loadBalancer/servers/a/url");
    let entry = registry
        .register_with_keys(
            instance("a"),
            vec![(key.clone(), "http://127.0.0.1:1".into())],
        )
        .await
        .unwrap();
    assert_eq!(
        value_of(&endpoint, &key).await.as_deref(),
        Some("http://127.0.0.1:1")
    );
    entry.deregister().await.unwrap();
    assert_eq!(
        value_of(&endpoint, &key).await,
        None,
        "revoked with the lease"
    );
    assert!(
        registry
            .register_with_keys(instance("b"), vec![(String::new(), "x".into())])
            .await
            .is_err(),
        "an empty extra key is refused"
    );
}

#[tokio::test]
#[ignore = "needs ETCD_ENDPOINTS (scripts/etcd-test-server)"]
async fn an_instance_that_stops_keeping_alive_is_gone_within_its_ttl_and_a_second() {
    let endpoint = etcd();
    let registry = registry(&endpoint, &unique_prefix());
    let view = registry.watch("movies").unwrap();
    let mut changes = view.changes();
    let crashed = registry.register(instance("crashed")).await.unwrap();
    assert_eq!(next(&mut changes, Duration::from_secs(2)).await, "+crashed");
    // Let a few keep-alives pass: the lease lives on while they do.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(view.snapshot().len(), 1, "kept alive past its TTL");
    let stopped = Instant::now();
    crashed.abandon();
    assert_eq!(next(&mut changes, Duration::from_secs(3)).await, "-crashed");
    assert!(
        stopped.elapsed() <= Duration::from_secs(3),
        "{:?}",
        stopped.elapsed()
    );
}

#[tokio::test]
#[ignore = "needs ETCD_ENDPOINTS (scripts/etcd-test-server)"]
async fn a_watch_resumed_after_a_lost_connection_misses_no_change_and_repeats_none() {
    let _history = HISTORY.lock().await;
    let endpoint = etcd();
    let prefix = unique_prefix();
    let proxy = Proxy::start(&endpoint).await;
    let direct = registry(&endpoint, &prefix);
    let view = registry(&proxy.url, &prefix).watch("movies").unwrap();
    let mut changes = view.changes();
    let _a = direct.register(instance("a")).await.unwrap();
    assert_eq!(next(&mut changes, Duration::from_secs(2)).await, "+a");

    proxy.cut();
    wait_health(&view, false).await;
    let _b = direct.register(instance("b")).await.unwrap();
    let c = direct.register(instance("c")).await.unwrap();
    c.deregister().await.unwrap();
    assert_eq!(view.snapshot().len(), 1, "nothing seen while cut off");
    proxy.restore();

    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next(&mut changes, Duration::from_secs(5)).await);
    }
    assert_eq!(
        seen,
        ["+b", "+c", "-c"],
        "every change after the cut, once, in order"
    );
    wait_for_set(&view, &["a", "b"], Duration::from_secs(1)).await;
    wait_health(&view, true).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(500), changes.next())
            .await
            .is_err(),
        "no repeated change"
    );
}

#[tokio::test]
#[ignore = "needs ETCD_ENDPOINTS (scripts/etcd-test-server)"]
async fn a_watch_whose_revision_was_compacted_lists_again_and_ends_with_the_true_set() {
    let _history = HISTORY.lock().await;
    let endpoint = etcd();
    let prefix = unique_prefix();
    let proxy = Proxy::start(&endpoint).await;
    let direct = registry(&endpoint, &prefix);
    let view = registry(&proxy.url, &prefix).watch("movies").unwrap();
    let mut changes = view.changes();
    let a = direct.register(instance("a")).await.unwrap();
    let _b = direct.register(instance("b")).await.unwrap();
    assert_eq!(next(&mut changes, Duration::from_secs(2)).await, "+a");
    assert_eq!(next(&mut changes, Duration::from_secs(2)).await, "+b");

    proxy.cut();
    wait_health(&view, false).await;
    a.deregister().await.unwrap();
    let _c = direct.register(instance("c")).await.unwrap();
    let d = direct.register(instance("d")).await.unwrap();
    d.deregister().await.unwrap();
    let revision = current_revision(&endpoint).await;
    let compacted = gateway(
        &endpoint,
        "kv/compaction",
        json!({"revision": revision.to_string(), "physical": true}),
    )
    .await;
    assert!(compacted.get("error").is_none(), "{compacted}");
    proxy.restore();

    wait_for_set(&view, &["b", "c"], Duration::from_secs(5)).await;
    let mut seen = vec![
        next(&mut changes, Duration::from_secs(1)).await,
        next(&mut changes, Duration::from_secs(1)).await,
    ];
    seen.sort();
    assert_eq!(
        seen,
        ["+c", "-a"],
        "the listing's differences, not the compacted history"
    );
    wait_health(&view, true).await;
}

#[tokio::test]
#[ignore = "needs ETCD_ENDPOINTS (scripts/etcd-test-server)"]
async fn an_unreachable_registry_leaves_the_last_known_set_in_place_and_reports_it() {
    let endpoint = etcd();
    let prefix = unique_prefix();
    let proxy = Proxy::start(&endpoint).await;
    let direct = registry(&endpoint, &prefix);
    let a = direct.register(instance("a")).await.unwrap();
    let _b = direct.register(instance("b")).await.unwrap();
    let view = registry(&proxy.url, &prefix).watch("movies").unwrap();
    wait_for_set(&view, &["a", "b"], Duration::from_secs(2)).await;
    wait_health(&view, true).await;

    proxy.cut();
    wait_health(&view, false).await;
    a.deregister().await.unwrap();
    // Longer than a retry interval and a TTL: the outage empties nothing.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        view.snapshot().len(),
        2,
        "the last known set stays while stale"
    );
    assert!(!view.is_healthy());

    proxy.restore();
    wait_for_set(&view, &["b"], Duration::from_secs(5)).await;
    wait_health(&view, true).await;
}

#[tokio::test]
#[ignore = "needs ETCD_ENDPOINTS (scripts/etcd-test-server)"]
async fn a_registration_whose_lease_expired_in_an_outage_registers_again_by_itself() {
    let endpoint = etcd();
    let prefix = unique_prefix();
    let proxy = Proxy::start(&endpoint).await;
    let view = registry(&endpoint, &prefix).watch("movies").unwrap();
    let mut changes = view.changes();
    let registration = registry(&proxy.url, &prefix)
        .register(instance("a"))
        .await
        .unwrap();
    assert_eq!(next(&mut changes, Duration::from_secs(2)).await, "+a");

    proxy.cut();
    assert_eq!(
        next(&mut changes, Duration::from_secs(4)).await,
        "-a",
        "the lease expires while the registrant is cut off"
    );
    assert!(!registration.is_healthy());
    proxy.restore();
    assert_eq!(next(&mut changes, Duration::from_secs(4)).await, "+a");
    let mut health = registration.health();
    tokio::time::timeout(
        Duration::from_secs(2),
        health.wait_for(portcullis_discovery::SourceHealth::is_healthy),
    )
    .await
    .unwrap()
    .unwrap();
}

#[tokio::test]
#[ignore = "needs ETCD_ENDPOINTS (scripts/etcd-test-server)"]
async fn a_watch_cut_off_without_a_reset_is_noticed_and_resumed() {
    let endpoint = etcd();
    let prefix = unique_prefix();
    let proxy = Proxy::start(&endpoint).await;
    let direct = registry(&endpoint, &prefix);
    let _a = direct.register(instance("a")).await.unwrap();
    let view = EtcdRegistry::builder()
        .endpoint(&proxy.url)
        .prefix(&prefix)
        .ttl(Duration::from_secs(2))
        .retry_interval(Duration::from_millis(100))
        .probe_interval(Duration::from_millis(300))
        .build()
        .unwrap()
        .watch("movies")
        .unwrap();
    wait_for_set(&view, &["a"], Duration::from_secs(2)).await;
    wait_health(&view, true).await;

    proxy.freeze();
    wait_health(&view, false).await;
    let _b = direct.register(instance("b")).await.unwrap();
    assert_eq!(view.snapshot().len(), 1, "the last known set stays");
    proxy.restore();
    wait_for_set(&view, &["a", "b"], Duration::from_secs(5)).await;
    wait_health(&view, true).await;
}
