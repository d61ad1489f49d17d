//! Client authentication at the token, revocation and introspection endpoints: RFC 6749
//! section 2.3.1, `client_secret_basic` and `client_secret_post`.

use std::net::IpAddr;

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::errors::OAuthError;
use super::form::OAuthForm;
use super::store::OAuthClient;
use crate::iam::Iam;
use crate::throttle::Reservation;

/// Longest client id accepted, in characters.
pub(crate) const MAX_CLIENT_ID_CHARS: usize = 64;

/// Whether `id` is a well-formed client id: 1 to 64 of `A-Z a-z 0-9 . _ ~ -` (the URL
/// "unreserved" set, so ids need no encoding anywhere and cannot forge a log line).
pub(crate) fn is_valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CLIENT_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
}

/// The credentials a request presented. `Debug` never shows the secret.
pub(crate) struct Presented {
    pub(crate) id: String,
    secret: String,
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presented")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The credentials of a request: from `Authorization: Basic` (`client_secret_basic`) or
/// the form's `client_id` and `client_secret` (`client_secret_post`).
///
/// RFC 6749 section 2.3: a client uses one method per request, so both at once is
/// `invalid_request`; none at all is `invalid_client`.
pub(crate) fn presented(headers: &HeaderMap, form: &OAuthForm) -> Result<Presented, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .map(|value| parse_basic(value.as_bytes()))
        .transpose()?;
    match (basic, form.get("client_secret")) {
        (Some(_), Some(_)) => Err(OAuthError::InvalidRequest(
            "use one client authentication method, not both",
        )),
        (Some(basic), None) => {
            // A client_id in the body beside Basic must name the same client.
            if form.get("client_id").is_some_and(|id| id != basic.id) {
                return Err(OAuthError::InvalidRequest(
                    "client_id differs from the authenticated client",
                ));
            }
            Ok(basic)
        }
        (None, Some(secret)) => match form.get("client_id") {
            Some(id) => Ok(Presented {
                id: id.to_owned(),
                secret: secret.to_owned(),
            }),
            None => Err(OAuthError::InvalidRequest(
                "client_secret was given without client_id",
            )),
        },
        (None, None) => Err(OAuthError::InvalidClient),
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`: RFC 6749 section 2.3.1 encodes
/// both parts with the form encoding before RFC 7617's Basic scheme.
fn parse_basic(value: &[u8]) -> Result<Presented, OAuthError> {
    let value = std::str::from_utf8(value).map_err(|_| OAuthError::InvalidClient)?;
    let (scheme, encoded) = value
        .trim()
        .split_once(' ')
        .ok_or(OAuthError::InvalidClient)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::InvalidClient);
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| OAuthError::InvalidClient)?;
    let decoded = String::from_utf8(decoded).map_err(|_| OAuthError::InvalidClient)?;
    let (id, secret) = decoded.split_once(':').ok_or(OAuthError::InvalidClient)?;
    let unescape = |part: &str| -> String {
        form_urlencoded::parse(format!("v={part}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Presented {
        id: unescape(id),
        secret: unescape(secret),
    })
}

impl Iam {
    /// Authenticates the client of a request, counting failures per client id and per
    /// `address` like failed logins. An unknown client, a wrong secret and a disabled
    /// client all answer `invalid_client` after the same work: the presented secret is
    /// hashed and compared even when no client has that id.
    pub(crate) async fn authenticate_client(
        &self,
        headers: &HeaderMap,
        form: &OAuthForm,
        address: Option<IpAddr>,
    ) -> Result<OAuthClient, OAuthError> {
        self.begin_client_authentication(headers, form, address)
            .await?
            .finish()
            .await
    }

    /// The first half of [`authenticate_client`](Self::authenticate_client): reads the
    /// credentials and takes the throttle's reservation (a throttled client is refused
    /// here, before any store round trip). The token endpoint runs a grant's own lookup
    /// beside [`ClientAttempt::finish`].
    pub(crate) async fn begin_client_authentication(
        &self,
        headers: &HeaderMap,
        form: &OAuthForm,
        address: Option<IpAddr>,
    ) -> Result<ClientAttempt<'_>, OAuthError> {
        let presented = presented(headers, form)?;
        let well_formed = is_valid_client_id(&presented.id);
        // A malformed id is counted under one shared key, never logged or looked up.
        let throttle_key = if well_formed {
            presented.id.as_str()
        } else {
            "\u{0}malformed"
        };
        let reservation = self
            .inner
            .oauth
            .client_throttle
            .reserve(throttle_key, address)
            .await
            .map_err(OAuthError::Throttled)?;
        Ok(ClientAttempt {
            iam: self,
            presented,
            well_formed,
            reservation,
        })
    }
}

/// A client authentication under way: credentials read, throttle reservation held.
pub(crate) struct ClientAttempt<'a> {
    iam: &'a Iam,
    presented: Presented,
    well_formed: bool,
    reservation: Reservation,
}

impl ClientAttempt<'_> {
    /// Looks the client up and checks its secret; a failure counts against the client id
    /// and the address.
    pub(crate) async fn finish(self) -> Result<OAuthClient, OAuthError> {
        let Self {
            iam,
            presented,
            well_formed,
            reservation,
        } = self;
        let oauth = &iam.inner.oauth;
        let found = if well_formed {
            oauth.store.get_client(&presented.id).await?
        } else {
            None
        };
        let secret_matches = oauth.secrets.verify_client_secret(
            &presented.id,
            &presented.secret,
            found.as_ref().map(|c| c.secret_hash.as_str()),
        );
        match found {
            Some(client) if secret_matches && !client.disabled => {
                drop(reservation);
                Ok(client)
            }
            _ => {
                reservation.failed();
                if well_formed {
                    tracing::info!(client_id = %presented.id, "client authentication failed");
                } else {
                    tracing::info!("client authentication failed: malformed client id");
                }
                Err(OAuthError::InvalidClient)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(id: &str, secret: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    fn form(body: &str) -> OAuthForm {
        OAuthForm::parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let presented = presented(&basic("my%20app", "a%3Ab+c"), &form("")).unwrap();
        assert_eq!(presented.id, "my app");
        assert_eq!(presented.secret, "a:b c");
    }

    #[test]
    fn two_methods_at_once_are_an_invalid_request() {
        let result = presented(&basic("app", "s"), &form("client_id=app&client_secret=s"));
        assert!(matches!(result, Err(OAuthError::InvalidRequest(_))));
    }

    #[test]
    fn no_credentials_are_an_invalid_client() {
        assert!(matches!(
            presented(&HeaderMap::new(), &form("client_id=app")),
            Err(OAuthError::InvalidClient)
        ));
    }

    #[test]
    fn client_ids_are_unreserved_characters_only() {
        assert!(is_valid_client_id("movies-cli_v1.0~x"));
        for bad in ["", "a b", "a\nb", "a:b", &"x".repeat(65)] {
            assert!(!is_valid_client_id(bad), "{bad:?}");
        }
    }
}
