//! `lempctl s3 sync`: mirror a site's static export (or an ad-hoc directory) to an S3 bucket with
//! `services::s3`. One sync per site at a time (a lock file per site); nothing here prints: progress
//! goes to the caller's callback and the outcome comes back as data.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::Context;
use crate::config::global::Global;
use crate::config::site::{S3Site, valid_bucket};
use crate::config::values::valid_endpoint;
use crate::config::{self, UsageError};
use crate::engine::lock;
use crate::engine::report::{ErrorReport, Report};
use crate::services::s3::{
    self, CacheRule, Credentials, ProgressEvent, SyncError, SyncReport, SyncSpec,
};

/// What to sync.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// One site with an `s3` section.
    Site(String),
    /// Every site with an `s3` section.
    All,
    /// `--source DIR s3://BUCKET[/PREFIX]` (a real path, not under `--root`).
    AdHoc {
        source: PathBuf,
        url: String,
        endpoint: Option<String>,
        region: Option<String>,
        path_style: bool,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct SyncOptions {
    pub target: Target,
    pub force: bool,
    pub dry_run: bool,
    pub wait: Duration,
}

/// Progress of one sync: the label (site name or `s3://…` URL) and the module's event.
pub(crate) type Progress<'a> = dyn Fn(&str, ProgressEvent) + Send + Sync + 'a;

/// The outcome of one sync (a site or the ad-hoc target).
#[derive(Debug, Serialize)]
pub struct SyncOutcome {
    /// Site name, or the `s3://` URL of an ad-hoc sync.
    pub label: String,
    pub site: Option<String>,
    pub bucket: String,
    pub prefix: String,
    pub source: PathBuf,
    /// The module's report; for a partial failure, what was done before it.
    #[serde(flatten)]
    pub report: SyncReport,
    /// Keys whose upload or delete failed (partial failure).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_keys: Vec<String>,
    /// Why this sync failed (exit 1), if it did.
    pub error: Option<String>,
}

impl SyncOutcome {
    fn changed(&self) -> bool {
        if self.report.dry_run {
            !self.report.planned_uploads.is_empty() || !self.report.planned_deletes.is_empty()
        } else {
            self.report.uploaded > 0 || self.report.deleted > 0
        }
    }
}

/// Every sync of one command.
#[derive(Debug)]
pub struct SyncRun {
    pub all: bool,
    pub dry_run: bool,
    pub outcomes: Vec<SyncOutcome>,
}

impl SyncRun {
    /// 1 when any sync failed, else 0.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.outcomes.iter().any(|o| o.error.is_some()))
    }

    /// The `--json` object: a lempctl report with the sync report(s) under `sync` (one target)
    /// or `syncs` (`--all`).
    pub fn report(&self) -> Report {
        let failed: Vec<String> = self
            .outcomes
            .iter()
            .filter_map(|o| o.error.as_ref().map(|e| format!("{}: {e}", o.label)))
            .collect();
        let data = if self.all {
            serde_json::json!({ "syncs": self.outcomes })
        } else {
            serde_json::json!({ "sync": self.outcomes.first() })
        };
        Report {
            changed: self.outcomes.iter().any(SyncOutcome::changed),
            changes: Vec::new(),
            warnings: Vec::new(),
            error: (!failed.is_empty()).then(|| ErrorReport {
                message: failed.join("\n"),
                kind: "failure",
                exit_code: 1,
            }),
            data: Some(data),
            dry_run: self.dry_run,
            secrets_shown_once: Vec::new(),
        }
    }
}

