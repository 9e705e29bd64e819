//! The S3 store on aws-sdk-s3: AWS itself or any S3-compatible server
//! (custom endpoint, path-style addressing, static credentials from the
//! configuration). Presigned URLs are plain SigV4 query-signed URLs, so
//! clients upload and download without the bytes passing through the API.
//!
//! The HTTP client is hyper with rustls on ring (no aws-lc, no cmake), and
//! request checksums are only sent where S3 demands them, which keeps the
//! client compatible with self-hosted servers that do not know the newer
//! flexible checksums.
//!
//! Objects go up in a single PUT, which S3 caps at 5 GB; nothing vidmocap
//! stores comes near that (uploads are capped far lower), so there is no
//! multipart path.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use tokio::io::AsyncWriteExt;

use super::{validate_key, validate_prefix, ObjectMeta, Presigned, Store, StoreConfig, StoreError};

/// S3's limit on keys per DeleteObjects request.
const DELETE_BATCH: usize = 1000;

/// One bucket of an S3-compatible server.
pub struct S3Store {
    client: Client,
    bucket: String,
    cfg: StoreConfig,
}

impl S3Store {
    /// Starts reading an object (the key checked first); the body streams.
    async fn get_object(
        &self,
        key: &str,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, StoreError> {
        validate_key(key)?;
        self.client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| not_found_or_backend(key, "get object", e))
    }

    /// Builds the client from `cfg`; makes no request (a wrong endpoint or
    /// credentials show on first use).
    pub async fn from_config(cfg: &StoreConfig) -> Result<Self, StoreError> {
        if cfg.bucket.is_empty() {
            return Err(StoreError::Config(
                "store.bucket must be set for the s3 store".into(),
            ));
        }
        if cfg.access_key_id.is_empty() || cfg.secret_access_key.is_empty() {
            return Err(StoreError::Config(
                "store.access_key_id and store.secret_access_key must be set for the s3 store"
                    .into(),
            ));
        }
        if cfg.region.is_empty() {
            return Err(StoreError::Config(
                "store.region must be set for the s3 store".into(),
            ));
        }
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let credentials = Credentials::new(
            cfg.access_key_id.clone(),
            cfg.secret_access_key.clone(),
            None,
            None,
            "vidmocap-config",
        );
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(cfg.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(cfg.path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .http_client(http);
        if !cfg.endpoint.is_empty() {
            builder = builder.endpoint_url(cfg.endpoint.trim_end_matches('/'));
        }
        Ok(S3Store {
            client: Client::from_conf(builder.build()),
            bucket: cfg.bucket.clone(),
            cfg: cfg.clone(),
        })
    }

    /// Creates the bucket unless it is already there (for first start against
    /// a fresh self-hosted server).
    pub async fn ensure_bucket(&self) -> Result<(), StoreError> {
        if self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.code(),
                    Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(backend("create bucket", e)),
        }
    }

    fn presigning(&self, expires: Duration) -> Result<(PresigningConfig, i64), StoreError> {
        let start = SystemTime::now();
        let expires = self.cfg.clamp_expiry(expires);
        let start_unix = start
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let config = PresigningConfig::builder()
            .start_time(start)
            .expires_in(expires)
            .build()
            .map_err(|e| StoreError::Config(format!("presigning: {e}")))?;
        Ok((config, start_unix + expires.as_secs() as i64))
    }
}

#[async_trait]
impl Store for S3Store {
    async fn put_file(&self, key: &str, src: &Path, content_type: &str) -> Result<u64, StoreError> {
        validate_key(key)?;
        let size = tokio::fs::metadata(src)
            .await
            .map_err(|e| StoreError::Io(format!("{}: {e}", src.display())))?
            .len();
        let body = ByteStream::from_path(src)
            .await
            .map_err(|e| StoreError::Io(format!("{}: {e}", src.display())))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(size as i64)
            .body(body)
            .send()
            .await
            .map_err(|e| backend("put object", e))?;
        Ok(size)
    }

    async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StoreError> {
        validate_key(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| backend("put object", e))?;
        Ok(())
    }

