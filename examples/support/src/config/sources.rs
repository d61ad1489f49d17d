//! Where configuration values come from besides the file: `PORTCULLIS_*` variables (as
//! figment keys), raw secrets, and the parsing helpers the keys share.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use figment::providers::Env;
use serde::{Deserialize, Deserializer};

use super::{ConfigError, Secret};

/// The prefix of every configuration variable.
pub(super) const ENV_PREFIX: &str = "PORTCULLIS_";

/// Keys whose values are secrets: never parsed by figment (a password may look like a
/// TOML array) and never printed.
pub(super) const SECRET_KEYS: [&str; 5] = [
    "jwtSecretPassword",
    "mgDbPassword",
    "adminPassword",
    "bootstrapClientSecret",
    "oauthHashKey",
];

/// `PORTCULLIS_MG_DB_NAME=x` becomes `mgDbName = x`; secrets and the non-key variables are
/// left out (they are read raw).
pub(super) fn env_provider() -> Env {
    Env::prefixed(ENV_PREFIX)
        .filter_map(|key| {
            let name = camel_case(key.as_str());
            let secret = SECRET_KEYS
                .iter()
                .any(|s| name == *s || name == format!("{s}File"));
            (!secret && name != "config").then(|| name.into())
        })
        // Last: figment's `filter_map` turns lowercasing back on, which would undo the
        // camelCase.
        .lowercase(false)
}

/// `MG_DB_NAME` -> `mgDbName`.
pub(super) fn camel_case(upper_snake: &str) -> String {
    let mut out = String::with_capacity(upper_snake.len());
    for (i, word) in upper_snake.split('_').filter(|w| !w.is_empty()).enumerate() {
        let lower = word.to_ascii_lowercase();
        if i == 0 {
            out.push_str(&lower);
        } else {
            let mut chars = lower.chars();
            if let Some(first) = chars.next() {
                out.push(first.to_ascii_uppercase());
                out.push_str(chars.as_str());
            }
        }
    }
    out
}

/// A secret `key` (`"ADMIN_PASSWORD"`): `PORTCULLIS_<KEY>`, else the contents of the file
/// named by `PORTCULLIS_<KEY>_FILE`, else `from_file` (the config file's value). An empty
/// value means "not set", as in the original project's files.
pub(super) fn secret(
    var: &dyn Fn(&str) -> Option<String>,
    key: &str,
    from_file: Option<Secret>,
) -> Result<Option<Secret>, ConfigError> {
    let value = if let Some(value) = var(&format!("{ENV_PREFIX}{key}")) {
        Some(Secret::new(value))
    } else if let Some(path) = var(&format!("{ENV_PREFIX}{key}_FILE")) {
        let path = PathBuf::from(path);
        match std::fs::read_to_string(&path) {
            // A trailing newline is an editor's, not part of the secret.
            Ok(value) => Some(Secret::new(value.trim_end_matches(['\r', '\n']))),
            Err(source) => return Err(ConfigError::SecretFile { path, source }),
        }
    } else {
        from_file
    };
    Ok(value.filter(|s| !s.expose().is_empty()))
}

/// `config/<service>.json` in the working directory, else the copy shipped in this
/// repository (so `cargo run --example` works from any directory of the checkout).
pub(super) fn default_file(service: &str) -> Option<PathBuf> {
    let name = format!("config/{service}.json");
    let local = PathBuf::from(&name);
    if local.is_file() {
        return Some(local);
    }
    // This crate sits at `examples/support/` of the repository.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(name);
    // Canonical, so the start-up log names `<repository>/config/...` plainly.
    shipped.canonicalize().ok().filter(|path| path.is_file())
}

/// Parses `":8808"`, `"8808"`, `"127.0.0.1:8808"` or `"[::1]:8808"`; a bare port means
/// 127.0.0.1.
pub fn parse_listen_addr(port: &str) -> Result<SocketAddr, ConfigError> {
    let trimmed = port.trim();
    let invalid = || ConfigError::Port(port.to_owned());
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    if let Some(number) = trimmed.strip_prefix(':') {
        return number
            .parse()
            .map(|p| SocketAddr::new(localhost, p))
            .map_err(|_| invalid());
    }
    if let Ok(number) = trimmed.parse::<u16>() {
        return Ok(SocketAddr::new(localhost, number));
    }
    trimmed.parse().map_err(|_| invalid())
}

/// Accepts `"8808"` as well as `8808` (environment values that look like numbers arrive as
/// numbers).
pub(super) fn string_or_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Unsigned(u64),
        Signed(i64),
        Float(f64),
        Flag(bool),
    }
    Ok(match Raw::deserialize(deserializer)? {
        Raw::Text(s) => s,
        Raw::Unsigned(n) => n.to_string(),
        Raw::Signed(n) => n.to_string(),
        Raw::Float(n) => n.to_string(),
        Raw::Flag(b) => b.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_snake_keys_become_camel_case() {
        assert_eq!(camel_case("MG_DB_NAME"), "mgDbName");
        assert_eq!(camel_case("PORT"), "port");
        assert_eq!(camel_case("ENABLE_GIN_FILE_LOG"), "enableGinFileLog");
    }

    #[test]
    fn port_accepts_the_three_forms_of_the_original_files() {
        assert_eq!(
            parse_listen_addr(":8808").unwrap().to_string(),
            "127.0.0.1:8808"
        );
        assert_eq!(
            parse_listen_addr("8809").unwrap().to_string(),
            "127.0.0.1:8809"
        );
        assert_eq!(
            parse_listen_addr("0.0.0.0:1").unwrap().to_string(),
            "0.0.0.0:1"
        );
        assert!(parse_listen_addr("eighty").is_err());
    }
}