/// Runs the sync(s). Invalid input (unknown site, no `s3` section, bad URL) is an `Err` before
/// anything is sent; failures of a sync are recorded in its outcome.
pub(crate) fn sync(ctx: &Context, opts: &SyncOptions, progress: &Progress<'_>) -> Result<SyncRun> {
    let mut jobs: Vec<Job> = Vec::new();
    let global = match &opts.target {
        Target::AdHoc {
            source,
            url,
            endpoint,
            region,
            path_style,
        } => {
            let mut errors = Vec::new();
            let g = config::load_global(&ctx.root, &ctx.config_path, &mut errors)?;
            if !errors.is_empty() {
                return Err(config::ConfigErrors(errors).into());
            }
            jobs.push(adhoc_job(
                source,
                url,
                endpoint.as_deref(),
                region.as_deref(),
                *path_style,
            )?);
            g
        }
        Target::Site(name) => {
            let config = ctx.load()?;
            let site = super::find_site(&config, name)?;
            let fqdn = site.name.clone();
            let s3 = site.s3.as_ref().ok_or_else(|| {
                UsageError(format!(
                    "site `{fqdn}` has no `s3` section in {}",
                    site.file.display()
                ))
            })?;
            jobs.push(site_job(ctx, fqdn.as_str(), s3));
            config.global
        }
        Target::All => {
            let config = ctx.load()?;
            for site in &config.sites {
                if let Some(s3) = &site.s3 {
                    jobs.push(site_job(ctx, site.name.as_str(), s3));
                }
            }
            config.global
        }
    };
    let credentials = credentials(ctx, &global)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut outcomes = Vec::new();
    for job in jobs {
        let lock_path = ctx.root.path(
            &global
                .paths
                .state_dir
                .join(format!("s3sync-{}.lock", job.lock_name)),
        );
        let _lock = if opts.dry_run {
            None
        } else {
            match lock::acquire(&lock_path, opts.wait) {
                Ok(l) => Some(l),
                Err(e) if matches!(opts.target, Target::All) => {
                    outcomes.push(job.outcome(
                        SyncReport::default(),
                        Vec::new(),
                        Some(format!("{e:#}")),
                    ));
                    continue;
                }
                Err(e) => return Err(e),
            }
        };
        let spec = SyncSpec {
            credentials: credentials.clone(),
            ..job.spec.clone()
        };
        let mut sopts = job.options.clone();
        sopts.force = opts.force;
        sopts.dry_run = opts.dry_run;
        let label = job.label.clone();
        let cb = |e: ProgressEvent| progress(&label, e);
        let result = runtime.block_on(s3::sync(&spec, &sopts, Some(&cb)));
        outcomes.push(match result {
            Ok(r) => job.outcome(r, Vec::new(), None),
            Err(SyncError::Partial {
                failed_keys,
                first_error,
                report,
            }) => {
                let msg = SyncError::Partial {
                    failed_keys: failed_keys.clone(),
                    first_error,
                    report: report.clone(),
                }
                .to_string();
                job.outcome(*report, failed_keys, Some(msg))
            }
            Err(e) => job.outcome(SyncReport::default(), Vec::new(), Some(describe(&e))),
        });
    }
    Ok(SyncRun {
        all: matches!(opts.target, Target::All),
        dry_run: opts.dry_run,
        outcomes,
    })
}

/// The error of a failed sync, with what was (not) done.
fn describe(e: &SyncError) -> String {
    match e {
        SyncError::Refused { .. } => format!("{e}; nothing was uploaded or deleted"),
        SyncError::Access { .. }
        | SyncError::NoSuchBucket { .. }
        | SyncError::Unreachable { .. } => {
            format!("{e}; nothing was deleted")
        }
        SyncError::Partial { .. } => e.to_string(),
        SyncError::Other(a) => format!("{a:#}"),
    }
}

/// One prepared sync.
struct Job {
    label: String,
    site: Option<String>,
    lock_name: String,
    spec: SyncSpec,
    options: s3::SyncOptions,
}

impl Job {
    fn outcome(
        &self,
        report: SyncReport,
        failed_keys: Vec<String>,
        error: Option<String>,
    ) -> SyncOutcome {
        SyncOutcome {
            label: self.label.clone(),
            site: self.site.clone(),
            bucket: self.spec.bucket.clone(),
            prefix: s3::normalize_prefix(self.spec.prefix.as_deref()),
            source: self.spec.source.clone(),
            report,
            failed_keys,
            error,
        }
    }
}

