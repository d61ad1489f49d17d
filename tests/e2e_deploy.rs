//! End-to-end: what a container deployment relies on. A service bound to every interface
//! (`0.0.0.0`) answers through the wildcard bind, refuses to start without an
//! `advertiseUrl`, and with `consoleLogFormat=json` writes JSON lines on stdout whose
//! request lines carry the `x-request-id` the response returned.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::Duration;

use portcullis_examples::testing::{Process, Service, example_command, http_client};
use reqwest::StatusCode;

/// A non-loopback IPv4 address of this machine: the source address the kernel would use
/// for an outside destination (a UDP `connect` sends nothing).
fn non_loopback_ipv4() -> Option<Ipv4Addr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    match socket.local_addr().ok()?.ip() {
        IpAddr::V4(ip) if !ip.is_loopback() && !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_bound_to_every_interface_answers_through_the_wildcard_bind() {
    let mut command = example_command("user_service");
    command
        .env("PORTCULLIS_PORT", "0.0.0.0:0")
        .env("PORTCULLIS_ADVERTISE_URL", "http://user-service.test:8808")
        .env("PORTCULLIS_ADMIN_PASSWORD", "e2e-admin-password");
    let users = Service::start("user_service", command);
    assert!(
        users.base_url.starts_with("http://0.0.0.0:"),
        "bound to {}",
        users.base_url
    );
    let client = http_client();
    let mut hosts = vec![Ipv4Addr::LOCALHOST];
    match non_loopback_ipv4() {
        Some(ip) => hosts.push(ip),
        None => eprintln!(
            "skipped the non-loopback part: this machine has no non-loopback IPv4 address"
        ),
    }
    for host in hosts {
        let url = format!("http://{host}:{}/healthz", users.port);
        let response = client.get(&url).send().await.expect("GET /healthz");
        assert_eq!(response.status(), StatusCode::OK, "{url}");
    }
}

#[test]
fn a_wildcard_bind_without_advertise_url_stops_the_start() {
    for port in ["0.0.0.0:0", "[::]:0"] {
        let mut command = example_command("user_service");
        command.env("PORTCULLIS_PORT", port);
        let mut process = Process::spawn("user_service", command);
        let code = process.wait_for_exit(Duration::from_secs(30));
        let report = process.report();
        assert_ne!(code, Some(0), "{report}");
        assert!(report.contains("advertiseUrl"), "{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_console_logs_are_json_lines_on_stdout_carrying_the_request_id() {
    let mut command = example_command("movie_service");
    command
        .env("PORTCULLIS_PORT", "0")
        .env("PORTCULLIS_CONSOLE_LOG_FORMAT", "json");
    let mut movies = Service::start("movie_service", command);
    let response = http_client()
        .get(movies.url("/api/v1/movies/list"))
        .send()
        .await
        .expect("list movies");
    assert_eq!(response.status(), StatusCode::OK);
    let request_id = response
        .headers()
        .get("x-request-id")
        .expect("every response has an x-request-id")
        .to_str()
        .unwrap()
        .to_owned();

    let seen = RefCell::new(Vec::new());
    movies
        .process
        .wait_for_line("the request id", Duration::from_secs(10), |line| {
            seen.borrow_mut().push(line.to_owned());
            line.contains(&request_id)
        });
    let mut request_lines = 0;
    for line in seen.into_inner() {
        // The one line scripts wait for is not a log line.
        if line.starts_with("listening on http://") {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {line}"));
        assert!(
            value["timestamp"].is_string() && value["level"].is_string(),
            "{line}"
        );
        if line.contains(&request_id) {
            assert_eq!(value["span"]["request_id"], request_id.as_str(), "{line}");
            request_lines += 1;
        }
    }
    assert_eq!(request_lines, 1);
}
