//! Several trusted issuers: each token is routed by its `iss` to its issuer's keys and
//! audience; a token of another issuer is refused without any fetch.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use http::StatusCode;
use portcullis_resource_guard::jsonwebtoken::Algorithm;
use portcullis_resource_guard::{Guard, GuardBuildError, TrustedIssuer};
use support::*;

const A: &str = "https://a.example";
const B: &str = "https://b.example";
const RATINGS: &str = "ratings";

/// A wall clock that tests can move forward.
#[derive(Clone, Default)]
struct Offset(Arc<AtomicU64>);

impl Offset {
    fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_secs(), Ordering::SeqCst);
    }

    fn clock(&self) -> impl Fn() -> SystemTime + Send + Sync + 'static {
        let offset = Arc::clone(&self.0);
        move || SystemTime::now() + Duration::from_secs(offset.load(Ordering::SeqCst))
    }
}

/// Issuer A (key `ka`, audience `movies`) and B (key `kb`, audience `ratings`), each with
/// its own JWKS server.
async fn two_issuers(offset: &Offset) -> (Guard, JwksServer, JwksServer) {
    let a = JwksServer::start(vec![public_jwk(ED25519, Algorithm::EdDSA, "ka")]).await;
    let b = JwksServer::start(vec![public_jwk(ED25519_B, Algorithm::EdDSA, "kb")]).await;
    let guard = Guard::builder()
        .trust(TrustedIssuer::new(A).audience(AUDIENCE).jwks_url(&a.url))
        .trust(TrustedIssuer::new(B).audience(RATINGS).jwks_url(&b.url))
        .clock(offset.clock())
        .build()
        .await
        .unwrap();
    (guard, a, b)
}

