//! `health`: the requests `apply` makes after a reload.

use crate::config::check::Ctx;

#[derive(Debug, Clone, serde::Serialize)]
pub struct HealthGlobal {
    pub enabled: bool,
    pub address: String,
    pub timeout_ms: u32,
    /// At most this many changed sites are probed (an even sample of them); 0 = all.
    pub max_sites: u32,
}

pub(super) fn section(ctx: &mut Ctx<'_>, h: crate::config::file::HealthGlobalFile) -> HealthGlobal {
    HealthGlobal {
        enabled: h.enabled.unwrap_or(true),
        address: ctx.token(h.address.as_ref(), "health.address", "127.0.0.1"),
        timeout_ms: h.timeout_ms.as_ref().map_or(5000, |t| t.value),
        max_sites: h.max_sites.as_ref().map_or(50, |t| t.value),
    }
}
