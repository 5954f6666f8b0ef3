//! `lempctl import wpzo`: its arguments and its human output.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use super::printer::Printer;
use crate::ops::{self, Context};

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Adopt the sites of a host built by the wpzo shell scripts: write their site files, copy
    /// their web roots into lempctl's site trees and keep their database credentials; the next
    /// `apply` replaces the old vhosts and pools by lempctl's without a failed request.
    ///
    /// With --dry-run: what it found, what it would write, the old scripts' defects each
    /// adoption fixes, and the sites it cannot adopt with the reason. Sites it cannot adopt are
    /// left untouched. See docs/migrating.md.
    Wpzo {
        /// The wpzo work directory as the services read it (a host path, under --root): its
        /// `nginx/sites-available`, `nginx/sites-enabled`, `php-fpm.d` and, if present,
        /// `conf/site.conf`. On a wpzo host /etc/nginx and /etc/php-fpm.d are that directory's.
        #[arg(long, value_name = "DIR", default_value = "/etc")]
        from: PathBuf,
    },
}

/// Runs `lempctl import …`.
pub(super) fn run(
    ctx: &Context,
    c: &ImportCommand,
    p: &Printer,
    dry_run: bool,
    wait: std::time::Duration,
) -> Result<()> {
    match c {
        ImportCommand::Wpzo { from } => {
            let o = ops::import::ImportOptions {
                from: from.clone(),
                dry_run,
                wait,
            };
            p.data(&ops::import::wpzo(ctx, &o)?, import_text);
        }
    }
    Ok(())
}

fn import_text(r: &ops::import::ImportResult) -> String {
    let mut out = Vec::new();
    let verb = if r.dry_run { "would adopt" } else { "adopted" };
    out.push(format!(
        "{} vhost(s) in {}: {verb} {}, left untouched {}",
        r.sites.len() + r.skipped.len(),
        r.from.join("nginx/sites-available").display(),
        r.sites.len(),
        r.skipped.len()
    ));
    for s in &r.sites {
        out.push(format!(
            "\n{} ({}, was {})",
            s.site, s.kind, s.technical_name
        ));
        if let (Some(db), Some(u)) = (&s.database, &s.db_user) {
            let kept = if s.credentials_kept {
                "password kept"
            } else {
                "new password"
            };
            out.push(format!("  database {db}, user {u} ({kept})"));
        }
        out.push("  fixes:".to_owned());
        out.extend(s.fixes.iter().map(|f| format!("    - {f}")));
        out.push(if r.dry_run {
            "  would change:".to_owned()
        } else {
            "  changed:".to_owned()
        });
        out.extend(s.changes.iter().map(|c| format!("    - {c}")));
    }
    if !r.skipped.is_empty() {
        out.push("\nnot adopted (left untouched):".to_owned());
        out.extend(
            r.skipped
                .iter()
                .map(|s| format!("  {}: {}", s.vhost.display(), s.reason)),
        );
    }
    if !r.sites.is_empty() {
        out.push(if r.dry_run {
            "\nrun without --dry-run, then `lempctl apply`".to_owned()
        } else {
            "\nnext: `lempctl apply --dry-run`, then `lempctl apply`".to_owned()
        });
    }
    out.join("\n")
}
