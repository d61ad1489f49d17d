//! What the builder refuses: every configuration mistake is a `GuardBuildError`, never a
//! panic and never a guard that quietly accepts less than it should.

mod support;

use std::time::Duration;

use futures_util::FutureExt;
use portcullis_resource_guard::jsonwebtoken::Algorithm;
use portcullis_resource_guard::{Guard, GuardBuildError, GuardBuilder};
use support::*;

fn hmac() -> GuardBuilder {
    Guard::builder().issuer(ISSUER).hmac_secret(SECRET)
}

fn jwks() -> GuardBuilder {
    Guard::builder()
        .issuer(ISSUER)
        .jwks_url("http://127.0.0.1:1/.well-known/jwks.json")
}

async fn error(builder: GuardBuilder) -> GuardBuildError {
    builder.build().await.unwrap_err()
}

#[tokio::test]
async fn an_issuer_and_a_key_are_required() {
    assert!(matches!(
        error(Guard::builder().hmac_secret(SECRET)).await,
        GuardBuildError::MissingIssuer
    ));
    assert!(matches!(
        error(Guard::builder().issuer("")).await,
        GuardBuildError::MissingIssuer
    ));
    assert!(matches!(
        error(Guard::builder().issuer(ISSUER)).await,
        GuardBuildError::NoKey
    ));
    assert!(matches!(
        error(hmac().audience("")).await,
        GuardBuildError::EmptyAudience
    ));
}

#[tokio::test]
async fn hmac_secrets_shorter_than_32_bytes_are_refused() {
    let short = b"secret";
    let err = error(Guard::builder().issuer(ISSUER).hmac_secret(short)).await;
    assert!(
        matches!(
            err,
            GuardBuildError::ShortHmacSecret {
                alg: Algorithm::HS256,
                len: 6,
                min: 32
            }
        ),
        "{err:?}"
    );
    // The message names the rule, never the secret.
    assert!(!err.to_string().contains("secret\""));
    assert!(err.to_string().contains("RFC 7518"));
    let err = error(
        Guard::builder()
            .issuer(ISSUER)
            .hmac_secret_with(Algorithm::HS512, [7_u8; 32]),
    )
    .await;
    assert!(matches!(
        err,
        GuardBuildError::ShortHmacSecret { min: 64, .. }
    ));
    Guard::builder()
        .issuer(ISSUER)
        .hmac_secret([7_u8; 32])
        .build()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_short_secret_is_accepted_only_with_the_dangerous_opt_out() {
    let guard = Guard::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .hmac_secret(b"secret")
        .dangerous_allow_short_hmac_secret()
        .build()
        .await
        .unwrap();
    let token = sign_raw(
        &header("HS256", None).to_string(),
        &iam_claims().to_string(),
        &portcullis_resource_guard::jsonwebtoken::EncodingKey::from_secret(b"secret"),
        Algorithm::HS256,
    );
    assert_eq!(guard.verify::<()>(&token).await.unwrap().name, "ann");
}

#[tokio::test]
async fn durations_out_of_range_are_build_errors_not_panics() {
    let day = Duration::from_secs(24 * 3600);
    for (builder, setting) in [
        // Over the 24-hour ceiling of refreshes: `Duration::clamp` used to panic on it.
        (jwks().min_refetch_interval(day * 2), "min_refetch_interval"),
        (
            jwks().min_refetch_interval(Duration::ZERO),
            "min_refetch_interval",
        ),
        (jwks().refresh_interval(Duration::ZERO), "refresh_interval"),
        (jwks().refresh_interval(day * 365), "refresh_interval"),
        (jwks().fetch_timeout(Duration::ZERO), "fetch_timeout"),
        (jwks().fetch_timeout(day), "fetch_timeout"),
        (hmac().leeway(day), "leeway"),
    ] {
        let err = error(builder).await;
        assert!(
            matches!(err, GuardBuildError::OutOfRange { setting: s, .. } if s == setting),
            "{setting}: {err:?}"
        );
        assert!(err.to_string().starts_with(setting), "{err}");
    }
}

#[tokio::test]
async fn a_refetch_interval_at_the_ceiling_still_builds() {
    let day = Duration::from_secs(24 * 3600);
    jwks()
        .min_refetch_interval(day)
        .refresh_interval(Duration::from_secs(1))
        .build()
        .await
        .unwrap();
}

#[tokio::test]
async fn sizes_out_of_range_are_build_errors() {
    for (builder, setting) in [
        (hmac().max_token_size(0), "max_token_size"),
        (hmac().max_token_size(64 * 1024 * 1024), "max_token_size"),
        (hmac().cache_capacity(usize::MAX), "cache_capacity"),
    ] {
        let err = error(builder).await;
        assert!(
            matches!(err, GuardBuildError::CountOutOfRange { setting: s, .. } if s == setting),
            "{setting}: {err:?}"
        );
    }
    hmac().cache_capacity(0).build().await.unwrap();
}

#[tokio::test]
async fn a_realm_that_cannot_be_quoted_is_refused() {
    for realm in ["a\"b", "a\\b", "line\nbreak", "caf\u{e9}"] {
        assert!(
            matches!(
                error(hmac().realm(realm)).await,
                GuardBuildError::InvalidRealm
            ),
            "{realm:?}"
        );
    }
    hmac().realm("movies api").build().await.unwrap();
}

#[tokio::test]
async fn plain_http_jwks_off_loopback_needs_an_explicit_opt_in() {
    let off_loopback = || {
        Guard::builder()
            .issuer(ISSUER)
            .jwks_url("http://192.0.2.1:9/.well-known/jwks.json")
            .fetch_timeout(Duration::from_millis(50))
    };
    let err = error(off_loopback()).await;
    assert!(
        matches!(&err, GuardBuildError::InsecureHttp { host } if host == "192.0.2.1"),
        "{err:?}"
    );
    off_loopback().allow_insecure_http().build().await.unwrap();
    assert!(matches!(
        error(
            Guard::builder()
                .issuer(ISSUER)
                .jwks_url("file:///etc/jwks.json")
        )
        .await,
        GuardBuildError::InvalidJwksUrl { .. }
    ));
}

#[test]
fn a_jwks_url_outside_a_tokio_runtime_is_an_error_not_a_panic() {
    let result = jwks()
        .build()
        .now_or_never()
        .expect("fails before any wait");
    assert!(matches!(result, Err(GuardBuildError::NoRuntime)));
}

#[cfg(not(feature = "rustls"))]
#[tokio::test]
async fn https_without_the_rustls_feature_is_a_build_error() {
    assert!(matches!(
        error(
            Guard::builder()
                .issuer(ISSUER)
                .jwks_url("https://127.0.0.1:1/jwks.json")
        )
        .await,
        GuardBuildError::TlsFeatureMissing
    ));
}
