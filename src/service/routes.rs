//! Every route of the API and its OpenAPI document, built from one table:
//! each entry adds the handler to the router and the operation to the
//! document in the same call, so neither can name a path the other lacks.

use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::{self, MethodRouter};
use axum::Router;
use serde_json::{json, Map, Value};

use super::app::AppState;
use super::extract::Json;
use super::{auth, blobs, credits, jobs, ops, portal, privacy, showcase, tracks, uploads};

/// Who may call an operation.
#[derive(Clone, Copy)]
enum Access {
    Public,
    /// A session cookie or an API key.
    Account,
}

struct Table {
    router: Router<AppState>,
    paths: Map<String, Value>,
}

impl Table {
    fn new() -> Table {
        Table {
            router: Router::new(),
            paths: Map::new(),
        }
    }

    /// Adds `method path` to the router and the document. Paths use
    /// axum's `{param}` syntax, which is OpenAPI's too (but for the `*` of
    /// a catch-all, dropped in the document).
    fn add(
        mut self,
        method: Method,
        path: &str,
        handler: MethodRouter<AppState>,
        summary: &str,
        access: Access,
    ) -> Table {
        self.router = self.router.route(path, handler);
        let mut operation = json!({
            "summary": summary,
            "responses": {"default": {"description": "JSON; errors are {\"error\": {\"code\", \"message\"}}",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}
        });
        if let Access::Account = access {
            operation["security"] = json!([{"bearer": []}, {"cookie": []}]);
        }
        let doc_path = path.replace("{*", "{");
        let params: Vec<Value> = doc_path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            operation["parameters"] = Value::Array(params);
        }
        let entry = self
            .paths
            .entry(doc_path)
            .or_insert_with(|| Value::Object(Map::new()));
        entry[method.as_str().to_ascii_lowercase()] = operation;
        self
    }
}

fn document(paths: Map<String, Value>) -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "vidmocap", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Video to 3D motion capture as credit-metered jobs."},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": auth::SESSION_COOKIE}
            },
            "schemas": {"Error": {"type": "object", "properties": {"error": {"type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}}
        },
        "paths": paths,
    })
}

