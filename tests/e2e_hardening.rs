//! End-to-end: the hardening of the login path and of the services' connections, between
//! real processes on loopback.
//!
//! - A name locked out at the IAM (429) does not open the movie service's login breaker:
//!   other users still log in through the proxy.
//! - The proxy passes on the IAM's `Retry-After` with its 429 and its 503.
//! - The proxy forwards the client's address (`X-Forwarded-For`), so with the proxy among
//!   the IAM's `trustedProxies` an attacker on 127.0.0.2 is throttled and a victim on
//!   127.0.0.3 is not; an invalid `trustedProxies` entry stops the IAM at start-up.
//! - The proxy and the IAM take the form as `multipart/form-data` too (`curl -F`).
//! - Connection limits: a slow-header client and a silent one are cut off; at the
//!   connection cap a new client waits until a connection closes.
//!
//! Every wait is bounded; a service that hangs fails the test.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use portcullis_examples::testing::{
    ADMIN_PASSWORD, Process, Service, Stack, example_command, http_client, login, raw_request,
    start_movie_service,
};
use serde_json::Value;

/// How many failed logins one name is allowed (the IAM's default throttle).
const NAME_BUDGET: usize = 5;
/// How many failed logins one client address is allowed (the IAM's default throttle).
const ADDRESS_BUDGET: usize = 20;

/// A client whose connections come from `source` (a loopback address such as 127.0.0.2).
fn client_from(source: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(source))
        .timeout(Duration::from_secs(15))
        .no_proxy()
        .build()
        .expect("build a client bound to a source address")
}

/// A failed or successful form login at `url`: status, `Retry-After`, body.
async fn try_login(
    client: &reqwest::Client,
    url: &str,
    user: &str,
    password: &str,
) -> (StatusCode, Option<String>, Value) {
    let response = client
        .post(url)
        .form(&[("user", user), ("password", password)])
        .send()
        .await
        .expect("send a login");
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .map(|v| v.to_str().expect("an ASCII Retry-After").to_owned());
    let body = response.json().await.expect("a JSON body");
    (status, retry_after, body)
}

/// The user service with extra environment variables.
fn start_user_service_with(env: &[(&str, &str)]) -> Service {
    let mut command = example_command("user_service");
    command
        .env("PORTCULLIS_PORT", "0")
        .env("PORTCULLIS_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .envs(env.iter().copied());
    Service::start("user_service", command)
}

#[tokio::test]
async fn a_locked_out_name_leaves_the_login_breaker_closed_for_everyone_else() {
    let stack = Stack::start();
    let client = http_client();
    let proxy = stack.movies.url("/api/v1/login");

    // Five wrong passwords for one name: the IAM's answers pass through the proxy.
    for attempt in 1..=NAME_BUDGET {
        let (status, _, body) = try_login(&client, &proxy, "mallory", "wrong").await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}: {body}"
        );
    }
    // The name is locked: 429 with the IAM's Retry-After, then three more anonymous tries,
    // more than the breaker's 3 failures in a row if a 429 counted as one.
    for attempt in 0..4 {
        let (status, retry_after, body) = try_login(&client, &proxy, "mallory", "wrong").await;
        assert_eq!(
            status,
            StatusCode::TOO_MANY_REQUESTS,
            "try {attempt}: {body}"
        );
        let seconds: u64 = retry_after
            .unwrap_or_else(|| panic!("429 without Retry-After: {body}"))
            .parse()
            .expect("Retry-After in seconds");
        assert!(seconds >= 1, "Retry-After {seconds}");
    }
    // The breaker stayed closed: another user's login goes through at once.
    let token = login(&client, &proxy, "admin", ADMIN_PASSWORD).await;
    assert_eq!(token.split('.').count(), 3);
    let output = stack.movies.process.report();
    assert!(
        !output.contains("login breaker OPEN"),
        "the breaker opened:\n{output}"
    );
}

