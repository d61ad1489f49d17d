//! Raw `jsonwebtoken::decode` against the full guard layer per request, for HS256, ES256
//! and `EdDSA`, with the verified-token cache off and on (a hit).
//!
//! `cargo bench -p portcullis-resource-guard --bench verify -- --warm-up-time 1 --measurement-time 3`
//!
//! The `cache_hit` group is an HS256 cache hit through the layer; built with
//! `--features metrics` it adds the same with metrics through a no-op and a Prometheus
//! recorder. Compare `no recorder` built with and without the feature for what the
//! feature alone costs.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::future::poll_fn;
use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::response::Response;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use http::{HeaderValue, Request, header};
use portcullis_resource_guard::jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode,
};
use portcullis_resource_guard::{Guard, GuardBuilder};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tower::{Layer, Service};

const SECRET: &[u8] = b"a bench secret that is long enough!!";
const ED25519: &str = include_str!("../tests/keys/ed25519.pem");
const ED25519_PUB: &str = include_str!("../tests/keys/ed25519.pub.pem");
const EC: &str = include_str!("../tests/keys/ec_p256.pem");
const EC_PUB: &str = include_str!("../tests/keys/ec_p256.pub.pem");

/// The same claims the guard parses, for a fair raw decode.
#[derive(Deserialize)]
#[allow(dead_code)]
struct BenchClaims {
    sub: String,
    name: String,
    role: String,
    roles: Vec<String>,
    iss: String,
    aud: String,
    exp: u64,
    iat: u64,
    nbf: u64,
    jti: String,
}

struct Case {
    name: &'static str,
    alg: Algorithm,
    token: String,
    decoding: DecodingKey,
    builder: fn() -> GuardBuilder,
}

fn base() -> GuardBuilder {
    Guard::builder().issuer("seedotech").audience("movies")
}

fn cases() -> Vec<Case> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "sub": "656f0c7e9b1e8a0012345678", "name": "admin", "role": "admin",
        "roles": ["admin"], "iss": "seedotech", "aud": "movies",
        "iat": now, "nbf": now, "exp": now + 24 * 3600, "jti": "Xq3b9Zp2Lk8VtR1w",
    });
    let token = |alg: Algorithm, key: &EncodingKey| {
        let mut header = Header::new(alg);
        header.typ = Some("at+jwt".into());
        encode(&header, &claims, key).unwrap()
    };
    vec![
        Case {
            name: "HS256",
            alg: Algorithm::HS256,
            token: token(Algorithm::HS256, &EncodingKey::from_secret(SECRET)),
            decoding: DecodingKey::from_secret(SECRET),
            builder: || base().hmac_secret(SECRET),
        },
        Case {
            name: "ES256",
            alg: Algorithm::ES256,
            token: token(
                Algorithm::ES256,
                &EncodingKey::from_ec_pem(EC.as_bytes()).unwrap(),
            ),
            decoding: DecodingKey::from_ec_pem(EC_PUB.as_bytes()).unwrap(),
            builder: || base().public_key_pem(Algorithm::ES256, EC_PUB),
        },
        Case {
            name: "EdDSA",
            alg: Algorithm::EdDSA,
            token: token(
                Algorithm::EdDSA,
                &EncodingKey::from_ed_pem(ED25519.as_bytes()).unwrap(),
            ),
            decoding: DecodingKey::from_ed_pem(ED25519_PUB.as_bytes()).unwrap(),
            builder: || base().public_key_pem(Algorithm::EdDSA, ED25519_PUB),
        },
    ]
}

