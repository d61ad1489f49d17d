//! JWKS over HTTPS with a certificate made here: a test CA, a server certificate for
//! 127.0.0.1 and `localhost`, and a small TLS server (tokio-rustls on `ring`).
#![cfg(feature = "rustls")]

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::StatusCode;
use portcullis_resource_guard::jsonwebtoken::jwk::JwkSet;
use portcullis_resource_guard::jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use portcullis_resource_guard::{Guard, GuardBuildError};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A CA's certificate and a server certificate it signed, both DER.
struct TestPki {
    ca: CertificateDer<'static>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivatePkcs8KeyDer<'static>,
}

fn test_pki() -> TestPki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Portcullis test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

    let server_key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "jwks.test");
    let server = params.signed_by(&server_key, &ca).unwrap();
    TestPki {
        ca: ca.der().clone(),
        server_chain: vec![server.der().clone()],
        server_key: PrivatePkcs8KeyDer::from(server_key.serialize_der()),
    }
}

/// The request heads an HTTPS server read, as text.
type Heads = Arc<Mutex<Vec<String>>>;

/// An HTTPS server on 127.0.0.1 that answers every request with `set`; counts the
/// requests that completed a TLS handshake, and keeps their heads.
async fn https_jwks_server(pki: &TestPki, set: JwkSet) -> (SocketAddr, Arc<AtomicUsize>, Heads) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            pki.server_chain.clone(),
            PrivateKeyDer::Pkcs8(pki.server_key.clone_key()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&served);
    let heads = Heads::default();
    let recorded = Arc::clone(&heads);
    let body = serde_json::to_string(&set).unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let counter = Arc::clone(&counter);
            let recorded = Arc::clone(&recorded);
            let body = body.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let mut request = Vec::new();
                let mut buffer = [0_u8; 1024];
                while !request.ends_with(b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                recorded
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&request).into_owned());
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, served, heads)
}

fn token() -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("k1".to_owned());
    let key = EncodingKey::from_ed_pem(ED25519.as_bytes()).unwrap();
    encode(&header, &iam_claims(), &key).unwrap()
}

fn key_set() -> JwkSet {
    JwkSet {
        keys: vec![public_jwk(ED25519, Algorithm::EdDSA, "k1")],
    }
}

#[tokio::test]
async fn a_jwks_over_https_with_a_custom_root_is_trusted() {
    let pki = test_pki();
    let (addr, served, heads) = https_jwks_server(&pki, key_set()).await;
    for host in [addr.to_string(), format!("localhost:{}", addr.port())] {
        let guard = Guard::builder()
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .jwks_url(format!("https://{host}/.well-known/jwks.json"))
            .tls_root_certificate(pki.ca.to_vec())
            .build()
            .await
            .unwrap();
        let reply = call_with(&app(&guard), "/me", &token()).await;
        assert_eq!(reply.status, StatusCode::OK, "{host}: {}", reply.text());
        assert_eq!(reply.json()["name"], "ann");
    }
    assert!(served.load(Ordering::SeqCst) >= 2);
    // Each fetch carries a W3C traceparent (a new root trace each time).
    for head in heads.lock().unwrap().iter() {
        let traceparent = head
            .lines()
            .find_map(|line| line.strip_prefix("traceparent: "))
            .unwrap_or_else(|| panic!("no traceparent in {head:?}"));
        assert!(
            portcullis_response::TraceContext::parse(traceparent.as_bytes()).is_some(),
            "{traceparent}"
        );
    }
}

#[tokio::test]
async fn an_untrusted_certificate_fails_closed() {
    let pki = test_pki();
    let (addr, served, _) = https_jwks_server(&pki, key_set()).await;
    // Trusts another CA, not the one that signed the server's certificate.
    let other = test_pki();
    for roots in [vec![], vec![other.ca.to_vec()]] {
        let mut builder = Guard::builder()
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .jwks_url(format!("https://{addr}/.well-known/jwks.json"));
        for root in roots {
            builder = builder.tls_root_certificate(root);
        }
        let guard = builder.build().await.unwrap();
        // No key could ever be loaded: 503 with Retry-After, never an accepted token.
        let reply = call_with(&app(&guard), "/me", &token()).await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.text()
        );
        assert!(reply.headers.contains_key(http::header::RETRY_AFTER));
        assert_eq!(reply.error().code, 1011);
    }
    assert_eq!(served.load(Ordering::SeqCst), 0, "no handshake may succeed");
}

#[tokio::test]
async fn a_root_that_is_not_a_certificate_is_a_build_error() {
    let error = Guard::builder()
        .issuer(ISSUER)
        .jwks_url("https://127.0.0.1:1/.well-known/jwks.json")
        .tls_root_certificate(b"not a certificate".to_vec())
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(error, GuardBuildError::InvalidRootCertificate { .. }),
        "{error:?}"
    );
}
