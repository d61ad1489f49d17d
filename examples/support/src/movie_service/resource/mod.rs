//! One generic resource: the five CRUD routes and their `OpenAPI` description, written once
//! and instantiated for movies and genres.
//!
//! | route                         | who           |
//! |-------------------------------|---------------|
//! | `GET /api/v1/<plural>/list`   | anyone        |
//! | `POST /api/v1/<plural>`       | role `admin` or scope `movies:write` |
//! | `GET /api/v1/<plural>/{id}`   | anyone        |
//! | `PATCH /api/v1/<plural>/{id}` | role `admin` or scope `movies:write` |
//! | `DELETE /api/v1/<plural>/{id}`| role `admin` or scope `movies:write` |
//!
//! The lists are paged with `offset` and `limit` (1 to 1000, default 100); the size of the
//! whole list is in the `X-Total-Count` header, and the body stays the original project's
//! bare JSON array.
//!
//! utoipa's `#[utoipa::path]` needs a literal path per handler, so the generic handlers
//! carry no attribute; [`router`] builds each route's `OpenAPI` operation from the
//! resource's names and types instead, and hands both to utoipa-axum together, so the
//! document and the routes cannot drift apart. The document states every status a
//! handler or the service's layers can answer, and the field rules ([`Input`]) the
//! handlers check.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{MethodRouter, get, post};
use futures_util::future::BoxFuture;
use http::{HeaderName, HeaderValue};
use mongodb::bson::oid::ObjectId;
use portcullis_resource_guard::{Claims, GuardError};
use portcullis_response::{ApiError, ApiResult, Json, JsonObject, Message, Path, Query};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{HttpMethod, PathItemBuilder};
use utoipa::openapi::{PathItem, Paths};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::movies::{
    DEFAULT_LIMIT, GenrePatch, Input, Listed, Movie, MovieGenre, MoviePatch, MovieStore, NewGenre,
    NewMovie, Page, StoreError,
};

mod openapi;

use openapi::{add_operation, delete_operation, get_operation, list_operation, update_operation};

/// The role that may add, change and delete.
pub const ADMIN_ROLE: &str = "admin";
/// The scope that may add, change and delete (for clients without a user's role).
pub const WRITE_SCOPE: &str = "movies:write";
/// The response header with the size of the whole list.
pub const TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");
/// A path id: what `ObjectId::parse_str` accepts.
pub const ID_PATTERN: &str = "^[0-9a-fA-F]{24}$";

/// The store the handlers share.
type Store = Arc<dyn MovieStore>;

/// A record type served with the five CRUD routes: its names, its input types, and which
/// [`MovieStore`] methods keep it.
pub trait Resource: Sized + Serialize + ToSchema + Send + 'static {
    /// The body of `POST`.
    type New: Input + DeserializeOwned + ToSchema + Send + 'static;
    /// The body of `PATCH`: the fields to change.
    type Patch: Input + DeserializeOwned + ToSchema + Send + 'static;

    /// The singular name in messages and operation ids: `"Movie"`.
    const NAME: &'static str;
    /// The path segment and `OpenAPI` tag: `"movies"`.
    const PLURAL: &'static str;
    /// What makes input invalid, for the documented 400.
    const INPUT_RULES: &'static str;

    /// One page of the records, oldest first, and their number.
    fn list(store: &dyn MovieStore, page: Page) -> BoxFuture<'_, Result<Listed<Self>, StoreError>>;
    /// One record.
    fn get(store: &dyn MovieStore, id: ObjectId) -> BoxFuture<'_, Result<Self, StoreError>>;
    /// Stores a new record.
    fn add(store: &dyn MovieStore, new: Self::New) -> BoxFuture<'_, Result<Self, StoreError>>;
    /// Changes a record.
    fn update(
        store: &dyn MovieStore,
        id: ObjectId,
        patch: Self::Patch,
    ) -> BoxFuture<'_, Result<Self, StoreError>>;
    /// Removes a record.
    fn delete(store: &dyn MovieStore, id: ObjectId) -> BoxFuture<'_, Result<(), StoreError>>;
}

