//! Feature `metrics`: requests by result and reason, the token cache and JWKS fetches,
//! read from metrics-util's debugging recorder.
#![cfg(feature = "metrics")]
// The gauges hold small whole numbers: exact in an f64.
#![allow(clippy::float_cmp)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use portcullis_resource_guard::jsonwebtoken::{Algorithm, EncodingKey};
use portcullis_resource_guard::{Guard, require_role};
use serde_json::json;
use support::*;

/// Counters (summed over snapshots, which reset them) and gauges by
/// `name{label=value,...}`.
#[derive(Default)]
struct Seen {
    counters: BTreeMap<String, u64>,
    gauges: BTreeMap<String, f64>,
}

impl Seen {
    fn read(&mut self, snapshotter: &Snapshotter) {
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            match value {
                DebugValue::Counter(count) => *self.counters.entry(name).or_default() += count,
                DebugValue::Gauge(value) => {
                    self.gauges.insert(name, value.0);
                }
                DebugValue::Histogram(_) => panic!("the guard has no histogram: {name}"),
            }
        }
    }

    fn rejected(&self, reason: &str) -> u64 {
        let key = format!("portcullis_guard_requests_total{{result=rejected,reason={reason}}}");
        self.counters.get(&key).copied().unwrap_or_default()
    }

    fn counter(&self, key: &str) -> u64 {
        self.counters.get(key).copied().unwrap_or_default()
    }
}

#[tokio::test]
async fn requests_are_counted_by_result_and_reason_and_the_cache_by_hit_or_miss() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let guard = Guard::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .hmac_secret(SECRET)
        .build()
        .await
        .unwrap();
    let app = app(&guard).merge(
        Router::new()
            .route(
                "/root",
                get(|| async { "root area" }).route_layer(require_role("root")),
            )
            .layer(guard.layer()),
    );
    let hs256 = header("HS256", None);
    let token = sign(Algorithm::HS256, hs256.clone(), &iam_claims());
    let with = |claims: serde_json::Value| sign(Algorithm::HS256, hs256.clone(), &claims);
    let mut expired = iam_claims();
    expired["exp"] = (now() - 3600).into();
    let mut stranger = iam_claims();
    stranger["iss"] = "someone else".into();
    let mut elsewhere = iam_claims();
    elsewhere["aud"] = "billing".into();
    let forged = sign_raw(
        &hs256.to_string(),
        &iam_claims().to_string(),
        &EncodingKey::from_secret(
            b"not the secret, but just as long as the real one is, 64 bytes..",
        ),
        Algorithm::HS256,
    );
    let unknown = sign(
        Algorithm::EdDSA,
        header("EdDSA", Some("nope")),
        &iam_claims(),
    );

    assert_eq!(
        call(&app, "/me", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, "/me", &["Bearer "]).await.status,
        StatusCode::BAD_REQUEST
    );
    call_with(&app, "/me", "a.b").await;
    for good in [&token, &token] {
        assert_eq!(call_with(&app, "/me", good).await.status, StatusCode::OK);
    }
    for bad in [
        with(expired),
        with(stranger),
        with(elsewhere),
        forged,
        unknown,
        sign(Algorithm::HS256, json!({"alg": "none"}), &iam_claims()),
    ] {
        assert_eq!(
            call_with(&app, "/me", &bad).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        call_with(&app, "/root", &token).await.status,
        StatusCode::FORBIDDEN
    );

    let mut seen = Seen::default();
    seen.read(&snapshotter);
    assert_eq!(
        seen.counter("portcullis_guard_requests_total{result=accepted}"),
        3,
        "the two calls to /me and the token of the call to /root"
    );
    for (reason, count) in [
        ("missing", 1),
        ("malformed", 2),
        ("expired", 1),
        ("wrong_issuer", 1),
        ("wrong_audience", 1),
        ("bad_signature", 1),
        ("unknown_key", 1),
        ("disallowed_header", 1),
        ("insufficient_scope", 1),
        ("not_yet_valid", 0),
        ("keys_unavailable", 0),
    ] {
        assert_eq!(seen.rejected(reason), count, "{reason}");
    }
    assert_eq!(
        seen.counter("portcullis_guard_token_cache_total{result=hit}"),
        2
    );
    assert_eq!(
        seen.counter("portcullis_guard_token_cache_total{result=miss}"),
        8,
        "every token that reached the cache and was not in it"
    );
    assert_eq!(seen.gauges["portcullis_guard_keys{source=static}"], 1.0);
}

#[tokio::test]
async fn jwks_fetches_are_counted_by_result_with_the_keys_they_gave() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let server = JwksServer::start(vec![
        public_jwk(ED25519, Algorithm::EdDSA, "k1"),
        public_jwk(EC, Algorithm::ES256, "ec1"),
    ])
    .await;
    // A wall clock the test moves past the minimum refetch interval.
    let offset = Arc::new(AtomicU64::new(0));
    let clock = {
        let offset = Arc::clone(&offset);
        move || SystemTime::now() + Duration::from_secs(offset.load(Ordering::SeqCst))
    };
    let guard = Guard::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .jwks_url(&server.url)
        .clock(clock)
        .build()
        .await
        .unwrap();
    let mut seen = Seen::default();
    seen.read(&snapshotter);
    assert_eq!(
        seen.counter("portcullis_guard_jwks_fetches_total{result=ok}"),
        1
    );
    assert_eq!(seen.gauges["portcullis_guard_keys{source=jwks}"], 2.0);

    // An unknown kid makes the guard fetch again, from a server that now fails.
    server.fail(true);
    offset.store(61, Ordering::SeqCst);
    let token = sign(Algorithm::EdDSA, header("EdDSA", Some("k9")), &iam_claims());
    let reply = call_with(&app(&guard), "/me", &token).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    seen.read(&snapshotter);
    assert_eq!(
        seen.counter("portcullis_guard_jwks_fetches_total{result=bad_status}"),
        1
    );
    assert_eq!(seen.rejected("unknown_key"), 1);
}

#[tokio::test]
async fn a_guard_built_without_a_recorder_records_nothing() {
    let guard = Guard::builder()
        .issuer(ISSUER)
        .hmac_secret(SECRET)
        .build()
        .await
        .unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    call(&app(&guard), "/me", &[]).await;
    assert!(snapshotter.snapshot().into_vec().is_empty());
}
