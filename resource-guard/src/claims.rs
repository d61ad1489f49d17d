//! [`Claims`], the verified claims of a token, and their strict parsing.

use std::any::Any;
use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};

use crate::error::{GuardError, TokenRejection};

/// The latest `exp`, `nbf` or `iat` accepted: 9999-12-31T23:59:59Z. Anything larger is
/// treated as malformed rather than as "never expires".
pub(crate) const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

/// The verified claims of a bearer token.
///
/// The registered claims are typed; `name`, `role` and `roles` are the ones the
/// Portcullis IAM issues; `extra` holds the application's own claims, deserialized from the same
/// payload with serde (`T = ()` ignores them).
///
/// As an axum extractor it reads what [`GuardLayer`](crate::GuardLayer) verified; on a
/// route without a verified token it rejects with `401` and `WWW-Authenticate: Bearer`.
/// `Option<Claims<T>>` is `None` instead (for [`Guard::optional_layer`](crate::Guard::optional_layer)).
///
/// ```
/// use portcullis_resource_guard::Claims;
/// use portcullis_response::{ApiResult, Message};
///
/// async fn add_movie(claims: Claims) -> ApiResult<Message> {
///     claims.require_role("admin")?;
///     Ok(Message::success())
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::post(add_movie);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claims<T = ()> {
    /// `sub`: the subject (the IAM's user id); empty when absent.
    pub sub: String,
    /// `name`: the user name; empty when absent.
    pub name: String,
    /// `role`: the single role of the original go-microservices tokens; empty when absent.
    pub role: String,
    /// `roles`: every role of the subject; empty when absent.
    pub roles: Vec<String>,
    /// `scope`: space-separated scopes (RFC 9068); empty when absent.
    pub scope: String,
    /// `iss`: the issuer, equal to the configured one.
    pub iss: String,
    /// `aud`: the audiences (a single string in the token becomes one entry).
    pub aud: Vec<String>,
    /// `exp`: expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// `iat`: issue time, seconds since the Unix epoch.
    pub iat: Option<u64>,
    /// `nbf`: start of validity, seconds since the Unix epoch.
    pub nbf: Option<u64>,
    /// `jti`: the token id.
    pub jti: Option<String>,
    /// The application's own claims.
    #[serde(flatten)]
    pub extra: T,
}

impl<T> Claims<T> {
    /// Whether the subject has `role` (in `role` or in `roles`).
    pub fn has_role(&self, role: &str) -> bool {
        self.role == role || self.roles.iter().any(|r| r == role)
    }

    /// `Ok` when the subject has `role`, else a `403 insufficient_scope` error.
    pub fn require_role(&self, role: &str) -> Result<(), GuardError> {
        if self.has_role(role) {
            Ok(())
        } else {
            Err(GuardError::InsufficientScope {
                kind: "role",
                required: role.to_owned(),
            })
        }
    }

    /// The scopes of the `scope` claim.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split_ascii_whitespace()
    }

    /// Whether `scope` is among the token's scopes.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// `Ok` when the token has `scope`, else a `403 insufficient_scope` error.
    pub fn require_scope(&self, scope: &str) -> Result<(), GuardError> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(GuardError::InsufficientScope {
                kind: "scope",
                required: scope.to_owned(),
            })
        }
    }

    fn with_extra<U>(self, extra: U) -> Claims<U> {
        Claims {
            sub: self.sub,
            name: self.name,
            role: self.role,
            roles: self.roles,
            scope: self.scope,
            iss: self.iss,
            aud: self.aud,
            exp: self.exp,
            iat: self.iat,
            nbf: self.nbf,
            jti: self.jti,
            extra,
        }
    }
}

/// A verified token as kept in the cache and in request extensions.
#[derive(Debug)]
pub(crate) struct Verified {
    pub(crate) claims: Claims<()>,
    /// The decoded JSON payload, for the application's own claims.
    pub(crate) payload: Box<[u8]>,
}

impl Verified {
    pub(crate) fn claims_as<T: DeserializeOwned + 'static>(&self) -> Result<Claims<T>, GuardError> {
        // `()` is the common case: no second parse of the payload.
        let unit: Box<dyn Any> = Box::new(());
        let extra = match unit.downcast::<T>() {
            Ok(unit) => *unit,
            Err(_) => serde_json::from_slice::<T>(&self.payload)
                .map_err(|_| GuardError::InvalidToken(TokenRejection::MalformedClaims))?,
        };
        Ok(self.claims.clone().with_extra(extra))
    }
}

/// A time claim as found in a payload.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeClaim {
    #[default]
    Absent,
    Valid(u64),
    Invalid,
}

impl<'de> Deserialize<'de> for TimeClaim {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Only a JSON integer in range counts: strings, floats, negative or huge numbers,
        // `null` and containers are malformed (CVE-2026-25537 was about skipping these).
        let value = serde_json::Value::deserialize(deserializer)?;
        Ok(match value {
            serde_json::Value::Number(n) => n
                .as_u64()
                .filter(|t| *t <= MAX_NUMERIC_DATE)
                .map_or(Self::Invalid, Self::Valid),
            _ => Self::Invalid,
        })
    }
}

fn audience<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Aud {
        One(String),
        Many(Vec<String>),
    }
    Ok(Some(match Aud::deserialize(deserializer)? {
        Aud::One(one) => vec![one],
        Aud::Many(many) => many,
    }))
}

