//! Uploads: single PUT or multipart (aborted on failure), bounded concurrency, Content-Type.
//! Invariant: every body is sent with its Content-MD5 (whole file or part) and the whole-file
//! MD5 as `x-amz-meta-lempctl-md5`, so a file that changed after hashing is rejected, not stored.

use super::etag::effective_part_size;
use super::remote::{Counters, MD5_META, inc};
use anyhow::{Context, Result, bail};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use base64::Engine;
use md5::{Digest, Md5};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

/// One file to send.
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub key: String,
    /// For messages only: the file is opened below `source` by `rel`, never by this path.
    pub path: PathBuf,
    pub rel: String,
    pub source: Option<super::local::Source>,
    pub size: u64,
    pub md5: String,
    pub content_type: String,
    pub cache_control: Option<String>,
    /// `Some(configured part size)` when the file goes multipart.
    pub multipart: Option<u64>,
}

/// Content-Type from the extension; textual types get `; charset=utf-8`.
pub(super) fn content_type(rel: &str) -> String {
    let m = mime_guess::from_path(rel).first_or_octet_stream();
    let textual = m.type_() == mime_guess::mime::TEXT
        || matches!(
            m.essence_str(),
            "application/javascript"
                | "application/json"
                | "application/xml"
                | "application/xhtml+xml"
                | "application/rss+xml"
                | "application/atom+xml"
                | "application/manifest+json"
                | "image/svg+xml"
        );
    if textual && m.get_param("charset").is_none() {
        format!("{}; charset=utf-8", m.essence_str())
    } else {
        m.to_string()
    }
}

fn b64_md5_hex(hex_md5: &str) -> Result<String> {
    let raw = hex::decode(hex_md5).context("bad md5 hex")?;
    Ok(base64::engine::general_purpose::STANDARD.encode(raw))
}

fn sdk<E: std::error::Error + 'static>(e: E) -> anyhow::Error {
    anyhow::anyhow!("{}", DisplayErrorContext(e))
}

impl Job {
    fn open(&self) -> Result<std::fs::File> {
        let source = self
            .source
            .as_ref()
            .context("a file to upload has a source")?;
        source.open(&self.rel)
    }
}

/// Upload one file (PUT or multipart). No HEAD afterwards.
pub(super) async fn upload(client: &Client, bucket: &str, job: &Job, c: &Counters) -> Result<()> {
    match job.multipart {
        Some(part) => multipart(client, bucket, job, part, c).await,
        None => put(client, bucket, job, c).await,
    }
}

