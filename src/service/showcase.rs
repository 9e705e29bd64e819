//! What the portal's landing page shows a visitor who has not logged in:
//! the public price list and the operator's demo (a clip beside its 3D
//! result). Both routes need no account.

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::app::AppState;
use super::credits::price_table;
use super::error::{ApiError, ApiResult};
use super::extract::Path as UrlPath;

/// The files a demo folder may hold, with their content types. Only these
/// names are served, so the folder cannot leak anything else.
const DEMO_FILES: [(&str, &str); 3] = [
    ("demo.mp4", "video/mp4"),
    ("motion.glb", "model/gltf-binary"),
    ("keypoints.json", "application/json"),
];

/// Whether the configured demo folder holds every demo file.
fn demo_ready(state: &AppState) -> bool {
    let dir = &state.cfg.demo_dir;
    !dir.as_os_str().is_empty() && DEMO_FILES.iter().all(|(f, _)| dir.join(f).is_file())
}

/// `GET /v1/pricing`: credits per second of video, the per-job minimum and
/// what each tier allows, and whether a demo is on offer.
pub async fn pricing(State(state): State<AppState>) -> Json<Value> {
    let cfg = &state.cfg;
    let tiers: Vec<Value> = cfg
        .tiers
        .iter()
        .map(|(name, t)| {
            json!({
                "name": name,
                "max_clip_s": t.max_clip_s,
                "max_running": t.max_running,
                "priority": t.priority,
            })
        })
        .collect();
    let mut body = price_table(cfg, state.pipeline.pose.quality);
    body["default_tier"] = json!(cfg.default_tier);
    body["tiers"] = json!(tiers);
    body["demo"] = json!(demo_ready(&state));
    Json(body)
}

/// `GET /v1/demo/{name}`: one of the demo files, or 404 when the operator
/// set none up.
pub async fn demo_file(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult<Response> {
    let (file, kind) = DEMO_FILES
        .iter()
        .find(|(f, _)| *f == name)
        .filter(|_| demo_ready(&state))
        .ok_or_else(|| ApiError::not_found("demo file"))?;
    let path = state.cfg.demo_dir.join(file);
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        tracing::warn!(path = %path.display(), error = %e, "demo file unreadable");
        ApiError::not_found("demo file")
    })?;
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(resp)
}
