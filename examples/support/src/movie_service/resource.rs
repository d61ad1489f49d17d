//! One generic resource: the five CRUD routes and their `OpenAPI` description, written once
//! and instantiated for movies and genres.
//!
//! | route                         | who           |
//! |-------------------------------|---------------|
//! | `GET /api/v1/<plural>/list`   | anyone        |
//! | `POST /api/v1/<plural>`       | any signed-in user |
//! | `GET /api/v1/<plural>/{id}`   | anyone        |
//! | `PATCH /api/v1/<plural>/{id}` | role `admin`  |
//! | `DELETE /api/v1/<plural>/{id}`| role `admin`  |
//!
//! utoipa's `#[utoipa::path]` needs a literal path per handler, so the generic handlers
//! carry no attribute; [`router`] builds each route's `OpenAPI` operation from the
//! resource's names and types instead, and hands both to utoipa-axum together, so the
//! document and the routes cannot drift apart.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{MethodRouter, get, post};
use futures_util::future::BoxFuture;
use mongodb::bson::oid::ObjectId;
use portcullis_resource_guard::Claims;
use portcullis_response::{ApiError, ApiResult, Json, Message, Path};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn, PathItemBuilder,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, Schema};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ContentBuilder, PathItem, Paths, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::movies::{
    GenrePatch, Movie, MovieGenre, MoviePatch, MovieStore, NewGenre, NewMovie, StoreError,
    ValidationError,
};
use crate::openapi::BEARER;

/// The role that may change and delete.
const ADMIN: &str = "admin";

/// The store the handlers share.
type Store = Arc<dyn MovieStore>;

/// A record type served with the five CRUD routes: its names, its input types, and which
/// [`MovieStore`] methods keep it.
pub trait Resource: Sized + Serialize + ToSchema + Send + 'static {
    /// The body of `POST`.
    type New: DeserializeOwned + ToSchema + Send + 'static;
    /// The body of `PATCH`: the fields to change.
    type Patch: DeserializeOwned + ToSchema + Send + 'static;

    /// The singular name in messages and operation ids: `"Movie"`.
    const NAME: &'static str;
    /// The path segment and `OpenAPI` tag: `"movies"`.
    const PLURAL: &'static str;
    /// What makes input invalid, for the documented 400.
    const INPUT_RULES: &'static str;

    /// Checks a new record.
    fn validate_new(new: &Self::New) -> Result<(), ValidationError>;
    /// Checks a patch.
    fn validate_patch(patch: &Self::Patch) -> Result<(), ValidationError>;

    /// Every record, oldest first.
    fn list(store: &dyn MovieStore) -> BoxFuture<'_, Result<Vec<Self>, StoreError>>;
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
    const INPUT_RULES: &'static str =
        "Invalid input (name required, url a URL, 400 characters at most)";

    fn validate_new(new: &NewMovie) -> Result<(), ValidationError> {
        new.validate()
    }
    fn validate_patch(patch: &MoviePatch) -> Result<(), ValidationError> {
        patch.validate()
    }
    fn list(store: &dyn MovieStore) -> BoxFuture<'_, Result<Vec<Self>, StoreError>> {
        store.list_movies()
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
    const INPUT_RULES: &'static str = "Invalid input (name required, 400 characters at most)";

    fn validate_new(new: &NewGenre) -> Result<(), ValidationError> {
        new.validate()
    }
    fn validate_patch(patch: &GenrePatch) -> Result<(), ValidationError> {
        patch.validate()
    }
    fn list(store: &dyn MovieStore) -> BoxFuture<'_, Result<Vec<Self>, StoreError>> {
        store.list_genres()
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
    let mut schemas = Vec::new();
    for (name, schema) in [
        (R::name(), R::schema()),
        (R::New::name(), R::New::schema()),
        (R::Patch::name(), R::Patch::schema()),
    ] {
        schemas.push((name.into_owned(), schema));
    }
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

/// `GET /api/v1/<plural>/list`: every record (public).
async fn list<R: Resource>(State(store): State<Store>) -> ApiResult<Json<Vec<R>>> {
    let records = R::list(&*store).await.map_err(store_error::<R>)?;
    Ok(Json(records))
}

