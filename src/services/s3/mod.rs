//! Mirror a static site export (a directory tree) to an S3 bucket/prefix, comparing by content.
//! Owns the public API (`SyncSpec`, `SyncOptions`, `sync`, `SyncReport`, `SyncError`).
//! Invariant: nothing is deleted unless every upload succeeded and the safety checks passed;
//! nothing is printed — callers get a report, progress events and classified errors.

mod credentials;
mod etag;
mod local;
mod objects;
mod plan;
mod remote;
mod rules;
mod upload;

pub(crate) use credentials::{Credentials, parse_credentials_file};
pub(crate) use objects::Objects;
pub(crate) use plan::UploadReason;
pub(crate) use rules::{CacheRule, default_excludes};

use anyhow::Context;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Where to sync from and to.
#[derive(Debug, Clone)]
pub(crate) struct SyncSpec {
    pub bucket: String,
    /// Key prefix (`site/` or `site`); `None` or empty = bucket root.
    pub prefix: Option<String>,
    pub region: String,
    /// Custom endpoint (`http://127.0.0.1:9000`); `None` = AWS.
    pub endpoint: Option<String>,
    pub path_style: bool,
    pub source: PathBuf,
    pub credentials: Credentials,
}

/// How to sync.
#[derive(Debug, Clone)]
pub(crate) struct SyncOptions {
    /// Gitignore-like globs, relative to the source root / prefix; see `default_excludes()`.
    pub excludes: Vec<String>,
    /// Delete remote objects matching `excludes` (default: excluded keys are ignored on both sides).
    pub delete_excluded: bool,
    /// First matching rule wins.
    pub cache_control: Vec<CacheRule>,
    pub concurrency: usize,
    /// Files strictly larger than this go multipart.
    pub multipart_threshold: u64,
    /// Multipart part size (≥ 5 MiB; doubled for files that would need > 10,000 parts).
    pub part_size: u64,
    /// Refuse when deletes exceed this share of the objects under the prefix.
    pub max_delete_share: f64,
    /// Override the empty-source and deletion-share refusals.
    pub force: bool,
    /// Plan only: list, hash, HEAD where needed; no PUT/DELETE.
    pub dry_run: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            excludes: default_excludes(),
            delete_excluded: false,
            cache_control: Vec::new(),
            concurrency: 32,
            // One PUT up to 64 MiB (S3 takes up to 5 GiB): fewer requests for typical large assets.
            multipart_threshold: 64 * 1024 * 1024,
            part_size: 8 * 1024 * 1024,
            max_delete_share: 0.5,
            force: false,
            dry_run: false,
        }
    }
}

/// Requests sent, by type (SDK retries of one call count once).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    pub list: u64,
    pub put: u64,
    pub mpu_create: u64,
    pub mpu_part: u64,
    pub mpu_complete: u64,
    pub mpu_abort: u64,
    pub head: u64,
    pub delete_batches: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedUpload {
    pub key: String,
    pub size: u64,
    pub reason: UploadReason,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    pub dry_run: bool,
    pub local_files: u64,
    pub remote_objects: u64,
    pub uploaded: u64,
    pub uploaded_bytes: u64,
    pub deleted: u64,
    pub unchanged: u64,
    /// Local files/directories skipped by the excludes.
    pub excluded_local: u64,
    /// Remote objects matching the excludes (ignored unless `delete_excluded`).
    pub excluded_remote: u64,
    pub requests: RequestCounts,
    pub duration_ms: u64,
    /// Dry run only.
    pub planned_uploads: Vec<PlannedUpload>,
    /// Dry run only (full keys).
    pub planned_deletes: Vec<String>,
    /// Dry run only: sizes of `planned_deletes` (same order).
    pub planned_delete_sizes: Vec<u64>,
}

/// Classified failures, so the caller can choose exit codes.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SyncError {
    #[error("refused: {reason}")]
    Refused { reason: String },
    #[error("access denied / invalid credentials for bucket `{bucket}`: {detail}")]
    Access { bucket: String, detail: String },
    #[error("bucket `{bucket}` does not exist")]
    NoSuchBucket { bucket: String },
    #[error("cannot reach endpoint {endpoint}: {detail}")]
    Unreachable { endpoint: String, detail: String },
    #[error("{} operation(s) failed ({}); nothing was rolled back{}: {}",
        failed_keys.len(), first_error, if report.deleted == 0 { ", no deletes done" } else { "" },
        key_list(failed_keys))]
    Partial {
        failed_keys: Vec<String>,
        first_error: String,
        report: Box<SyncReport>,
    },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