#[tokio::test]
async fn each_issuer_is_verified_with_its_own_keys_and_audience() {
    let (guard, a, b) = two_issuers(&Offset::default()).await;
    let app = app(&guard);
    let ok = |token: String| {
        let app = app.clone();
        async move {
            let reply = call_with(&app, "/me", &token).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
            reply.json()["iss"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(
        ok(ed_token(ED25519, Some("ka"), &claims_of(A, AUDIENCE))).await,
        A
    );
    assert_eq!(
        ok(ed_token(ED25519_B, Some("kb"), &claims_of(B, RATINGS))).await,
        B
    );

    // A's `iss` with B's key: B's key is not A's, whether named or not.
    let reply = call_with(
        &app,
        "/me",
        &ed_token(ED25519_B, Some("kb"), &claims_of(A, AUDIENCE)),
    )
    .await;
    assert_invalid_token(&reply, "The token is signed by an unknown key");
    let reply = call_with(
        &app,
        "/me",
        &ed_token(ED25519_B, None, &claims_of(A, AUDIENCE)),
    )
    .await;
    assert_invalid_token(&reply, "The token signature is invalid");

    // Each issuer's audience is its own.
    let reply = call_with(
        &app,
        "/me",
        &ed_token(ED25519, Some("ka"), &claims_of(A, RATINGS)),
    )
    .await;
    assert_invalid_token(&reply, "The token audience is not accepted");
    let reply = call_with(
        &app,
        "/me",
        &ed_token(ED25519_B, Some("kb"), &claims_of(B, AUDIENCE)),
    )
    .await;
    assert_invalid_token(&reply, "The token audience is not accepted");
    assert_eq!((a.hits(), b.hits()), (1, 1), "one fetch each, at build");
}

#[tokio::test]
async fn a_token_of_an_unknown_issuer_is_401_and_fetches_nothing() {
    let offset = Offset::default();
    let (guard, a, b) = two_issuers(&offset).await;
    let app = app(&guard);
    // Past the refetch interval: an unknown kid of a trusted issuer would be fetched for.
    offset.advance(Duration::from_secs(61));
    for iss in ["https://c.example", "https://a.example/", "seedotech"] {
        let token = ed_token(ED25519, Some("unknown-kid"), &claims_of(iss, AUDIENCE));
        let reply = call_with(&app, "/me", &token).await;
        assert_invalid_token(&reply, "The token issuer is not accepted");
    }
    let mut claims = claims_of(A, AUDIENCE);
    claims.as_object_mut().unwrap().remove("iss");
    let reply = call_with(&app, "/me", &ed_token(ED25519, Some("x"), &claims)).await;
    assert_invalid_token(&reply, "The token issuer is not accepted");
    assert_eq!(
        (a.hits(), b.hits()),
        (1, 1),
        "no fetch for a stranger's token"
    );

    // The same unknown kid under B's `iss` makes B's JWKS, and only B's, be fetched again.
    let token = ed_token(ED25519, Some("unknown-kid"), &claims_of(B, RATINGS));
    let reply = call_with(&app, "/me", &token).await;
    assert_invalid_token(&reply, "The token is signed by an unknown key");
    assert_eq!((a.hits(), b.hits()), (1, 2));
}

#[tokio::test]
async fn a_repeated_iss_cannot_route_one_way_and_validate_another() {
    let (guard, _a, _b) = two_issuers(&Offset::default()).await;
    let claims = claims_of(B, RATINGS).to_string();
    // `"iss":B` first, then `"iss":A`: whichever a parser keeps, the token is refused.
    let payload = claims.replacen('{', &format!(r#"{{"iss":"{A}","#), 1);
    let token = sign_raw(
        &header("EdDSA", Some("kb")).to_string(),
        &payload,
        &portcullis_resource_guard::jsonwebtoken::EncodingKey::from_ed_pem(ED25519_B.as_bytes())
            .unwrap(),
        Algorithm::EdDSA,
    );
    let reply = call_with(&app(&guard), "/me", &token).await;
    assert_invalid_token(&reply, "The token claims are malformed");
}

#[tokio::test]
async fn the_builders_own_issuer_is_one_more_with_its_own_algorithms() {
    let guard = Guard::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .hmac_secret(SECRET)
        .trust(
            TrustedIssuer::new(B)
                .audience(RATINGS)
                .public_key_pem(Algorithm::EdDSA, ED25519_B_PUB),
        )
        .build()
        .await
        .unwrap();
    let app = app(&guard);
    let hs = sign(Algorithm::HS256, header("HS256", None), &iam_claims());
    assert_eq!(call_with(&app, "/me", &hs).await.status, StatusCode::OK);
    let ed = ed_token(ED25519_B, None, &claims_of(B, RATINGS));
    assert_eq!(call_with(&app, "/me", &ed).await.status, StatusCode::OK);

    // B trusts no HMAC key: the first issuer's secret cannot sign for B.
    let forged = sign(
        Algorithm::HS256,
        header("HS256", None),
        &claims_of(B, RATINGS),
    );
    let reply = call_with(&app, "/me", &forged).await;
    assert_invalid_token(&reply, "The token algorithm does not match its key");
    // Nor can B's key sign for the first issuer.
    let forged = ed_token(ED25519_B, None, &iam_claims());
    let reply = call_with(&app, "/me", &forged).await;
    assert_invalid_token(&reply, "The token algorithm does not match its key");
}

#[tokio::test]
async fn trusted_issuers_can_come_from_metadata() {
    let keys = JwksServer::start(vec![public_jwk(ED25519_B, Algorithm::EdDSA, "kb")]).await;
    let server = DocumentServer::start().await;
    let issuer = server.base.clone();
    server.serve(
        "/.well-known/oauth-authorization-server",
        metadata(&issuer, &keys.url),
    );
    let guard = Guard::builder()
        .trust(
            TrustedIssuer::new(ISSUER)
                .audience(AUDIENCE)
                .hmac_secret(SECRET),
        )
        .trust(TrustedIssuer::from_issuer(&issuer).audience(RATINGS))
        .build()
        .await
        .unwrap();
    let app = app(&guard);
    let token = ed_token(ED25519_B, Some("kb"), &claims_of(&issuer, RATINGS));
    assert_eq!(call_with(&app, "/me", &token).await.status, StatusCode::OK);
    let hs = sign(Algorithm::HS256, header("HS256", None), &iam_claims());
    assert_eq!(call_with(&app, "/me", &hs).await.status, StatusCode::OK);
}

#[tokio::test]
async fn issuer_mistakes_are_build_errors() {
    let error = |builder: portcullis_resource_guard::GuardBuilder| async move {
        builder.build().await.unwrap_err()
    };
    let a = || TrustedIssuer::new(A).hmac_secret(SECRET);
    assert!(matches!(
        error(Guard::builder().trust(a()).trust(a())).await,
        GuardBuildError::DuplicateIssuer { issuer } if issuer == A
    ));
    assert!(matches!(
        error(Guard::builder().issuer(A).hmac_secret(SECRET).trust(a())).await,
        GuardBuildError::DuplicateIssuer { .. }
    ));
    assert!(matches!(
        error(Guard::builder().trust(TrustedIssuer::new(B))).await,
        GuardBuildError::NoKey
    ));
    assert!(matches!(
        error(Guard::builder().trust(TrustedIssuer::new("").hmac_secret(SECRET))).await,
        GuardBuildError::MissingIssuer
    ));
    assert!(matches!(
        error(Guard::builder().trust(a().audience(""))).await,
        GuardBuildError::EmptyAudience
    ));
    // An audience or key set on the builder belongs to the builder's own issuer, which
    // then needs its `iss`: it is not silently dropped.
    assert!(matches!(
        error(Guard::builder().audience(AUDIENCE).trust(a())).await,
        GuardBuildError::MissingIssuer
    ));
    assert!(matches!(
        error(
            Guard::builder()
                .hmac_secret(SECRET)
                .trust(TrustedIssuer::new(B).hmac_secret(SECRET))
        )
        .await,
        GuardBuildError::MissingIssuer
    ));
}
