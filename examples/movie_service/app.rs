//! The movie service's router: the seed's routes, the new ones, and their `OpenAPI`
//! document. Shared by `movie_service` and `local_stack`.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use mongodb::bson::oid::ObjectId;
use portcullis::guard::{Claims, Guard, GuardError};
use portcullis::response::{ApiError, ApiResult, Form, Json, Message, Path};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::support::config::Config;
use crate::support::movies::{
    GenrePatch, MemoryMovieStore, MongoMovieStore, Movie, MovieGenre, MoviePatch, MovieStore,
    NewGenre, NewMovie, StoreError,
};
use crate::support::openapi::{BearerSecurity, ErrorBodyDoc, MessageDoc, swagger};
use crate::support::server::{ReadyCheck, connect_mongodb, finish_router, mongodb_target};

#[path = "login.rs"]
mod login;

use login::{LoginForm, LoginProxy};

/// The role that may change and delete.
const ADMIN: &str = "admin";

/// What every handler can reach.
#[derive(Debug, Clone)]
struct AppState {
    store: Arc<dyn MovieStore>,
    login: LoginProxy,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "movie_service",
        description = "The seed's movie service on Portcullis: public listing, token-guarded writes, a login proxy behind a circuit breaker."
    ),
    modifiers(&BearerSecurity),
    components(schemas(ErrorBodyDoc, MessageDoc)),
    tags(
        (name = "movies", description = "Movies (the seed's model)"),
        (name = "genres", description = "Movie genres (the seed's MovieGenre)"),
        (name = "auth", description = "Login, proxied to the IAM")
    )
)]
struct ApiDoc;

/// Builds the whole service from `config`: store, token guard, login proxy, routes,
/// Swagger UI and the common layers.
pub(crate) async fn build(config: &Config) -> Result<Router, Box<dyn Error + Send + Sync>> {
    let store = open_store(config).await?;
    let guard = token_guard(config).await?;
    let state = AppState {
        store: Arc::clone(&store),
        login: LoginProxy::new(config)?,
    };

    // Each `routes!` groups the handlers of one path; utoipa collects their docs.
    let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list_movies))
        .routes(routes!(add_movie))
        .routes(routes!(get_movie, update_movie, delete_movie))
        .routes(routes!(list_genres))
        .routes(routes!(add_genre))
        .routes(routes!(get_genre, update_genre, delete_genre))
        .routes(routes!(login))
        .with_state(state)
        .split_for_parts();

    // The guard checks any bearer token present and lets anonymous requests through;
    // handlers that need a user take `Claims`, so the rule sits beside the handler.
    let app = api.layer(guard.optional_layer()).merge(swagger(openapi));

    let ready: ReadyCheck = Arc::new(move || {
        let store = Arc::clone(&store);
        Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
    });
    Ok(finish_router(app, config, ready))
}

/// `MongoDB` when `MONGODB_URI` or `mgAddrs` is set, else the in-memory store seeded with
/// a few movies. The choice is logged.
async fn open_store(config: &Config) -> Result<Arc<dyn MovieStore>, mongodb::error::Error> {
    if config.uses_mongodb() {
        let db = connect_mongodb(config, "movie_service").await?;
        tracing::info!(
            store = "mongodb",
            target = %mongodb_target(config),
            database = db.name(),
            "movie store: MongoDB (collections movies, movieGenres)"
        );
        Ok(Arc::new(MongoMovieStore::new(db)))
    } else {
        tracing::info!(
            store = "memory",
            "movie store: in memory, seeded with 3 movies (set MONGODB_URI or mgAddrs for MongoDB)"
        );
        Ok(Arc::new(MemoryMovieStore::seeded()))
    }
}

/// The token guard: the IAM's public keys from `authAddr` + `/.well-known/jwks.json`
/// (fetched on first use and cached, so the IAM need not be up at start-up), or the
/// seed's shared HS256 secret when `jwtSecretPassword` is set.
async fn token_guard(config: &Config) -> Result<Guard, GuardError> {
    let mut builder = Guard::builder().issuer(config.issuer.clone());
    if let Some(audience) = config.audience() {
        builder = builder.audience(audience);
    }
    if let Some(secret) = &config.jwt_secret_password {
        tracing::info!("tokens: HS256 with the shared jwtSecretPassword (the seed's mode)");
        builder = builder.hmac_secret(secret.expose());
    } else {
        // With several IAM instances in `authAddr`, they share one signing key
        // (PORTCULLIS_SIGNING_KEY_FILE), so the first one's keys do.
        let first = login::auth_addrs(&config.auth_addr)
            .into_iter()
            .next()
            .unwrap_or_default();
        let jwks = format!("{first}/.well-known/jwks.json");
        tracing::info!(%jwks, "tokens: EdDSA, verified with the IAM's published keys");
        // A hung IAM delays start-up by at most this much; keys are then retried in
        // the background.
        builder = builder
            .jwks_url(jwks)
            .fetch_timeout(Duration::from_millis(config.login_call_timeout_ms.max(1)));
    }
    builder.build().await
}