/// `POST /api/v1/<plural>`: adds a record (any signed-in user) and returns it.
async fn add<R: Resource>(
    claims: Claims,
    State(store): State<Store>,
    Json(new): Json<R::New>,
) -> ApiResult<Json<R>> {
    R::validate_new(&new).map_err(|e| ApiError::validation(e.to_string()))?;
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

/// `PATCH /api/v1/<plural>/{id}`: changes the fields given (role `admin`).
async fn update<R: Resource>(
    claims: Claims,
    State(store): State<Store>,
    Path(id): Path<String>,
    Json(patch): Json<R::Patch>,
) -> ApiResult<Json<R>> {
    claims.require_role(ADMIN)?;
    let id = object_id(&id)?;
    R::validate_patch(&patch).map_err(|e| ApiError::validation(e.to_string()))?;
    let record = R::update(&*store, id, patch)
        .await
        .map_err(store_error::<R>)?;
    Ok(Json(record))
}

/// `DELETE /api/v1/<plural>/{id}`: removes a record (role `admin`).
async fn delete<R: Resource>(
    claims: Claims,
    State(store): State<Store>,
    Path(id): Path<String>,
) -> ApiResult<Message> {
    claims.require_role(ADMIN)?;
    let id = object_id(&id)?;
    R::delete(&*store, id).await.map_err(store_error::<R>)?;
    tracing::info!(kind = R::NAME, %id, by = %claims.sub, "record deleted");
    Ok(Message::success())
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

// The OpenAPI side: one operation per handler above.

fn list_operation<R: Resource>() -> Operation {
    operation::<R>("list", &format!("The list of {} (public).", R::PLURAL))
        .response(
            "200",
            json_response(
                "Every record, oldest first",
                ArrayBuilder::new().items(schema_ref::<R>()).build(),
            ),
        )
        .response("503", error_response("The store is unavailable"))
        .build()
}

fn add_operation<R: Resource>() -> Operation {
    operation::<R>(
        "add",
        &format!("Adds a {} (any signed-in user).", lower::<R>()),
    )
    .request_body(Some(json_body::<R::New>()))
    .security(SecurityRequirement::new(BEARER, Vec::<String>::new()))
    .response(
        "200",
        json_response("The stored record, with its id", schema_ref::<R>()),
    )
    .response("400", error_response(R::INPUT_RULES))
    .response("401", error_response("No token, or a bad one"))
    .build()
}

fn get_operation<R: Resource>() -> Operation {
    operation::<R>("get", &format!("One {} (public).", lower::<R>()))
        .parameter(id_parameter::<R>())
        .response("200", json_response("The record", schema_ref::<R>()))
        .response("400", error_response("Malformed id"))
        .response("404", error_response(&format!("No such {}", lower::<R>())))
        .build()
}

fn update_operation<R: Resource>() -> Operation {
    operation::<R>("update", "Changes the fields given (role `admin`).")
        .parameter(id_parameter::<R>())
        .request_body(Some(json_body::<R::Patch>()))
        .security(SecurityRequirement::new(BEARER, Vec::<String>::new()))
        .response(
            "200",
            json_response("The record as it now is", schema_ref::<R>()),
        )
        .response("400", error_response("Invalid input or id"))
        .response("401", error_response("No token, or a bad one"))
        .response("403", error_response("Not an admin"))
        .response("404", error_response(&format!("No such {}", lower::<R>())))
        .build()
}

fn delete_operation<R: Resource>() -> Operation {
    operation::<R>(
        "delete",
        &format!("Deletes a {} (role `admin`).", lower::<R>()),
    )
    .parameter(id_parameter::<R>())
    .security(SecurityRequirement::new(BEARER, Vec::<String>::new()))
    .response(
        "200",
        json_response("Deleted", Ref::from_schema_name("Message")),
    )
    .response("401", error_response("No token, or a bad one"))
    .response("403", error_response("Not an admin"))
    .response("404", error_response(&format!("No such {}", lower::<R>())))
    .build()
}

/// An operation of `R` with its tag, id (`add_movie`) and summary.
fn operation<R: Resource>(verb: &str, summary: &str) -> OperationBuilder {
    OperationBuilder::new()
        .tag(R::PLURAL)
        .operation_id(Some(format!("{verb}_{}", lower::<R>())))
        .summary(Some(summary))
}

/// `"movie"`.
fn lower<R: Resource>() -> String {
    R::NAME.to_ascii_lowercase()
}

fn schema_ref<T: ToSchema>() -> Ref {
    Ref::from_schema_name(T::name())
}

fn id_parameter<R: Resource>() -> ParameterBuilder {
    ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(format!("The {}'s 24-hex-digit id", lower::<R>())))
        .schema(Some(String::schema()))
}

fn json_body<T: ToSchema>() -> utoipa::openapi::request_body::RequestBody {
    RequestBodyBuilder::new()
        .required(Some(Required::True))
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(schema_ref::<T>()))
                .build(),
        )
        .build()
}

fn json_response(description: &str, schema: impl Into<RefOr<Schema>>) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new().schema(Some(schema)).build(),
    )
}

fn error_response(description: &str) -> ResponseBuilder {
    json_response(description, Ref::from_schema_name("ErrorBody"))
}
