//! `paths`: where lempctl reads and writes on the host (Debian defaults).

use std::path::PathBuf;

use crate::config::check::Ctx;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Paths {
    pub sites_dir: PathBuf,
    pub state_dir: PathBuf,
    pub archive_dir: PathBuf,
    pub templates_dir: PathBuf,
    pub www_root: PathBuf,
    pub nginx_dir: PathBuf,
    pub nginx_log_dir: PathBuf,
    pub php_dir: PathBuf,
    pub php_log_dir: PathBuf,
    pub run_dir: PathBuf,
    pub systemd_dir: PathBuf,
    pub cron_file: PathBuf,
    pub logrotate_dir: PathBuf,
    pub fail2ban_dir: PathBuf,
}

impl Paths {
    pub fn state_file(&self) -> PathBuf {
        self.state_dir.join("state.json")
    }
    pub fn lock_file(&self) -> PathBuf {
        self.state_dir.join("lock")
    }
}

pub(super) fn section(ctx: &mut Ctx<'_>, p: crate::config::file::PathsFile) -> Paths {
    Paths {
        sites_dir: ctx.path(
            p.sites_dir.as_ref(),
            "paths.sites_dir",
            "/etc/lempctl/sites.d",
        ),
        state_dir: ctx.path(p.state_dir.as_ref(), "paths.state_dir", "/var/lib/lempctl"),
        archive_dir: ctx.path(
            p.archive_dir.as_ref(),
            "paths.archive_dir",
            "/var/lib/lempctl/archive",
        ),
        templates_dir: ctx.path(
            p.templates_dir.as_ref(),
            "paths.templates_dir",
            "/etc/lempctl/templates",
        ),
        www_root: ctx.path(p.www_root.as_ref(), "paths.www_root", "/srv/www"),
        nginx_dir: ctx.path(p.nginx_dir.as_ref(), "paths.nginx_dir", "/etc/nginx"),
        nginx_log_dir: ctx.path(
            p.nginx_log_dir.as_ref(),
            "paths.nginx_log_dir",
            "/var/log/nginx",
        ),
        php_dir: ctx.path(p.php_dir.as_ref(), "paths.php_dir", "/etc/php"),
        php_log_dir: ctx.path(p.php_log_dir.as_ref(), "paths.php_log_dir", "/var/log/php"),
        run_dir: ctx.path(p.run_dir.as_ref(), "paths.run_dir", "/run"),
        systemd_dir: ctx.path(
            p.systemd_dir.as_ref(),
            "paths.systemd_dir",
            "/etc/systemd/system",
        ),
        cron_file: ctx.path(
            p.cron_file.as_ref(),
            "paths.cron_file",
            "/etc/cron.d/lempctl",
        ),
        logrotate_dir: ctx.path(
            p.logrotate_dir.as_ref(),
            "paths.logrotate_dir",
            "/etc/logrotate.d",
        ),
        fail2ban_dir: ctx.path(
            p.fail2ban_dir.as_ref(),
            "paths.fail2ban_dir",
            "/etc/fail2ban",
        ),
    }
}
