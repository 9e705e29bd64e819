//! `/v1/blobs/{*key}`: where the local store's presigned links point. The
//! link itself is the credential (method, key and expiry signed with the
//! store's key), so these routes take no session or API key. S3
//! deployments never reach them: their links go to S3.

use std::collections::HashMap;

use super::extract::{Path, Query};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::app::AppState;
use super::error::{ApiError, ApiResult};
use crate::db::now_ms;

fn check(state: &AppState, method: &str, key: &str, q: &HashMap<String, String>) -> ApiResult<()> {
    let Some(local) = &state.local else {
        return Err(ApiError::not_found("blob"));
    };
    let exp = q
        .get("exp")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    let sig = q.get("sig").map(String::as_str).unwrap_or("");
    if q.get("method").map(String::as_str) != Some(method) {
        return Err(crate::store::StoreError::BadSignature.into());
    }
    local.verify(method, key, exp, sig, now_ms() / 1000)?;
    Ok(())
}

/// Streams the object a signed GET link names.
#[utoipa::path(
    get,
    // A catch-all: the key has slashes. The document names it `{key}`.
    path = "/v1/blobs/{*key}",
    tag = "blobs",
    summary = "Download through a presigned link",
    params(
        ("key" = String, Path, description = "The object's key"),
        ("method" = String, Query, description = "GET"),
        ("exp" = i64, Query, description = "Expiry, Unix seconds"),
        ("sig" = String, Query, description = "The link's signature"),
        ("name" = Option<String>, Query, description = "Download file name"),
    ),
    responses((
        status = 200,
        description = "The object's bytes",
        content_type = "application/octet-stream",
        body = [u8],
    )),
)]
pub async fn get_blob(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    check(&state, "GET", &key, &q)?;
    let path = state
        .local
        .as_ref()
        .ok_or_else(|| ApiError::not_found("blob"))?
        .path_of(&key)?;
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found("blob"))
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    let len = file.metadata().await.map_err(ApiError::internal)?.len();
    let stream = futures_util::stream::unfold(file, |mut f| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let name = q
        .get("name")
        .map(|n| crate::store::local::safe_file_name(n))
        .filter(|n| !n.is_empty());
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(CONTENT_LENGTH, len.into());
    h.insert(
        CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(name) = name {
        if let Ok(v) = format!("attachment; filename=\"{name}\"").parse() {
            h.insert(CONTENT_DISPOSITION, v);
        }
    }
    Ok(resp)
}

/// Stores the body a signed PUT link allows.
#[utoipa::path(
    put,
    path = "/v1/blobs/{*key}",
    tag = "blobs",
    summary = "Upload through a presigned link",
    params(
        ("key" = String, Path, description = "The object's key"),
        ("method" = String, Query, description = "PUT"),
        ("exp" = i64, Query, description = "Expiry, Unix seconds"),
        ("sig" = String, Query, description = "The link's signature"),
    ),
    request_body(content = [u8], content_type = "application/octet-stream"),
    responses((status = 200, description = "Stored (empty body)")),
)]
pub async fn put_blob(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    request: Request,
) -> ApiResult<Response> {
    check(&state, "PUT", &key, &q)?;
    let limit = state.cfg.max_upload_bytes;
    let dir = tempfile::tempdir().map_err(ApiError::internal)?;
    let tmp = dir.path().join("body");
    let mut file = tokio::fs::File::create(&tmp)
        .await
        .map_err(ApiError::internal)?;
    let mut stream = request.into_body().into_data_stream();
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "upload.too_large",
                "body too large",
            )
        })?;
        total += chunk.len() as u64;
        if total > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "upload.too_large",
                "body too large",
            ));
        }
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    file.flush().await.map_err(ApiError::internal)?;
    state
        .store
        .put_file(&key, &tmp, "application/octet-stream")
        .await?;
    Ok(StatusCode::OK.into_response())
}
