//! The default `https://` JWKS client (feature `rustls`): hyper and rustls on the `ring`
//! provider, trusting the platform's roots and any roots the builder was given.
//!
//! Not reqwest's TLS on purpose: reqwest's `rustls` feature builds aws-lc (a large C
//! build), and its `rustls-no-provider` feature would switch TLS on in every
//! `reqwest::Client` of the build (features unify), making those built without an installed
//! process-wide provider panic. This client names its provider, so it needs no process-wide
//! one and installs none.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use portcullis_response::trace_context::TRACEPARENT;
use rustls::pki_types::CertificateDer;
use rustls_platform_verifier::Verifier;

use crate::build_error::GuardBuildError;
use crate::client::{FetchError, Fetched, MAX_BODY_BYTES, max_age_of, traceparent};

/// Fetches over `https://` only, follows no redirect, and gives up after its timeout.
#[derive(Debug, Clone)]
pub(crate) struct TlsClient {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
}

impl TlsClient {
    /// A client whose every fetch (connection, handshake, body) ends within `timeout`,
    /// trusting the platform's roots and `extra_roots` (DER certificates).
    pub(crate) fn new(timeout: Duration, extra_roots: &[Vec<u8>]) -> Result<Self, GuardBuildError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = extra_roots
            .iter()
            .map(|der| CertificateDer::from(der.clone()))
            .collect::<Vec<_>>();
        let verifier =
            Verifier::new_with_extra_roots(roots, Arc::clone(&provider)).map_err(|e| match e {
                rustls::Error::InvalidCertificate(_)
                | rustls::Error::InvalidCertRevocationList(_) => {
                    GuardBuildError::InvalidRootCertificate { source: e.into() }
                }
                other => GuardBuildError::HttpClient {
                    source: other.into(),
                },
            })?;
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| GuardBuildError::HttpClient { source: e.into() })?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        })
    }

    pub(crate) async fn fetch(&self, url: &reqwest::Url) -> Result<Fetched, FetchError> {
        tokio::time::timeout(self.timeout, self.fetch_untimed(url))
            .await
            .map_err(|_| FetchError::TimedOut)?
    }

    async fn fetch_untimed(&self, url: &reqwest::Url) -> Result<Fetched, FetchError> {
        let request = http::Request::get(url.as_str())
            .header(http::header::ACCEPT, "application/json")
            .header(TRACEPARENT, traceparent())
            .body(Empty::new())
            .map_err(|e| FetchError::Transport(describe(&e)))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| FetchError::Transport(describe(&e)))?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status()));
        }
        let max_age = max_age_of(response.headers());
        let declared_length = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared_length.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
            return Err(FetchError::TooLarge);
        }
        let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<LengthLimitError>() {
                    FetchError::TooLarge
                } else {
                    FetchError::Transport(describe(&*e))
                }
            })?
            .to_bytes();
        Ok(Fetched {
            max_age,
            body: body.to_vec(),
        })
    }
}

/// An error with its causes ("client error (Connect): invalid peer certificate: …"), for
/// the log line.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A loopback server that answers any request in plain HTTP with a valid key set.
    async fn plain_http_server() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buffer = [0_u8; 1024];
                let _ = stream.read(&mut buffer).await;
                let body = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn builds_without_any_process_wide_crypto_provider() {
        assert!(rustls::crypto::CryptoProvider::get_default().is_none());
        TlsClient::new(Duration::from_secs(5), &[]).unwrap();
        assert!(rustls::crypto::CryptoProvider::get_default().is_none());
    }

    #[tokio::test]
    async fn speaks_tls_and_never_falls_back_to_plain_http() {
        let addr = plain_http_server().await;
        let client = TlsClient::new(Duration::from_secs(5), &[]).unwrap();
        let error = client
            .fetch(&format!("https://{addr}/jwks.json").parse().unwrap())
            .await
            .err()
            .expect("a plain-HTTP peer must fail the TLS handshake");
        assert!(matches!(error, FetchError::Transport(_)), "{error}");
    }

    #[tokio::test]
    async fn refuses_plain_http_urls() {
        let addr = plain_http_server().await;
        let client = TlsClient::new(Duration::from_secs(5), &[]).unwrap();
        let result = client
            .fetch(&format!("http://{addr}/jwks.json").parse().unwrap())
            .await;
        assert!(matches!(result, Err(FetchError::Transport(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepts and holds the connection without a word, so the handshake never ends.
        let holder = tokio::spawn(async move {
            let (_stream, _) = listener.accept().await.unwrap();
            std::future::pending::<()>().await;
        });
        let client = TlsClient::new(Duration::from_secs(5), &[]).unwrap();
        let result = client
            .fetch(&format!("https://{addr}/jwks.json").parse().unwrap())
            .await;
        assert!(matches!(result, Err(FetchError::TimedOut)));
        holder.abort();
    }
}