/// A path id must be a 24-hex-digit `ObjectId`: anything else is 400, not a lookup.
fn object_id(id: &str) -> ApiResult<ObjectId> {
    ObjectId::parse_str(id).map_err(|_| ApiError::bad_request("Invalid id: expected 24 hex digits"))
}

/// Store failures in the model: a missing record is 404, a database problem 503 (the
/// cause goes to the log only).
fn store_error(what: &'static str) -> impl Fn(StoreError) -> ApiError {
    move |error| match error {
        StoreError::NotFound => ApiError::not_found(format!("{what} not found")),
        other => ApiError::unavailable("Store unavailable").with_source(other),
    }
}

/// The list of movies (public, as in the seed).
#[utoipa::path(
    get, path = "/api/v1/movies/list", tag = "movies",
    responses(
        (status = 200, description = "Every movie, oldest first", body = [Movie]),
        (status = 503, description = "The store is unavailable", body = ErrorBodyDoc)
    )
)]
async fn list_movies(State(state): State<AppState>) -> ApiResult<Json<Vec<Movie>>> {
    let movies = state
        .store
        .list_movies()
        .await
        .map_err(store_error("Movie"))?;
    Ok(Json(movies))
}

/// Adds a movie (any signed-in user, as in the seed). Returns the stored movie.
#[utoipa::path(
    post, path = "/api/v1/movies", tag = "movies",
    request_body = NewMovie,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The stored movie, with its id", body = Movie),
        (status = 400, description = "Invalid input (name required, url a URL, 400 characters at most)", body = ErrorBodyDoc),
        (status = 401, description = "No token, or a bad one", body = ErrorBodyDoc)
    )
)]
async fn add_movie(
    claims: Claims,
    State(state): State<AppState>,
    Json(movie): Json<NewMovie>,
) -> ApiResult<Json<Movie>> {
    movie
        .validate()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let movie = state
        .store
        .add_movie(movie)
        .await
        .map_err(store_error("Movie"))?;
    tracing::info!(id = %movie.id, by = %claims.sub, "movie added");
    Ok(Json(movie))
}

/// One movie (public).
#[utoipa::path(
    get, path = "/api/v1/movies/{id}", tag = "movies",
    params(("id" = String, Path, description = "The movie's 24-hex-digit id")),
    responses(
        (status = 200, description = "The movie", body = Movie),
        (status = 400, description = "Malformed id", body = ErrorBodyDoc),
        (status = 404, description = "No such movie", body = ErrorBodyDoc)
    )
)]
async fn get_movie(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Movie>> {
    let movie = state
        .store
        .get_movie(object_id(&id)?)
        .await
        .map_err(store_error("Movie"))?;
    Ok(Json(movie))
}

/// Changes the fields given (role `admin`).
#[utoipa::path(
    patch, path = "/api/v1/movies/{id}", tag = "movies",
    params(("id" = String, Path, description = "The movie's 24-hex-digit id")),
    request_body = MoviePatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The movie as it now is", body = Movie),
        (status = 400, description = "Invalid input or id", body = ErrorBodyDoc),
        (status = 401, description = "No token, or a bad one", body = ErrorBodyDoc),
        (status = 403, description = "Not an admin", body = ErrorBodyDoc),
        (status = 404, description = "No such movie", body = ErrorBodyDoc)
    )
)]
async fn update_movie(
    claims: Claims,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(patch): Json<MoviePatch>,
) -> ApiResult<Json<Movie>> {
    claims.require_role(ADMIN)?;
    let id = object_id(&id)?;
    patch
        .validate()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let movie = state
        .store
        .update_movie(id, patch)
        .await
        .map_err(store_error("Movie"))?;
    Ok(Json(movie))
}