fn table() -> Table {
    use Access::{Account, Public};
    use Method as M;
    Table::new()
        .add(
            M::GET,
            "/healthz",
            routing::get(ops::healthz),
            "Liveness",
            Public,
        )
        .add(
            M::GET,
            "/readyz",
            routing::get(ops::readyz),
            "Readiness (database reachable)",
            Public,
        )
        .add(
            M::GET,
            "/metrics",
            routing::get(ops::metrics),
            "Prometheus metrics",
            Public,
        )
        .add(
            M::GET,
            "/v1/pricing",
            routing::get(showcase::pricing),
            "Prices per second of video, tiers, and whether a demo is on offer",
            Public,
        )
        .add(
            M::GET,
            "/v1/demo/{name}",
            routing::get(showcase::demo_file),
            "The landing page's demo: demo.mp4, motion.glb or keypoints.json",
            Public,
        )
        .add(
            M::POST,
            "/v1/auth/signup",
            routing::post(auth::signup),
            "Create an account {email, password} and log in",
            Public,
        )
        .add(
            M::POST,
            "/v1/auth/login",
            routing::post(auth::login),
            "Log in {email, password}; sets the session cookie",
            Public,
        )
        .add(
            M::POST,
            "/v1/auth/logout",
            routing::post(auth::logout),
            "End the session",
            Public,
        )
        .add(
            M::GET,
            "/v1/account",
            routing::get(auth::me),
            "The account and its credits",
            Account,
        )
        .add(
            M::DELETE,
            "/v1/account",
            routing::delete(privacy::delete_account),
            "Delete the account and everything it owns",
            Account,
        )
        .add(
            M::GET,
            "/v1/account/ledger",
            routing::get(credits::ledger),
            "Credit ledger",
            Account,
        )
        .add(
            M::GET,
            "/v1/account/limits",
            routing::get(portal::limits),
            "The account's tier limits and prices",
            Account,
        )
        .add(
            M::GET,
            "/v1/account/export",
            routing::get(privacy::export),
            "All of the account's data as a zip",
            Account,
        )
        .add(
            M::GET,
            "/v1/api-keys",
            routing::get(auth::list_keys),
            "List API keys",
            Account,
        )
        .add(
            M::POST,
            "/v1/api-keys",
            routing::post(auth::create_key),
            "Create an API key {name}; shown once",
            Account,
        )
        .add(
            M::DELETE,
            "/v1/api-keys/{id}",
            routing::delete(auth::revoke_key),
            "Revoke an API key",
            Account,
        )
        .add(
            M::GET,
            "/v1/uploads",
            routing::get(uploads::list),
            "List uploads",
            Account,
        )
        // The handler counts the bytes itself (see uploads::spool).
        .add(
            M::POST,
            "/v1/uploads",
            routing::post(uploads::create).layer(DefaultBodyLimit::disable()),
            "Upload a video: raw body or multipart field `file`",
            Account,
        )
        .add(
            M::POST,
            "/v1/uploads/presign",
            routing::post(uploads::presign),
            "A presigned PUT link for a large upload",
            Account,
        )
        .add(
            M::POST,
            "/v1/uploads/{id}/complete",
            routing::post(uploads::complete),
            "Validate and record a presigned upload {filename}",
            Account,
        )
        .add(
            M::GET,
            "/v1/uploads/{id}/video",
            routing::get(portal::upload_video),
            "A download link for an upload's video",
            Account,
        )
        .add(
            M::GET,
            "/v1/uploads/{id}",
            routing::get(uploads::get_one),
            "One upload",
            Account,
        )
        .add(
            M::DELETE,
            "/v1/uploads/{id}",
            routing::delete(uploads::delete_one),
            "Delete an upload's video",
            Account,
        )
        .add(
            M::GET,
            "/v1/jobs",
            routing::get(jobs::list),
            "List jobs (limit, cursor)",
            Account,
        )
        .add(
            M::POST,
            "/v1/jobs",
            routing::post(jobs::create),
            "Create a job {upload_id, outputs, rig, person, keep_upload, quality}; Idempotency-Key header",
            Account,
        )
        .add(
            M::GET,
            "/v1/jobs/{id}",
            routing::get(jobs::get_one),
            "One job with its metadata",
            Account,
        )
        .add(
            M::DELETE,
            "/v1/jobs/{id}",
            routing::delete(jobs::delete_one),
            "Delete a job and its outputs",
            Account,
        )
        .add(
            M::POST,
            "/v1/jobs/{id}/cancel",
            routing::post(jobs::cancel),
            "Cancel a job",
            Account,
        )
        .add(
            M::GET,
            "/v1/jobs/{id}/events",
            routing::get(jobs::events),
            "Progress as Server-Sent Events (progress, done)",
            Account,
        )
        .add(
            M::GET,
            "/v1/jobs/{id}/outputs",
            routing::get(jobs::outputs),
            "Outputs with presigned download links (expires_secs)",
            Account,
        )
        .add(
            M::GET,
            "/v1/jobs/{id}/tracks",
            routing::get(tracks::list),
            "Everyone the finished job tracked, with thumbnail links",
            Account,
        )
        .add(
            M::POST,
            "/v1/jobs/{id}/resolve",
            routing::post(tracks::resolve),
            "Solve the job's tracks again {person, rig, outputs}, no model runs; Idempotency-Key header",
            Account,
        )
        .add(
            M::POST,
            "/v1/webhooks/payment",
            routing::post(credits::payment_webhook),
            "Payment provider webhook (Stripe-Signature)",
            Public,
        )
        .add(
            M::GET,
            "/v1/blobs/{*key}",
            routing::get(blobs::get_blob),
            "Download through a presigned link",
            Public,
        )
        .add(
            M::PUT,
            "/v1/blobs/{*key}",
            routing::put(blobs::put_blob).layer(DefaultBodyLimit::disable()),
            "Upload through a presigned link",
            Public,
        )
}

/// The OpenAPI 3.1 document of every route.
pub fn openapi_document() -> Value {
    let mut t = table();
    add_openapi_path(&mut t.paths);
    document(t.paths)
}

fn add_openapi_path(paths: &mut Map<String, Value>) {
    paths.insert(
        "/v1/openapi.json".into(),
        json!({"get": {"summary": "This document", "responses": {"default": {"description": "JSON"}}}}),
    );
}

/// Every route of the API, the portal's files as the fallback, and the
/// request middleware.
pub fn router(state: AppState) -> Router {
    let Table { router, mut paths } = table();
    add_openapi_path(&mut paths);
    let doc = std::sync::Arc::new(document(paths));
    router
        .route(
            "/v1/openapi.json",
            routing::get(move || {
                let doc = doc.clone();
                async move { Json((*doc).clone()) }
            }),
        )
        .fallback(portal::static_file)
        .method_not_allowed_fallback(super::extract::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::observe,
        ))
        .with_state(state)
}
