//! A backup policy: a site's `backup` section, or the default for every site in lempctl.yaml's
//! `backup.sites`. Shared by the global and site validation, so it belongs to neither.

use super::check::Ctx;
use super::file::S;

/// A site's backup schedule and retention policy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SiteBackup {
    pub schedule: super::schedule::Schedule,
    pub keep_last: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
}

pub const DEFAULT_BACKUP_SCHEDULE: &str = "30 3 * * *";

/// A backup policy from a site's `backup` section (or lempctl.yaml's `backup.sites`, named by
/// `field`).
pub(super) fn site_backup(
    ctx: &mut Ctx<'_>,
    b: &super::file::SiteBackupFile,
    field: &str,
) -> Option<SiteBackup> {
    let schedule = match &b.schedule {
        Some(v) => match super::schedule::Schedule::parse(&v.value) {
            Ok(s) => Some(s),
            Err(e) => {
                ctx.err(
                    v,
                    &format!("{field}.schedule"),
                    e,
                    Some(super::schedule::ALLOWED),
                );
                None
            }
        },
        None => super::schedule::Schedule::parse(DEFAULT_BACKUP_SCHEDULE).ok(),
    };
    let keep = |v: &Option<S<u32>>, d: u32| v.as_ref().map_or(d, |v| v.value);
    let policy = SiteBackup {
        schedule: schedule?,
        keep_last: keep(&b.keep_last, 7),
        keep_daily: keep(&b.keep_daily, 7),
        keep_weekly: keep(&b.keep_weekly, 4),
        keep_monthly: keep(&b.keep_monthly, 6),
    };
    if policy.keep_last + policy.keep_daily + policy.keep_weekly + policy.keep_monthly == 0 {
        let v = [&b.keep_last, &b.keep_daily, &b.keep_weekly, &b.keep_monthly]
            .into_iter()
            .flatten()
            .next();
        if let Some(v) = v {
            ctx.err(v, &format!("{field}.keep_last"), "a retention policy that keeps nothing would delete every backup", Some("at least one of `keep_last`, `keep_daily`, `keep_weekly`, `keep_monthly` above 0"));
        }
        return None;
    }
    Some(policy)
}