async fn put(client: &Client, bucket: &str, job: &Job, c: &Counters) -> Result<()> {
    // Streamed from disk (and re-opened on a retry), so memory stays flat with 32 uploads in flight.
    // The retry re-opens the descriptor's own /proc link: the same file, whatever its name is now.
    let file = job.open()?;
    let body = ByteStream::from_path(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .await
        .with_context(|| format!("reading {}", job.path.display()))?;
    inc(&c.put);
    client
        .put_object()
        .bucket(bucket)
        .key(&job.key)
        .content_type(&job.content_type)
        .set_cache_control(job.cache_control.clone())
        .content_md5(b64_md5_hex(&job.md5)?)
        .metadata(MD5_META, &job.md5)
        .body(body)
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}

async fn multipart(
    client: &Client,
    bucket: &str,
    job: &Job,
    part_size: u64,
    c: &Counters,
) -> Result<()> {
    inc(&c.mpu_create);
    let created = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(&job.key)
        .content_type(&job.content_type)
        .set_cache_control(job.cache_control.clone())
        .metadata(MD5_META, &job.md5)
        .send()
        .await
        .map_err(sdk)?;
    let upload_id = created
        .upload_id()
        .context("CreateMultipartUpload returned no upload id")?
        .to_string();
    let result = send_parts(client, bucket, job, part_size, &upload_id, c).await;
    let result = match result {
        Ok(parts) => {
            inc(&c.mpu_complete);
            client
                .complete_multipart_upload()
                .bucket(bucket)
                .key(&job.key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map(|_| ())
                .map_err(sdk)
        }
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        inc(&c.mpu_abort);
        // best effort: leaving the upload would keep billing for its parts
        if let Err(ae) = client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(&job.key)
            .upload_id(&upload_id)
            .send()
            .await
        {
            tracing::warn!(key = %job.key, error = %DisplayErrorContext(&ae), "abort multipart upload failed");
        }
        return Err(e);
    }
    Ok(())
}

async fn send_parts(
    client: &Client,
    bucket: &str,
    job: &Job,
    part_size: u64,
    upload_id: &str,
    c: &Counters,
) -> Result<Vec<CompletedPart>> {
    let part = effective_part_size(job.size, part_size);
    let mut file = tokio::fs::File::from_std(job.open()?);
    let mut whole = Md5::new();
    let mut parts = Vec::new();
    let mut remaining = job.size;
    let mut number = 1i32;
    while remaining > 0 || number == 1 {
        let n = remaining.min(part);
        let mut buf = vec![0u8; usize::try_from(n).context("part too large")?];
        file.read_exact(&mut buf)
            .await
            .with_context(|| format!("reading {} (changed during sync?)", job.path.display()))?;
        whole.update(&buf);
        let part_md5 = Md5::digest(&buf);
        inc(&c.mpu_part);
        let out = client
            .upload_part()
            .bucket(bucket)
            .key(&job.key)
            .upload_id(upload_id)
            .part_number(number)
            .content_md5(base64::engine::general_purpose::STANDARD.encode(part_md5))
            .body(ByteStream::from(buf))
            .send()
            .await
            .map_err(sdk)
            .with_context(|| format!("part {number}"))?;
        parts.push(
            CompletedPart::builder()
                .set_e_tag(out.e_tag().map(str::to_string))
                .part_number(number)
                .build(),
        );
        remaining -= n;
        number += 1;
    }
    if hex::encode(whole.finalize()) != job.md5 {
        bail!("{} changed during sync", job.path.display());
    }
    Ok(parts)
}

/// Outcome of one job.
pub(super) struct Done {
    pub key: String,
    pub size: u64,
    pub result: Result<()>,
}

/// Run `jobs` with at most `concurrency` in flight on the runtime's worker threads.
/// `on_done` is called on the caller's task as each finishes.
pub(super) async fn run(
    client: &Client,
    bucket: &str,
    jobs: Vec<Job>,
    concurrency: usize,
    c: &Arc<Counters>,
    on_done: &mut dyn FnMut(&Done),
) -> Vec<Done> {
    let mut set = tokio::task::JoinSet::new();
    let mut pending = jobs.into_iter();
    let mut out = Vec::new();
    loop {
        while set.len() < concurrency.max(1) {
            let Some(job) = pending.next() else { break };
            let (client, bucket, c) = (client.clone(), bucket.to_string(), Arc::clone(c));
            set.spawn(async move {
                let result = upload(&client, &bucket, &job, &c).await;
                if let Err(e) = &result {
                    tracing::debug!(key = %job.key, error = %format!("{e:#}"), "upload failed");
                }
                Done {
                    key: job.key,
                    size: job.size,
                    result,
                }
            });
        }
        let Some(joined) = set.join_next().await else {
            break;
        };
        let done = match joined {
            Ok(d) => d,
            // a panicked task has lost its key; report it as a generic failure
            Err(e) => Done {
                key: "<unknown>".into(),
                size: 0,
                result: Err(anyhow::anyhow!("upload task failed: {e}")),
            },
        };
        on_done(&done);
        out.push(done);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("a/b.css"), "text/css; charset=utf-8");
        assert!(content_type("app.js").ends_with("javascript; charset=utf-8"));
        assert_eq!(content_type("x.json"), "application/json; charset=utf-8");
        assert_eq!(content_type("i.svg"), "image/svg+xml; charset=utf-8");
        assert_eq!(content_type("p.png"), "image/png");
        assert_eq!(content_type("f.woff2"), "font/woff2");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    #[test]
    fn b64() {
        assert_eq!(
            b64_md5_hex("d41d8cd98f00b204e9800998ecf8427e").unwrap(),
            "1B2M2Y8AsgTpgAmY7PhCfg=="
        );
    }
}
