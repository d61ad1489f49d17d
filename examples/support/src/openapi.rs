//! `OpenAPI` pieces both services share: the bearer security scheme and Swagger UI at `/swagger/index.html` (assets compiled in, no network).

use axum::Router;
use utoipa::Modify;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_swagger_ui::SwaggerUi;

/// The name routes use in `security(("bearer" = []))` (utoipa wants the literal there).
pub const BEARER: &str = "bearer";

/// Where the generated document is served.
pub const OPENAPI_JSON: &str = "/api-docs/openapi.json";

/// Adds the `bearer` (JWT) security scheme, so Swagger UI's "Authorize" button takes a
/// token and sends it on the routes that declare it.
#[derive(Debug)]
pub struct BearerSecurity;

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

/// Swagger UI at `/swagger/index.html` and the document at [`OPENAPI_JSON`].
pub fn swagger(api: OpenApi) -> Router {
    SwaggerUi::new("/swagger").url(OPENAPI_JSON, api).into()
}
