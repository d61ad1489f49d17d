//! No response and no log line ever holds a password or a password hash.
//!
//! Its own test binary: it installs a global tracing subscriber that writes every log
//! line (down to TRACE for this workspace's crates) into a buffer, drives every route
//! with passwords in all the places they can go wrong, then searches the responses and
//! the log for each password and for every stored hash.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{ADMIN_PASSWORD, client, fast_builder, start, token};
use portcullis_iam::{PageRequest, ThrottlePolicy};
use serde_json::json;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_response_or_log_line_contains_a_password_or_hash() {
    let logs = Buffer::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "trace,hyper=info,hyper_util=info,h2=info,reqwest=info",
        ))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let erin_first = "erin-first-Pw-41x";
    let erin_second = "erin-second-Pw-97q";
    let wrong = "wrong-Pw-Zq81";
    let numeric = 918_273_645_u64;
    let (iam, base) = start(
        fast_builder().throttle(
            ThrottlePolicy::default()
                .max_failures_per_name(2)
                .max_failures_per_address(1000),
        ),
    )
    .await;
    let http = client();
    let mut responses = Vec::new();
    let record = |response: reqwest::Response| {
        let head = format!("{} {:?}", response.status(), response.headers());
        async move { format!("{head} {}", response.text().await.unwrap()) }
    };

    let login = format!("{base}/api/v1/admin/auth");
    let users = format!("{base}/api/v1/users");
    let admin = token(&base, "admin", ADMIN_PASSWORD).await;
    for request in [
        http.post(&login)
            .form(&[("user", "admin"), ("password", ADMIN_PASSWORD)]),
        http.post(&login)
            .json(&json!({"user": "admin", "password": ADMIN_PASSWORD})),
        http.post(&login)
            .json(&json!({"user": "admin", "password": numeric})),
        http.post(&login)
            .header("content-type", "application/json")
            .body(format!(r#"{{"user":"admin","password":"{wrong}""#)),
        http.post(&login)
            .form(&[("user", "admin"), ("password", wrong)]),
        http.post(&login)
            .form(&[("user", "nobody"), ("password", wrong)]),
        http.post(&users)
            .bearer_auth(&admin)
            .json(&json!({"name": "erin", "password": erin_first})),
        http.post(&users)
            .bearer_auth(&admin)
            .json(&json!({"name": "frank", "password": numeric})),
        http.post(&users)
            .bearer_auth(&admin)
            .json(&json!({"name": "erin", "password": erin_first})),
        http.post(&users)
            .bearer_auth(&admin)
            .json(&json!({"name": "gina", "password": "gina"})),
        http.get(format!("{users}/list")).bearer_auth(&admin),
        http.post(&login)
            .form(&[("user", "erin"), ("password", erin_first)]),
    ] {
        responses.push(record(request.send().await.unwrap()).await);
    }
    let erin = iam.store().find_by_name("erin").await.unwrap().unwrap();
    for request in [
        http.get(format!("{users}/detail/{}", erin.id))
            .bearer_auth(&admin),
        http.get(format!("{users}?id={}", erin.id))
            .bearer_auth(&admin),
        http.patch(&users)
            .bearer_auth(&admin)
            .json(&json!({"id": erin.id, "password": erin_second})),
        http.patch(&users)
            .bearer_auth(&admin)
            .json(&json!({"id": erin.id, "password": "erin"})),
        http.post(&login)
            .form(&[("user", "erin"), ("password", erin_second)]),
        http.post(&login)
            .form(&[("user", "erin"), ("password", wrong)]),
        http.post(&login)
            .form(&[("user", "erin"), ("password", wrong)]),
        http.post(&login)
            .form(&[("user", "erin"), ("password", erin_second)]),
    ] {
        responses.push(record(request.send().await.unwrap()).await);
    }
    assert!(
        responses.last().unwrap().starts_with("429"),
        "{responses:#?}"
    );

    let hashes: Vec<String> = iam
        .store()
        .list(PageRequest::first(100))
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.password_hash)
        .collect();
    assert_eq!(hashes.len(), 2);
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("login failed"), "the log capture works");
    assert!(logs.contains("created a user"), "the log capture works");

    let secrets = [
        ADMIN_PASSWORD.to_owned(),
        erin_first.to_owned(),
        erin_second.to_owned(),
        wrong.to_owned(),
        numeric.to_string(),
    ];
    let hash_parts = hashes.iter().flat_map(|hash| {
        // The salt and the digest of each hash, and the whole PHC string.
        let mut parts: Vec<String> = hash.rsplit('$').take(2).map(str::to_owned).collect();
        parts.push(hash.clone());
        parts
    });
    for needle in secrets
        .into_iter()
        .chain(hash_parts)
        .chain(["$argon2".to_owned()])
    {
        assert!(!logs.contains(&needle), "the log contains {needle:?}");
        for response in &responses {
            assert!(
                !response.contains(&needle),
                "a response contains {needle:?}: {response}"
            );
        }
    }
}
