//! The HTTP routes: login, user management, JWKS.

use std::fmt;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use portcullis_resource_guard::require_role;
#[cfg(feature = "openapi")]
use portcullis_response::ErrorBody;
use portcullis_response::{ApiError, ApiResult, ErrorCode, FormOrMultipart, JsonObject};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::IamError;
use crate::iam::Iam;
use crate::oauth::{
    self, AUTHORIZATION_SERVER_METADATA_PATH, INTROSPECTION_PATH, OPENID_CONFIGURATION_PATH,
    REVOCATION_PATH, TOKEN_PATH,
};
use crate::store::UserUpdate;
#[cfg(feature = "openapi")]
use crate::token::IssuedToken;

mod users;

#[cfg(feature = "openapi")]
pub(crate) use users::{
    __path_create_user, __path_delete_user, __path_get_user, __path_get_user_by_query,
    __path_list_users, __path_update_user,
};
pub(crate) use users::{
    create_user, delete_user, get_user, get_user_by_query, list_users, update_user,
};

/// The path of the JWKS route.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The role the user-management routes require.
pub const ADMIN_ROLE: &str = "admin";

/// Longest accepted user or role name, in characters.
pub(crate) const MAX_NAME_CHARS: usize = 64;

impl Iam {
    /// The routes, with the IAM as state:
    ///
    /// | method, path | auth | |
    /// | --- | --- | --- |
    /// | `POST {base}/admin/auth` | none | login: form or JSON `user`, `password` |
    /// | `POST {base}/users` | role `admin` | create: JSON `name`, `password`, `roles` |
    /// | `GET {base}/users/list` | role `admin` | list: `?offset=&limit=&after=` |
    /// | `GET {base}/users/detail/{id}` | role `admin` | one user |
    /// | `GET {base}/users?id=` | role `admin` | one user |
    /// | `DELETE {base}/users/{id}` | role `admin` | delete |
    /// | `PATCH {base}/users` | role `admin` | update: JSON `id` and any of `name`, `password`, `roles` |
    /// | `GET /.well-known/jwks.json` | none | the public keys |
    /// | `POST /oauth2/token` | client | RFC 6749 token endpoint: `client_credentials`, `password`, `refresh_token` |
    /// | `POST /oauth2/revoke` | client | RFC 7009 revocation |
    /// | `POST /oauth2/introspect` | client | RFC 7662 introspection |
    /// | `GET /.well-known/oauth-authorization-server` | none | RFC 8414 metadata (only when the issuer is an http(s) URL) |
    /// | `GET /.well-known/openid-configuration` | none | the same metadata |
    /// | `POST {base}/oauth/clients` | role `admin` | register a client: JSON `name`, `clientId`, `scopes`, `grantTypes`, `accessTokenTtl`; answers its secret once |
    /// | `GET {base}/oauth/clients` | role `admin` | list clients (no secrets) |
    /// | `POST {base}/oauth/clients/{id}/disable` | role `admin` | disable a client, revoke its refresh tokens |
    /// | `POST {base}/oauth/clients/{id}/secret` | role `admin` | rotate a client's secret; answers it once |
    ///
    /// `{base}` is `/api/v1` unless configured. The user routes need the `admin` role (401
    /// without a token, 403 without the role). The last user with the role `admin` cannot
    /// be deleted or lose that role (409).
    pub fn router(&self) -> Router {
        let base = &self.inner.base_path;
        let users = Router::new()
            .route(
                &format!("{base}/users"),
                post(create_user).get(get_user_by_query).patch(update_user),
            )
            .route(&format!("{base}/users/list"), get(list_users))
            .route(&format!("{base}/users/detail/{{id}}"), get(get_user))
            .route(&format!("{base}/users/{{id}}"), delete(delete_user))
            .route(
                &format!("{base}/oauth/clients"),
                post(oauth::create_client).get(oauth::list_clients),
            )
            .route(
                &format!("{base}/oauth/clients/{{id}}/disable"),
                post(oauth::disable_client),
            )
            .route(
                &format!("{base}/oauth/clients/{{id}}/secret"),
                post(oauth::rotate_secret),
            )
            .route_layer(require_role(ADMIN_ROLE))
            .route_layer(self.guard().layer());
        let mut router = Router::new()
            .route(&format!("{base}/admin/auth"), post(login))
            .route(JWKS_PATH, get(jwks))
            .route(TOKEN_PATH, post(oauth::token))
            .route(REVOCATION_PATH, post(oauth::revoke))
            .route(INTROSPECTION_PATH, post(oauth::introspect))
            .merge(users);
        if self.inner.oauth.metadata.is_some() {
            router = router
                .route(
                    AUTHORIZATION_SERVER_METADATA_PATH,
                    get(oauth::authorization_server),
                )
                .route(OPENID_CONFIGURATION_PATH, get(oauth::openid_configuration));
        }
        router.with_state(self.clone())
    }
}