fn site_job(ctx: &Context, name: &str, s: &S3Site) -> Job {
    let mut excludes = s3::default_excludes();
    excludes.extend(s.excludes.iter().cloned());
    Job {
        label: name.to_owned(),
        site: Some(name.to_owned()),
        lock_name: name.to_owned(),
        spec: SyncSpec {
            bucket: s.bucket.clone(),
            prefix: s.prefix.clone(),
            region: s.region.clone(),
            endpoint: s.endpoint.clone(),
            path_style: s.path_style,
            source: ctx.root.path(&s.source),
            credentials: Credentials::Chain,
        },
        options: s3::SyncOptions {
            excludes,
            delete_excluded: s.delete_excluded,
            cache_control: s
                .cache_control
                .iter()
                .map(|r| CacheRule::new(&r.glob, &r.value))
                .collect(),
            concurrency: s.concurrency as usize,
            max_delete_share: s.max_delete_share,
            ..s3::SyncOptions::default()
        },
    }
}

fn adhoc_job(
    source: &std::path::Path,
    url: &str,
    endpoint: Option<&str>,
    region: Option<&str>,
    path_style: bool,
) -> Result<Job> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| UsageError(format!("`{url}` is not an s3://BUCKET[/PREFIX] URL")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    valid_bucket(bucket)
        .map_err(|why| UsageError(format!("invalid bucket name `{bucket}`: {why}")))?;
    if prefix.chars().any(char::is_control)
        || prefix
            .trim_matches('/')
            .split('/')
            .any(|c| c == "." || c == "..")
    {
        return Err(UsageError(format!("invalid key prefix `{}`", prefix.escape_debug())).into());
    }
    if let Some(e) = endpoint
        && !valid_endpoint(e)
    {
        return Err(UsageError(format!("--endpoint `{e}` is not an http(s) URL")).into());
    }
    let region = region.unwrap_or("us-east-1");
    if region.is_empty()
        || !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(UsageError(format!("--region `{region}` is not a region name")).into());
    }
    let prefix = s3::normalize_prefix(Some(prefix));
    Ok(Job {
        label: format!("s3://{bucket}/{prefix}"),
        site: None,
        lock_name: format!("adhoc-{bucket}"),
        spec: SyncSpec {
            bucket: bucket.to_owned(),
            prefix: (!prefix.is_empty()).then_some(prefix),
            region: region.to_owned(),
            endpoint: endpoint.map(|e| e.trim_end_matches('/').to_owned()),
            path_style,
            source: source.to_path_buf(),
            credentials: Credentials::Chain,
        },
        options: s3::SyncOptions::default(),
    })
}

/// Static keys from the global `s3.credentials_file` (0600, read now), else the AWS chain.
fn credentials(ctx: &Context, g: &Global) -> Result<Credentials> {
    match &g.s3.credentials_file {
        None => Ok(Credentials::Chain),
        Some(f) => s3::parse_credentials_file(&ctx.root.path(f), g.s3.profile.as_deref())
            .with_context(|| format!("s3.credentials_file in {}", g.file.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adhoc_urls() {
        let j = adhoc_job(
            std::path::Path::new("/tmp/x"),
            "s3://my-bucket/site/",
            Some("http://127.0.0.1:9000"),
            None,
            true,
        )
        .unwrap();
        assert_eq!(j.spec.bucket, "my-bucket");
        assert_eq!(j.spec.prefix.as_deref(), Some("site/"));
        assert_eq!(j.label, "s3://my-bucket/site/");
        let j = adhoc_job(std::path::Path::new("x"), "s3://bucket", None, None, false).unwrap();
        assert_eq!(j.spec.prefix, None);
        assert_eq!(j.spec.region, "us-east-1");
        for bad in [
            "http://bucket",
            "s3://Bad_Bucket",
            "s3://b",
            "s3://bucket/../x",
        ] {
            let e = adhoc_job(std::path::Path::new("x"), bad, None, None, false);
            assert!(e.is_err(), "{bad}");
        }
        assert!(
            adhoc_job(
                std::path::Path::new("x"),
                "s3://bucket",
                Some("ftp://x"),
                None,
                false
            )
            .is_err()
        );
    }
}
