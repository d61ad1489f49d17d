//! End-to-end: on SIGTERM a service stops taking connections but finishes the requests in
//! flight, then exits 0.
//!
//! The user service runs from its example binary. A login is sent by hand over TCP with
//! `Expect: 100-continue`: hyper answers `100 Continue` only when the handler starts
//! reading the body, so its arrival proves the request is inside the service (not merely
//! queued in the kernel) before the signal goes out. The body is then held back half sent
//! until the signal has visibly taken effect (new connections refused, the process still
//! running), so the request is in flight for the whole shutdown; no step depends on timing.

#![cfg(unix)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use portcullis_examples::testing::{ADMIN_PASSWORD, start_user_service};
use serde_json::Value;

/// Bound on each wait: a hung service fails the test instead of hanging it.
const BOUND: Duration = Duration::from_secs(15);

/// Reads from `stream` until `buffer` holds a whole response head (and, with
/// `content-length`, its body); returns the head's length including the blank line.
fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> usize {
    let mut chunk = [0_u8; 4096];
    loop {
        if let Some(split) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..split]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().expect("a content-length"));
            if buffer.len() >= split + 4 + length {
                return split + 4;
            }
        }
        let n = stream.read(&mut chunk).unwrap_or_else(|error| {
            panic!(
                "read a response: {error}; so far {:?}",
                String::from_utf8_lossy(buffer)
            )
        });
        assert!(
            n > 0,
            "the connection closed before a whole response: {:?}",
            String::from_utf8_lossy(buffer)
        );
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// Sends SIGTERM to `pid` with kill(1) (the tests have no libc binding, and need none).
fn sigterm(pid: u32) {
    let status = Command::new("kill")
        .args(["-s", "TERM", &pid.to_string()])
        .status()
        .expect("run kill(1)");
    assert!(status.success(), "kill -s TERM {pid}: {status}");
}

#[test]
fn sigterm_refuses_new_connections_finishes_the_request_in_flight_and_exits_0() {
    let mut service = start_user_service(0);
    let address = service.base_url.trim_start_matches("http://").to_owned();

    // 1. A login whose body is announced but not sent: the handler waits for it.
    let body = format!("user=admin&password={ADMIN_PASSWORD}");
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(&address).expect("connect to the user service");
    stream
        .set_read_timeout(Some(BOUND))
        .expect("a read timeout");
    write!(
        stream,
        "POST /api/v1/admin/auth HTTP/1.1\r\nhost: {address}\r\n\
         content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\
         expect: 100-continue\r\n\r\n",
        body.len()
    )
    .expect("send the request head");

    // 2. `100 Continue`: the handler is running and reading the body. Half of it goes.
    let mut buffer = Vec::new();
    let head_len = read_response(&mut stream, &mut buffer);
    let interim = String::from_utf8_lossy(&buffer[..head_len]).into_owned();
    assert!(
        interim.starts_with("HTTP/1.1 100"),
        "expected 100 Continue, got {interim:?}"
    );
    buffer.drain(..head_len);
    assert!(
        buffer.is_empty(),
        "nothing but 100 Continue yet: {buffer:?}"
    );
    stream
        .write_all(first.as_bytes())
        .expect("send half the body");

    // 3. SIGTERM while the request is in flight.
    sigterm(service.process.id());

    // 4. The signal takes effect: the listener closes, so connecting is refused. (Until
    //    then a connection may still be accepted; it is idle and closed by the shutdown.
    //    One caught in the listen backlog as the listener closes is reset by the kernel:
    //    not accepted either, so the next attempt tells.)
    let deadline = Instant::now() + BOUND;
    loop {
        match TcpStream::connect(&address) {
            Err(error) if error.kind() == ErrorKind::ConnectionRefused => break,
            Err(error) if error.kind() == ErrorKind::ConnectionReset => {
                assert!(Instant::now() < deadline, "connect after SIGTERM: {error}");
                thread::sleep(Duration::from_millis(10));
            }
            Err(error) => panic!("connect after SIGTERM: {error}"),
            Ok(_) => {
                assert!(
                    Instant::now() < deadline,
                    "new connections still accepted {BOUND:?} after SIGTERM\n{}",
                    service.process.report()
                );
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
    // The process waits for the request: it is alive, and has answered nothing yet.
    assert!(
        service.process.is_running(),
        "exited with a request in flight\n{}",
        service.process.report()
    );
    stream.set_nonblocking(true).expect("non-blocking");
    let mut probe = [0_u8; 1];
    match stream.read(&mut probe) {
        Err(error) if error.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the in-flight request was answered or closed early: {other:?}"),
    }
    stream.set_nonblocking(false).expect("blocking");

    // 5. The rest of the body: a complete, correct answer, then the connection closes.
    stream
        .write_all(rest.as_bytes())
        .expect("send the rest of the body after SIGTERM");
    let head_len = read_response(&mut stream, &mut buffer);
    let head = String::from_utf8_lossy(&buffer[..head_len]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "login answered {head:?}");
    let reply: Value = serde_json::from_slice(&buffer[head_len..]).unwrap_or_else(|error| {
        panic!(
            "not a whole JSON body ({error}): {:?}",
            String::from_utf8_lossy(&buffer)
        )
    });
    assert_eq!(reply["tokenType"], "Bearer", "{reply}");
    let token = reply["token"].as_str().expect("a token");
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let mut after = Vec::new();
    stream
        .read_to_end(&mut after)
        .expect("the server closes the connection");
    assert!(after.is_empty(), "nothing after the response: {after:?}");

    // 6. With nothing in flight the process exits, successfully, having logged why.
    assert_eq!(service.process.wait_for_exit(BOUND), Some(0));
    let report = service.process.report();
    assert!(
        report.contains("shutting down") && report.contains("stopped"),
        "the shutdown is logged\n{report}"
    );
}
