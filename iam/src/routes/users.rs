//! The user-management routes (role `admin`): create, list, get, update, delete.

use axum::Json;
use axum::extract::{Request, State};
#[cfg(feature = "openapi")]
use portcullis_response::ErrorBody;
use portcullis_response::{ApiError, ApiResult, Message, Path, Query};
use serde::{Deserialize, Serialize};

use super::{MAX_NAME_CHARS, json_body, validate_name};
use crate::IamError;
use crate::iam::Iam;
use crate::store::{NewUser, PageRequest, UserUpdate, UserView};

/// Most users one list call returns.
const MAX_PAGE: u32 = 1000;

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
    /// A single role (as the original go-microservices project had it), instead of
    /// `roles`: giving both is refused.
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
    /// A single role (as the original go-microservices project had it), instead of
    /// `roles`: giving both is refused.
    #[serde(default)]
    role: Option<String>,
}

/// The reply to a create: `Successfully` plus the new id.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct Created {
    /// Always `Successfully`.
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

fn validate_roles(
    roles: Option<Vec<String>>,
    role: Option<String>,
) -> ApiResult<Option<Vec<String>>> {
    let roles = match (roles, role) {
        // Both at once would leave one unchecked or one ignored: neither is what was sent.
        (Some(_), Some(_)) => {
            return Err(ApiError::validation("give roles or role, not both"));
        }
        (Some(roles), None) => roles,
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

/// One user, by query (role `admin`; the original go-microservices project's form).
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

/// Deletes a user (role `admin`). The last admin cannot be deleted (409).
#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The user's id (24 hexadecimal digits)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted", body = Message),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No bearer token, or a bad one (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The token lacks the role `admin`", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "The user is the last admin", body = ErrorBody)
    )
))]
pub(crate) async fn delete_user(
    State(iam): State<Iam>,
    Path(id): Path<String>,
) -> ApiResult<Message> {
    iam.store().delete(&id).await?;
    tracing::info!(id = %id, "deleted a user");
    iam.revoke_user_refresh_tokens(&id.to_ascii_lowercase())
        .await?;
    Ok(Message::success())
}

/// Changes a user's name, password or roles (role `admin`). The last admin cannot lose the
/// role `admin` (409).
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
        (status = 409, description = "The new name is taken, or the change would take the admin role from the last admin", body = ErrorBody),
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
    // A new password or new roles end every session: refresh tokens carry neither.
    let ends_sessions = update.password_hash.is_some() || update.roles.is_some();
    iam.store().update(&current.id, update).await?;
    tracing::info!(id = %current.id, "updated a user");
    if ends_sessions {
        iam.revoke_user_refresh_tokens(&current.id).await?;
    }
    Ok(Message::success())
}
