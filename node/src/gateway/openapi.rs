//! The OpenAPI 3 document: generated from the handlers' `#[utoipa::path]`
//! annotations by the same route list that builds the router
//! ([`super::api_routes`]), so the two cannot drift apart.

use std::sync::OnceLock;

use axum::response::Response;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::{ErrorBody, ErrorCode, GatewayError, Stage, json_bytes};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Weft gateway",
        version = "1",
        description = "The REST API of a Weft peer (docs/gateway-api.md). Every route but \
                       /v1/auth/*, /v1/healthz, /v1/openapi.json and /metrics needs \
                       `Authorization: Bearer <token>`. Errors are ErrorBody with their status."
    ),
    modifiers(&BearerScheme),
    components(schemas(ErrorBody, ErrorCode, Stage)),
    tags(
        (name = "auth", description = "Challenge and token"),
        (name = "transactions", description = "Evaluate, endorse, submit, commit status"),
        (name = "ledger", description = "Blocks, transactions and chaincode definitions"),
        (name = "events", description = "Server-sent events"),
        (name = "operations", description = "Health, metrics and this document"),
    )
)]
pub(crate) struct ApiDoc;

/// Declares the `bearer` scheme the protected routes name.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The gateway's OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    super::api_routes().into_openapi()
}

/// The document, serialized once.
fn document_json() -> Result<&'static str, String> {
    static JSON: OnceLock<Result<String, String>> = OnceLock::new();
    JSON.get_or_init(|| document().to_json().map_err(|e| e.to_string()))
        .as_deref()
        .map_err(Clone::clone)
}

/// This document.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3 document", body = Object))
)]
pub(crate) async fn openapi_json() -> Result<Response, GatewayError> {
    let json = document_json().map_err(|e| {
        GatewayError::internal(
            Stage::Request,
            format!("the document does not serialize: {e}"),
        )
    })?;
    Ok(json_bytes(json))
}
