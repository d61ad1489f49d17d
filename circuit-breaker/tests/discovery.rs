//! The balanced client following a discovery source (a channel-driven stream of tower
//! `Change`s) against real HTTP servers on 127.0.0.1:0.
#![cfg(feature = "reqwest")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use futures_util::Stream;
use portcullis_circuit_breaker::client::Upstream;
use portcullis_circuit_breaker::{
    BalancedClient, CircuitBreaker, ClientBuildError, ClientError, State,
};
use tokio::sync::{Semaphore, mpsc};
use tower::discover::Change;

const PATH: &str = "/api/v1/movies";

type Sender = mpsc::UnboundedSender<Change<&'static str, Upstream>>;

fn source() -> (Sender, impl Stream<Item = Change<&'static str, Upstream>>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|change| (change, receiver))
    });
    (sender, stream)
}

/// An instance that answers `status` and counts its hits; with `gate`, each request waits
/// for a permit first.
async fn instance(status: StatusCode, gate: Option<Arc<Semaphore>>) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = Router::new().route(
        PATH,
        get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let gate = gate.clone();
            async move {
                if let Some(gate) = gate {
                    gate.acquire().await.unwrap().forget();
                }
                (status, "[]")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), hits)
}

fn upstream(url: &str, weight: u32) -> Upstream {
    Upstream::new(url, weight).unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn urls(client: &BalancedClient) -> Vec<String> {
    client
        .upstreams()
        .map(|(url, _)| url.as_str().trim_end_matches('/').to_owned())
        .collect()
}

/// Waits (at most a second) until the client's instances are `expected`.
async fn wait_for(client: &BalancedClient, expected: &[&String]) {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let now = urls(client);
        if now.iter().eq(expected.iter().copied()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "instances are {now:?}, not {expected:?}, after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn an_instance_that_joins_gets_traffic_within_a_second_and_weighted_as_announced() {
    let (first, first_hits) = instance(StatusCode::OK, None).await;
    let (second, second_hits) = instance(StatusCode::OK, None).await;
    let (changes, stream) = source();
    let client = BalancedClient::builder()
        .http_client(http())
        .build_with_discovery(stream)
        .unwrap();
    let error = client.get(PATH).send().await.unwrap_err();
    assert!(matches!(error, ClientError::NoInstance), "{error:?}");

    changes
        .send(Change::Insert("first", upstream(&first, 1)))
        .unwrap();
    wait_for(&client, &[&first]).await;
    client.get(PATH).send().await.unwrap();
    assert_eq!(first_hits.load(Ordering::SeqCst), 1);

    changes
        .send(Change::Insert("second", upstream(&second, 3)))
        .unwrap();
    wait_for(&client, &[&first, &second]).await;
    for _ in 0..40 {
        assert_eq!(
            client.get(PATH).send().await.unwrap().status(),
            StatusCode::OK
        );
    }
    assert_eq!(first_hits.load(Ordering::SeqCst), 1 + 10);
    assert_eq!(second_hits.load(Ordering::SeqCst), 30);
}

#[tokio::test]
async fn an_instance_that_leaves_finishes_its_requests_in_flight_and_gets_no_new_ones() {
    let gate = Arc::new(Semaphore::new(0));
    let (leaving, leaving_hits) = instance(StatusCode::OK, Some(gate.clone())).await;
    let (staying, staying_hits) = instance(StatusCode::OK, None).await;
    let (changes, stream) = source();
    let client = BalancedClient::builder()
        .http_client(http())
        .build_with_discovery(stream)
        .unwrap();
    changes
        .send(Change::Insert("leaving", upstream(&leaving, 1)))
        .unwrap();
    wait_for(&client, &[&leaving]).await;

    let in_flight = tokio::spawn({
        let client = client.clone();
        async move { client.get(PATH).send().await }
    });
    while leaving_hits.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    changes
        .send(Change::Insert("staying", upstream(&staying, 1)))
        .unwrap();
    changes.send(Change::Remove("leaving")).unwrap();
    wait_for(&client, &[&staying]).await;
    for _ in 0..20 {
        client.get(PATH).send().await.unwrap();
    }
    assert_eq!(staying_hits.load(Ordering::SeqCst), 20);
    assert_eq!(
        leaving_hits.load(Ordering::SeqCst),
        1,
        "no new request after it left"
    );

    gate.add_permits(1);
    let finished = in_flight
        .await
        .unwrap()
        .expect("the request in flight finishes");
    assert_eq!(finished.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_instance_that_stays_keeps_its_breaker_across_updates() {
    let (broken, broken_hits) = instance(StatusCode::SERVICE_UNAVAILABLE, None).await;
    let (healthy, _) = instance(StatusCode::OK, None).await;
    let (changes, stream) = source();
    let client = BalancedClient::builder()
        .service_name("movies")
        .http_client(http())
        .breaker(
            CircuitBreaker::builder()
                .max_failures(2)
                .reset_timeout(Duration::from_secs(60)),
        )
        .build_with_discovery(stream)
        .unwrap();
    changes
        .send(Change::Insert("broken", upstream(&broken, 1)))
        .unwrap();
    wait_for(&client, &[&broken]).await;
    let name = |client: &BalancedClient| client.upstreams().next().unwrap().1.name().to_owned();
    let broken_name = format!("movies/{}", broken.trim_start_matches("http://"));
    assert_eq!(name(&client), broken_name);
    for _ in 0..2 {
        client.get(PATH).send().await.unwrap();
    }
    let state = |client: &BalancedClient| client.upstreams().next().unwrap().1.state();
    assert_eq!(state(&client), State::Open);

    // A new weight for the same instance, and another instance joining: still open.
    changes
        .send(Change::Insert("broken", upstream(&broken, 5)))
        .unwrap();
    changes
        .send(Change::Insert("healthy", upstream(&healthy, 1)))
        .unwrap();
    wait_for(&client, &[&broken, &healthy]).await;
    assert_eq!(state(&client), State::Open);
    assert_eq!(name(&client), broken_name);
    for _ in 0..10 {
        assert_eq!(
            client.get(PATH).send().await.unwrap().status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        broken_hits.load(Ordering::SeqCst),
        2,
        "its open breaker still rejects"
    );
}

#[tokio::test]
async fn fixed_instances_stay_and_the_set_outlives_the_end_of_the_stream() {
    let (fixed, fixed_hits) = instance(StatusCode::OK, None).await;
    let (joined, joined_hits) = instance(StatusCode::OK, None).await;
    let (changes, stream) = source();
    let client = BalancedClient::builder()
        .upstream(&fixed)
        .http_client(http())
        .build_with_discovery(stream)
        .unwrap();
    changes
        .send(Change::Insert("joined", upstream(&joined, 1)))
        .unwrap();
    changes.send(Change::Remove("unknown")).unwrap();
    drop(changes);
    wait_for(&client, &[&fixed, &joined]).await;
    for _ in 0..10 {
        client.get(PATH).send().await.unwrap();
    }
    assert_eq!(fixed_hits.load(Ordering::SeqCst), 5);
    assert_eq!(joined_hits.load(Ordering::SeqCst), 5);
}

#[test]
fn a_client_that_follows_a_source_needs_a_runtime_and_an_upstream_needs_a_usable_url() {
    let (_changes, stream) = source();
    let error = BalancedClient::builder()
        .build_with_discovery(stream)
        .unwrap_err();
    assert_eq!(error, ClientBuildError::NoRuntime);
    for (url, weight) in [
        ("http://127.0.0.1:1", 0),
        ("ftp://127.0.0.1/", 1),
        ("nope", 1),
    ] {
        assert!(matches!(
            Upstream::new(url, weight),
            Err(ClientBuildError::InvalidUpstream { .. })
        ));
    }
}

#[tokio::test]
async fn dropping_the_client_stops_following_its_source() {
    let (changes, stream) = source();
    let client = BalancedClient::builder()
        .http_client(http())
        .build_with_discovery(stream)
        .unwrap();
    let clone = client.clone();
    drop(client);
    assert!(!changes.is_closed(), "a clone still follows the source");
    drop(clone);
    tokio::time::timeout(Duration::from_secs(1), changes.closed())
        .await
        .expect("the source is dropped with the last clone of the client");
}
