//! Scopes: RFC 6749 section 3.3 syntax, and narrowing to what a client or grant allows.

use super::errors::OAuthError;

/// Whether `token` is a scope token: `1*( %x21 / %x23-5B / %x5D-7E )` (RFC 6749 section
/// 3.3: printable ASCII without space, `"` and `\`).
pub(crate) fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// The scopes a request gets: the requested ones if every one of them is in `allowed`,
/// else `invalid_scope`; all of `allowed` when the request names none (RFC 6749 section
/// 3.3 lets the server apply a default).
pub(crate) fn grant(
    requested: Option<&str>,
    allowed: &[String],
) -> Result<Vec<String>, OAuthError> {
    let Some(requested) = requested else {
        return Ok(allowed.to_vec());
    };
    let mut granted: Vec<String> = Vec::new();
    for token in requested.split(' ').filter(|t| !t.is_empty()) {
        if !is_scope_token(token) || !allowed.iter().any(|a| a == token) {
            return Err(OAuthError::InvalidScope);
        }
        if !granted.iter().any(|g| g == token) {
            granted.push(token.to_owned());
        }
    }
    Ok(granted)
}

/// Scopes as the space-separated string tokens and responses carry.
pub(crate) fn join(scopes: &[String]) -> String {
    scopes.join(" ")
}

/// A space-separated scope string as a list.
pub(crate) fn split(scope: &str) -> Vec<String> {
    scope
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec!["read".into(), "write".into()]
    }

    #[test]
    fn no_request_grants_everything_allowed() {
        assert_eq!(grant(None, &allowed()).unwrap(), allowed());
    }

    #[test]
    fn a_request_is_narrowed_never_widened() {
        assert_eq!(grant(Some("write"), &allowed()).unwrap(), vec!["write"]);
        assert_eq!(grant(Some("read  read"), &allowed()).unwrap(), vec!["read"]);
        assert!(matches!(
            grant(Some("read admin"), &allowed()),
            Err(OAuthError::InvalidScope)
        ));
        assert!(matches!(
            grant(Some("re\"ad"), &["re\"ad".to_owned()]),
            Err(OAuthError::InvalidScope)
        ));
    }
}
