//! Shared test helpers: real keys, hand-built tokens, a real JWKS server on 127.0.0.1.
#![allow(dead_code, unreachable_pub, clippy::needless_pass_by_value)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Request, StatusCode, Uri, header};
use http_body_util::BodyExt;
use portcullis_resource_guard::jsonwebtoken::jwk::{Jwk, JwkSet};
use portcullis_resource_guard::jsonwebtoken::{Algorithm, EncodingKey};
use portcullis_resource_guard::{Claims, Guard};
use portcullis_response::ErrorBody;
use serde_json::{Value, json};
use tower::ServiceExt;

pub const ISSUER: &str = "seedotech";
pub const AUDIENCE: &str = "movies";
/// At least 64 bytes: long enough for HS512 (RFC 7518 section 3.2).
pub const SECRET: &[u8] = b"a test secret long enough for HS512, which needs 64 bytes or more";

pub const ED25519: &str = include_str!("../keys/ed25519.pem");
pub const ED25519_PUB: &str = include_str!("../keys/ed25519.pub.pem");
pub const ED25519_B: &str = include_str!("../keys/ed25519_b.pem");
pub const ED25519_B_PUB: &str = include_str!("../keys/ed25519_b.pub.pem");
pub const EC: &str = include_str!("../keys/ec_p256.pem");
pub const EC_PUB: &str = include_str!("../keys/ec_p256.pub.pem");
pub const RSA: &str = include_str!("../keys/rsa.pem");
pub const RSA_PUB: &str = include_str!("../keys/rsa.pub.pem");

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The claims the IAM issues, valid for an hour.
pub fn iam_claims() -> Value {
    let now = now();
    json!({
        "sub": "656f0c7e9b1e8a0012345678",
        "name": "ann",
        "role": "admin",
        "roles": ["admin", "editor"],
        "scope": "movies:read movies:write",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "jti": "j1",
    })
}

pub fn encoding_key(alg: Algorithm) -> EncodingKey {
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => EncodingKey::from_secret(SECRET),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(ED25519.as_bytes()).unwrap(),
        Algorithm::ES256 => EncodingKey::from_ec_pem(EC.as_bytes()).unwrap(),
        _ => EncodingKey::from_rsa_pem(RSA.as_bytes()).unwrap(),
    }
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with exactly this header and payload JSON, signed with `key` under `alg`.
pub fn sign_raw(header: &str, payload: &str, key: &EncodingKey, alg: Algorithm) -> String {
    let message = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let signature =
        portcullis_resource_guard::jsonwebtoken::crypto::sign(message.as_bytes(), key, alg)
            .unwrap();
    format!("{message}.{signature}")
}

/// A token with this header and claims (JSON values), signed with the test key of `alg`.
pub fn sign(alg: Algorithm, header: Value, claims: &Value) -> String {
    sign_raw(
        &header.to_string(),
        &claims.to_string(),
        &encoding_key(alg),
        alg,
    )
}

/// `{"alg": alg, "typ": "at+jwt"}` plus `kid` when given.
pub fn header(alg: &str, kid: Option<&str>) -> Value {
    let mut h = json!({ "alg": alg, "typ": "at+jwt" });
    if let Some(kid) = kid {
        h["kid"] = kid.into();
    }
    h
}

/// The public JWK of a private PEM, with `kid`.
pub fn public_jwk(private_pem: &str, alg: Algorithm, kid: &str) -> Jwk {
    let key = match alg {
        Algorithm::EdDSA => EncodingKey::from_ed_pem(private_pem.as_bytes()).unwrap(),
        Algorithm::ES256 => EncodingKey::from_ec_pem(private_pem.as_bytes()).unwrap(),
        _ => EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap(),
    };
    let mut jwk = Jwk::from_encoding_key(&key, alg).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

/// A JWKS endpoint on 127.0.0.1 that counts its requests and can be told to fail.
#[derive(Clone)]
pub struct JwksServer {
    pub url: String,
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    pub set: Arc<Mutex<JwkSet>>,
    pub failing: Arc<AtomicBool>,
}

#[derive(Clone)]
struct ServerState {
    hits: Arc<AtomicUsize>,
    set: Arc<Mutex<JwkSet>>,
    failing: Arc<AtomicBool>,
}

async fn serve_jwks(State(state): State<ServerState>) -> Response {
    state.hits.fetch_add(1, Ordering::SeqCst);
    if state.failing.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let set = state.set.lock().unwrap().clone();
    axum::Json(set).into_response()
}

impl JwksServer {
    pub async fn start(keys: Vec<Jwk>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = ServerState {
            hits: Arc::new(AtomicUsize::new(0)),
            set: Arc::new(Mutex::new(JwkSet { keys })),
            failing: Arc::new(AtomicBool::new(false)),
        };
        let app = Router::new()
            .route("/.well-known/jwks.json", get(serve_jwks))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{addr}/.well-known/jwks.json"),
            addr,
            hits: state.hits,
            set: state.set,
            failing: state.failing,
        }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn publish(&self, keys: Vec<Jwk>) {
        self.set.lock().unwrap().keys = keys;
    }

    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

async fn me(claims: Claims) -> axum::Json<Claims> {
    axum::Json(claims)
}

async fn maybe_me(claims: Option<Claims>) -> String {
    claims.map_or_else(|| "anonymous".to_owned(), |c| c.name)
}

/// `/me` (claims as JSON) and `/maybe` (name or "anonymous") behind `layer`.
pub fn app(guard: &Guard) -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe_me))
        .layer(guard.layer())
}

