//! `lempctl status`: the services, and for each site whether its files are in place and unedited.

use anyhow::Result;
use serde::Serialize;

use super::Context;
use crate::engine::state::{State, sha256};
use crate::host::service_manager::{self, Service};

#[derive(Debug, Serialize)]
pub struct ServiceStatus {
    pub service: String,
    pub running: bool,
}

#[derive(Debug, Serialize)]
pub struct SiteStatus {
    pub name: String,
    pub kind: &'static str,
    pub enabled: bool,
    pub applied: bool,
    pub drifted: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub manager: String,
    pub services: Vec<ServiceStatus>,
    pub sites: Vec<SiteStatus>,
    pub removed_sites: Vec<String>,
    /// Site files that do not load (`file:line:column: problem`); their sites are left alone.
    pub invalid_files: Vec<String>,
}

impl Status {
    /// Something needs a person: `status` then exits 1.
    pub fn needs_attention(&self) -> bool {
        !self.invalid_files.is_empty()
    }
}

pub fn status(ctx: &Context) -> Result<Status> {
    let config = ctx.load()?;
    let g = &config.global;
    let state = State::load(&ctx.root, &g.paths.state_file())?;
    let mut services = vec![Service::Nginx];
    let mut versions: Vec<String> = config
        .sites
        .iter()
        .filter_map(|s| s.php.as_ref().map(|p| p.version.clone()))
        .collect();
    versions.push(g.php_version.clone());
    versions.sort();
    versions.dedup();
    services.extend(versions.into_iter().map(Service::PhpFpm));
    let services = services
        .into_iter()
        .map(|s| ServiceStatus {
            running: service_manager::is_running(&ctx.root, g, &s).unwrap_or(false),
            service: s.unit(),
        })
        .collect();
    let mut sites = Vec::new();
    for site in &config.sites {
        let mut drifted = Vec::new();
        for (path, _) in state
            .files
            .iter()
            .filter(|(_, r)| r.site.as_deref() == Some(site.name.as_str()))
        {
            match ctx.root.read(path)? {
                Some(cur) if state.owns_content(path, &sha256(&cur)) => {}
                _ => drifted.push(path.display().to_string()),
            }
        }
        sites.push(SiteStatus {
            name: site.name.to_string(),
            kind: site.kind.as_str(),
            enabled: site.enabled,
            applied: state.sites.contains_key(site.name.as_str()),
            drifted,
        });
    }
    let removed_sites = state
        .sites
        .keys()
        .filter(|k| {
            !config.sites.iter().any(|s| s.name.as_str() == k.as_str())
                && config.broken_site(k).is_none()
        })
        .cloned()
        .collect();
    Ok(Status {
        manager: format!("{:?}", g.manager).to_lowercase(),
        services,
        sites,
        removed_sites,
        invalid_files: config
            .broken
            .iter()
            .flat_map(|b| b.errors.iter().map(ToString::to_string))
            .collect(),
    })
}
