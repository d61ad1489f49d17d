//! The HTTP routes: login, user management, JWKS.

use std::fmt;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Form, Json, Router};
use portcullis_resource_guard::require_role;
#[cfg(feature = "openapi")]
use portcullis_response::ErrorBody;
use portcullis_response::{ApiError, ApiResult, ErrorCode, Message, Path, Query};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::IamError;
use crate::iam::Iam;
use crate::store::{NewUser, PageRequest, UserUpdate, UserView};
#[cfg(feature = "openapi")]
use crate::token::IssuedToken;

/// The path of the JWKS route.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The role the user-management routes require.
pub const ADMIN_ROLE: &str = "admin";

/// Longest accepted user or role name, in characters.
const MAX_NAME_CHARS: usize = 64;
/// Most users one list call returns.
const MAX_PAGE: u32 = 1000;

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
    ///
    /// `{base}` is `/api/v1` unless configured. The seed let any logged-in user manage
    /// users; here the user routes need the `admin` role (401 without a token, 403
    /// without the role).
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
            .route_layer(require_role(ADMIN_ROLE))
            .route_layer(self.guard().layer());
        Router::new()
            .route(&format!("{base}/admin/auth"), post(login))
            .route(JWKS_PATH, get(jwks))
            .merge(users)
            .with_state(self.clone())
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
    if content_type.starts_with("application/x-www-form-urlencoded") {
        Form::<T>::from_request(request, &())
            .await
            .map(|Form(value)| value)
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
            "Send application/x-www-form-urlencoded or application/json",
        ))
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A JSON body with a fixed parse-error message (see [`form_or_json`]).
async fn json_body<T: DeserializeOwned>(request: Request) -> ApiResult<T> {
    Json::<T>::from_request(request, &())
        .await
        .map(|Json(value)| value)
        .map_err(|e| {
            let status = e.status();
            let code = match status.as_u16() {
                415 => ErrorCode::UnsupportedMediaType,
                413 => ErrorCode::PayloadTooLarge,
                _ => ErrorCode::MalformedBody,
            };
            ApiError::new(code, "Malformed JSON body or wrong field types").with_status(status)
        })
}

/// Logs in: a bearer token for `user` and `password`, sent as a form (the seed's) or JSON.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/admin/auth", tag = "auth",
    request_body(
        description = "The credentials, as a form (the seed's) or JSON",
        content(
            (LoginRequest = "application/x-www-form-urlencoded"),
            (LoginRequest = "application/json")
        )
    ),
    responses(
        (status = 200, description = "A token (`Cache-Control: no-store`)", body = IssuedToken),
        (status = 400, description = "Malformed body, or a missing field", body = ErrorBody),
        (status = 401, description = "Wrong user name or password", body = ErrorBody),
        (status = 415, description = "Neither a form nor JSON", body = ErrorBody),
        (status = 429, description = "Too many failed logins for this name or address",
            body = ErrorBody, headers(("retry-after" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The user store is unavailable", body = ErrorBody)
    )
))]
pub(crate) async fn login(State(iam): State<Iam>, request: Request) -> ApiResult<Response> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let address = iam
        .inner
        .throttle
        .policy()
        .client_address(request.headers(), peer);
    let LoginRequest { user, password } = form_or_json(request).await?;
    if user.is_empty() || password.is_empty() {
        return Err(ApiError::validation("user and password are required"));
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
        rehash(&iam, &found.id, &password).await;
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
async fn rehash(iam: &Iam, id: &str, password: &str) {
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

/// A new user.
// No `Debug`: it holds a password.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = NewUser))]
struct CreateUser {
    /// The unique login name (at most 64 printable characters).
    #[cfg_attr(feature = "openapi", schema(example = "ann"))]
    name: String,
    /// The password, hashed with argon2id and never stored or shown as given.
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    password: String,
    /// The roles, e.g. `["admin"]`.
    #[serde(default)]
    roles: Option<Vec<String>>,
    /// The seed's single role, accepted when `roles` is absent.
    #[serde(default)]
    role: Option<String>,
}

/// A change to a user: its id and any of name, password, roles.
// No `Debug`: it holds a password.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = UserPatch))]
struct PatchUser {
    /// The user to change (24 hexadecimal digits).
    id: String,
    /// A new login name.
    #[serde(default)]
    name: Option<String>,
    /// A new password.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    password: Option<String>,
    /// New roles, replacing the old ones.
    #[serde(default)]
    roles: Option<Vec<String>>,
    /// The seed's single role, accepted when `roles` is absent.
    #[serde(default)]
    role: Option<String>,
}

/// The reply to a create: the seed's message plus the new id.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct Created {
    /// Always `Successfully` (the seed's).
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "Successfully"))]
    message: &'static str,
    /// The new user's id (24 hexadecimal digits).
    id: String,
}

/// `GET /users/list` query.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub(crate) struct ListParams {
    /// Users to skip. Default 0.
    #[serde(default)]
    offset: Option<u64>,
    /// At most this many users. Default 100, at most 1000.
    #[serde(default)]
    limit: Option<u32>,
    /// Start after the user with this id (paging by id instead of offset).
    #[serde(default)]
    after: Option<String>,
}

/// `GET /users?id=` query.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub(crate) struct IdParam {
    /// The user's id (24 hexadecimal digits).
    // Optional for serde so that a missing id gets this route's own 400 message.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(required = true))]
    id: Option<String>,
}

fn validate_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::validation("name is required"));
    }
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::validation(format!(
            "name must have at most {MAX_NAME_CHARS} printable characters"
        )));
    }
    Ok(name.to_owned())
}