#[tokio::test]
async fn the_login_proxy_passes_on_the_iams_retry_after_with_its_503() {
    // An IAM that is up but cannot serve logins (its store is down): 503, Retry-After 7.
    let iam = axum::Router::new().route(
        "/api/v1/admin/auth",
        axum::routing::post(|| async {
            let mut response = (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"code":1011,"message":"User store unavailable"}"#,
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
            response
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the stand-in IAM");
    let iam_url = format!("http://{}", listener.local_addr().expect("its address"));
    let server = tokio::spawn(async move { axum::serve(listener, iam).await });
    let movies = start_movie_service(0, &iam_url, &[]);

    let (status, retry_after, body) = try_login(
        &http_client(),
        &movies.url("/api/v1/login"),
        "admin",
        "whatever",
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(retry_after.as_deref(), Some("7"), "{body}");
    assert_eq!(body["code"], 1011, "{body}");
    server.abort();
}

#[tokio::test]
async fn behind_the_login_proxy_the_attacker_is_throttled_and_the_victim_is_not() {
    // The IAM believes X-Forwarded-For from the movie service (on 127.0.0.1) only.
    let users = start_user_service_with(&[
        ("PORTCULLIS_TRUSTED_PROXIES", "127.0.0.1"),
        ("PORTCULLIS_FORWARDED_HOPS", "1"),
    ]);
    let movies = start_movie_service(0, &users.base_url, &[]);
    let proxy = movies.url("/api/v1/login");
    let attacker = client_from(Ipv4Addr::new(127, 0, 0, 2));
    let victim = client_from(Ipv4Addr::new(127, 0, 0, 3));

    // The attacker sprays names (so no name is locked) until its address is.
    for attempt in 1..=ADDRESS_BUDGET {
        let name = format!("guess-{attempt}");
        let (status, _, body) = try_login(&attacker, &proxy, &name, "wrong").await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}: {body}"
        );
    }
    let (status, retry_after, body) = try_login(&attacker, &proxy, "guess-x", "wrong").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(retry_after.is_some(), "429 without Retry-After: {body}");

    // The victim comes through the same proxy from another address: not throttled.
    let token = login(&victim, &proxy, "admin", ADMIN_PASSWORD).await;
    assert_eq!(token.split('.').count(), 3);
}

#[test]
fn an_invalid_trusted_proxy_entry_stops_the_iam_at_start_up() {
    let mut command = example_command("user_service");
    command
        .env("PORTCULLIS_PORT", "0")
        .env("PORTCULLIS_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/33");
    let mut process = Process::spawn("user_service", command);
    let code = process.wait_for_exit(Duration::from_secs(30));
    assert_ne!(code, Some(0), "{}", process.report());
    let report = process.report();
    assert!(
        report.contains("trustedProxies") && report.contains("10.0.0.0/33"),
        "the error names the key and the entry:\n{report}"
    );
}

/// A `multipart/form-data` body with the text fields `fields`.
fn multipart(fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    use std::fmt::Write as _;

    let boundary = "portcullis-e2e-boundary";
    let mut body = String::new();
    for (name, value) in fields {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
        .expect("writing to a String");
    }
    write!(body, "--{boundary}--\r\n").expect("writing to a String");
    (
        format!("multipart/form-data; boundary={boundary}"),
        body.into_bytes(),
    )
}

#[test]
fn a_multipart_login_works_at_the_iam_and_through_the_proxy() {
    let stack = Stack::start();
    let (content_type, body) = multipart(&[("user", "admin"), ("password", ADMIN_PASSWORD)]);
    for (base, path) in [
        (&stack.users.base_url, "/api/v1/admin/auth"),
        (&stack.movies.base_url, "/api/v1/login"),
    ] {
        let (status, reply) = raw_request(
            base,
            "POST",
            path,
            &[("content-type", &content_type)],
            body.clone(),
        );
        let reply: Value = serde_json::from_slice(&reply).expect("a JSON reply");
        assert_eq!(status, 200, "{path}: {reply}");
        assert!(
            reply["token"]
                .as_str()
                .is_some_and(|t| t.split('.').count() == 3),
            "{path}: {reply}"
        );
    }
    // A wrong password sent as multipart is the IAM's 401, passed on as it was.
    let (content_type, body) = multipart(&[("user", "admin"), ("password", "wrong")]);
    let (status, _) = raw_request(
        &stack.movies.base_url,
        "POST",
        "/api/v1/login",
        &[("content-type", &content_type)],
        body,
    );
    assert_eq!(status, 401);
}

/// Reads from `stream` until the server closes it (EOF or reset), at most `bound`;
/// returns what was read.
fn read_until_closed(stream: &mut TcpStream, bound: Duration) -> Vec<u8> {
    stream
        .set_read_timeout(Some(bound))
        .expect("a read timeout");
    let mut read = Vec::new();
    let mut chunk = [0_u8; 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return read,
            Ok(n) => read.extend_from_slice(&chunk[..n]),
            Err(error) if error.kind() == ErrorKind::ConnectionReset => return read,
            Err(error) => panic!("the connection was not closed within {bound:?}: {error}"),
        }
    }
}

#[test]
fn a_slow_header_client_and_a_silent_one_are_cut_off() {
    let users = start_user_service_with(&[
        ("PORTCULLIS_HEADER_READ_TIMEOUT_SECS", "1"),
        ("PORTCULLIS_IDLE_TIMEOUT_SECS", "2"),
    ]);
    let address = users.addr();

    // One header line every 300 ms: still sending after 1 s, so the head timeout ends it.
    let mut slow = TcpStream::connect(address).expect("connect");
    slow.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("a read timeout");
    let started = Instant::now();
    write!(slow, "GET /healthz HTTP/1.1\r\nhost: {address}\r\n").expect("the request line");
    let mut closed = false;
    for line in 0..30 {
        // Paces the writes, and notices the close as soon as it comes.
        // Bytes (a 408), EOF or a reset all mean the server gave up on the request.
        match slow.read(&mut [0_u8; 1024]) {
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            _ => {
                closed = true;
                break;
            }
        }
        if write!(slow, "x-slow-{line}: {line}\r\n").is_err() {
            closed = true;
            break;
        }
    }
    let elapsed = started.elapsed();
    assert!(closed, "a slow-header client was still connected after 9 s");
    assert!(
        elapsed < Duration::from_secs(5),
        "cut off only after {elapsed:?} (head timeout 1 s)"
    );

    // A client that sends nothing is closed after the idle timeout (2 s).
    let mut silent = TcpStream::connect(address).expect("connect");
    let started = Instant::now();
    let read = read_until_closed(&mut silent, Duration::from_secs(10));
    let elapsed = started.elapsed();
    assert!(read.is_empty(), "{:?}", String::from_utf8_lossy(&read));
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_secs(6),
        "a silent client was closed after {elapsed:?} (idle timeout 2 s)"
    );

    // A kept-alive connection idle between requests stays open past the head timeout.
    let mut kept = TcpStream::connect(address).expect("connect");
    get_healthz(&mut kept, &address.to_string());
    std::thread::sleep(Duration::from_millis(1300));
    get_healthz(&mut kept, &address.to_string());
}

