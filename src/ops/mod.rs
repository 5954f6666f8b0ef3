//! One function per command: takes a `Context` and an options struct, returns a `Report` or data.
//! Nothing here prints.

pub(crate) mod apply;
pub(crate) mod backup;
pub(crate) mod cert;
pub(crate) mod db;
pub(crate) mod doctor;
pub(crate) mod import;
pub(crate) mod jobs;
pub(crate) mod pebble;
pub(crate) mod s3;
pub(crate) mod sandbox;
pub(crate) mod security;
pub(crate) mod site;
pub(crate) mod site_copy;
pub(crate) mod staging;
pub(crate) mod status;
pub(crate) mod wp;

use std::path::PathBuf;

use anyhow::Result;

use crate::config::{self, Config};
use crate::host::Root;

/// Where a command works: the root and the configuration file (a host path under the root).
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub root: Root,
    pub config_path: PathBuf,
    /// Warnings of the load (site files set aside as invalid), printed with the command's output.
    pub notes: Notes,
    /// Set once this run has mailed an alert, so a scheduled job's failure is mailed once.
    pub alerted: std::rc::Rc<std::cell::Cell<bool>>,
}

/// Warnings gathered while a command runs, shared with the printer.
#[derive(Debug, Clone, Default)]
pub struct Notes(std::rc::Rc<std::cell::RefCell<Vec<String>>>);

impl Notes {
    pub fn push(&self, warning: String) {
        let mut v = self.0.borrow_mut();
        if !v.contains(&warning) {
            v.push(warning);
        }
    }

    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

/// The configured site of that name; a bad or unknown name is invalid input (exit 2).
pub(crate) fn find_site<'a>(config: &'a Config, name: &str) -> Result<&'a crate::config::Site> {
    let fqdn = crate::config::Fqdn::parse(name).map_err(|why| {
        crate::config::UsageError(format!(
            "invalid site name `{name}`: {why}\n  allowed: {}",
            config::fqdn::ALLOWED
        ))
    })?;
    if let Some(b) = config.broken_site(fqdn.as_str()) {
        return Err(broken_error(b));
    }
    config.site(&fqdn).ok_or_else(|| {
        let unknown: Vec<String> = config
            .broken
            .iter()
            .map(|b| b.file.display().to_string())
            .collect();
        let hint = if unknown.is_empty() {
            String::new()
        } else {
            format!(" (invalid site files, not read: {})", unknown.join(", "))
        };
        crate::config::UsageError(format!(
            "no site `{fqdn}` in {}{hint}",
            config.global.paths.sites_dir.display()
        ))
        .into()
    })
}

/// The problems of the broken file of a site a command names (exit 2).
pub(crate) fn broken_error(b: &crate::config::BrokenSite) -> anyhow::Error {
    b.error()
}

/// Converges one site through the engine (host-wide files included).
pub(crate) fn converge_site(
    ctx: &Context,
    config: &Config,
    site: &crate::config::Site,
    dry_run: bool,
    wait: std::time::Duration,
) -> Result<crate::engine::report::Report> {
    let opts = crate::engine::RunOptions {
        scope: crate::engine::Scope::Sites(vec![site.name.clone()]),
        dry_run,
        wait,
        ..Default::default()
    };
    crate::engine::run(&ctx.root, config, &opts)
}

