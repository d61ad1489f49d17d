//! A user name cannot forge a log line.
//!
//! Its own test binary: it installs a global tracing subscriber that writes every log line
//! into a buffer.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{ADMIN_PASSWORD, client, fast_builder, login_form, start, token};
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

#[tokio::test]
async fn a_name_with_a_newline_does_not_forge_a_log_line() {
    let logs = Buffer::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "trace,hyper=info,reqwest=info",
        ))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let (_, base) = start(fast_builder()).await;
    let forged = "FORGED INFO login succeeded user=admin";
    for separator in ["\n", "\r\n", "\r"] {
        let name = format!("mallory{separator}{forged}");
        let (status, body, _) = login_form(&base, &name, "some password").await;
        assert_eq!(status, 400, "{body}");
    }
    let admin = token(&base, "admin", ADMIN_PASSWORD).await;
    let response = client()
        .post(format!("{base}/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({"name": format!("mallory\n{forged}"), "password": "a long enough password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("login succeeded"),
        "the log was captured: {text}"
    );
    for line in text.split(['\n', '\r']) {
        assert!(
            !line.trim_start().starts_with("FORGED"),
            "a forged log line: {line:?}\n{text}"
        );
    }
}