/// One `GET /healthz` on a kept-alive connection; asserts a 200.
fn get_healthz(stream: &mut TcpStream, host: &str) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    write!(stream, "GET /healthz HTTP/1.1\r\nhost: {host}\r\n\r\n").expect("send a request");
    let mut response = Vec::new();
    let mut chunk = [0_u8; 1024];
    while !complete(&response) {
        let n = stream.read(&mut chunk).expect("read a response");
        assert!(n > 0, "closed before a response");
        response.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

/// Whether `response` holds a head and its content-length of body.
fn complete(response: &[u8]) -> bool {
    let Some(split) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse::<usize>().expect("a content-length"));
    response.len() >= split + 4 + length
}

#[test]
fn at_the_connection_cap_a_new_client_waits_until_a_connection_closes() {
    let users = start_user_service_with(&[("PORTCULLIS_MAX_CONNECTIONS", "2")]);
    let host = users.addr().to_string();
    let mut first = TcpStream::connect(users.addr()).expect("connect");
    let mut second = TcpStream::connect(users.addr()).expect("connect");
    get_healthz(&mut first, &host);
    get_healthz(&mut second, &host);

    // The third connects (the kernel's backlog) but is not served while both are open.
    let mut third = TcpStream::connect(users.addr()).expect("connect");
    write!(third, "GET /healthz HTTP/1.1\r\nhost: {host}\r\n\r\n").expect("send a request");
    third
        .set_read_timeout(Some(Duration::from_millis(700)))
        .expect("a read timeout");
    match third.read(&mut [0_u8; 1024]) {
        Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("a connection over the cap was served: {other:?}"),
    }
    // The existing clients are served meanwhile.
    get_healthz(&mut first, &host);
    get_healthz(&mut second, &host);

    // One closes: the waiting client is accepted and gets its answer.
    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    let mut response = Vec::new();
    let mut chunk = [0_u8; 1024];
    while !complete(&response) {
        let n = third
            .read(&mut chunk)
            .expect("the waiting client is served");
        assert!(n > 0, "closed before a response");
        response.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}