fn key_list(keys: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut s = keys
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if keys.len() > SHOWN {
        s.push_str(&format!(" … and {} more", keys.len() - SHOWN));
    }
    s
}

/// Progress notifications (the CLI layer renders them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressEvent {
    Scanned {
        files: u64,
        bytes: u64,
    },
    Listed {
        objects: u64,
    },
    Planned {
        uploads: u64,
        upload_bytes: u64,
        deletes: u64,
        unchanged: u64,
    },
    Uploaded {
        key: String,
        bytes: u64,
    },
    UploadFailed {
        key: String,
    },
    Deleted {
        count: u64,
    },
}

pub(crate) type ProgressFn<'a> = dyn Fn(ProgressEvent) + Send + Sync + 'a;

/// `site`, `/site/` → `site/`; empty → ``.
pub(crate) fn normalize_prefix(prefix: Option<&str>) -> String {
    let p = prefix.unwrap_or("").trim_matches('/');
    if p.is_empty() {
        String::new()
    } else {
        format!("{p}/")
    }
}

/// Mirror `spec.source` to `s3://bucket/prefix`.
pub(crate) async fn sync(
    spec: &SyncSpec,
    opts: &SyncOptions,
    progress: Option<&ProgressFn<'_>>,
) -> Result<SyncReport, SyncError> {
    let started = Instant::now();
    let emit = |e: ProgressEvent| {
        if let Some(p) = progress {
            p(e)
        }
    };
    if opts.part_size < etag::MIN_PART_SIZE {
        return Err(anyhow::anyhow!(
            "part size {} is below the S3 minimum of 5 MiB",
            opts.part_size
        )
        .into());
    }
    let concurrency = opts.concurrency.max(1);
    let excludes = Arc::new(rules::Excludes::new(&opts.excludes)?);
    let cache = rules::CacheRules::new(&opts.cache_control)?;
    let prefix = normalize_prefix(spec.prefix.as_deref());
    let target = remote::Target {
        bucket: spec.bucket.clone(),
        endpoint: spec
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("AWS S3 ({})", spec.region)),
    };

    let exists = spec.source.is_dir();
    let scan = if exists {
        let (root, ex) = (spec.source.clone(), Arc::clone(&excludes));
        tokio::task::spawn_blocking(move || local::scan(&root, &ex))
            .await
            .context("scan task failed")??
    } else {
        local::Scan::default()
    };
    plan::check_source(
        exists,
        scan.files.len(),
        &spec.source.display().to_string(),
        opts.force,
    )?;
    emit(ProgressEvent::Scanned {
        files: scan.files.len() as u64,
        bytes: scan.files.iter().map(|f| f.size).sum(),
    });

    let counters = Arc::new(remote::Counters::default());
    let client = remote::client(spec).await;
    // hash on blocking threads while the listing runs
    let (threshold, part_size) = (opts.multipart_threshold, opts.part_size);
    let mut files = scan.files;
    let source = scan.source;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let hashing_source = source.clone();
    let hashing = tokio::task::spawn_blocking(move || match &hashing_source {
        Some(src) => {
            local::hash_all(src, &mut files, threshold, part_size, threads).map(|()| files)
        }
        None => Ok(files),
    });
    let listed = remote::list(&client, &target, &prefix, &counters).await;
    let files = hashing.await.context("hash task failed")??;
    let listed = listed?;
    emit(ProgressEvent::Listed {
        objects: listed.len() as u64,
    });

    let mut heads = HashMap::new();
    let mut p = plan::plan(
        &files,
        &listed,
        &heads,
        &excludes,
        opts.delete_excluded,
        threshold,
    );
    if !p.need_head.is_empty() {
        tracing::debug!(
            keys = p.need_head.len(),
            "listing cannot decide; HEAD fallback"
        );
        heads = remote::head_many(
            &client,
            &target,
            &prefix,
            &p.need_head,
            concurrency,
            &counters,
        )
        .await?;
        p = plan::plan(
            &files,
            &listed,
            &heads,
            &excludes,
            opts.delete_excluded,
            threshold,
        );
        // vanished between LIST and HEAD: upload
        for rel in std::mem::take(&mut p.need_head) {
            if let Some(i) = files.iter().position(|f| f.rel == rel) {
                p.uploads.push(plan::UploadItem {
                    local: i,
                    reason: UploadReason::Changed,
                });
            }
        }
    }
    plan::check_delete_share(
        p.deletes.len(),
        p.remote_total,
        opts.max_delete_share,
        opts.force,
    )?;
    let upload_bytes: u64 = p.uploads.iter().map(|u| files[u.local].size).sum();
    emit(ProgressEvent::Planned {
        uploads: p.uploads.len() as u64,
        upload_bytes,
        deletes: p.deletes.len() as u64,
        unchanged: p.unchanged,
    });

    let mut report = SyncReport {
        dry_run: opts.dry_run,
        local_files: files.len() as u64,
        remote_objects: p.remote_total,
        unchanged: p.unchanged,
        excluded_local: scan.excluded,
        excluded_remote: p.excluded_remote,
        ..SyncReport::default()
    };
    let delete_keys: Vec<String> = p.deletes.iter().map(|k| format!("{prefix}{k}")).collect();
    if opts.dry_run {
        report.planned_uploads = p
            .uploads
            .iter()
            .map(|u| PlannedUpload {
                key: format!("{prefix}{}", files[u.local].rel),
                size: files[u.local].size,
                reason: u.reason,
            })
            .collect();
        let sizes: HashMap<&str, u64> = listed.iter().map(|o| (o.key.as_str(), o.size)).collect();
        report.planned_delete_sizes = p
            .deletes
            .iter()
            .map(|k| sizes.get(k.as_str()).copied().unwrap_or(0))
            .collect();
        report.planned_deletes = delete_keys;
        report.requests = counters.snapshot();
        report.duration_ms = started.elapsed().as_millis() as u64;
        return Ok(report);
    }

    let jobs: Vec<upload::Job> = p
        .uploads
        .iter()
        .map(|u| {
            let f = &files[u.local];
            upload::Job {
                key: format!("{prefix}{}", f.rel),
                path: f.path.clone(),
                rel: f.rel.clone(),
                source: source.clone(),
                size: f.size,
                md5: f.md5.clone(),
                content_type: upload::content_type(&f.rel),
                cache_control: cache.for_path(&f.rel).map(str::to_string),
                multipart: (f.size > threshold).then_some(part_size),
            }
        })
        .collect();
    let mut failed: Vec<(String, String)> = Vec::new();
    let mut on_done = |d: &upload::Done| match &d.result {
        Ok(()) => {
            report.uploaded += 1;
            report.uploaded_bytes += d.size;
            emit(ProgressEvent::Uploaded {
                key: d.key.clone(),
                bytes: d.size,
            });
        }
        Err(e) => {
            failed.push((d.key.clone(), format!("{e:#}")));
            emit(ProgressEvent::UploadFailed { key: d.key.clone() });
        }
    };
    upload::run(
        &client,
        &spec.bucket,
        jobs,
        concurrency,
        &counters,
        &mut on_done,
    )
    .await;

    if failed.is_empty() && !delete_keys.is_empty() {
        let deleted = std::sync::atomic::AtomicU64::new(0);
        let on_batch = |n: u64| {
            deleted.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            emit(ProgressEvent::Deleted { count: n });
        };
        let del_failed =
            remote::delete_keys(&client, &target, &delete_keys, &counters, &on_batch).await;
        report.deleted = deleted.into_inner();
        match del_failed {
            Ok(f) => failed.extend(f),
            Err(e) => return Err(e),
        }
    }
    report.requests = counters.snapshot();
    report.duration_ms = started.elapsed().as_millis() as u64;
    if !failed.is_empty() {
        failed.sort();
        let first_error = failed[0].1.clone();
        return Err(SyncError::Partial {
            failed_keys: failed.into_iter().map(|(k, _)| k).collect(),
            first_error,
            report: Box::new(report),
        });
    }
    tracing::debug!(?report.requests, uploaded = report.uploaded, deleted = report.deleted, "sync done");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(normalize_prefix(None), "");
        assert_eq!(normalize_prefix(Some("/")), "");
        assert_eq!(normalize_prefix(Some("site")), "site/");
        assert_eq!(normalize_prefix(Some("/a/b/")), "a/b/");
    }

    #[test]
    fn partial_message_lists_keys() {
        let e = SyncError::Partial {
            failed_keys: (0..25).map(|i| format!("k{i}")).collect(),
            first_error: "boom".into(),
            report: Box::default(),
        };
        let s = e.to_string();
        assert!(s.contains("25 operation(s) failed (boom)"), "{s}");
        assert!(s.contains("k0, k1") && s.contains("and 5 more"), "{s}");
    }
}
