//! `tuning`: opcache shares, file limits and the id range of site users.

use crate::config::check::Ctx;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Tuning {
    pub opcache_mb_per_site: u32,
    pub opcache_files_per_site: u32,
    pub nofile_soft_limit: u32,
    /// Range of uid/gid for site users (their own range: the system range is too small).
    pub site_ids: (u32, u32),
}

pub(super) fn section(ctx: &mut Ctx<'_>, t: crate::config::file::TuningFile) -> Tuning {
    Tuning {
        opcache_mb_per_site: t.opcache_mb_per_site.map_or(16, |v| v.value),
        opcache_files_per_site: t.opcache_files_per_site.map_or(400, |v| v.value),
        nofile_soft_limit: t.nofile_soft_limit.map_or(1024, |v| v.value),
        site_ids: {
            let (lo, hi) = (&t.site_uid_min, &t.site_uid_max);
            let (l, h) = (
                lo.as_ref().map_or(20_000, |v| v.value),
                hi.as_ref().map_or(59_999, |v| v.value),
            );
            if l < 1000 || h <= l {
                if let Some(v) = lo.as_ref().or(hi.as_ref()) {
                    ctx.err(
                        v,
                        "tuning.site_uid_min",
                        format!("{l}-{h} is not a usable id range"),
                        Some("1000 <= site_uid_min < site_uid_max"),
                    );
                }
                (20_000, 59_999)
            } else {
                (l, h)
            }
        },
    }
}
