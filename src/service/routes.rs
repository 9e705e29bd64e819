//! Every route of the API and its OpenAPI document, registered in one
//! place: each `routes!(handler)` below adds the handler to the router and
//! its `#[utoipa::path]` operation (path, summary, parameters, and the
//! request and response schemas of [`super::api_types`]) to the document,
//! so neither can name a path the other lacks.
//!
//! Two things are added to the document here rather than on each handler:
//! the error answer every operation may give ([`ErrorBody`] as `default`),
//! and the spelling of the catch-all `{*key}`, which is axum's and not
//! OpenAPI's (the document names it `{key}`).

use std::sync::LazyLock;

use axum::extract::DefaultBodyLimit;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Router;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::api_types::{ErrorBody, OpenApiDocument};
use super::app::AppState;
use super::{
    account, auth, billing, blobs, credits, jobs, oidc, ops, portal, privacy, retention, showcase,
    tracks, uploads, user_webhooks, webhook,
};

/// The document's fixed parts; the operations come from the routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "vidmocap",
        description = "Video to 3D motion capture as credit-metered jobs."
    ),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes)
)]
struct ApiDoc;

/// The two ways to be a [`auth::Caller`]: an API key as a bearer token,
/// or the session cookie (whose name is a constant, hence not in the
/// derive above).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(auth::SESSION_COOKIE))),
        );
    }
}

/// Every route with its operation.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(showcase::pricing))
        .routes(routes!(showcase::demo_file))
        .routes(routes!(auth::signup))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(account::verify_email))
        .routes(routes!(account::confirm_email))
        .routes(routes!(account::request_reset))
        .routes(routes!(account::confirm_reset))
        .routes(routes!(oidc::routes::providers))
        .routes(routes!(oidc::routes::start))
        .routes(routes!(oidc::routes::callback))
        .routes(routes!(auth::me, privacy::delete_account))
        .routes(routes!(account::change_password))
        .routes(routes!(account::change_email))
        .routes(routes!(account::resend_verification))
        .routes(routes!(
            account::get_notifications,
            account::put_notifications
        ))
        .routes(routes!(credits::ledger))
        .routes(routes!(portal::limits))
        .routes(routes!(privacy::export))
        .routes(routes!(retention::get, retention::put))
        .routes(routes!(auth::list_keys, auth::create_key))
        .routes(routes!(auth::revoke_key))
        .routes(routes!(user_webhooks::list, user_webhooks::create))
        .routes(routes!(user_webhooks::delete))
        .routes(routes!(user_webhooks::deliveries))
        .routes(routes!(uploads::list))
        // The handler counts the bytes itself (see uploads::spool).
        .routes(routes!(uploads::create).layer(DefaultBodyLimit::disable()))
        .routes(routes!(uploads::presign))
        .routes(routes!(uploads::complete))
        .routes(routes!(portal::upload_video))
        .routes(routes!(uploads::get_one, uploads::delete_one))
        .routes(routes!(jobs::list, jobs::create))
        .routes(routes!(jobs::get_one, jobs::delete_one))
        .routes(routes!(jobs::cancel))
        .routes(routes!(jobs::events))
        .routes(routes!(jobs::outputs))
        .routes(routes!(tracks::list))
        .routes(routes!(tracks::thumbnail))
        .routes(routes!(tracks::resolve))
        .routes(routes!(billing::offers))
        .routes(routes!(billing::checkout))
        .routes(routes!(billing::portal))
        .routes(routes!(webhook::payment_webhook))
        .routes(routes!(blobs::get_blob))
        .routes(routes!(blobs::put_blob).layer(DefaultBodyLimit::disable()))
        .routes(routes!(openapi_json))
}

/// The OpenAPI 3.1 document of every route.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = api().split_for_parts();
    let paths = std::mem::take(&mut doc.paths.paths);
    for (path, mut item) in paths {
        for op in operations(&mut item) {
            op.responses
                .responses
                .entry("default".into())
                .or_insert_with(|| error_response().into());
        }
        doc.paths.paths.insert(path.replace("{*", "{"), item);
    }
    doc
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

fn error_response() -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description("An error: {\"error\": {\"code\", \"message\"}}")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build(),
        )
        .build()
}

/// The document as served, built on first use.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    serde_json::to_string(&openapi_document()).expect("the OpenAPI document serialises")
});

/// `GET /v1/openapi.json`.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "ops",
    summary = "This document",
    responses((status = 200, description = "OpenAPI 3.1", body = OpenApiDocument)),
)]
async fn openapi_json() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT.as_str())
}

/// Every route of the API, the portal's files as the fallback, and the
/// request middleware.
pub fn router(state: AppState) -> Router {
    let (router, _) = api().split_for_parts();
    router
        .fallback(portal::static_file)
        .method_not_allowed_fallback(super::extract::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::observe,
        ))
        .with_state(state)
}
