//! End-to-end: HTTPS between the services. The IAM (the `user_service` example on a plain
//! loopback port) is put behind the harness's TLS front (`testing::TlsFront`: a test CA, a
//! server certificate for 127.0.0.1 and `localhost`, a TLS-terminating TCP proxy). The
//! movie service then fetches the JWKS and proxies logins over `https://`.

use std::path::PathBuf;
use std::time::Duration;

use portcullis_examples::testing::{
    ADMIN_PASSWORD, Process, Service, TempDir, TestCa, TlsFront, example_command, http_client,
    login, start_user_service,
};
use reqwest::StatusCode;
use serde_json::json;

fn start_movie_service(auth_addr: &str, extra: &[(&str, &str)]) -> Service {
    let mut command = example_command("movie_service");
    command
        .env("PORTCULLIS_PORT", "0")
        .env("PORTCULLIS_AUTH_ADDR", auth_addr);
    for (key, value) in extra {
        command.env(key, value);
    }
    Service::start("movie_service", command)
}

async fn proxied_login(client: &reqwest::Client, movies: &Service) -> (StatusCode, String) {
    let response = client
        .post(movies.url("/api/v1/login"))
        .form(&[("user", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .expect("send the proxied login");
    let status = response.status();
    let body: serde_json::Value = response.json().await.expect("a JSON answer");
    (
        status,
        body["token"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn add_movie(client: &reqwest::Client, movies: &Service, token: &str) -> StatusCode {
    client
        .post(movies.url("/api/v1/movies"))
        .bearer_auth(token)
        .json(&json!({"name": "Sintel", "url": "https://durian.blender.org/"}))
        .send()
        .await
        .expect("send the add")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_and_proxied_logins_go_over_https_to_a_trusted_private_ca_and_fail_closed_otherwise() {
    let ca = TestCa::new();
    let dir = TempDir::new("e2e-tls");
    let ca_file: PathBuf = dir.path().join("test-ca.pem");
    std::fs::write(&ca_file, ca.ca_pem()).unwrap();
    let users = start_user_service(0);
    let mut tls_front = TlsFront::bind(&ca).await;
    tls_front.forward_to(users.port);
    let front = tls_front.port();
    let client = http_client();

    // Trusted: the CA is in tlsRootCertificates. The login goes through the movie
    // service's proxy over HTTPS, and the token it returns is accepted on a write route,
    // which needs the JWKS fetched over HTTPS.
    for host in ["localhost", "127.0.0.1"] {
        let movies = start_movie_service(
            &format!("https://{host}:{front}"),
            &[(
                "PORTCULLIS_TLS_ROOT_CERTIFICATES",
                ca_file.to_str().unwrap(),
            )],
        );
        let (status, token) = proxied_login(&client, &movies).await;
        assert_eq!(status, StatusCode::OK, "login through {host}");
        assert!(!token.is_empty());
        assert_eq!(add_movie(&client, &movies, &token).await, StatusCode::OK);
    }

    // Untrusted: the same front, without the test CA. The proxied login fails closed with
    // 503, and a valid token from the IAM is refused: the keys cannot be fetched.
    let movies = start_movie_service(&format!("https://localhost:{front}"), &[]);
    let (status, _) = proxied_login(&client, &movies).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let token = login(
        &client,
        &users.url("/api/v1/admin/auth"),
        "admin",
        ADMIN_PASSWORD,
    )
    .await;
    let refused = add_movie(&client, &movies, &token).await;
    assert!(
        refused == StatusCode::UNAUTHORIZED || refused == StatusCode::SERVICE_UNAVAILABLE,
        "a token the service cannot verify got {refused}"
    );
}

/// Starts the movie service expecting it to refuse to start; returns its output.
fn refused_start(env: &[(&str, &str)]) -> String {
    let mut command = example_command("movie_service");
    command.env("PORTCULLIS_PORT", "0");
    for (key, value) in env {
        command.env(key, value);
    }
    let mut process = Process::spawn("movie_service", command);
    let code = process.wait_for_exit(Duration::from_secs(30));
    assert_ne!(code, Some(0), "{}", process.report());
    process.report()
}

#[test]
fn plain_http_off_loopback_and_unreadable_roots_stop_the_start() {
    // A routable address nobody answers on; the start must stop before any call.
    let output = refused_start(&[("PORTCULLIS_AUTH_ADDR", "http://192.0.2.10:8808")]);
    assert!(output.contains("allowInsecureHttp"), "{output}");

    let output = refused_start(&[(
        "PORTCULLIS_TLS_ROOT_CERTIFICATES",
        "/nonexistent/portcullis-ca.pem",
    )]);
    assert!(output.contains("tlsRootCertificates"), "{output}");
}

#[test]
fn allow_insecure_http_starts_with_a_loud_warning() {
    let mut command = example_command("movie_service");
    command
        .env("PORTCULLIS_PORT", "0")
        .env("PORTCULLIS_AUTH_ADDR", "http://192.0.2.10:8808")
        .env("PORTCULLIS_ALLOW_INSECURE_HTTP", "true")
        // The JWKS host never answers: keep the start-up fetch short.
        .env("PORTCULLIS_LOGIN_CALL_TIMEOUT_MS", "300");
    let mut movies = Service::start("movie_service", command);
    // stderr is read on its own thread: give it a bounded moment to catch up.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !movies.process.report().contains("INSECURE") {
        assert!(
            std::time::Instant::now() < deadline,
            "no INSECURE warning\n{}",
            movies.process.report()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    movies.kill();
}