/// Deletes a movie (role `admin`).
#[utoipa::path(
    delete, path = "/api/v1/movies/{id}", tag = "movies",
    params(("id" = String, Path, description = "The movie's 24-hex-digit id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted", body = MessageDoc),
        (status = 401, description = "No token, or a bad one", body = ErrorBodyDoc),
        (status = 403, description = "Not an admin", body = ErrorBodyDoc),
        (status = 404, description = "No such movie", body = ErrorBodyDoc)
    )
)]
async fn delete_movie(
    claims: Claims,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Message> {
    claims.require_role(ADMIN)?;
    let id = object_id(&id)?;
    state
        .store
        .delete_movie(id)
        .await
        .map_err(store_error("Movie"))?;
    tracing::info!(%id, by = %claims.sub, "movie deleted");
    Ok(Message::success())
}

/// The list of genres (public).
#[utoipa::path(
    get, path = "/api/v1/genres/list", tag = "genres",
    responses(
        (status = 200, description = "Every genre, oldest first", body = [MovieGenre]),
        (status = 503, description = "The store is unavailable", body = ErrorBodyDoc)
    )
)]
async fn list_genres(State(state): State<AppState>) -> ApiResult<Json<Vec<MovieGenre>>> {
    let genres = state
        .store
        .list_genres()
        .await
        .map_err(store_error("Genre"))?;
    Ok(Json(genres))
}

/// Adds a genre (any signed-in user).
#[utoipa::path(
    post, path = "/api/v1/genres", tag = "genres",
    request_body = NewGenre,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The stored genre, with its id", body = MovieGenre),
        (status = 400, description = "Invalid input", body = ErrorBodyDoc),
        (status = 401, description = "No token, or a bad one", body = ErrorBodyDoc)
    )
)]
async fn add_genre(
    _claims: Claims,
    State(state): State<AppState>,
    Json(genre): Json<NewGenre>,
) -> ApiResult<Json<MovieGenre>> {
    genre
        .validate()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let genre = state
        .store
        .add_genre(genre)
        .await
        .map_err(store_error("Genre"))?;
    Ok(Json(genre))
}

/// One genre (public).
#[utoipa::path(
    get, path = "/api/v1/genres/{id}", tag = "genres",
    params(("id" = String, Path, description = "The genre's 24-hex-digit id")),
    responses(
        (status = 200, description = "The genre", body = MovieGenre),
        (status = 400, description = "Malformed id", body = ErrorBodyDoc),
        (status = 404, description = "No such genre", body = ErrorBodyDoc)
    )
)]
async fn get_genre(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<MovieGenre>> {
    let genre = state
        .store
        .get_genre(object_id(&id)?)
        .await
        .map_err(store_error("Genre"))?;
    Ok(Json(genre))
}

/// Changes the fields given (role `admin`).
#[utoipa::path(
    patch, path = "/api/v1/genres/{id}", tag = "genres",
    params(("id" = String, Path, description = "The genre's 24-hex-digit id")),
    request_body = GenrePatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The genre as it now is", body = MovieGenre),
        (status = 400, description = "Invalid input or id", body = ErrorBodyDoc),
        (status = 401, description = "No token, or a bad one", body = ErrorBodyDoc),
        (status = 403, description = "Not an admin", body = ErrorBodyDoc),
        (status = 404, description = "No such genre", body = ErrorBodyDoc)
    )
)]
async fn update_genre(
    claims: Claims,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(patch): Json<GenrePatch>,
) -> ApiResult<Json<MovieGenre>> {
    claims.require_role(ADMIN)?;
    let id = object_id(&id)?;
    patch
        .validate()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let genre = state
        .store
        .update_genre(id, patch)
        .await
        .map_err(store_error("Genre"))?;
    Ok(Json(genre))
}

/// Deletes a genre (role `admin`).
#[utoipa::path(
    delete, path = "/api/v1/genres/{id}", tag = "genres",
    params(("id" = String, Path, description = "The genre's 24-hex-digit id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted", body = MessageDoc),
        (status = 401, description = "No token, or a bad one", body = ErrorBodyDoc),
        (status = 403, description = "Not an admin", body = ErrorBodyDoc),
        (status = 404, description = "No such genre", body = ErrorBodyDoc)
    )
)]
async fn delete_genre(
    claims: Claims,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Message> {
    claims.require_role(ADMIN)?;
    let id = object_id(&id)?;
    state
        .store
        .delete_genre(id)
        .await
        .map_err(store_error("Genre"))?;
    Ok(Message::success())
}

/// The seed's login proxy: the form goes to the IAM's `/api/v1/admin/auth` through a
/// circuit breaker, and the IAM's answer comes back as it was.
#[utoipa::path(
    post, path = "/api/v1/login", tag = "auth",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The IAM's token response, e.g. {\"token\": \"<JWT>\"}"),
        (status = 401, description = "Wrong user or password", body = ErrorBodyDoc),
        (status = 503, description = "The IAM is down, slow, or the breaker is open", body = ErrorBodyDoc)
    )
)]
async fn login(State(state): State<AppState>, Form(form): Form<LoginForm>) -> ApiResult<Response> {
    state.login.login(form).await
}
