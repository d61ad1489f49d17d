//! `https://` in front of a plain-HTTP service: a [`TestCa`] (a CA made for the run and a
//! server certificate for `127.0.0.1` and `localhost` it signed) and a [`TlsFront`], a
//! TLS-terminating TCP proxy on a loopback port, both on rustls with `ring`.
//!
//! For clients that insist on `https://`, as the `oauth2` crate does for revocation
//! (RFC 7009 section 2: "Clients MUST verify that the URL is an HTTPS URL"), and for
//! services whose public URL must be known before they start (an issuer): the front's port
//! is bound first, the service is told its URL, and the front then forwards to it.

use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A certificate authority made for one test, with a server certificate for `127.0.0.1`
/// and `localhost`; clients built by [`TestCa::http_client`] trust it and nothing else.
#[derive(Clone)]
pub struct TestCa {
    ca: CertificateDer<'static>,
    ca_pem: String,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    /// Makes a CA and a server certificate it signs (fresh keys each time).
    pub fn new() -> Self {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Portcullis e2e test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
            .expect("self-sign the CA");
        let server_key = KeyPair::generate().expect("server key");
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, "service.test");
        let server = params
            .signed_by(&server_key, &ca)
            .expect("sign the server certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("rustls protocol versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![server.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
            )
            .expect("the server certificate and key");
        Self {
            ca: ca.der().clone(),
            ca_pem: ca.pem(),
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        }
    }

    /// The CA certificate in PEM (for a service's `tlsRootCertificates` file).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A client like [`http_client`](super::http_client) (loopback, no proxy, bounded in
    /// time) that trusts this CA only.
    pub fn http_client(&self) -> reqwest::Client {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).expect("the test CA as a root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("rustls protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        reqwest::Client::builder()
            .use_preconfigured_tls(config)
            .timeout(Duration::from_secs(15))
            .no_proxy()
            .build()
            .expect("build the test HTTPS client")
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

/// A TLS front on a loopback port: bound by [`TlsFront::bind`], forwarding to a backend
/// once [`TlsFront::forward_to`] names it; stops when dropped. Needs a tokio runtime.
#[derive(Debug)]
pub struct TlsFront {
    port: u16,
    listener: Option<TcpListener>,
    ca: TestCa,
    task: Option<JoinHandle<()>>,
}

impl TlsFront {
    /// Binds `127.0.0.1:0`, presenting `ca`'s server certificate.
    pub async fn bind(ca: &TestCa) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the TLS front");
        let port = listener.local_addr().expect("the front's address").port();
        Self {
            port,
            listener: Some(listener),
            ca: ca.clone(),
            task: None,
        }
    }

    /// `https://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts forwarding each connection, after the TLS handshake, to
    /// `127.0.0.1:backend_port`. Panics when called twice.
    pub fn forward_to(&mut self, backend_port: u16) {
        let listener = self.listener.take().expect("forward_to is called once");
        let acceptor = self.ca.acceptor.clone();
        self.task = Some(tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that does not trust the certificate ends here.
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let Ok(mut backend) = TcpStream::connect(("127.0.0.1", backend_port)).await
                    else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut backend).await;
                });
            }
        }));
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
