//! The web portal's side of the server: its built files (`web/dist`) at
//! `/`, and the two small routes it needs that the rest of the API does not
//! offer: the caller's tier limits and a link to an upload's video.

use std::path::{Component, Path, PathBuf};

use super::extract::{Json, Path as UrlPath};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};

use super::api_types::AccountLimits;
use super::app::AppState;
use super::auth::Caller;
use super::credits::price_table;
use super::error::{ApiError, ApiResult};

/// How long the viewer's link to a source video stays valid.
const VIDEO_LINK_SECS: u64 = 600;

/// Uploads at least this large use a presigned PUT even on the local store.
const DIRECT_FROM_BYTES: u64 = 64 * 1024 * 1024;

/// `GET /v1/account/limits`: what the caller's tier allows and what a clip
/// costs, so the portal can refuse and price a file before sending it.
#[utoipa::path(
    get,
    path = "/v1/account/limits",
    tag = "account",
    summary = "The account's tier limits and prices",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "Limits and prices", body = AccountLimits)),
)]
pub async fn limits(State(state): State<AppState>, caller: Caller) -> Json<AccountLimits> {
    let cfg = &state.cfg;
    let tier = cfg.tier(&caller.account.tier);
    Json(AccountLimits {
        prices: price_table(cfg, state.pipeline.pose.quality),
        tier: caller.account.tier.clone(),
        max_clip_s: tier.max_clip_s,
        max_running: tier.max_running,
        priority: tier.priority,
        max_upload_bytes: cfg.max_upload_bytes,
        // On S3 every upload goes straight to the bucket; the local store
        // takes small files through the API and large ones by its links.
        direct_upload_from_bytes: if cfg.store.kind == "local" {
            DIRECT_FROM_BYTES
        } else {
            0
        },
    })
}

/// `GET /v1/uploads/{id}/video`: redirects to a short-lived link to the
/// caller's own upload, for the viewer's side-by-side source video.
#[utoipa::path(
    get,
    path = "/v1/uploads/{id}/video",
    tag = "uploads",
    summary = "A download link for an upload's video",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "The upload's id")),
    responses((
        status = 307,
        description = "Redirect to a short-lived link to the video",
        headers(("location" = String)),
    )),
)]
pub async fn upload_video(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Response> {
    let u = state
        .db
        .upload(&caller.account.id, &id)
        .await?
        .filter(|u| u.deleted_ms.is_none())
        .ok_or_else(|| ApiError::not_found("upload"))?;
    let link = state
        .store
        .presign_get(
            &u.object_key,
            std::time::Duration::from_secs(VIDEO_LINK_SECS),
            None,
        )
        .await?;
    Ok(Redirect::temporary(&link.url).into_response())
}

/// Every path the API does not route: a file of the built portal, or its
/// `index.html` for the portal's own views. Unknown `/v1/` paths stay 404s.
pub async fn static_file(State(state): State<AppState>, method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if (method != Method::GET && method != Method::HEAD) || path.starts_with("/v1/") {
        return ApiError::not_found("route").into_response();
    }
    let root = &state.cfg.web_dir;
    let file = match relative(path) {
        Some(rel) if root.join(&rel).is_file() => root.join(rel),
        _ => root.join("index.html"),
    };
    match tokio::fs::read(&file).await {
        Ok(bytes) => {
            let mut resp = bytes.into_response();
            let h = resp.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(&file)));
            // Vite names its assets by content hash; index.html must not stick.
            let cache = if file.starts_with(root.join("assets")) {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            h.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
            resp
        }
        Err(e) => {
            tracing::warn!(dir = %root.display(), error = %e, "web portal files not found");
            (
                StatusCode::NOT_FOUND,
                "the web portal is not built: run scripts/setup.sh (or set VIDMOCAP_WEB_DIR)\n",
            )
                .into_response()
        }
    }
}

/// The request path as a relative path with no `..` or root, or `None`.
fn relative(path: &str) -> Option<PathBuf> {
    let rel = Path::new(path.trim_start_matches('/'));
    let ok = rel.components().all(|c| matches!(c, Component::Normal(_)));
    (ok && !rel.as_os_str().is_empty()).then(|| rel.to_path_buf())
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_stay_inside_the_web_dir() {
        assert_eq!(relative("/assets/a.js"), Some(PathBuf::from("assets/a.js")));
        assert_eq!(relative("/"), None);
        assert_eq!(relative("/../etc/passwd"), None);
        assert_eq!(relative("/a/../../b"), None);
    }

    #[test]
    fn content_types_follow_extensions() {
        assert_eq!(
            content_type(Path::new("x/index.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("a.js")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("blob")), "application/octet-stream");
    }
}
