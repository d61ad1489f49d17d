//! The layer in an axum router: optional mode, the `Claims` extractor, roles and scopes,
//! and the verified-token cache.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::routing::{get, post};
use http::StatusCode;
use portcullis_resource_guard::jsonwebtoken::Algorithm;
use portcullis_resource_guard::{Claims, Guard, GuardError, require_role, require_scope};
use portcullis_response::{ApiResult, Message};
use serde::Deserialize;
use serde_json::json;
use support::*;

async fn guard() -> Guard {
    Guard::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .hmac_secret(SECRET)
        .build()
        .await
        .unwrap()
}

fn token_with(claims: &serde_json::Value) -> String {
    sign(Algorithm::HS256, header("HS256", None), claims)
}

#[tokio::test]
async fn the_optional_layer_lets_anonymous_requests_through() {
    let guard = guard().await;
    let app = optional_app(&guard);
    let reply = call(&app, "/maybe", &[]).await;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (StatusCode::OK, "anonymous")
    );
    let reply = call(&app, "/maybe", &["Basic YTpi"]).await;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (StatusCode::OK, "anonymous")
    );
    let reply = call_with(&app, "/maybe", &token_with(&iam_claims())).await;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (StatusCode::OK, "ann")
    );

    // A token that is sent is still checked.
    let mut claims = iam_claims();
    claims["iss"] = "someone else".into();
    let reply = call_with(&app, "/maybe", &token_with(&claims)).await;
    assert_invalid_token(&reply, "The token issuer is not accepted");
    let reply = call(&app, "/maybe", &[""]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    // A handler that insists on claims still answers 401 to anonymous callers.
    let reply = call(&app, "/me", &[]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.challenge(), "Bearer");
}

#[tokio::test]
async fn claims_without_a_guard_are_a_401() {
    async fn me(claims: Claims) -> String {
        claims.sub
    }
    let app = Router::new().route("/me", get(me));
    let reply = call(&app, "/me", &[]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.challenge(), "Bearer");
    assert_eq!(reply.error().code, 1004);
}

#[derive(Debug, Deserialize)]
struct Tenant {
    tenant: String,
}

#[tokio::test]
async fn application_claims_are_typed() {
    async fn tenant(claims: Claims<Tenant>) -> String {
        format!("{}@{}", claims.name, claims.extra.tenant)
    }
    let guard = guard().await;
    let app = Router::new()
        .route("/tenant", get(tenant))
        .layer(guard.layer());
    let mut claims = iam_claims();
    claims["tenant"] = "acme".into();
    let reply = call_with(&app, "/tenant", &token_with(&claims)).await;
    assert_eq!(reply.text(), "ann@acme");

    // A token without the application's claims does not fit `Claims<Tenant>`.
    let reply = call_with(&app, "/tenant", &token_with(&iam_claims())).await;
    assert_invalid_token(&reply, "The token claims are malformed");

    let verified: Claims<Tenant> = guard.verify(&token_with(&claims)).await.unwrap();
    assert_eq!(verified.extra.tenant, "acme");
    assert_eq!(verified.iss, ISSUER);
    assert_eq!(verified.jti.as_deref(), Some("j1"));
}

#[tokio::test]
async fn require_role_and_scope_layers_answer_403() {
    let guard = guard().await;
    let app = Router::new()
        .route(
            "/admin",
            get(|| async { "admin area" }).route_layer(require_role("admin")),
        )
        .route(
            "/root",
            get(|| async { "root area" }).route_layer(require_role("root")),
        )
        .route(
            "/write",
            post(|| async { "written" }).route_layer(require_scope("movies:write")),
        )
        .route(
            "/delete",
            get(|| async { "deleted" }).route_layer(require_scope("movies:delete")),
        )
        .layer(guard.layer());
    let token = token_with(&iam_claims());

    assert_eq!(call_with(&app, "/admin", &token).await.text(), "admin area");
    let reply = call_with(&app, "/root", &token).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.challenge(),
        "Bearer error=\"insufficient_scope\", error_description=\"The token lacks the required role\", scope=\"root\""
    );
    assert_eq!(reply.error().code, 1007);

    let reply = call_with(&app, "/delete", &token).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.challenge().contains("scope=\"movies:delete\""));

    // Roles from `role` alone (the seed's single role) count too.
    let mut claims = iam_claims();
    claims["roles"] = json!([]);
    assert_eq!(
        call_with(&app, "/admin", &token_with(&claims)).await.status,
        StatusCode::OK
    );
    claims["role"] = "".into();
    assert_eq!(
        call_with(&app, "/admin", &token_with(&claims)).await.status,
        StatusCode::FORBIDDEN
    );
}

/// The claims of a `client_credentials` token as the IAM issues it: the client acts for
/// itself, so `sub` and `name` are its id, it has no role, and its scopes are one
/// space-separated string (RFC 9068 section 2.2).
fn client_claims(scope: &str) -> serde_json::Value {
    let now = now();
    json!({
        "sub": "reco-client",
        "name": "reco-client",
        "role": "",
        "roles": [],
        "client_id": "reco-client",
        "scope": scope,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "c1",
    })
}

