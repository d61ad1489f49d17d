//! The `OpenAPI` side of the resource: one operation per handler, with every status it
//! can answer (the handlers', the store's, and the service layers' 413, 415, 422 and 504).

use utoipa::ToSchema;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder};

use super::{ID_PATTERN, Resource, TOTAL_COUNT};
use crate::movies::{DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET};
use crate::openapi::BEARER;

const STORE_DOWN: (&str, &str) = ("503", "The store is unavailable");
const TIMEOUT: (&str, &str) = ("504", "The request took longer than the service's timeout");
const UNAUTHENTICATED: (&str, &str) = (
    "401",
    "No bearer token, or a bad one (`WWW-Authenticate: Bearer`)",
);
const FORBIDDEN: (&str, &str) = (
    "403",
    "The token has neither the role `admin` nor the scope `movies:write`",
);
const TOO_LARGE: (&str, &str) = ("413", "The body is larger than the service's body limit");
const NOT_JSON: (&str, &str) = ("415", "The body is not `application/json`");
const WRONG_SHAPE: (&str, &str) = (
    "422",
    "Well-formed JSON of the wrong shape: not an object, a required field missing, or a field of the wrong type",
);

pub(super) fn list_operation<R: Resource>() -> Operation {
    let total = HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0_u64)),
        )
        .description(Some(format!("How many {} there are in all", R::PLURAL)))
        .build();
    let page = json_response(
        &format!("One page of the {}, oldest first", R::PLURAL),
        ArrayBuilder::new().items(schema_ref::<R>()).build(),
    )
    .header(TOTAL_COUNT.as_str(), total);
    let builder = operation::<R>("list", &format!("A page of the {} (public).", R::PLURAL))
        .parameter(query_parameter(
            "offset",
            "Records to skip. Default 0; above 9223372036854775807 is 400.",
            0,
            MAX_OFFSET,
            0,
        ))
        .parameter(query_parameter(
            "limit",
            "At most this many records. Default 100; 0 or above 1000 is 400.",
            1,
            MAX_LIMIT,
            DEFAULT_LIMIT,
        ))
        .response("200", page);
    errors(
        builder,
        &[
            ("400", "`offset` or `limit` is not an integer in its range"),
            STORE_DOWN,
            TIMEOUT,
        ],
    )
    .build()
}

pub(super) fn add_operation<R: Resource>() -> Operation {
    let builder = operation::<R>(
        "add",
        &format!(
            "Adds a {} (role `admin` or scope `movies:write`).",
            lower::<R>()
        ),
    )
    .request_body(Some(json_body::<R::New>()))
    .security(SecurityRequirement::new(BEARER, Vec::<String>::new()))
    .response(
        "200",
        json_response("The stored record, with its id", schema_ref::<R>()),
    );
    errors(
        builder,
        &[
            (
                "400",
                &format!("Malformed JSON, or {}", lower_first(R::INPUT_RULES)),
            ),
            UNAUTHENTICATED,
            FORBIDDEN,
            TOO_LARGE,
            NOT_JSON,
            WRONG_SHAPE,
            STORE_DOWN,
            TIMEOUT,
        ],
    )
    .build()
}

pub(super) fn get_operation<R: Resource>() -> Operation {
    let builder = operation::<R>("get", &format!("One {} (public).", lower::<R>()))
        .parameter(id_parameter::<R>())
        .response("200", json_response("The record", schema_ref::<R>()));
    errors(
        builder,
        &[
            ("400", "Malformed id"),
            ("404", &format!("No such {}", lower::<R>())),
            STORE_DOWN,
            TIMEOUT,
        ],
    )
    .build()
}

pub(super) fn update_operation<R: Resource>() -> Operation {
    let builder = operation::<R>(
        "update",
        "Changes the fields given (role `admin` or scope `movies:write`).",
    )
    .parameter(id_parameter::<R>())
    .request_body(Some(json_body::<R::Patch>()))
    .security(SecurityRequirement::new(BEARER, Vec::<String>::new()))
    .response(
        "200",
        json_response("The record as it now is", schema_ref::<R>()),
    );
    errors(
        builder,
        &[
            (
                "400",
                &format!("Malformed id or JSON, or {}", lower_first(R::INPUT_RULES)),
            ),
            UNAUTHENTICATED,
            FORBIDDEN,
            ("404", &format!("No such {}", lower::<R>())),
            TOO_LARGE,
            NOT_JSON,
            WRONG_SHAPE,
            STORE_DOWN,
            TIMEOUT,
        ],
    )
    .build()
}

pub(super) fn delete_operation<R: Resource>() -> Operation {
    let builder = operation::<R>(
        "delete",
        &format!(
            "Deletes a {} (role `admin` or scope `movies:write`).",
            lower::<R>()
        ),
    )
    .parameter(id_parameter::<R>())
    .security(SecurityRequirement::new(BEARER, Vec::<String>::new()))
    .response(
        "200",
        json_response("Deleted", Ref::from_schema_name("Message")),
    );
    errors(
        builder,
        &[
            ("400", "Malformed id"),
            UNAUTHENTICATED,
            FORBIDDEN,
            ("404", &format!("No such {}", lower::<R>())),
            STORE_DOWN,
            TIMEOUT,
        ],
    )
    .build()
}

/// An operation of `R` with its tag, id (`add_movie`) and summary.
fn operation<R: Resource>(verb: &str, summary: &str) -> OperationBuilder {
    OperationBuilder::new()
        .tag(R::PLURAL)
        .operation_id(Some(format!("{verb}_{}", lower::<R>())))
        .summary(Some(summary))
}

/// Adds the error responses `(status, description)`, each with the `ErrorBody` schema.
fn errors(mut builder: OperationBuilder, errors: &[(&str, &str)]) -> OperationBuilder {
    for (status, description) in errors {
        builder = builder.response(*status, error_response(description));
    }
    builder
}

/// `"movie"`.
fn lower<R: Resource>() -> String {
    R::NAME.to_ascii_lowercase()
}

/// `text` with a lower-case first letter, to follow a comma.
fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
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
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(ID_PATTERN)),
        ))
}

/// An optional integer query parameter in `minimum..=maximum`.
fn query_parameter(
    name: &str,
    description: &str,
    minimum: u64,
    maximum: u64,
    default: u64,
) -> ParameterBuilder {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(minimum))
                .maximum(Some(maximum))
                .default(Some(default.into())),
        ))
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