/// A login's credentials, as a form or JSON.
// `Debug` (below) redacts the password.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Credentials))]
struct LoginRequest {
    /// The user name (`name` and `username` are accepted too).
    #[serde(alias = "name", alias = "username")]
    #[cfg_attr(feature = "openapi", schema(example = "admin"))]
    user: String,
    /// The password.
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    password: String,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Parses a form or JSON body, chosen by `Content-Type`. Parse errors get a fixed message:
/// serde's messages can quote the input, and the input holds a password.
async fn form_or_json<T: DeserializeOwned>(request: Request) -> ApiResult<T> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    // Both form encodings, as Go's `PostForm` reads them (`curl -d` and `curl -F`).
    if content_type.starts_with("application/x-www-form-urlencoded")
        || content_type.starts_with("multipart/form-data")
    {
        FormOrMultipart::<T>::from_request(request, &())
            .await
            .map(|FormOrMultipart(value)| value)
            .map_err(|e| {
                ApiError::malformed_body(
                    "Malformed form body: expected the fields user and password",
                )
                .with_status(e.status())
            })
    } else if is_json(&content_type) {
        json_body(request).await
    } else {
        Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "Send application/x-www-form-urlencoded, multipart/form-data or application/json",
        ))
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A JSON body with a fixed parse-error message (see [`form_or_json`]).
pub(crate) async fn json_body<T: DeserializeOwned>(request: Request) -> ApiResult<T> {
    // A JSON object only: serde would fill the struct from an array too.
    JsonObject::<T>::from_request(request, &())
        .await
        .map(|JsonObject(value)| value)
        .map_err(|e| {
            let status = e.status();
            let code = match status.as_u16() {
                415 => ErrorCode::UnsupportedMediaType,
                413 => ErrorCode::PayloadTooLarge,
                _ => ErrorCode::MalformedBody,
            };
            ApiError::new(
                code,
                "Malformed JSON body: expected a JSON object with the documented fields and types",
            )
            .with_status(status)
        })
}

/// Logs in: a bearer token for `user` and `password`, sent as a form or JSON.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/admin/auth", tag = "auth",
    request_body(
        description = "The credentials, as a form or JSON",
        content(
            (LoginRequest = "application/x-www-form-urlencoded"),
            (LoginRequest = "application/json")
        )
    ),
    responses(
        (status = 200, description = "A token (`Cache-Control: no-store`)", body = IssuedToken),
        (status = 400, description = "Malformed body, a missing field, or a control character in the name", body = ErrorBody),
        (status = 401, description = "Wrong user name or password", body = ErrorBody),
        (status = 415, description = "Neither a form nor JSON", body = ErrorBody),
        (status = 429, description = "Too many failed logins for this name or address",
            body = ErrorBody, headers(("retry-after" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The user store is unavailable", body = ErrorBody)
    )
))]
pub(crate) async fn login(State(iam): State<Iam>, request: Request) -> ApiResult<Response> {
    let answer = attempt_login(&iam, request).await;
    crate::metrics::login(
        answer
            .as_ref()
            .map_or_else(ApiError::status, Response::status),
    );
    answer
}

async fn attempt_login(iam: &Iam, request: Request) -> ApiResult<Response> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let address = iam
        .inner
        .throttle
        .policy()
        .client_bucket(request.headers(), peer);
    let LoginRequest { user, password } = form_or_json(request).await?;
    if user.is_empty() || password.is_empty() {
        return Err(ApiError::validation("user and password are required"));
    }
    if has_control_characters(&user) {
        // Refused before anything logs the name: a newline in it could forge a log line.
        return Err(ApiError::validation(
            "the user name must not contain control characters",
        ));
    }
    if user.chars().count() > MAX_NAME_CHARS
        || password.len() > iam.passwords().max_password_bytes()
    {
        // Cannot exist or be valid: fail like any bad login, without hashing work.
        return Err(IamError::InvalidCredentials.into());
    }
    let reservation = iam
        .inner
        .throttle
        .reserve(&user, address)
        .await
        .map_err(|retry_after| {
            tracing::info!(user = %user, "login throttled");
            IamError::Throttled { retry_after }
        })?;
    let found = iam.store().find_by_name(&user).await?;
    let verification = iam
        .passwords()
        .verify(&password, found.as_ref().map(|u| u.password_hash.as_str()))
        .await?;
    let Some(found) = found.filter(|_| verification.matches) else {
        reservation.failed();
        tracing::info!(user = %user, "login failed");
        return Err(IamError::InvalidCredentials.into());
    };
    drop(reservation);
    if verification.needs_rehash {
        rehash(iam, &found.id, &password).await;
    }
    let issued = iam.issue_token(&found)?;
    tracing::info!(user = %found.name, id = %found.id, "login succeeded");
    let mut response = Json(issued).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Replaces a hash made with old parameters; a failure only delays the upgrade.
pub(crate) async fn rehash(iam: &Iam, id: &str, password: &str) {
    let result = async {
        let password_hash = iam.passwords().hash(password).await?;
        iam.store()
            .update(
                id,
                UserUpdate {
                    password_hash: Some(password_hash),
                    ..UserUpdate::default()
                },
            )
            .await
    }
    .await;
    match result {
        Ok(_) => tracing::info!(id, "upgraded a password hash to the current parameters"),
        Err(e) => tracing::warn!(id, error = %e, "could not upgrade a password hash"),
    }
}

/// The public signing keys (a JWK set), for resource services' guards.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "The JWK set: current and recently retired public keys",
        body = Object, content_type = "application/json",
        example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
            "kid": "<RFC 7638 thumbprint>", "x": "<base64url public key>"}]})))
))]
pub(crate) async fn jwks(State(iam): State<Iam>) -> Response {
    let mut response = Json(iam.keys().jwks().as_ref().clone()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// Whether `name` holds a control character: C0 (newline, carriage return, tab, ...),
/// DEL or C1. Such a name could forge or split a log line, and no one types it.
fn has_control_characters(name: &str) -> bool {
    name.chars().any(char::is_control)
}

fn validate_name(name: &str) -> ApiResult<String> {
    if has_control_characters(name) {
        // Checked before trimming: a trailing newline is refused, not silently dropped.
        return Err(ApiError::validation(
            "name must not contain control characters",
        ));
    }
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::validation("name is required"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::validation(format!(
            "name must have at most {MAX_NAME_CHARS} printable characters"
        )));
    }
    Ok(name.to_owned())
}
