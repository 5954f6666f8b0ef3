//! Remote side: S3 client construction, the one paginated listing, HEAD fallback, batched
//! deletes, request counters and classification of SDK errors into `SyncError`.
//! Invariant: every request this module (or upload.rs) sends is counted in `Counters`.

use super::etag::normalize_etag;
use super::plan::{HeadInfo, RemoteObject};
use super::{Credentials, RequestCounts, SyncError, SyncSpec};
use anyhow::Context;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// User metadata key (sent as `x-amz-meta-lempctl-md5`) holding the whole-file MD5.
pub(super) const MD5_META: &str = "lempctl-md5";

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub list: AtomicU64,
    pub put: AtomicU64,
    pub mpu_create: AtomicU64,
    pub mpu_part: AtomicU64,
    pub mpu_complete: AtomicU64,
    pub mpu_abort: AtomicU64,
    pub head: AtomicU64,
    pub delete_batches: AtomicU64,
}

pub(super) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(super) fn snapshot(&self) -> RequestCounts {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RequestCounts {
            list: g(&self.list),
            put: g(&self.put),
            mpu_create: g(&self.mpu_create),
            mpu_part: g(&self.mpu_part),
            mpu_complete: g(&self.mpu_complete),
            mpu_abort: g(&self.mpu_abort),
            head: g(&self.head),
            delete_batches: g(&self.delete_batches),
        }
    }
}

/// What error messages need to name.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub bucket: String,
    pub endpoint: String,
}

const ACCESS_CODES: &[&str] = &[
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "AllAccessDisabled",
    "InvalidSecurity",
];

/// `a: b: c` from an error and its sources, without repeats.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(x) = cur {
        let s = x.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = x.source();
    }
    parts.join(": ")
}

/// Map an SDK error to the classified `SyncError` (access / no bucket / unreachable / other).
pub(super) fn classify<E>(err: SdkError<E, HttpResponse>, t: &Target, what: &str) -> SyncError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let detail = DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or_default();
            let msg = se.err().message().unwrap_or_default();
            if code == "NoSuchBucket" || (status == 404 && code.is_empty() && what == "HeadBucket")
            {
                SyncError::NoSuchBucket {
                    bucket: t.bucket.clone(),
                }
            } else if ACCESS_CODES.contains(&code) || status == 403 || status == 401 {
                SyncError::Access {
                    bucket: t.bucket.clone(),
                    detail: format!("{what}: HTTP {status} {code} {msg}")
                        .trim()
                        .to_string(),
                }
            } else {
                SyncError::Other(anyhow::anyhow!(
                    "{what} on bucket `{}` failed: HTTP {status} {code} {msg}",
                    t.bucket
                ))
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            if detail.contains("credentials") {
                SyncError::Access {
                    bucket: t.bucket.clone(),
                    detail: format!("no usable credentials: {}", error_chain(&err)),
                }
            } else {
                SyncError::Unreachable {
                    endpoint: t.endpoint.clone(),
                    detail: error_chain(&err),
                }
            }
        }
        SdkError::ResponseError(_) => SyncError::Other(anyhow::anyhow!(
            "{what}: endpoint {} did not answer like S3: {detail}",
            t.endpoint
        )),
        _ => SyncError::Other(anyhow::anyhow!("{what} failed: {detail}")),
    }
}

/// Build the client: standard retry (3 attempts, backoff), no optional CRC checksums.
pub(super) async fn client(spec: &SyncSpec) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(spec.region.clone()))
        .retry_config(aws_config::retry::RetryConfig::standard());
    if let Some(ep) = &spec.endpoint {
        loader = loader.endpoint_url(ep);
    }
    if let Credentials::Static {
        access_key,
        secret_key,
        session_token,
    } = &spec.credentials
    {
        loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
            access_key,
            secret_key,
            session_token.clone(),
            None,
            "lempctl-static",
        ));
    }
    let conf = loader.load().await;
    let s3 = aws_sdk_s3::config::Builder::from(&conf)
        .force_path_style(spec.path_style)
        // CRC checksums would cost CPU and are not needed: we send Content-MD5 ourselves
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    Client::from_conf(s3)
}

