//! What the portal's landing page shows a visitor who has not logged in:
//! the public price list and the operator's demo (a clip beside its 3D
//! result). Both routes need no account.

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::api_types::{Pricing, TierInfo};
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
#[utoipa::path(
    get,
    path = "/v1/pricing",
    tag = "pricing",
    summary = "Prices per second of video, tiers, and whether a demo is on offer",
    responses((status = 200, description = "The public price list", body = Pricing)),
)]
pub async fn pricing(State(state): State<AppState>) -> Json<Pricing> {
    let cfg = &state.cfg;
    let tiers = cfg
        .tiers
        .iter()
        .map(|(name, t)| TierInfo {
            name: name.clone(),
            max_clip_s: t.max_clip_s,
            max_running: t.max_running,
            priority: t.priority,
        })
        .collect();
    Json(Pricing {
        prices: price_table(cfg, state.pipeline.pose.quality),
        default_tier: cfg.default_tier.clone(),
        tiers,
        demo: demo_ready(&state),
    })
}

/// `GET /v1/demo/{name}`: one of the demo files, or 404 when the operator
/// set none up.
#[utoipa::path(
    get,
    path = "/v1/demo/{name}",
    tag = "pricing",
    summary = "The landing page's demo: demo.mp4, motion.glb or keypoints.json",
    params(("name" = String, Path, description = "demo.mp4, motion.glb or keypoints.json")),
    responses((
        status = 200,
        description = "The file",
        content(("video/mp4"), ("model/gltf-binary"), ("application/json")),
    )),
)]
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