impl Resource for Movie {
    type New = NewMovie;
    type Patch = MoviePatch;
    const NAME: &'static str = "Movie";
    const PLURAL: &'static str = "movies";
    const INPUT_RULES: &'static str = "A field breaks its rule: `name` only whitespace, `url` or `coverImage` not matching its pattern, a field over 400 characters";

    fn list(store: &dyn MovieStore, page: Page) -> BoxFuture<'_, Result<Listed<Self>, StoreError>> {
        store.list_movies(page)
    }
    fn get(store: &dyn MovieStore, id: ObjectId) -> BoxFuture<'_, Result<Self, StoreError>> {
        store.get_movie(id)
    }
    fn add(store: &dyn MovieStore, new: NewMovie) -> BoxFuture<'_, Result<Self, StoreError>> {
        store.add_movie(new)
    }
    fn update(
        store: &dyn MovieStore,
        id: ObjectId,
        patch: MoviePatch,
    ) -> BoxFuture<'_, Result<Self, StoreError>> {
        store.update_movie(id, patch)
    }
    fn delete(store: &dyn MovieStore, id: ObjectId) -> BoxFuture<'_, Result<(), StoreError>> {
        store.delete_movie(id)
    }
}

impl Resource for MovieGenre {
    type New = NewGenre;
    type Patch = GenrePatch;
    const NAME: &'static str = "Genre";
    const PLURAL: &'static str = "genres";
    const INPUT_RULES: &'static str =
        "A field breaks its rule: `name` only whitespace, a field over 400 characters";

    fn list(store: &dyn MovieStore, page: Page) -> BoxFuture<'_, Result<Listed<Self>, StoreError>> {
        store.list_genres(page)
    }
    fn get(store: &dyn MovieStore, id: ObjectId) -> BoxFuture<'_, Result<Self, StoreError>> {
        store.get_genre(id)
    }
    fn add(store: &dyn MovieStore, new: NewGenre) -> BoxFuture<'_, Result<Self, StoreError>> {
        store.add_genre(new)
    }
    fn update(
        store: &dyn MovieStore,
        id: ObjectId,
        patch: GenrePatch,
    ) -> BoxFuture<'_, Result<Self, StoreError>> {
        store.update_genre(id, patch)
    }
    fn delete(store: &dyn MovieStore, id: ObjectId) -> BoxFuture<'_, Result<(), StoreError>> {
        store.delete_genre(id)
    }
}

/// The five routes of `R` on `store`, with their `OpenAPI` operations and schemas.
pub fn router<R: Resource>(store: Store) -> OpenApiRouter {
    let plural = R::PLURAL;
    let mut new = R::New::schema();
    R::New::document(&mut new);
    let mut patch = R::Patch::schema();
    R::Patch::document(&mut patch);
    let schemas = vec![
        (R::name().into_owned(), R::schema()),
        (R::New::name().into_owned(), new),
        (R::Patch::name().into_owned(), patch),
    ];
    let route = |path: String, item: PathItem, method_router: MethodRouter<Store>| {
        let mut paths = Paths::new();
        paths.paths.insert(path, item);
        (schemas.clone(), paths, method_router)
    };
    OpenApiRouter::new()
        .routes(route(
            format!("/api/v1/{plural}/list"),
            PathItem::new(HttpMethod::Get, list_operation::<R>()),
            get(list::<R>),
        ))
        .routes(route(
            format!("/api/v1/{plural}"),
            PathItem::new(HttpMethod::Post, add_operation::<R>()),
            post(add::<R>),
        ))
        .routes(route(
            format!("/api/v1/{plural}/{{id}}"),
            PathItemBuilder::new()
                .operation(HttpMethod::Get, get_operation::<R>())
                .operation(HttpMethod::Patch, update_operation::<R>())
                .operation(HttpMethod::Delete, delete_operation::<R>())
                .build(),
            get(fetch::<R>).patch(update::<R>).delete(delete::<R>),
        ))
        .with_state(store)
}