/// One paginated ListObjectsV2 over the prefix; keys returned relative to it.
pub(super) async fn list(
    client: &Client,
    t: &Target,
    prefix: &str,
    c: &Counters,
) -> Result<Vec<RemoteObject>, SyncError> {
    let mut out = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(&t.bucket)
        .set_prefix((!prefix.is_empty()).then(|| prefix.to_string()))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        inc(&c.list);
        let page = page.map_err(|e| classify(e, t, "ListObjectsV2"))?;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            let Some(rel) = key.strip_prefix(prefix) else {
                continue;
            };
            if rel.is_empty() {
                continue;
            }
            out.push(RemoteObject {
                key: rel.to_string(),
                size: o.size().unwrap_or(0).max(0) as u64,
                etag: o.e_tag().and_then(normalize_etag),
            });
        }
    }
    tracing::debug!(objects = out.len(), "listed");
    Ok(out)
}

/// HeadObject for `rels` (relative keys), `concurrency` at a time. Missing objects are left out.
pub(super) async fn head_many(
    client: &Client,
    t: &Target,
    prefix: &str,
    rels: &[String],
    concurrency: usize,
    c: &Counters,
) -> Result<HashMap<String, HeadInfo>, SyncError> {
    let results: Vec<_> = futures::stream::iter(rels.iter().cloned())
        .map(|rel| async move {
            inc(&c.head);
            let r = client
                .head_object()
                .bucket(&t.bucket)
                .key(format!("{prefix}{rel}"))
                .send()
                .await;
            (rel, r)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut out = HashMap::new();
    for (rel, r) in results {
        match r {
            Ok(h) => {
                out.insert(
                    rel,
                    HeadInfo {
                        size: h.content_length().unwrap_or(0).max(0) as u64,
                        etag: h.e_tag().and_then(normalize_etag),
                        md5_meta: h
                            .metadata()
                            .and_then(|m| m.get(MD5_META))
                            .map(|s| s.trim().to_ascii_lowercase()),
                    },
                );
            }
            Err(SdkError::ServiceError(se)) if se.raw().status().as_u16() == 404 => {
                tracing::debug!(key = %rel, "HEAD: object vanished since listing");
            }
            Err(e) => return Err(classify(e, t, "HeadObject")),
        }
    }
    Ok(out)
}

/// Delete full `keys` with DeleteObjects, ≤1,000 per request. Returns keys that failed.
pub(super) async fn delete_keys(
    client: &Client,
    t: &Target,
    keys: &[String],
    c: &Counters,
    on_batch: &(dyn Fn(u64) + Send + Sync),
) -> Result<Vec<(String, String)>, SyncError> {
    let mut failed = Vec::new();
    for batch in keys.chunks(1000) {
        let ids = batch
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()
            .context("building DeleteObjects request")?;
        let del = Delete::builder()
            .set_objects(Some(ids))
            .quiet(true)
            .build()
            .context("building DeleteObjects request")?;
        inc(&c.delete_batches);
        let out = client
            .delete_objects()
            .bucket(&t.bucket)
            .delete(del)
            .send()
            .await
            .map_err(|e| classify(e, t, "DeleteObjects"));
        match out {
            Ok(o) => {
                let errs = o.errors();
                for e in errs {
                    failed.push((
                        e.key().unwrap_or_default().to_string(),
                        format!(
                            "{} {}",
                            e.code().unwrap_or_default(),
                            e.message().unwrap_or_default()
                        ),
                    ));
                }
                on_batch((batch.len() - errs.len()) as u64);
            }
            // a whole batch failing for access/reachability reasons is not "partial"
            Err(
                e @ (SyncError::Access { .. }
                | SyncError::Unreachable { .. }
                | SyncError::NoSuchBucket { .. }),
            ) if failed.is_empty() => return Err(e),
            Err(e) => failed.extend(batch.iter().map(|k| (k.clone(), e.to_string()))),
        }
    }
    Ok(failed)
}