/// The registered and IAM claims exactly as parsed; checked by the guard.
#[derive(Debug, Deserialize)]
pub(crate) struct RawClaims {
    #[serde(default)]
    pub(crate) sub: Option<String>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) role: Option<String>,
    #[serde(default)]
    pub(crate) roles: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) scope: Option<String>,
    #[serde(default)]
    pub(crate) iss: Option<String>,
    #[serde(default, deserialize_with = "audience")]
    pub(crate) aud: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) exp: TimeClaim,
    #[serde(default)]
    pub(crate) nbf: TimeClaim,
    #[serde(default)]
    pub(crate) iat: TimeClaim,
    #[serde(default)]
    pub(crate) jti: Option<String>,
}

impl RawClaims {
    /// Parses a decoded payload: a JSON object with well-typed claims (duplicated
    /// members are refused by serde for every claim named here).
    pub(crate) fn parse(payload: &[u8]) -> Result<Self, TokenRejection> {
        if payload.first() != Some(&b'{') {
            return Err(TokenRejection::MalformedClaims);
        }
        serde_json::from_slice(payload).map_err(|_| TokenRejection::MalformedClaims)
    }

    /// The claims, once checked, with `exp` as validated.
    pub(crate) fn into_claims(self, exp: u64) -> Claims {
        let time = |claim| match claim {
            TimeClaim::Valid(t) => Some(t),
            TimeClaim::Absent | TimeClaim::Invalid => None,
        };
        Claims {
            sub: self.sub.unwrap_or_default(),
            name: self.name.unwrap_or_default(),
            role: self.role.unwrap_or_default(),
            roles: self.roles.unwrap_or_default(),
            scope: self.scope.unwrap_or_default(),
            iss: self.iss.unwrap_or_default(),
            aud: self.aud.unwrap_or_default(),
            exp,
            iat: time(self.iat),
            nbf: time(self.nbf),
            jti: self.jti,
            extra: (),
        }
    }
}

impl<S, T> FromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send + Sync + 'static,
{
    type Rejection = GuardError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Arc<Verified>>()
            .ok_or(GuardError::MissingCredentials)?
            .claims_as()
    }
}

impl<S, T> OptionalFromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send + Sync + 'static,
{
    type Rejection = GuardError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        parts
            .extensions
            .get::<Arc<Verified>>()
            .map(|verified| verified.claims_as())
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            sub: "u1".into(),
            name: "ann".into(),
            role: "editor".into(),
            roles: vec!["editor".into(), "admin".into()],
            scope: "movies:read movies:write".into(),
            iss: "seedotech".into(),
            aud: vec!["movies".into()],
            exp: 10,
            iat: None,
            nbf: None,
            jti: None,
            extra: (),
        }
    }

    #[test]
    fn roles_are_found_in_role_and_roles() {
        let c = claims();
        assert!(c.has_role("editor"));
        assert!(c.has_role("admin"));
        assert!(!c.has_role("root"));
        assert!(c.require_role("admin").is_ok());
        assert!(matches!(
            c.require_role("root"),
            Err(GuardError::InsufficientScope { kind: "role", .. })
        ));
    }

    #[test]
    fn scopes_are_space_separated() {
        let c = claims();
        assert!(c.has_scope("movies:write"));
        assert!(!c.has_scope("movies"));
        assert!(c.require_scope("users:read").is_err());
    }

    #[test]
    fn time_claims_accept_only_integers_in_range() {
        let parse = |json: &str| RawClaims::parse(json.as_bytes()).unwrap().exp;
        assert_eq!(
            parse(r#"{"exp":1700000000}"#),
            TimeClaim::Valid(1_700_000_000)
        );
        assert_eq!(parse(r#"{"exp":"1700000000"}"#), TimeClaim::Invalid);
        assert_eq!(parse(r#"{"exp":1700000000.5}"#), TimeClaim::Invalid);
        assert_eq!(parse(r#"{"exp":1.7e9}"#), TimeClaim::Invalid);
        assert_eq!(parse(r#"{"exp":-1}"#), TimeClaim::Invalid);
        assert_eq!(parse(r#"{"exp":18446744073709551615}"#), TimeClaim::Invalid);
        assert_eq!(parse(r#"{"exp":1e300}"#), TimeClaim::Invalid);
        assert_eq!(parse(r#"{"exp":null}"#), TimeClaim::Invalid);
        assert_eq!(parse("{}"), TimeClaim::Absent);
    }

    #[test]
    fn duplicated_claims_and_non_objects_are_malformed() {
        assert!(RawClaims::parse(br#"{"exp":1,"exp":99999999999}"#).is_err());
        assert!(RawClaims::parse(br#"["a","b"]"#).is_err());
        assert!(RawClaims::parse(br#"{"iss":7}"#).is_err());
    }

    #[test]
    fn audience_is_a_string_or_an_array() {
        let one = RawClaims::parse(br#"{"aud":"movies"}"#).unwrap();
        assert_eq!(one.aud.unwrap(), ["movies"]);
        let many = RawClaims::parse(br#"{"aud":["a","b"]}"#).unwrap();
        assert_eq!(many.aud.unwrap(), ["a", "b"]);
        assert!(RawClaims::parse(br#"{"aud":5}"#).is_err());
    }

    #[test]
    fn application_claims_come_from_the_payload() {
        #[derive(Debug, Deserialize, PartialEq)]
        struct Mine {
            tenant: String,
        }
        let verified = Verified {
            claims: claims(),
            payload: br#"{"tenant":"t1","exp":10}"#.to_vec().into_boxed_slice(),
        };
        let mine: Claims<Mine> = verified.claims_as().unwrap();
        assert_eq!(mine.extra.tenant, "t1");
        let unit: Claims = verified.claims_as().unwrap();
        assert_eq!(unit.sub, "u1");
    }

    #[test]
    fn claims_serialize_with_the_extra_claims_flattened() {
        let json = serde_json::to_value(claims()).unwrap();
        assert_eq!(json["sub"], "u1");
        assert_eq!(json["aud"][0], "movies");
    }
}