pub fn optional_app(guard: &Guard) -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe_me))
        .layer(guard.optional_layer())
}

/// What a test looks at in a response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn challenge(&self) -> &str {
        self.headers
            .get(header::WWW_AUTHENTICATE)
            .map_or("", |v| v.to_str().unwrap())
    }

    pub fn error(&self) -> ErrorBody {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not an error body ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `GET path` with these `Authorization` header values.
pub async fn call(app: &Router, path: &str, authorization: &[&str]) -> Reply {
    let mut request = Request::get(path);
    for value in authorization {
        request = request.header(header::AUTHORIZATION, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

/// Sends `GET path` with `Authorization: Bearer <token>`.
pub async fn call_with(app: &Router, path: &str, token: &str) -> Reply {
    call(app, path, &[&format!("Bearer {token}")]).await
}

/// Asserts a 401 `invalid_token` rejection with the given description and code.
#[track_caller]
pub fn assert_invalid_token(reply: &Reply, description: &str) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text());
    assert_eq!(
        reply.challenge(),
        format!("Bearer error=\"invalid_token\", error_description=\"{description}\"")
    );
    let body = reply.error();
    assert_eq!(body.message, description);
    assert!(body.code == 1005 || body.code == 1006, "code {}", body.code);
}

/// A server on 127.0.0.1 answering set paths with set bodies (404 elsewhere), and
/// recording every path it was asked for: issuer metadata in the tests.
#[derive(Clone)]
pub struct DocumentServer {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base: String,
    documents: Arc<Mutex<HashMap<String, (StatusCode, String)>>>,
    requested: Arc<Mutex<Vec<String>>>,
    traceparents: Arc<Mutex<Vec<Option<String>>>>,
}

impl DocumentServer {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Self {
            base: format!("http://{addr}"),
            documents: Arc::default(),
            requested: Arc::default(),
            traceparents: Arc::default(),
        };
        let state = server.clone();
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let state = state.clone();
            async move {
                state.requested.lock().unwrap().push(uri.path().to_owned());
                let traceparent = headers
                    .get("traceparent")
                    .map(|v| v.to_str().unwrap().to_owned());
                state.traceparents.lock().unwrap().push(traceparent);
                match state.documents.lock().unwrap().get(uri.path()) {
                    Some((status, body)) => (
                        *status,
                        [(header::CONTENT_TYPE, "application/json")],
                        body.clone(),
                    )
                        .into_response(),
                    None => StatusCode::NOT_FOUND.into_response(),
                }
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        server
    }

    /// Answers `path` with 200 and `body`.
    pub fn serve(&self, path: &str, body: impl Into<String>) {
        self.serve_with(path, StatusCode::OK, body);
    }

    /// Answers `path` with `status` and `body`.
    pub fn serve_with(&self, path: &str, status: StatusCode, body: impl Into<String>) {
        self.documents
            .lock()
            .unwrap()
            .insert(path.to_owned(), (status, body.into()));
    }

    /// The `traceparent` of each request so far, in order.
    pub fn traceparents(&self) -> Vec<Option<String>> {
        self.traceparents.lock().unwrap().clone()
    }

    /// The paths asked for so far, in order.
    pub fn requested(&self) -> Vec<String> {
        self.requested.lock().unwrap().clone()
    }
}

/// An RFC 8414 metadata document.
pub fn metadata(issuer: &str, jwks_uri: &str) -> String {
    json!({
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "response_types_supported": [],
    })
    .to_string()
}

/// The IAM's claims, issued by `issuer` for `audience`.
pub fn claims_of(issuer: &str, audience: &str) -> Value {
    let mut claims = iam_claims();
    claims["iss"] = issuer.into();
    claims["aud"] = audience.into();
    claims
}

/// A token with these claims, signed with an Ed25519 private key (PEM), with `kid` if given.
pub fn ed_token(private_pem: &str, kid: Option<&str>, claims: &Value) -> String {
    sign_raw(
        &header("EdDSA", kid).to_string(),
        &claims.to_string(),
        &EncodingKey::from_ed_pem(private_pem.as_bytes()).unwrap(),
        Algorithm::EdDSA,
    )
}
