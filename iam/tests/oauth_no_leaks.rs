//! No log line ever holds a client secret, an access token or a refresh token.
//!
//! Its own test binary: it installs a global tracing subscriber that writes every log
//! line (down to TRACE) into a buffer, drives every OAuth route with right and wrong
//! secrets, then searches the log for each secret and token it saw.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{ADMIN_PASSWORD, client, fast_builder, start, token};
use portcullis_iam::{BootstrapClient, OAuthSettings};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const CLI_SECRET: &str = "the-bootstrap-secret-Xq93-long-enough";

async fn post(url: &str, form: &[(&str, &str)], basic: (&str, &str)) -> Value {
    client()
        .post(url)
        .basic_auth(basic.0, Some(basic.1))
        .form(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_line_contains_a_secret_or_token() {
    let logs = Buffer::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "trace,hyper=info,hyper_util=info,h2=info,reqwest=info",
        ))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let (_, base) = start(fast_builder().oauth(
        OAuthSettings::default().bootstrap_client(BootstrapClient::new(
            "cli",
            CLI_SECRET,
            ["read"],
        )),
    ))
    .await;
    let token_url = format!("{base}/oauth2/token");
    let cli = ("cli", CLI_SECRET);
    let wrong = "wrong-secret-Zk27-never-logged";
    let mut secrets: Vec<String> = vec![CLI_SECRET.to_owned(), wrong.to_owned()];

    let admin = token(&base, "admin", ADMIN_PASSWORD).await;
    let created: Value = client()
        .post(format!("{base}/api/v1/oauth/clients"))
        .bearer_auth(&admin)
        .json(&json!({"clientId": "svc", "name": "Service", "scopes": ["read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let svc_secret = created["clientSecret"].as_str().unwrap().to_owned();
    let rotated: Value = client()
        .post(format!("{base}/api/v1/oauth/clients/svc/secret"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let svc_secret_2 = rotated["clientSecret"].as_str().unwrap().to_owned();
    secrets.extend([svc_secret.clone(), svc_secret_2.clone()]);

    let cc = [("grant_type", "client_credentials")];
    let issued = post(&token_url, &cc, ("svc", &svc_secret_2)).await;
    secrets.push(issued["access_token"].as_str().unwrap().to_owned());
    post(&token_url, &cc, ("svc", &svc_secret)).await;
    post(&token_url, &cc, ("svc", wrong)).await;
    post(&token_url, &cc, ("nobody", wrong)).await;
    client()
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "cli"),
            ("client_secret", wrong),
        ])
        .send()
        .await
        .unwrap();

    let login = post(
        &token_url,
        &[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
        ],
        cli,
    )
    .await;
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();
    secrets.push(login["access_token"].as_str().unwrap().to_owned());
    post(
        &token_url,
        &[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", wrong),
        ],
        cli,
    )
    .await;
    let rotated = post(
        &token_url,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        cli,
    )
    .await;
    let refresh_2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    // A reuse, which revokes the family and logs a warning.
    post(
        &token_url,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        cli,
    )
    .await;
    post(
        &format!("{base}/oauth2/introspect"),
        &[("token", &refresh_2)],
        cli,
    )
    .await;
    post(
        &format!("{base}/oauth2/revoke"),
        &[("token", &refresh_2)],
        cli,
    )
    .await;
    secrets.extend([refresh, refresh_2, ADMIN_PASSWORD.to_owned()]);

    let log = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("client authentication failed"),
        "the log was captured"
    );
    assert!(log.contains("revoked its family"), "the reuse was logged");
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "the log holds {secret:?}:\n{log}"
        );
    }
}
