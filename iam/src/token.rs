//! The access tokens the IAM issues.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Header;
use portcullis_resource_guard::Clock;
use serde::{Deserialize, Serialize};

use crate::IamError;
use crate::keys::KeyRing;
use crate::password::base64_url;
use crate::store::User;

/// The media type put in the JWT header's `typ` (RFC 9068 access tokens).
pub const TOKEN_TYPE: &str = "at+jwt";

/// The claims of an issued access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user id (24 hexadecimal digits).
    pub sub: String,
    /// The user name.
    pub name: String,
    /// The first role, or `""` (the single role of the original go-microservices project).
    pub role: String,
    /// Every role.
    pub roles: Vec<String>,
    /// The issuer.
    pub iss: String,
    /// The audience.
    pub aud: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Not before (Unix seconds).
    pub nbf: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
    /// A random token id.
    pub jti: String,
    /// The OAuth client the token was issued to (RFC 9068 section 2.2); absent on tokens
    /// from the login route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The granted scopes, space-separated (RFC 9068 section 2.2.3); absent on tokens from
    /// the login route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// What a successful login returns: `{"token", "tokenType": "Bearer", "expiresIn"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Token))]
pub struct IssuedToken {
    /// The signed JWT.
    pub token: String,
    /// Always `"Bearer"`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

#[derive(Clone)]
pub(crate) struct TokenIssuer {
    pub(crate) keys: KeyRing,
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) ttl: Duration,
    pub(crate) clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("keys", &self.keys)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// The login route's token: the user's claims, the configured lifetime.
    pub(crate) fn issue(&self, user: &User) -> Result<IssuedToken, IamError> {
        let claims = self.claims_for(&user.id, &user.name, &user.roles, self.ttl)?;
        Ok(IssuedToken {
            token: self.sign(&claims)?,
            token_type: "Bearer".to_owned(),
            expires_in: self.ttl.as_secs(),
        })
    }

    /// Claims for `sub`, valid from now (the injected clock) for `ttl`, with a fresh
    /// random `jti`; no client or scope yet.
    pub(crate) fn claims_for(
        &self,
        sub: &str,
        name: &str,
        roles: &[String],
        ttl: Duration,
    ) -> Result<AccessClaims, IamError> {
        let now = self.clock.unix_seconds();
        let mut jti = [0u8; 16];
        getrandom::fill(&mut jti).map_err(|e| IamError::Token(Box::new(e)))?;
        Ok(AccessClaims {
            sub: sub.to_owned(),
            name: name.to_owned(),
            role: roles.first().cloned().unwrap_or_default(),
            roles: roles.to_vec(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            nbf: now,
            exp: now.saturating_add(ttl.as_secs()),
            jti: base64_url(&jti),
            client_id: None,
            scope: None,
        })
    }

    /// Signs `claims` with the current key (`typ: at+jwt`, `kid` the key's thumbprint).
    pub(crate) fn sign(&self, claims: &AccessClaims) -> Result<String, IamError> {
        let key = self.keys.current();
        let mut header = Header::new(key.algorithm());
        header.typ = Some(TOKEN_TYPE.to_owned());
        if !key.kid().is_empty() {
            header.kid = Some(key.kid().to_owned());
        }
        jsonwebtoken::encode(&header, claims, key.encoding_key())
            .map_err(|e| IamError::Token(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKey;
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};

    fn user() -> User {
        User {
            id: "0123456789abcdef01234567".into(),
            name: "alice".into(),
            password_hash: "$argon2id$...".into(),
            roles: vec!["admin".into(), "viewer".into()],
        }
    }

    #[test]
    fn tokens_carry_the_agreed_header_and_claims() {
        let key = SigningKey::generate_ed25519();
        let issuer = TokenIssuer {
            keys: KeyRing::new(key.clone()),
            issuer: "seedotech".into(),
            audience: "movies".into(),
            ttl: Duration::from_secs(3600),
            clock: Arc::new(portcullis_resource_guard::SystemClock),
        };
        let issued = issuer.issue(&user()).unwrap();
        assert_eq!(issued.expires_in, 3600);
        let header = decode_header(&issued.token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        let jwk = key.public_jwk().unwrap();
        let mut validation = Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.set_issuer(&["seedotech"]);
        validation.set_audience(&["movies"]);
        let data = decode::<AccessClaims>(
            &issued.token,
            &DecodingKey::from_jwk(&jwk).unwrap(),
            &validation,
        )
        .unwrap();
        let claims = data.claims;
        assert_eq!(claims.sub, "0123456789abcdef01234567");
        assert_eq!(claims.role, "admin");
        assert_eq!(claims.roles, vec!["admin", "viewer"]);
        assert_eq!(claims.exp - claims.iat, 3600);
        assert_eq!(claims.nbf, claims.iat);
        assert!(!claims.jti.is_empty());
        assert!(!issued.token.contains("argon2"));
    }

    #[test]
    fn hmac_tokens_verify_with_the_shared_secret() {
        let issuer = TokenIssuer {
            keys: KeyRing::new(SigningKey::hmac(b"0123456789abcdef0123456789abcdef").unwrap()),
            issuer: "seedotech".into(),
            audience: "movies".into(),
            ttl: Duration::from_secs(60),
            clock: Arc::new(portcullis_resource_guard::SystemClock),
        };
        let issued = issuer.issue(&user()).unwrap();
        let header = decode_header(&issued.token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::HS256);
        assert_eq!(header.kid, None);
        let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_audience(&["movies"]);
        decode::<AccessClaims>(
            &issued.token,
            &DecodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
            &validation,
        )
        .unwrap();
    }
}