/// Sends one request through `service` and returns the status; the layer's fast path
/// completes without waiting, so no runtime is needed.
fn one_request<S>(service: &mut S, authorization: &HeaderValue) -> u16
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
{
    let mut request = Request::new(Body::empty());
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, authorization.clone());
    poll_fn(|cx| service.poll_ready(cx))
        .now_or_never()
        .unwrap()
        .unwrap();
    let response = service.call(request).now_or_never().unwrap().unwrap();
    response.status().as_u16()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let handler = tower::service_fn(|_request: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::empty()))
    });
    let all = cases();
    let mut group = c.benchmark_group("parts");
    let mut bare = handler;
    let authorization = HeaderValue::from_str(&format!("Bearer {}", all[0].token)).unwrap();
    group.bench_function("request and handler, no guard", |b| {
        b.iter_batched(
            || authorization.clone(),
            |value| one_request(&mut bare, &value),
            BatchSize::SmallInput,
        );
    });
    // The cache keys tokens by a keyed SipHash; SHA-256 is here for comparison.
    group.bench_function("sha256 of the token", |b| {
        b.iter(|| Sha256::digest(black_box(all[0].token.as_bytes())));
    });
    let sip = std::collections::hash_map::RandomState::new();
    group.bench_function("cache key: keyed siphash of the signature", |b| {
        b.iter(|| {
            let token = black_box(all[0].token.as_str());
            let signature = token.rsplit('.').next().unwrap_or(token);
            std::hash::BuildHasher::hash_one(&sip, (signature.as_bytes(), token.len()))
        });
    });
    group.finish();

    cache_hit(c, &runtime, &all[0]);

    for case in all {
        let mut group = c.benchmark_group(case.name);
        let mut validation = Validation::new(case.alg);
        validation.set_issuer(&["seedotech"]);
        validation.set_audience(&["movies"]);
        validation.validate_nbf = true;
        group.bench_function("raw jsonwebtoken::decode", |b| {
            b.iter(|| {
                decode::<BenchClaims>(black_box(&case.token), &case.decoding, &validation).unwrap()
            });
        });

        let uncached = runtime
            .block_on((case.builder)().cache_capacity(0).build())
            .unwrap();
        let cached = runtime.block_on((case.builder)().build()).unwrap();
        let authorization = HeaderValue::from_str(&format!("Bearer {}", case.token)).unwrap();

        let mut service = uncached.layer().layer(handler);
        assert_eq!(one_request(&mut service, &authorization), 200);
        group.bench_function("guard layer, no cache", |b| {
            b.iter_batched(
                || authorization.clone(),
                |value| one_request(&mut service, &value),
                BatchSize::SmallInput,
            );
        });

        let mut service = cached.layer().layer(handler);
        assert_eq!(one_request(&mut service, &authorization), 200);
        group.bench_function("guard layer, cache hit", |b| {
            b.iter_batched(
                || authorization.clone(),
                |value| one_request(&mut service, &value),
                BatchSize::SmallInput,
            );
        });
        group.finish();
    }
}

/// A cache hit through the layer, with the metrics of feature `metrics` when it is on.
fn cache_hit(c: &mut Criterion, runtime: &tokio::runtime::Runtime, case: &Case) {
    let handler = tower::service_fn(|_request: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::empty()))
    });
    let authorization = HeaderValue::from_str(&format!("Bearer {}", case.token)).unwrap();
    let mut group = c.benchmark_group("cache_hit");
    #[cfg_attr(not(feature = "metrics"), allow(unused_mut))]
    let mut services = vec![(
        "no recorder",
        runtime.block_on((case.builder)().build()).unwrap(),
    )];
    #[cfg(feature = "metrics")]
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    #[cfg(feature = "metrics")]
    {
        let build = || runtime.block_on((case.builder)().build()).unwrap();
        services.push((
            "metrics, no-op recorder",
            metrics::with_local_recorder(&metrics::NoopRecorder, build),
        ));
        services.push((
            "metrics, prometheus recorder",
            metrics::with_local_recorder(&prometheus, build),
        ));
    }
    for (name, guard) in services {
        let mut service = guard.layer().layer(handler);
        assert_eq!(one_request(&mut service, &authorization), 200);
        group.bench_function(name, |b| {
            b.iter_batched(
                || authorization.clone(),
                |value| one_request(&mut service, &value),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
    #[cfg(feature = "metrics")]
    assert!(
        prometheus
            .handle()
            .render()
            .contains("portcullis_guard_token_cache_total{result=\"hit\"}")
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