#[tokio::test]
async fn client_tokens_pass_scope_checks_and_fail_role_checks() {
    #[derive(Deserialize)]
    struct ClientId {
        client_id: Option<String>,
    }
    async fn who(claims: Claims<ClientId>) -> String {
        format!(
            "{}:{}",
            claims.sub,
            claims.extra.client_id.unwrap_or_default()
        )
    }
    let guard = guard().await;
    let app = Router::new()
        .route(
            "/write",
            post(|| async { "written" }).route_layer(require_scope("movies:write")),
        )
        .route("/read", get(who).route_layer(require_scope("movies:read")))
        .route(
            "/delete",
            get(|| async { "deleted" }).route_layer(require_scope("movies:delete")),
        )
        .route(
            "/admin",
            get(|| async { "admin area" }).route_layer(require_role("admin")),
        )
        .layer(guard.layer());
    let token = token_with(&client_claims("movies:read movies:write"));

    let reply = call_with(&app, "/read", &token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.text(), "reco-client:reco-client");
    let request = http::Request::post("/write")
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(app.clone(), request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // RFC 6750 section 3.1: a valid token without the scope is 403 insufficient_scope,
    // naming the scope needed.
    let reply = call_with(&app, "/delete", &token).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.challenge(),
        "Bearer error=\"insufficient_scope\", error_description=\"The token lacks the required scope\", scope=\"movies:delete\""
    );
    assert_eq!(reply.error().code, 1007);

    // A client has no role: a role check refuses it the same way, whatever its scopes.
    let reply = call_with(&app, "/admin", &token).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.challenge(),
        "Bearer error=\"insufficient_scope\", error_description=\"The token lacks the required role\", scope=\"admin\""
    );
    assert_eq!(reply.error().code, 1007);

    // Nor does a scope named like the role stand in for it, or a role claim left out.
    let mut claims = client_claims("admin movies:read");
    claims.as_object_mut().unwrap().remove("role");
    claims.as_object_mut().unwrap().remove("roles");
    let token = token_with(&claims);
    assert_eq!(
        call_with(&app, "/read", &token).await.status,
        StatusCode::OK
    );
    assert_eq!(
        call_with(&app, "/admin", &token).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_require_layer_without_a_guard_answers_401() {
    let app = Router::new().route(
        "/admin",
        get(|| async { "admin area" }).route_layer(require_role("admin")),
    );
    let reply = call(&app, "/admin", &[]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.challenge(), "Bearer");
}

#[tokio::test]
async fn require_role_in_a_handler_answers_403_with_the_challenge() {
    async fn add_movie(claims: Claims) -> ApiResult<Message> {
        claims.require_role("admin")?;
        Ok(Message::success())
    }
    async fn add_movie_guard_error(claims: Claims) -> Result<Message, GuardError> {
        claims.require_scope("movies:admin")?;
        Ok(Message::success())
    }
    let guard = guard().await;
    let app = Router::new()
        .route("/movies", get(add_movie))
        .route("/movies2", get(add_movie_guard_error))
        .layer(guard.layer());
    let admin = token_with(&iam_claims());
    assert_eq!(
        call_with(&app, "/movies", &admin).await.json(),
        json!({"message": "Successfully"})
    );
    let mut claims = iam_claims();
    claims["role"] = "".into();
    claims["roles"] = json!([]);
    let reply = call_with(&app, "/movies", &token_with(&claims)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply
            .challenge()
            .starts_with("Bearer error=\"insufficient_scope\"")
    );
    let reply = call_with(&app, "/movies2", &admin).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.error().code, 1007);
}

#[tokio::test]
async fn verified_tokens_are_cached_until_they_expire() {
    let offset = Arc::new(AtomicU64::new(0));
    let clock_offset = Arc::clone(&offset);
    let guard = Guard::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .hmac_secret(SECRET)
        .clock(move || SystemTime::now() + Duration::from_secs(clock_offset.load(Ordering::SeqCst)))
        .build()
        .await
        .unwrap();
    let app = app(&guard);
    let mut claims = iam_claims();
    claims["exp"] = (now() + 100).into();
    let token = token_with(&claims);
    for _ in 0..3 {
        assert_eq!(call_with(&app, "/me", &token).await.status, StatusCode::OK);
    }
    assert_eq!(guard.cached_tokens(), 1);
    let other = token_with(&iam_claims());
    assert_eq!(call_with(&app, "/me", &other).await.status, StatusCode::OK);
    assert_eq!(guard.cached_tokens(), 2);

    // Past exp + leeway the cached entry is dead: the token is expired, not served from cache.
    offset.store(200, Ordering::SeqCst);
    let reply = call_with(&app, "/me", &token).await;
    assert_invalid_token(&reply, "The token has expired");
    assert_eq!(guard.cached_tokens(), 1);
}

#[tokio::test]
async fn the_cache_can_be_disabled() {
    let guard = Guard::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .hmac_secret(SECRET)
        .cache_capacity(0)
        .build()
        .await
        .unwrap();
    let token = token_with(&iam_claims());
    assert_eq!(
        call_with(&app(&guard), "/me", &token).await.status,
        StatusCode::OK
    );
    assert_eq!(guard.cached_tokens(), 0);
}

#[tokio::test]
async fn rejected_tokens_are_never_cached() {
    let guard = guard().await;
    let mut claims = iam_claims();
    claims["aud"] = "films".into();
    let token = token_with(&claims);
    for _ in 0..2 {
        assert_eq!(
            call_with(&app(&guard), "/me", &token).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(guard.cached_tokens(), 0);
}
