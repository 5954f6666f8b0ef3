//! `lempctl s3 …`: its arguments, their conversion into options and its human output.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::GlobalArgs;
use super::printer::Printer;
use crate::config::UsageError;
use crate::ops::{self, Context};

#[derive(Debug, Subcommand)]
pub enum S3Command {
    /// Mirror a site's static export (its `s3` section), every such site (--all), or a directory
    /// (--source DIR s3://BUCKET[/PREFIX]) to S3. With --dry-run: the uploads and deletes it would do.
    Sync(S3SyncArgs),
}

#[derive(Debug, Args)]
pub struct S3SyncArgs {
    /// A site with an `s3` section; with --source, the target `s3://BUCKET[/PREFIX]`.
    #[arg(
        value_name = "SITE|s3://BUCKET[/PREFIX]",
        required_unless_present = "all"
    )]
    pub target: Option<String>,
    /// Every site with an `s3` section (what the timers run).
    #[arg(long, conflicts_with_all = ["target", "source"])]
    pub all: bool,
    /// Ad-hoc sync of this directory (a real path) to the s3:// URL given as the target.
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,
    /// S3-compatible endpoint of an ad-hoc sync (default: AWS).
    #[arg(long, value_name = "URL", requires = "source")]
    pub endpoint: Option<String>,
    /// Region of an ad-hoc sync (default `us-east-1`).
    #[arg(long, value_name = "REGION", requires = "source")]
    pub region: Option<String>,
    /// Path-style addressing for an ad-hoc sync (most self-hosted servers need it).
    #[arg(long, requires = "source")]
    pub path_style: bool,
    /// Sync even from an empty or missing source, or when more than the allowed share of the
    /// bucket would be deleted.
    #[arg(long)]
    pub force: bool,
}

/// Runs `lempctl s3 …`; returns its exit code (1 when a sync failed).
pub(super) fn run(
    ctx: &Context,
    s: &S3Command,
    p: &Printer,
    g: &GlobalArgs,
    wait: Duration,
) -> Result<u8> {
    let S3Command::Sync(a) = s;
    let opts = ops::s3::SyncOptions {
        target: target(a)?,
        force: a.force,
        dry_run: g.dry_run,
        wait,
    };
    let progress = p.s3_progress();
    let run = ops::s3::sync(ctx, &opts, &|label, e| progress.event(label, e));
    progress.finish();
    Ok(p.s3_sync(&run?))
}

/// What `s3 sync` mirrors: every site, one site, or a directory to a URL.
fn target(a: &S3SyncArgs) -> Result<ops::s3::Target> {
    Ok(match (&a.source, a.all, &a.target) {
        (_, true, _) => ops::s3::Target::All,
        (Some(src), false, Some(url)) => ops::s3::Target::AdHoc {
            source: src.clone(),
            url: url.clone(),
            endpoint: a.endpoint.clone(),
            region: a.region.clone(),
            path_style: a.path_style,
        },
        (None, false, Some(site)) if site.starts_with("s3://") => {
            return Err(UsageError(format!(
                "`{site}` is an S3 URL: an ad-hoc sync needs --source DIR"
            ))
            .into());
        }
        (None, false, Some(site)) => ops::s3::Target::Site(site.clone()),
        (_, false, None) => {
            return Err(UsageError("name a SITE, or use --all".into()).into());
        }
    })
}
