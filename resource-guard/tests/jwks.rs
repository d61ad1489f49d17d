//! Keys from a real JWKS server on 127.0.0.1 and from an in-process key source.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http::{StatusCode, header};
use portcullis_resource_guard::jsonwebtoken::Algorithm;
use portcullis_resource_guard::jsonwebtoken::jwk::JwkSet;
use portcullis_resource_guard::jsonwebtoken::{EncodingKey, Header, encode};
use portcullis_resource_guard::{Guard, KeySource};
use support::*;

/// A wall clock that tests can move forward.
#[derive(Clone, Default)]
struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_secs(), Ordering::SeqCst);
    }

    fn as_fn(&self) -> impl Fn() -> SystemTime + Send + Sync + 'static {
        let offset = Arc::clone(&self.0);
        move || SystemTime::now() + Duration::from_secs(offset.load(Ordering::SeqCst))
    }
}

fn token_for(private_pem: &str, kid: &str) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    header.typ = Some("at+jwt".to_owned());
    let key = EncodingKey::from_ed_pem(private_pem.as_bytes()).unwrap();
    encode(&header, &iam_claims(), &key).unwrap()
}

async fn jwks_guard(server: &JwksServer, clock: &ManualClock) -> Guard {
    Guard::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .jwks_url(&server.url)
        .clock(clock.as_fn())
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn keys_are_fetched_from_the_jwks_url() {
    let server = JwksServer::start(vec![
        public_jwk(ED25519, Algorithm::EdDSA, "k1"),
        public_jwk(EC, Algorithm::ES256, "ec1"),
    ])
    .await;
    let guard = jwks_guard(&server, &ManualClock::default()).await;
    assert_eq!(server.hits(), 1);
    let app = app(&guard);
    let reply = call_with(&app, "/me", &token_for(ED25519, "k1")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let es = sign(
        Algorithm::ES256,
        header("ES256", Some("ec1")),
        &iam_claims(),
    );
    assert_eq!(call_with(&app, "/me", &es).await.status, StatusCode::OK);
    // A known kid costs no fetch.
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn an_unknown_kid_causes_one_refetch_then_a_rejection() {
    let server = JwksServer::start(vec![public_jwk(ED25519, Algorithm::EdDSA, "k1")]).await;
    let clock = ManualClock::default();
    let guard = jwks_guard(&server, &clock).await;
    let app = app(&guard);
    clock.advance(Duration::from_secs(61));

    let reply = call_with(&app, "/me", &token_for(ED25519_B, "k2")).await;
    assert_invalid_token(&reply, "The token is signed by an unknown key");
    assert_eq!(server.hits(), 2, "one refetch for the unknown kid");

    // Within the interval, another unknown kid is rejected without a fetch.
    let reply = call_with(&app, "/me", &token_for(ED25519_B, "k3")).await;
    assert_invalid_token(&reply, "The token is signed by an unknown key");
    assert_eq!(server.hits(), 2);

    // After the interval, one more fetch is allowed.
    clock.advance(Duration::from_secs(61));
    call_with(&app, "/me", &token_for(ED25519_B, "k4")).await;
    assert_eq!(server.hits(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_random_kids_causes_at_most_one_fetch() {
    let server = JwksServer::start(vec![public_jwk(ED25519, Algorithm::EdDSA, "k1")]).await;
    let clock = ManualClock::default();
    let guard = jwks_guard(&server, &clock).await;
    clock.advance(Duration::from_secs(61));
    let app = app(&guard);

    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let app = app.clone();
            let token = token_for(ED25519_B, &format!("random-{i}-{}", i * 7919));
            tokio::spawn(async move { call_with(&app, "/me", &token).await.status })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(server.hits(), 2, "the build fetch and exactly one refetch");

    // A valid token still passes meanwhile.
    let reply = call_with(&app, "/me", &token_for(ED25519, "k1")).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_without_restart() {
    let server = JwksServer::start(vec![public_jwk(ED25519, Algorithm::EdDSA, "k1")]).await;
    let clock = ManualClock::default();
    let guard = jwks_guard(&server, &clock).await;
    let app = app(&guard);
    let old_token = token_for(ED25519, "k1");
    assert_eq!(
        call_with(&app, "/me", &old_token).await.status,
        StatusCode::OK
    );

    // The IAM publishes a second key and starts signing with it.
    server.publish(vec![
        public_jwk(ED25519, Algorithm::EdDSA, "k1"),
        public_jwk(ED25519_B, Algorithm::EdDSA, "k2"),
    ]);
    clock.advance(Duration::from_secs(61));
    let new_token = token_for(ED25519_B, "k2");
    let reply = call_with(&app, "/me", &new_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    // Old tokens stay valid while their key is published.
    assert_eq!(
        call_with(&app, "/me", &old_token).await.status,
        StatusCode::OK
    );

    // The old key is withdrawn; once the keys are refetched its tokens fail, cached or not.
    server.publish(vec![public_jwk(ED25519_B, Algorithm::EdDSA, "k2")]);
    clock.advance(Duration::from_secs(61));
    call_with(&app, "/me", &token_for(ED25519, "unknown")).await;
    let reply = call_with(&app, "/me", &old_token).await;
    assert_invalid_token(&reply, "The token is signed by an unknown key");
    assert_eq!(
        call_with(&app, "/me", &new_token).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn keys_are_kept_when_a_refetch_fails() {
    let server = JwksServer::start(vec![public_jwk(ED25519, Algorithm::EdDSA, "k1")]).await;
    let clock = ManualClock::default();
    let guard = jwks_guard(&server, &clock).await;
    let app = app(&guard);
    server.fail(true);
    clock.advance(Duration::from_secs(61));
    call_with(&app, "/me", &token_for(ED25519_B, "k2")).await;
    assert_eq!(server.hits(), 2, "the refetch was tried");
    let reply = call_with(&app, "/me", &token_for(ED25519, "k1")).await;
    assert_eq!(reply.status, StatusCode::OK, "stale keys still verify");
}

#[tokio::test]
async fn an_unavailable_jwks_does_not_fail_build_and_recovers() {
    let server = JwksServer::start(vec![public_jwk(ED25519, Algorithm::EdDSA, "k1")]).await;
    server.fail(true);
    let clock = ManualClock::default();
    let guard = jwks_guard(&server, &clock).await;
    let app = app(&guard);

    let reply = call_with(&app, "/me", &token_for(ED25519, "k1")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.error().code, 1011);
    assert!(reply.headers.contains_key(header::RETRY_AFTER));

    server.fail(false);
    clock.advance(Duration::from_secs(2));
    let reply = call_with(&app, "/me", &token_for(ED25519, "k1")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
}

#[tokio::test]
async fn an_unreachable_jwks_url_does_not_fail_build() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let guard = Guard::builder()
        .issuer(ISSUER)
        .jwks_url(format!("http://{addr}/jwks.json"))
        .build()
        .await
        .unwrap();
    let reply = call_with(&app(&guard), "/me", &token_for(ED25519, "k1")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn https_urls_need_the_rustls_feature_and_odd_schemes_are_refused() {
    let result = Guard::builder()
        .issuer(ISSUER)
        .jwks_url("file:///etc/passwd")
        .build()
        .await;
    assert!(result.is_err());
    // Port 1 on loopback refuses the connection: with TLS support the guard builds and
    // waits for keys; without, the URL is refused at build time.
    let result = Guard::builder()
        .issuer(ISSUER)
        .jwks_url("https://127.0.0.1:1/jwks.json")
        .build()
        .await;
    assert_eq!(result.is_ok(), cfg!(feature = "rustls"), "{result:?}");
}

#[cfg(feature = "rustls")]
#[tokio::test]
async fn an_https_jwks_url_is_fetched_over_tls_only() {
    // A plain-HTTP JWKS server behind an https URL: the TLS handshake fails, so no key is
    // ever loaded (no fallback to plain text) and tokens wait for keys.
    let server = JwksServer::start(vec![public_jwk(ED25519, Algorithm::EdDSA, "k1")]).await;
    let guard = Guard::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .jwks_url(format!("https://{}/.well-known/jwks.json", server.addr))
        .build()
        .await
        .unwrap();
    let reply = call_with(&app(&guard), "/me", &token_for(ED25519, "k1")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(server.hits(), 0);
    // The same server over http proves the key set itself was fine.
    let guard = Guard::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .jwks_url(&server.url)
        .build()
        .await
        .unwrap();
    let reply = call_with(&app(&guard), "/me", &token_for(ED25519, "k1")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
}

#[test]
fn the_background_refresh_picks_up_new_keys() {
    // The JWKS server runs on its own runtime, in real time; the guard runs in paused
    // time, so the five-minute refresh happens when the test advances the clock.
    let server_runtime = tokio::runtime::Runtime::new().unwrap();
    let server = server_runtime.block_on(JwksServer::start(vec![public_jwk(
        ED25519,
        Algorithm::EdDSA,
        "k1",
    )]));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let guard = Guard::builder()
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .jwks_url(&server.url)
            .http_client(reqwest::Client::new())
            .build()
            .await
            .unwrap();
        assert_eq!(server.hits(), 1);
        server.publish(vec![public_jwk(ED25519_B, Algorithm::EdDSA, "k2")]);

        // Let the refresher task start its sleep, then jump past it.
        tokio::task::yield_now().await;
        tokio::time::advance(Duration::from_secs(300)).await;
        // Let the refresher wake up and start its fetch.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        // A verification within the refetch interval does not fetch by itself: it waits
        // for the fetch in flight (single flight), then finds the new key.
        let claims = guard.verify::<()>(&token_for(ED25519_B, "k2")).await;
        assert!(claims.is_ok(), "{claims:?}");
        assert_eq!(server.hits(), 2, "one background refresh");
    });
    drop(server_runtime);
}

/// An in-process key ring that can rotate, like the IAM's.
#[derive(Debug, Clone)]
struct Ring(Arc<Mutex<Arc<JwkSet>>>);

impl KeySource for Ring {
    fn jwk_set(&self) -> Arc<JwkSet> {
        Arc::clone(&self.0.lock().unwrap())
    }
}

#[tokio::test]
async fn an_in_process_key_source_is_followed_as_it_rotates() {
    let ring = Ring(Arc::new(Mutex::new(Arc::new(JwkSet {
        keys: vec![public_jwk(ED25519, Algorithm::EdDSA, "k1")],
    }))));
    let guard = Guard::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .key_source(ring.clone())
        .build()
        .await
        .unwrap();
    let app = app(&guard);
    let old_token = token_for(ED25519, "k1");
    assert_eq!(
        call_with(&app, "/me", &old_token).await.status,
        StatusCode::OK
    );
    assert_eq!(guard.cached_tokens(), 1);

    *ring.0.lock().unwrap() = Arc::new(JwkSet {
        keys: vec![public_jwk(ED25519_B, Algorithm::EdDSA, "k2")],
    });
    let reply = call_with(&app, "/me", &token_for(ED25519_B, "k2")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    // The withdrawn key's token was cached, but the key change voids the cache.
    let reply = call_with(&app, "/me", &old_token).await;
    assert_invalid_token(&reply, "The token is signed by an unknown key");
}
