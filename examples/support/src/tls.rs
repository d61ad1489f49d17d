//! HTTPS between services: the trusted roots (Mozilla's, plus `tlsRootCertificates`), the
//! reqwest client the services call each other with, and the rule that keeps plain
//! `http://` on loopback unless `allowInsecureHttp` says otherwise.
//!
//! Every client here names its crypto provider (rustls on `ring`) in its own
//! configuration, so no process-wide provider is installed or needed. The trusted roots are
//! Mozilla's bundle (`webpki-roots`) rather than the system store, so a `FROM scratch`
//! image with no `/etc/ssl` behaves like a workstation; private CAs come in through
//! `tlsRootCertificates`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Why the HTTPS settings cannot be used (a start-up error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// A `tlsRootCertificates` file could not be read or holds no PEM certificate.
    #[error("tlsRootCertificates: {path}: {reason}")]
    RootFile {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// A certificate was read but rustls refused it as a trust anchor.
    #[error("tlsRootCertificates: {path}: not a usable root certificate: {source}")]
    BadRoot {
        /// The file.
        path: PathBuf,
        /// rustls's reason.
        source: rustls::Error,
    },
    /// A plain `http://` URL to a host that is not loopback, without `allowInsecureHttp`.
    #[error(
        "{what} {url} is plain http:// to a host that is not loopback; use https:// (with \
         tlsRootCertificates for a private CA) or set allowInsecureHttp=true \
         (PORTCULLIS_ALLOW_INSECURE_HTTP=true) for a network you trust"
    )]
    InsecureHttp {
        /// Which setting named it (`"authAddr"`, `"--movies"`, ...).
        what: String,
        /// The URL.
        url: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTPS client: {0}")]
    Client(String),
}

/// Root certificates read from PEM files, in DER, ready for rustls and the guard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtraRoots(Vec<CertificateDer<'static>>);

impl ExtraRoots {
    /// Reads every certificate of every file in `paths` (PEM, one or more
    /// `BEGIN CERTIFICATE` blocks each). A file that is missing or holds no certificate is
    /// an error: a root the operator meant to trust must not be silently dropped.
    pub fn load(paths: &[PathBuf]) -> Result<Self, TlsConfigError> {
        let mut roots = Vec::new();
        for path in paths {
            let bad = |reason: String| TlsConfigError::RootFile {
                path: path.clone(),
                reason,
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(e.to_string()))?;
            if certs.is_empty() {
                return Err(bad("no PEM certificate in the file".to_owned()));
            }
            check_anchors(path, &certs)?;
            roots.extend(certs);
        }
        Ok(Self(roots))
    }

    /// The certificates, DER-encoded.
    pub fn iter(&self) -> impl Iterator<Item = &CertificateDer<'static>> {
        self.0.iter()
    }

    /// How many certificates were read.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no extra root is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn check_anchors(path: &Path, certs: &[CertificateDer<'static>]) -> Result<(), TlsConfigError> {
    let mut store = RootCertStore::empty();
    for cert in certs {
        store
            .add(cert.clone())
            .map_err(|source| TlsConfigError::BadRoot {
                path: path.to_owned(),
                source,
            })?;
    }
    Ok(())
}

/// A rustls client configuration on `ring` that trusts Mozilla's roots and `extra`.
pub fn client_config(extra: &ExtraRoots) -> Result<rustls::ClientConfig, TlsConfigError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in extra.iter() {
        // Already checked by `ExtraRoots::load`.
        roots
            .add(cert.clone())
            .map_err(|e| TlsConfigError::Client(e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsConfigError::Client(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A reqwest builder whose `https://` calls use [`client_config`]: the services build
/// every outgoing client from here, so none depends on a process-wide provider.
pub fn http_client_builder(extra: &ExtraRoots) -> Result<reqwest::ClientBuilder, TlsConfigError> {
    Ok(reqwest::Client::builder().use_preconfigured_tls(client_config(extra)?))
}

/// Refuses `url` when it is plain `http://` to a host that is not loopback, unless
/// `allow_insecure_http`; then it is allowed with a loud warning. `what` names the setting
/// in the error and the warning.
pub fn check_plain_http(
    what: &str,
    url: &str,
    allow_insecure_http: bool,
) -> Result<(), TlsConfigError> {
    let Ok(parsed) = url::Url::parse(url) else {
        // Not a URL: the client that uses it reports that with its own error.
        return Ok(());
    };
    if parsed.scheme() != "http" || is_loopback(parsed.host_str().unwrap_or_default()) {
        return Ok(());
    }
    if allow_insecure_http {
        tracing::warn!(
            setting = what,
            %url,
            "INSECURE: plain http:// off loopback (allowInsecureHttp=true); tokens and \
             passwords cross this network unencrypted"
        );
        Ok(())
    } else {
        Err(TlsConfigError::InsecureHttp {
            what: what.to_owned(),
            url: url.to_owned(),
        })
    }
}

/// `localhost`, 127.0.0.0/8 or `::1` (as a URL writes it, in brackets).
fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_off_loopback_unless_allowed() {
        for url in [
            "http://127.0.0.1:8808",
            "http://localhost:8808",
            "http://[::1]:8808",
            "https://iam.example:8808",
        ] {
            assert!(check_plain_http("authAddr", url, false).is_ok(), "{url}");
        }
        let refused = check_plain_http("authAddr", "http://iam:8808", false).unwrap_err();
        assert!(
            refused.to_string().contains("allowInsecureHttp"),
            "{refused}"
        );
        assert!(check_plain_http("authAddr", "http://10.0.0.5:8808", true).is_ok());
    }

    #[test]
    fn a_root_file_without_a_certificate_is_an_error() {
        let dir = std::env::temp_dir().join(format!("portcullis-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let missing = dir.join("missing.pem");
        for path in [empty, missing] {
            let error = ExtraRoots::load(std::slice::from_ref(&path)).unwrap_err();
            assert!(matches!(error, TlsConfigError::RootFile { .. }), "{error}");
        }
        assert!(ExtraRoots::load(&[]).unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
