//! End-to-end: the fleet finds itself through a real etcd. Movie service instances
//! register once ready, leave before they stop, and expire when they crash; the
//! recommendation client follows them under load, through scale-out, scale-in, a crash
//! and a registry outage.
//!
//! The services and the client are the example binaries; etcd is the one
//! `scripts/etcd-test-server` starts (`ETCD_ENDPOINTS`), each test under a key prefix of
//! its own, except the outage test, which starts (and stops) an etcd of its own. The
//! tests run one at a time: each loads the machine with four processes, and the timing
//! bounds the issue sets (2 s to join, TTL + 1 s to expire) are about the fleet, not
//! about a machine shared with the other tests of this file.

#![cfg(unix)]

use std::net::TcpListener;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use portcullis_examples::registry::traefik::server_url_key;
use portcullis_examples::testing::etcd::{EtcdServer, etcd_endpoints};
use portcullis_examples::testing::fleet::{
    Calls, ClientLines, Fleet, MOVIES, TEST_TTL_SECS, wait_for_urls,
};
use tokio::sync::Mutex;

/// One test of this file at a time.
static ONE_AT_A_TIME: LazyLock<Mutex<()>> = LazyLock::new(|| Mutex::new(()));

/// Bound on waits that depend on nothing but the machine's speed.
const BOUND: Duration = Duration::from_secs(30);

/// The lease TTL and one second: how long a crashed instance may stay listed.
const EXPIRY: Duration = Duration::from_secs(TEST_TTL_SECS + 1);

