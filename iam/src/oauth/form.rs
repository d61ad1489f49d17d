//! The form body of the OAuth endpoints (RFC 6749 appendix B), read strictly: form
//! encoding only, no parameter twice, empty values as absent.

use std::collections::HashMap;

use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, header};

use super::errors::OAuthError;

/// The largest form body accepted: far above any real token request.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// The parameters of one request. `Debug` shows the names only: values hold secrets.
pub(crate) struct OAuthForm {
    fields: HashMap<String, String>,
}

impl std::fmt::Debug for OAuthForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.fields.keys()).finish()
    }
}

impl OAuthForm {
    /// The value of `name`, if given (and not empty).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// The value of `name`, or `invalid_request` naming it.
    pub(crate) fn require(&self, name: &str, missing: &'static str) -> Result<&str, OAuthError> {
        self.get(name).ok_or(OAuthError::InvalidRequest(missing))
    }

    /// Parses `application/x-www-form-urlencoded` bytes. RFC 6749 section 3.1: parameters
    /// without a value count as omitted, and none may appear twice.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut fields = HashMap::new();
        for (name, value) in form_urlencoded::parse(body) {
            if value.is_empty() {
                continue;
            }
            if fields
                .insert(name.into_owned(), value.into_owned())
                .is_some()
            {
                return Err(OAuthError::InvalidRequest(
                    "a parameter was given more than once",
                ));
            }
        }
        Ok(Self { fields })
    }
}

/// Splits `request` into its headers and its form. Anything but a form body is
/// `invalid_request` (RFC 6749 section 3.2: the token endpoint takes
/// `application/x-www-form-urlencoded`).
pub(crate) async fn read_form(request: Request) -> Result<(HeaderMap, OAuthForm), OAuthError> {
    let (parts, body) = request.into_parts();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(OAuthError::InvalidRequest(
            "send the parameters as application/x-www-form-urlencoded",
        ));
    }
    let bytes = to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| OAuthError::InvalidRequest("the body is too large or unreadable"))?;
    Ok((parts.headers, OAuthForm::parse(&bytes)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_ignored() {
        assert!(matches!(
            OAuthForm::parse(b"grant_type=a&grant_type=b"),
            Err(OAuthError::InvalidRequest(_))
        ));
        let form = OAuthForm::parse(b"scope=&grant_type=client_credentials&scope=a+b").unwrap();
        assert_eq!(form.get("scope"), Some("a b"));
        assert_eq!(form.get("grant_type"), Some("client_credentials"));
    }

    #[test]
    fn debug_shows_names_not_values() {
        let form = OAuthForm::parse(b"client_secret=hunter2").unwrap();
        assert!(!format!("{form:?}").contains("hunter2"));
    }
}
