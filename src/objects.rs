//! R2 (the `EXPORTS` bucket) behind the domain's `ObjectStore` port: export bundles written
//! whole or in parts, and signed checkpoints.

use parityrail_core::domain::store::PartRef;
use parityrail_core::domain::store::{ObjectStore, StoreError};
use worker::{Bucket, Conditional, Env, HttpMetadata, UploadedPart};

pub struct R2Objects {
    bucket: Bucket,
}

fn failed(what: &str) -> impl Fn(worker::Error) -> StoreError + '_ {
    move |e| StoreError::Failed(format!("R2 {what}: {e}"))
}

/// The deadline of one R2 call (a part is at most tens of MiB).
const R2_MS: u64 = 60_000;

/// An R2 call's outcome, or a `StoreError` when it gave none within `R2_MS`.
async fn r2<T>(
    what: &str,
    call: impl std::future::Future<Output = worker::Result<T>>,
) -> Result<T, StoreError> {
    match crate::clock::within(R2_MS, call).await {
        Some(done) => done.map_err(failed(what)),
        None => Err(StoreError::Failed(format!("R2 {what}: no answer in time"))),
    }
}

fn metadata(content_type: &str) -> HttpMetadata {
    HttpMetadata {
        content_type: Some(content_type.to_owned()),
        ..Default::default()
    }
}

impl R2Objects {
    pub fn new(env: &Env) -> Result<Self, StoreError> {
        Ok(R2Objects {
            bucket: env.bucket("EXPORTS").map_err(failed("binding"))?,
        })
    }

    /// The object under `key` for streaming out (its size and body), if any.
    pub async fn object(&self, key: &str) -> Result<Option<worker::Object>, StoreError> {
        r2("get", self.bucket.get(key).execute()).await
    }

    /// The object under `key` and its version (ETag), if any.
    pub async fn get_versioned(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        let Some(obj) = self.object(key).await? else {
            return Ok(None);
        };
        let etag = obj.etag();
        let bytes = match obj.body() {
            Some(body) => r2("read", body.bytes()).await?,
            None => Vec::new(),
        };
        Ok(Some((bytes, etag)))
    }

    /// Stores `bytes` under `key` only while the object there still has ETag `version`, or with
    /// `None` only while there is no object (R2's conditional put). Whether it was stored.
    pub async fn put_if(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        version: Option<&str>,
    ) -> Result<bool, StoreError> {
        let put = self
            .bucket
            .put(key, bytes)
            .http_metadata(metadata(content_type));
        let put = put.only_if(match version {
            Some(v) => Conditional {
                etag_matches: Some(v.to_owned()),
                ..Default::default()
            },
            None => Conditional {
                etag_does_not_match: Some("*".to_owned()),
                ..Default::default()
            },
        });
        Ok(r2("put", put.execute()).await?.is_some())
    }
}

impl ObjectStore for R2Objects {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StoreError> {
        let put = self
            .bucket
            .put(key, bytes)
            .http_metadata(metadata(content_type))
            .execute();
        r2("put", put).await?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(obj) = self.object(key).await? else {
            return Ok(None);
        };
        match obj.body() {
            Some(body) => Ok(Some(r2("read", body.bytes()).await?)),
            None => Ok(Some(Vec::new())),
        }
    }

    async fn create_multipart(&self, key: &str, content_type: &str) -> Result<String, StoreError> {
        let create = self
            .bucket
            .create_multipart_upload(key)
            .http_metadata(metadata(content_type))
            .execute();
        let upload = r2("create multipart upload", create).await?;
        Ok(upload.upload_id().await)
    }

    async fn upload_part(
        &self,
        key: &str,
        upload: &str,
        n: u16,
        bytes: Vec<u8>,
    ) -> Result<String, StoreError> {
        let up = self
            .bucket
            .resume_multipart_upload(key, upload)
            .map_err(failed("resume multipart upload"))?;
        let part = r2("upload part", up.upload_part(n, bytes)).await?;
        Ok(part.etag())
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload: &str,
        parts: &[PartRef],
    ) -> Result<(), StoreError> {
        let up = self
            .bucket
            .resume_multipart_upload(key, upload)
            .map_err(failed("resume multipart upload"))?;
        let done = up.complete(parts.iter().map(|p| UploadedPart::new(p.n, p.etag.clone())));
        r2("complete multipart upload", done).await?;
        Ok(())
    }
}