impl Context {
    /// The configuration with every site file that loads; a site file that does not is set
    /// aside (`Config::broken`, its site names reserved) and named in a warning, so commands
    /// about other sites and the scheduled per-site jobs go on. Errors in the host
    /// configuration still fail. A command naming a set-aside site fails in `find_site`.
    pub(crate) fn load(&self) -> Result<Config> {
        let mut config = config::load_lenient(&self.root, &self.config_path)?;
        let global = crate::engine::preflight::global_errors(&self.root, &config.global);
        if !global.is_empty() {
            return Err(config::ConfigErrors(global).into());
        }
        let unmet: Vec<_> = config
            .sites
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    crate::engine::preflight::site_errors(&self.root, s),
                )
            })
            .filter(|(_, e)| !e.is_empty())
            .collect();
        for (name, errors) in unmet {
            config.set_aside(&name, errors);
        }
        if config.broken.is_empty() {
            return Ok(config);
        }
        // The state knows which file each applied site came from: a broken file keeps its
        // site's name even when the file no longer says it.
        let state =
            crate::engine::state::State::load(&self.root, &config.global.paths.state_file())
                .unwrap_or_default();
        for (name, rec) in &state.sites {
            let Some(f) = &rec.file else { continue };
            let files: Vec<PathBuf> = config
                .broken
                .iter()
                .filter(|b| b.file.file_name() == Some(f.as_os_str()))
                .map(|b| b.file.clone())
                .collect();
            for file in files {
                config.reserve(&file, std::slice::from_ref(name));
            }
        }
        // A broken file whose site is still unknown may be any applied site that did not load.
        let unknown: Vec<PathBuf> = config
            .broken
            .iter()
            .filter(|b| b.names.is_empty())
            .map(|b| b.file.clone())
            .collect();
        for file in unknown {
            let missing: Vec<String> = state
                .sites
                .keys()
                .filter(|n| {
                    !config.sites.iter().any(|s| s.name.as_str() == n.as_str())
                        && config.broken_site(n).is_none()
                })
                .cloned()
                .collect();
            config.reserve(&file, &missing);
        }
        for w in config.warnings() {
            self.notes.push(w);
        }
        Ok(config)
    }

    /// The configuration with every site file valid (`apply` of everything): any problem fails.
    pub(crate) fn load_strict(&self) -> Result<Config> {
        let config = config::load(&self.root, &self.config_path)?;
        let errors: Vec<_> = crate::engine::preflight::global_errors(&self.root, &config.global)
            .into_iter()
            .chain(
                config
                    .sites
                    .iter()
                    .flat_map(|s| crate::engine::preflight::site_errors(&self.root, s)),
            )
            .collect();
        if !errors.is_empty() {
            return Err(config::ConfigErrors(errors).into());
        }
        Ok(config)
    }

    /// A site file validated as `apply` will read it: its values, then what it needs on the
    /// host (the preflight step). `None` when `errors` got a problem.
    pub(crate) fn validate_site(
        &self,
        file: &std::path::Path,
        parsed: config::file::SiteFile,
        global: &config::Global,
        errors: &mut Vec<config::ConfigError>,
    ) -> Option<config::Site> {
        let site = config::site::validate(file, parsed, global, errors)?;
        let unmet = crate::engine::preflight::site_errors(&self.root, &site);
        if unmet.is_empty() {
            return Some(site);
        }
        errors.extend(unmet);
        None
    }
}

/// This machine's name, for alert mails.
pub(crate) fn hostname() -> String {
    crate::host::machine::hostname()
}

/// Mails `subject` and `body` to `alerts.to` (nothing when no `alerts` section). The SMTP
/// credentials file must be root-only.
pub(crate) fn send_alert(ctx: &Context, subject: &str, body: &str) -> Result<()> {
    use anyhow::anyhow;
    let config = crate::config::load_global(&ctx.root, &ctx.config_path, &mut Vec::new())?;
    let Some(a) = &config.alerts else {
        return Ok(());
    };
    let credentials = match &a.credentials_file {
        None => None,
        Some(p) => {
            let real = ctx.root.path(p);
            let meta = std::fs::metadata(&real).map_err(|e| anyhow!("{}: {e}", real.display()))?;
            if std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o077 != 0 {
                anyhow::bail!(
                    "{} is readable by others: make it 0600 (root only)",
                    real.display()
                );
            }
            let text = ctx
                .root
                .read(p)?
                .ok_or_else(|| anyhow!("{} does not exist", real.display()))?;
            Some(
                crate::services::mail::parse_credentials(&String::from_utf8_lossy(&text))
                    .map_err(|e| anyhow!("{}: {e}", real.display()))?,
            )
        }
    };
    crate::services::mail::send(a, credentials, subject, body)?;
    ctx.alerted.set(true);
    Ok(())
}