/// The list query: `offset` and `limit`, both optional.
#[derive(Debug, Deserialize)]
struct ListParams {
    offset: Option<u64>,
    limit: Option<u64>,
}

impl ListParams {
    /// The page asked for; a value out of range is 400, never clamped.
    fn page(&self) -> ApiResult<Page> {
        Page::new(
            self.offset.unwrap_or(0),
            self.limit.unwrap_or(DEFAULT_LIMIT),
        )
        .map_err(|e| ApiError::bad_request(e.to_string()))
    }
}

/// `GET /api/v1/<plural>/list`: one page of the records (public), with the size of the
/// whole list in `X-Total-Count`.
async fn list<R: Resource>(
    State(store): State<Store>,
    Query(params): Query<ListParams>,
) -> ApiResult<([(HeaderName, HeaderValue); 1], Json<Vec<R>>)> {
    let page = params.page()?;
    let listed = R::list(&*store, page).await.map_err(store_error::<R>)?;
    Ok((
        [(TOTAL_COUNT, HeaderValue::from(listed.total))],
        Json(listed.items),
    ))
}

/// `POST /api/v1/<plural>`: adds a record (role `admin` or scope `movies:write`) and
/// returns it.
async fn add<R: Resource>(
    claims: Claims,
    State(store): State<Store>,
    JsonObject(new): JsonObject<R::New>,
) -> ApiResult<Json<R>> {
    may_write(&claims)?;
    new.validate()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let record = R::add(&*store, new).await.map_err(store_error::<R>)?;
    tracing::info!(kind = R::NAME, by = %claims.sub, "record added");
    Ok(Json(record))
}

/// `GET /api/v1/<plural>/{id}`: one record (public).
async fn fetch<R: Resource>(
    State(store): State<Store>,
    Path(id): Path<String>,
) -> ApiResult<Json<R>> {
    let record = R::get(&*store, object_id(&id)?)
        .await
        .map_err(store_error::<R>)?;
    Ok(Json(record))
}

/// `PATCH /api/v1/<plural>/{id}`: changes the fields given (role `admin` or scope
/// `movies:write`).
async fn update<R: Resource>(
    claims: Claims,
    State(store): State<Store>,
    Path(id): Path<String>,
    JsonObject(patch): JsonObject<R::Patch>,
) -> ApiResult<Json<R>> {
    may_write(&claims)?;
    let id = object_id(&id)?;
    patch
        .validate()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let record = R::update(&*store, id, patch)
        .await
        .map_err(store_error::<R>)?;
    tracing::info!(kind = R::NAME, %id, by = %claims.sub, "record changed");
    Ok(Json(record))
}

/// `DELETE /api/v1/<plural>/{id}`: removes a record (role `admin` or scope
/// `movies:write`).
async fn delete<R: Resource>(
    claims: Claims,
    State(store): State<Store>,
    Path(id): Path<String>,
) -> ApiResult<Message> {
    may_write(&claims)?;
    let id = object_id(&id)?;
    R::delete(&*store, id).await.map_err(store_error::<R>)?;
    tracing::info!(kind = R::NAME, %id, by = %claims.sub, "record deleted");
    Ok(Message::success())
}

/// Writes need the role `admin` (a user) or the scope `movies:write` (a client). The
/// refusal names the scope, as RFC 6750 asks of `insufficient_scope`.
fn may_write(claims: &Claims) -> Result<(), GuardError> {
    if claims.has_role(ADMIN_ROLE) {
        return Ok(());
    }
    claims.require_scope(WRITE_SCOPE)
}

/// A path id must be a 24-hex-digit `ObjectId`: anything else is 400, not a lookup.
fn object_id(id: &str) -> ApiResult<ObjectId> {
    ObjectId::parse_str(id).map_err(|_| ApiError::bad_request("Invalid id: expected 24 hex digits"))
}

/// Store failures in the model: a missing record is 404, a database problem 503 (the
/// cause goes to the log only).
fn store_error<R: Resource>(error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound => ApiError::not_found(format!("{} not found", R::NAME)),
        other => ApiError::unavailable("Store unavailable").with_source(other),
    }
}
