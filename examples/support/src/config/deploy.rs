//! The deployment keys' types and checks: `consoleLogFormat`, `tlsRootCertificates`, the
//! rule that a wildcard bind needs an `advertiseUrl`, and what `otlpEndpoint` may be.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use super::{CommonConfig, ConfigError};

/// How console logs are written (`consoleLogFormat`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsoleLogFormat {
    /// Human-readable lines on stderr. The default.
    #[default]
    Text,
    /// One JSON object a line on stdout, the container convention; each request's lines
    /// carry its `request_id`.
    Json,
}

/// `["a.pem", "b.pem"]`, or one string with paths separated by commas (how an environment
/// variable gives a list: `PORTCULLIS_TLS_ROOT_CERTIFICATES=/ca/a.pem,/ca/b.pem`).
pub(super) fn path_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<PathBuf>, D::Error> {
    Ok(text_list(deserializer)?
        .into_iter()
        .map(PathBuf::from)
        .collect())
}

/// `["a", "b"]`, or one string with entries separated by commas
/// (`PORTCULLIS_REGISTRY_ADDRS=http://etcd-1:2379,http://etcd-2:2379`); entries trimmed,
/// empty ones dropped.
pub(super) fn text_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    let entries = match Raw::deserialize(deserializer)? {
        Raw::One(text) => text.split(',').map(str::to_owned).collect(),
        Raw::Many(entries) => entries,
    };
    Ok(entries
        .iter()
        .map(|entry| entry.trim())
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect())
}

/// A service bound to every interface (`0.0.0.0`, `[::]`) cannot tell others its own
/// address: it must be given one (`advertiseUrl`), an absolute `http(s)://` URL.
pub(super) fn check_advertise_url(
    addr: SocketAddr,
    advertise_url: &str,
) -> Result<(), ConfigError> {
    let advertise_url = advertise_url.trim();
    if advertise_url.is_empty() {
        return if addr.ip().is_unspecified() {
            Err(ConfigError::AdvertiseUrlMissing(addr))
        } else {
            Ok(())
        };
    }
    match url::Url::parse(advertise_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(()),
        _ => Err(ConfigError::AdvertiseUrl(advertise_url.to_owned())),
    }
}

/// `otlpEndpoint`, when set: an absolute `http(s)://` URL, plain `http://` only to loopback
/// unless `allowInsecureHttp` (the spans name routes and carry request ids), and only in a
/// build with the `otel` feature, so that a configured export is never silently skipped.
pub(super) fn check_otlp_endpoint(common: &CommonConfig) -> Result<(), ConfigError> {
    let Some(endpoint) = common.otlp_endpoint() else {
        return Ok(());
    };
    let error = |reason: &str| ConfigError::OtlpEndpoint {
        url: endpoint.to_owned(),
        reason: reason.to_owned(),
    };
    if !cfg!(feature = "otel") {
        return Err(error(
            "this build has no OpenTelemetry export; rebuild with the `otel` feature \
             (cargo build --features otel) or leave otlpEndpoint empty",
        ));
    }
    match url::Url::parse(endpoint) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
        _ => return Err(error("expected an absolute http:// or https:// URL")),
    }
    // An allowed insecure URL is warned about again once logging is up (`otel::init`).
    crate::tls::check_plain_http("otlpEndpoint", endpoint, common.allow_insecure_http)
        .map_err(|insecure| error(&insecure.to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::MovieServiceConfig;
    use super::*;

    fn load(name: &str, json: &str) -> Result<MovieServiceConfig, ConfigError> {
        let path = std::env::temp_dir().join(format!("portcullis-{}-{name}", std::process::id()));
        std::fs::write(&path, json).unwrap();
        let file = path.to_string_lossy().into_owned();
        let loaded = MovieServiceConfig::load_from(&|key| {
            (key == "PORTCULLIS_CONFIG").then(|| file.clone())
        });
        std::fs::remove_file(path).unwrap();
        loaded
    }

    #[test]
    fn the_deployment_keys_load_from_a_file() {
        let config = load(
            "deploy.json",
            r#"{"port": "[::]:8809", "advertiseUrl": "http://movies-1:8809",
                "consoleLogFormat": "json", "tlsRootCertificates": "/ca/a.pem, /ca/b.pem",
                "allowInsecureHttp": true}"#,
        )
        .unwrap();
        assert_eq!(config.common.console_log_format, ConsoleLogFormat::Json);
        assert_eq!(
            config.common.tls_root_certificates,
            [PathBuf::from("/ca/a.pem"), PathBuf::from("/ca/b.pem")]
        );
        assert!(config.common.allow_insecure_http);

        let defaults = load("defaults.json", "{}").unwrap();
        assert_eq!(defaults.common.console_log_format, ConsoleLogFormat::Text);
        assert!(defaults.common.tls_root_certificates.is_empty());
        assert!(!defaults.common.allow_insecure_http);

        assert!(matches!(
            load("wildcard.json", r#"{"port": "0.0.0.0:8809"}"#),
            Err(ConfigError::AdvertiseUrlMissing(_))
        ));
        assert!(load("format.json", r#"{"consoleLogFormat": "xml"}"#).is_err());
    }

    #[test]
    fn an_otlp_endpoint_must_be_a_usable_url_in_a_build_that_exports() {
        let local = load("otlp.json", r#"{"otlpEndpoint": "http://127.0.0.1:4318"}"#);
        if cfg!(feature = "otel") {
            assert_eq!(
                local.unwrap().common.otlp_endpoint(),
                Some("http://127.0.0.1:4318")
            );
            for bad in [
                "127.0.0.1:4318",
                "ftp://collector:4318",
                "http://collector:4318",
            ] {
                let json = format!(r#"{{"otlpEndpoint": "{bad}"}}"#);
                assert!(
                    matches!(
                        load("otlp-bad.json", &json),
                        Err(ConfigError::OtlpEndpoint { .. })
                    ),
                    "{bad}"
                );
            }
            let trusted = load(
                "otlp-trusted.json",
                r#"{"otlpEndpoint": "http://collector:4318", "allowInsecureHttp": true}"#,
            );
            assert!(trusted.is_ok());
            assert!(
                load(
                    "otlp-tls.json",
                    r#"{"otlpEndpoint": "https://collector:4318"}"#
                )
                .is_ok()
            );
        } else {
            let error = local.unwrap_err().to_string();
            assert!(error.contains("`otel` feature"), "{error}");
        }
        let off = load("otlp-off.json", r#"{"otlpEndpoint": " "}"#).unwrap();
        assert_eq!(off.common.otlp_endpoint(), None);
    }

    #[test]
    fn a_wildcard_bind_needs_an_absolute_advertise_url() {
        let any: SocketAddr = "0.0.0.0:8808".parse().unwrap();
        let any6: SocketAddr = "[::]:8808".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:8808".parse().unwrap();
        assert!(matches!(
            check_advertise_url(any, ""),
            Err(ConfigError::AdvertiseUrlMissing(_))
        ));
        assert!(check_advertise_url(any6, " ").is_err());
        assert!(check_advertise_url(local, "").is_ok());
        assert!(check_advertise_url(any, "http://user-service-1:8808").is_ok());
        assert!(matches!(
            check_advertise_url(any, "user-service-1:8808"),
            Err(ConfigError::AdvertiseUrl(_))
        ));
    }
}