fn validate_roles(
    roles: Option<Vec<String>>,
    role: Option<String>,
) -> ApiResult<Option<Vec<String>>> {
    let roles = match (roles, role) {
        (Some(roles), _) => roles,
        (None, Some(role)) if role.is_empty() => Vec::new(),
        (None, Some(role)) => vec![role],
        (None, None) => return Ok(None),
    };
    let mut out: Vec<String> = Vec::with_capacity(roles.len());
    for role in roles {
        let role = role.trim().to_owned();
        if role.is_empty()
            || role.chars().count() > MAX_NAME_CHARS
            || role.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(ApiError::validation("roles must be non-empty words"));
        }
        if !out.contains(&role) {
            out.push(role);
        }
    }
    Ok(Some(out))
}

/// Creates a user (role `admin`).
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/users", tag = "users",
    request_body(content = CreateUser, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Created", body = Created),
        (status = 400, description = "Malformed body, or invalid name, password or roles", body = ErrorBody),
        (status = 401, description = "No bearer token, or a bad one (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The token lacks the role `admin`", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)
    )
))]
pub(crate) async fn create_user(
    State(iam): State<Iam>,
    request: Request,
) -> ApiResult<Json<Created>> {
    let body: CreateUser = json_body(request).await?;
    let name = validate_name(&body.name)?;
    if body.password.is_empty() {
        return Err(ApiError::validation("password is required"));
    }
    iam.passwords().check(&name, &body.password)?;
    let roles = validate_roles(body.roles, body.role)?.unwrap_or_default();
    if iam.store().find_by_name(&name).await?.is_some() {
        // Saves the hashing work; the store's unique index still decides races.
        return Err(IamError::DuplicateName { name }.into());
    }
    let password_hash = iam.passwords().hash(&body.password).await?;
    let user = iam
        .store()
        .create(NewUser {
            name,
            password_hash,
            roles,
        })
        .await?;
    tracing::info!(id = %user.id, name = %user.name, "created a user");
    Ok(Json(Created {
        message: "Successfully",
        id: user.id,
    }))
}

/// Lists users in creation order (role `admin`).
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/users/list", tag = "users",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Users, in creation order", body = [UserView]),
        (status = 400, description = "Malformed query", body = ErrorBody),
        (status = 401, description = "No bearer token, or a bad one (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The token lacks the role `admin`", body = ErrorBody)
    )
))]
pub(crate) async fn list_users(
    State(iam): State<Iam>,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<Vec<UserView>>> {
    let page = PageRequest {
        after: params.after,
        offset: params.offset.unwrap_or(0),
        limit: params.limit.unwrap_or(100).min(MAX_PAGE),
    };
    let users = iam.store().list(page).await?;
    Ok(Json(users.iter().map(UserView::from).collect()))
}

/// One user (role `admin`).
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/users/detail/{id}", tag = "users",
    params(("id" = String, Path, description = "The user's id (24 hexadecimal digits)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No bearer token, or a bad one (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The token lacks the role `admin`", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody)
    )
))]
pub(crate) async fn get_user(
    State(iam): State<Iam>,
    Path(id): Path<String>,
) -> ApiResult<Json<UserView>> {
    let user = iam.store().get(&id).await?;
    Ok(Json(UserView::from(&user)))
}

/// One user, by query (role `admin`; the seed's form).
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/users", tag = "users",
    params(IdParam),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 400, description = "Missing or malformed id", body = ErrorBody),
        (status = 401, description = "No bearer token, or a bad one (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The token lacks the role `admin`", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody)
    )
))]
pub(crate) async fn get_user_by_query(
    State(iam): State<Iam>,
    Query(params): Query<IdParam>,
) -> ApiResult<Json<UserView>> {
    let id = params
        .id
        .ok_or_else(|| ApiError::bad_request("the query parameter id is required"))?;
    let user = iam.store().get(&id).await?;
    Ok(Json(UserView::from(&user)))
}

/// Deletes a user (role `admin`).
#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The user's id (24 hexadecimal digits)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted", body = Message),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No bearer token, or a bad one (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The token lacks the role `admin`", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody)
    )
))]
pub(crate) async fn delete_user(
    State(iam): State<Iam>,
    Path(id): Path<String>,
) -> ApiResult<Message> {
    iam.store().delete(&id).await?;
    tracing::info!(id = %id, "deleted a user");
    Ok(Message::success())
}

/// Changes a user's name, password or roles (role `admin`).
#[cfg_attr(feature = "openapi", utoipa::path(
    patch, path = "/users", tag = "users",
    request_body(content = PatchUser, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = Message),
        (status = 400, description = "Malformed body or id, invalid values, or nothing to change", body = ErrorBody),
        (status = 401, description = "No bearer token, or a bad one (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The token lacks the role `admin`", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "The new name is taken", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)
    )
))]
pub(crate) async fn update_user(State(iam): State<Iam>, request: Request) -> ApiResult<Message> {
    let body: PatchUser = json_body(request).await?;
    let current = iam.store().get(&body.id).await?;
    let name = body.name.as_deref().map(validate_name).transpose()?;
    let roles = validate_roles(body.roles, body.role)?;
    let password_hash = match &body.password {
        Some(password) => {
            iam.passwords()
                .check(name.as_deref().unwrap_or(&current.name), password)?;
            Some(iam.passwords().hash(password).await?)
        }
        None => None,
    };
    let update = UserUpdate {
        name,
        password_hash,
        roles,
    };
    if update.is_empty() {
        return Err(ApiError::validation(
            "nothing to update: give name, password or roles",
        ));
    }
    iam.store().update(&current.id, update).await?;
    tracing::info!(id = %current.id, "updated a user");
    Ok(Message::success())
}