    async fn get_to_file(&self, key: &str, dest: &Path) -> Result<u64, StoreError> {
        let out = self.get_object(key).await?;
        let io = |e: std::io::Error| StoreError::Io(format!("{}: {e}", dest.display()));
        let mut file = tokio::fs::File::create(dest).await.map_err(io)?;
        let mut body = out.body;
        let mut written = 0u64;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| StoreError::Backend(format!("reading object {key}: {e}")))?
        {
            file.write_all(&chunk).await.map_err(io)?;
            written += chunk.len() as u64;
        }
        file.flush().await.map_err(io)?;
        Ok(written)
    }

    async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let out = self.get_object(key).await?;
        let data = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Backend(format!("reading object {key}: {e}")))?;
        Ok(data.into_bytes().to_vec())
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        validate_key(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectMeta {
                key: key.to_string(),
                size: out.content_length().unwrap_or(0).max(0) as u64,
                modified_unix: out.last_modified().map(|t| t.secs()).unwrap_or(0),
            })),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(backend("head object", e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        validate_key(key)?;
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(backend("delete object", e)),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        if prefix.is_empty() {
            return Err(StoreError::InvalidKey {
                key: String::new(),
                reason: "delete_prefix needs a non-empty prefix",
            });
        }
        let keys: Vec<String> = self
            .list(prefix)
            .await?
            .into_iter()
            .map(|m| m.key)
            .collect();
        let mut deleted = 0u64;
        for batch in keys.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StoreError::Backend(format!("delete request: {e}")))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| StoreError::Backend(format!("delete request: {e}")))?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| backend("delete objects", e))?;
            if let Some(err) = out.errors().first() {
                return Err(StoreError::Backend(format!(
                    "delete objects: {} of {} failed, first {:?}: {:?}",
                    out.errors().len(),
                    batch.len(),
                    err.key(),
                    err.message()
                )));
            }
            deleted += batch.len() as u64;
        }
        Ok(deleted)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        validate_prefix(prefix)?;
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| backend("list objects", e))?;
            for obj in page.contents() {
                let Some(key) = obj.key() else { continue };
                out.push(ObjectMeta {
                    key: key.to_string(),
                    size: obj.size().unwrap_or(0).max(0) as u64,
                    modified_unix: obj.last_modified().map(|t| t.secs()).unwrap_or(0),
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn presign_get(
        &self,
        key: &str,
        expires: Duration,
        download_name: Option<&str>,
    ) -> Result<Presigned, StoreError> {
        validate_key(key)?;
        let (config, expires_unix) = self.presigning(expires)?;
        let name = download_name
            .map(super::local::safe_file_name)
            .filter(|n| !n.is_empty());
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_response_content_disposition(name.map(|n| format!("attachment; filename=\"{n}\"")))
            .presigned(config)
            .await
            .map_err(|e| backend("presign get", e))?;
        Ok(presigned(req, expires_unix))
    }

    async fn presign_put(
        &self,
        key: &str,
        expires: Duration,
        content_type: &str,
    ) -> Result<Presigned, StoreError> {
        validate_key(key)?;
        let (config, expires_unix) = self.presigning(expires)?;
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .presigned(config)
            .await
            .map_err(|e| backend("presign put", e))?;
        Ok(presigned(req, expires_unix))
    }
}

fn presigned(req: PresignedRequest, expires_unix: i64) -> Presigned {
    Presigned {
        method: req.method().to_string(),
        url: req.uri().to_string(),
        headers: req
            .headers()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect(),
        expires_unix,
    }
}

fn is_not_found<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    // HEAD replies carry no body, so a missing object shows only as a 404.
    let status_404 = e.raw_response().map(|r| r.status().as_u16()) == Some(404);
    status_404 || matches!(e.code(), Some("NoSuchKey" | "NotFound"))
}

fn not_found_or_backend<E>(key: &str, what: &str, e: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if is_not_found(&e) {
        StoreError::NotFound(key.to_string())
    } else {
        backend(what, e)
    }
}

fn backend<E>(what: &str, e: SdkError<E, HttpResponse>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    StoreError::Backend(format!("{what}: {}", DisplayErrorContext(&e)))
}