/// The value of `key` in the etcd at `endpoint`, read through its JSON gateway.
async fn etcd_value(endpoint: &str, key: &str) -> Option<String> {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{endpoint}/v3/kv/range"))
        .json(&serde_json::json!({ "key": engine.encode(key) }))
        .send()
        .await
        .expect("etcd answers")
        .json()
        .await
        .expect("a JSON answer");
    let value = answer["kvs"].get(0)?["value"].as_str()?.to_owned();
    Some(String::from_utf8(engine.decode(value).expect("base64")).expect("UTF-8"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ETCD_ENDPOINTS (scripts/etcd-test-server)"]
async fn an_instance_registers_once_ready_leaves_before_it_stops_and_expires_when_killed() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let fleet = Fleet::new(&etcd_endpoints(), "lifecycle");
    let view = fleet.view(MOVIES);
    // A long deregistration delay, so that "still serving after it left" is not a race;
    // and the key Traefik's etcd provider reads, published beside the entry.
    let traefik_root = format!("{}-traefik", fleet.prefix);
    let mut leaving = fleet.movie_service_with(
        1,
        &[
            ("PORTCULLIS_DEREGISTER_DELAY_MS", "3000"),
            ("PORTCULLIS_TRAEFIK_ROOT_KEY", &traefik_root),
        ],
    );
    let mut crashing = fleet.movie_service(1);
    wait_for_urls(&view, &[&leaving.base_url, &crashing.base_url], BOUND).await;
    let traefik_key = server_url_key(
        &traefik_root,
        MOVIES,
        &format!("127.0.0.1-{}", leaving.port),
    );
    assert_eq!(
        etcd_value(&fleet.etcd, &traefik_key).await.as_deref(),
        Some(leaving.base_url.as_str()),
        "the Traefik server key is published with the entry"
    );

    // SIGTERM: the entry goes first, while the instance still serves; then it exits 0.
    leaving.process.terminate();
    wait_for_urls(&view, &[&crashing.base_url], Duration::from_secs(2)).await;
    let health = reqwest::get(leaving.url("/healthz"))
        .await
        .expect("the leaving instance still serves during its deregistration delay");
    assert_eq!(health.status(), 200);
    assert_eq!(
        etcd_value(&fleet.etcd, &traefik_key).await,
        None,
        "and goes with it"
    );
    assert_eq!(
        leaving.process.wait_for_exit(BOUND),
        Some(0),
        "{}",
        leaving.process.report()
    );

    // SIGKILL: nothing deregisters; the lease expires.
    crashing.kill();
    let gone_after = wait_for_urls(&view, &[], EXPIRY).await;
    eprintln!("a killed instance left the registry after {gone_after:?} (TTL {TEST_TTL_SECS} s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ETCD_ENDPOINTS (scripts/etcd-test-server)"]
async fn instances_that_join_under_load_get_traffic_within_two_seconds_as_weighted() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let fleet = Fleet::new(&etcd_endpoints(), "scale-out");
    let view = fleet.view(MOVIES);
    let first = fleet.movie_service(1);
    wait_for_urls(&view, &[&first.base_url], BOUND).await;
    // A bounded loop, far longer than the test needs; killed when the test ends.
    let mut client = fleet.recommendation_client(1_000_000, 1);
    let mut lines = ClientLines::default();
    lines.until_ok(&mut client, 50, BOUND).await;

    let heavy = fleet.movie_service(2);
    let light = fleet.movie_service(1);
    wait_for_urls(
        &view,
        &[&first.base_url, &heavy.base_url, &light.base_url],
        BOUND,
    )
    .await;
    let joined = Instant::now();
    let before_join = lines.lines.len();
    loop {
        let calls = Calls::of(&lines.read(&mut client)[before_join..]);
        if calls.ok_at(&heavy.base_url) > 0 && calls.ok_at(&light.base_url) > 0 {
            break;
        }
        assert!(
            joined.elapsed() < Duration::from_secs(2),
            "the new instances got no traffic within 2 s of joining: {calls:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!(
        "both new instances served within {:?} of joining",
        joined.elapsed()
    );

    // Weighted as registered: 1 : 2 : 1.
    let from = lines.lines.len();
    let counting = Instant::now();
    while Calls::of(&lines.read(&mut client)[from..]).ok_total() < 400 {
        assert!(counting.elapsed() < BOUND, "{}", client.report());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let calls = Calls::of(&lines.lines[from..]);
    assert!(calls.not_ok.is_empty(), "{:?}", calls.not_ok);
    let share = |url: &str| calls.ok_at(url) as f64 / calls.ok_total() as f64;
    for (url, expected) in [
        (&first.base_url, 0.25),
        (&heavy.base_url, 0.5),
        (&light.base_url, 0.25),
    ] {
        assert!(
            (share(url) - expected).abs() < 0.1,
            "{url} got {:.2} of the calls, registered for {expected}: {calls:?}",
            share(url)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ETCD_ENDPOINTS (scripts/etcd-test-server)"]
async fn an_instance_stopped_under_load_fails_no_request() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let fleet = Fleet::new(&etcd_endpoints(), "scale-in");
    let view = fleet.view(MOVIES);
    let instances = [fleet.movie_service(1), fleet.movie_service(1)];
    let mut stopping = fleet.movie_service(1);
    wait_for_urls(
        &view,
        &[
            &instances[0].base_url,
            &instances[1].base_url,
            &stopping.base_url,
        ],
        BOUND,
    )
    .await;
    let mut client = fleet.recommendation_client(3_000, 1);
    let mut lines = ClientLines::default();
    lines.until_ok(&mut client, 1_000, BOUND).await;

    stopping.process.terminate();
    let code = lines
        .until_exit(&mut client, Duration::from_secs(120))
        .await;
    let calls = Calls::of(&lines.lines);
    assert!(calls.not_ok.is_empty(), "failed calls: {:?}", calls.not_ok);
    assert_eq!(calls.ok_total(), 3_000, "{calls:?}");
    assert_eq!(code, 0, "{}", client.report());
    assert!(calls.ok_at(&stopping.base_url) > 0, "{calls:?}");
    assert_eq!(
        stopping.process.wait_for_exit(BOUND),
        Some(0),
        "{}",
        stopping.process.report()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ETCD_ENDPOINTS (scripts/etcd-test-server)"]
async fn an_instance_killed_under_load_costs_at_most_one_in_a_thousand_and_then_nothing() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let fleet = Fleet::new(&etcd_endpoints(), "crash");
    let view = fleet.view(MOVIES);
    let instances = [fleet.movie_service(1), fleet.movie_service(1)];
    let mut crashing = fleet.movie_service(1);
    wait_for_urls(
        &view,
        &[
            &instances[0].base_url,
            &instances[1].base_url,
            &crashing.base_url,
        ],
        BOUND,
    )
    .await;
    // Paced, so that calls are still being made well after the lease expired.
    let mut client = fleet.recommendation_client(3_000, 3);
    let mut lines = ClientLines::default();
    lines.until_ok(&mut client, 1_000, BOUND).await;

    crashing.kill();
    wait_for_urls(
        &view,
        &[&instances[0].base_url, &instances[1].base_url],
        EXPIRY,
    )
    .await;
    // The client's watch sees the same event within milliseconds of the test's.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The dead instance's port, listened on again: a call sent there now would arrive.
    let listener = TcpListener::bind(crashing.addr()).expect("bind the dead instance's port");
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let after_expiry = lines.read(&mut client).len();

    let code = lines
        .until_exit(&mut client, Duration::from_secs(120))
        .await;
    let calls = Calls::of(&lines.lines);
    assert!(
        calls.ok_total() >= 2_997,
        "{} of 3000 calls succeeded: {:?}",
        calls.ok_total(),
        calls.not_ok
    );
    assert_eq!(code, 0, "{}", client.report());
    assert!(
        Calls::of(&lines.lines[after_expiry..]).ok_total() > 100,
        "too few calls after the lease expired to show anything"
    );
    match listener.accept() {
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
        other => {
            panic!("the dead instance's address was called after its lease expired: {other:?}")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd (scripts/etcd-test-server install)"]
async fn a_registry_outage_fails_no_request_and_the_fleet_recovers_by_itself() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let mut etcd = EtcdServer::start();
    let fleet = Fleet::new(etcd.endpoint(), "outage");
    let view = fleet.view(MOVIES);
    let first = fleet.movie_service(1);
    let second = fleet.movie_service(1);
    wait_for_urls(&view, &[&first.base_url, &second.base_url], BOUND).await;
    let mut client = fleet.recommendation_client(1_000_000, 2);
    let mut lines = ClientLines::default();
    lines.until_ok(&mut client, 300, BOUND).await;

    // The registry goes away: calls go on to the last known set. An instance started
    // now cannot register yet.
    etcd.stop();
    let stopped_at = lines.read(&mut client).len();
    let late = fleet.movie_service(1);
    tokio::time::sleep(EXPIRY).await;
    let during = Calls::of(&lines.read(&mut client)[stopped_at..]);
    assert!(
        during.not_ok.is_empty(),
        "failed during the outage: {:?}",
        during.not_ok
    );
    assert!(
        during.ok_at(&first.base_url) > 0 && during.ok_at(&second.base_url) > 0,
        "the last known set was not used during the outage: {during:?}"
    );
    assert_eq!(during.ok_at(&late.base_url), 0, "{during:?}");

    // The registry comes back: every instance is listed again by itself, and the client's
    // watch resumes and sends traffic to the one that joined meanwhile.
    etcd.resume();
    wait_for_urls(
        &view,
        &[&first.base_url, &second.base_url, &late.base_url],
        BOUND,
    )
    .await;
    let resumed = Instant::now();
    while Calls::of(&lines.read(&mut client)[stopped_at..]).ok_at(&late.base_url) == 0 {
        assert!(resumed.elapsed() < BOUND, "{}", client.report());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let all = Calls::of(lines.read(&mut client));
    assert!(all.not_ok.is_empty(), "failed calls: {:?}", all.not_ok);
    assert!(client.is_running(), "{}", client.report());
}
