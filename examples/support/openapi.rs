//! `OpenAPI` pieces both services share: the bearer security scheme, the error body's
//! schema, and Swagger UI at `/swagger/index.html` (assets compiled in, no network).

use axum::Router;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

/// The name routes use in `security(("bearer" = []))` (utoipa wants the literal there).
pub(crate) const BEARER: &str = "bearer";

/// Where the generated document is served.
pub(crate) const OPENAPI_JSON: &str = "/api-docs/openapi.json";

/// Adds the `bearer` (JWT) security scheme, so Swagger UI's "Authorize" button takes a
/// token and sends it on the routes that declare it.
#[derive(Debug)]
pub(crate) struct BearerSecurity;

impl Modify for BearerSecurity {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A token from POST /api/v1/admin/auth (or /api/v1/login).",
                    ))
                    .build(),
            ),
        );
    }
}

/// The error body every failure carries: `{"code": <int>, "message": "<text>"}`.
/// Documentation only: responses are built from `portcullis::response::ApiError`.
#[derive(ToSchema)]
#[schema(as = ErrorBody)]
#[allow(dead_code)]
pub(crate) struct ErrorBodyDoc {
    /// A stable number from the error-code table.
    #[schema(example = 1005)]
    code: i32,
    /// A message safe to show.
    #[schema(example = "Invalid token")]
    message: String,
}

/// The seed's reply to a write with no data: `{"message": "Successfully"}`.
#[derive(ToSchema)]
#[schema(as = Message)]
#[allow(dead_code)]
pub(crate) struct MessageDoc {
    /// The text.
    #[schema(example = "Successfully")]
    message: String,
}

/// Swagger UI at `/swagger/index.html` and the document at [`OPENAPI_JSON`].
pub(crate) fn swagger(api: OpenApi) -> Router {
    SwaggerUi::new("/swagger").url(OPENAPI_JSON, api).into()
}
