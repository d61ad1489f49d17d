//! HTTP helpers for the end-to-end tests: a bounded client, the form login, the error
//! model's shape, raw requests for bodies a client library cannot send, and buffered
//! `http` requests for client libraries that bring no HTTP client of their own.

use std::io::Read;
use std::thread;
use std::time::Duration;

/// A reqwest client for the tests: loopback only, no proxy, bounded in time.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .no_proxy()
        .build()
        .expect("build the test HTTP client")
}

/// Sends an `http::Request` with a buffered body through `client` and returns the whole
/// answer as an `http::Response`: the transport that client libraries built on the `http`
/// types take as a function (the `oauth2` crate's `AsyncHttpClient` is implemented for
/// `Fn(http::Request<Vec<u8>>) -> Future<Output = Result<http::Response<Vec<u8>>, E>>`),
/// so that they run on this client instead of an HTTP stack of their own.
pub async fn send_buffered(
    client: &reqwest::Client,
    request: http::Request<Vec<u8>>,
) -> Result<http::Response<Vec<u8>>, reqwest::Error> {
    let response = client.execute(request.try_into()?).await?;
    let (status, version, headers) = (
        response.status(),
        response.version(),
        response.headers().clone(),
    );
    let mut answer = http::Response::new(response.bytes().await?.to_vec());
    *answer.status_mut() = status;
    *answer.version_mut() = version;
    *answer.headers_mut() = headers;
    Ok(answer)
}

/// Logs in at `login_url` with the form fields `user`/`password` and returns the token.
pub async fn login(
    client: &reqwest::Client,
    login_url: &str,
    user: &str,
    password: &str,
) -> String {
    let response = client
        .post(login_url)
        .form(&[("user", user), ("password", password)])
        .send()
        .await
        .expect("send the login request");
    let status = response.status();
    let body: serde_json::Value = response.json().await.expect("login answers JSON");
    assert_eq!(status, reqwest::StatusCode::OK, "login failed: {body}");
    body["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {body}"))
        .to_owned()
}

/// Asserts that `body` is the error model: exactly `{"code": <int>, "message": <string>}`.
pub fn assert_error_model(body: &serde_json::Value, context: &str) {
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("{context}: error body is not an object: {body}"));
    assert!(
        object.get("code").is_some_and(serde_json::Value::is_i64),
        "{context}: no integer code in {body}"
    );
    assert!(
        object
            .get("message")
            .is_some_and(serde_json::Value::is_string),
        "{context}: no string message in {body}"
    );
}

/// Sends one HTTP/1.1 request over a raw TCP connection and returns the status and body.
///
/// For bodies the server rejects before reading them (413): the server answers and
/// closes, and an HTTP client library fails on the broken pipe while still writing,
/// before it reads the answer. Here the body is written on its own thread, write errors
/// are ignored, and the answer is read regardless.
pub fn raw_request(
    base_url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    use std::io::Write;
    use std::net::TcpStream;

    let address = base_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connect for a raw request");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("set a read timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {address}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.extend([name, ": ", value, "\r\n"]);
    }
    head.push_str("\r\n");
    let mut writer = stream.try_clone().expect("clone the stream");
    let writing = thread::spawn(move || {
        // A server that answers early closes the connection: EPIPE/ECONNRESET here is
        // expected and harmless.
        let _ = writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(&body));
    });
    let mut response = Vec::new();
    let mut chunk = [0_u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                response.extend_from_slice(&chunk[..n]);
                if response_complete(&response) {
                    break;
                }
            }
            // A reset after the answer arrived: keep what was read.
            Err(error)
                if !response.is_empty() && error.kind() == std::io::ErrorKind::ConnectionReset =>
            {
                break;
            }
            Err(error) => panic!("read the raw response to {method} {path}: {error}"),
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = writing.join();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no complete response head: {:?}",
                String::from_utf8_lossy(&response)
            )
        });
    let status_line = String::from_utf8_lossy(&response[..split])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    (status, response[split + 4..].to_vec())
}

/// Whether `response` holds a whole head and as many body bytes as its content-length.
fn response_complete(response: &[u8]) -> bool {
    let Some(split) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok());
    length.is_some_and(|length| response.len() >= split + 4 + length)
}
