//! Shared helpers for the HTTP tests: a real server on 127.0.0.1:0 and a reqwest client.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use portcullis_iam::{AdminBootstrap, Iam, IamBuilder, PasswordPolicy, SigningKey};
use serde_json::Value;

pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A builder with cheap argon2 parameters and a known admin password.
pub fn fast_builder() -> IamBuilder {
    Iam::builder()
        .issuer("seedotech")
        .audience("movies")
        .signing_key(SigningKey::generate_ed25519())
        .password_policy(PasswordPolicy::insecure_fast_for_tests())
        .admin_bootstrap(AdminBootstrap::Password(ADMIN_PASSWORD.to_owned()))
}

/// Serves `router` on a free loopback port (with client addresses) and returns its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

/// Builds the IAM and serves its router.
pub async fn start(builder: IamBuilder) -> (Iam, String) {
    let iam = builder.build().await.expect("build the IAM");
    let base = serve(iam.router()).await;
    (iam, base)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// Logs in with a form body and returns the status and the JSON body.
pub async fn login_form(
    base: &str,
    user: &str,
    password: &str,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let response = client()
        .post(format!("{base}/api/v1/admin/auth"))
        .form(&[("user", user), ("password", password)])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body, headers)
}

/// Logs in and returns the token, panicking on failure.
pub async fn token(base: &str, user: &str, password: &str) -> String {
    let (status, body, _) = login_form(base, user, password).await;
    assert_eq!(status, 200, "login of {user} failed: {body}");
    body["token"].as_str().unwrap().to_owned()
}
