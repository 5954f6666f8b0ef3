//! `programs` and `direct`: the programs lempctl runs and, without a service manager, how it
//! starts and signals the servers itself.

use crate::config::check::Ctx;
use crate::host::machine::{Direct, Programs};

pub(super) fn programs(ctx: &mut Ctx<'_>, pr: crate::config::file::ProgramsFile) -> Programs {
    Programs {
        nginx: ctx.path(pr.nginx.as_ref(), "programs.nginx", "/usr/sbin/nginx"),
        php_fpm: ctx.token(
            pr.php_fpm.as_ref(),
            "programs.php_fpm",
            "/usr/sbin/php-fpm{version}",
        ),
        systemctl: ctx.path(
            pr.systemctl.as_ref(),
            "programs.systemctl",
            "/usr/bin/systemctl",
        ),
        systemd_analyze: ctx.path(
            pr.systemd_analyze.as_ref(),
            "programs.systemd_analyze",
            "/usr/bin/systemd-analyze",
        ),
        service: ctx.path(pr.service.as_ref(), "programs.service", "/usr/sbin/service"),
        useradd: ctx.path(pr.useradd.as_ref(), "programs.useradd", "/usr/sbin/useradd"),
        userdel: ctx.path(pr.userdel.as_ref(), "programs.userdel", "/usr/sbin/userdel"),
        tar: ctx.path(pr.tar.as_ref(), "programs.tar", "/usr/bin/tar"),
        lempctl: ctx.path(
            pr.lempctl.as_ref(),
            "programs.lempctl",
            "/usr/local/bin/lempctl",
        ),
        mariadbd: ctx.path(
            pr.mariadbd.as_ref(),
            "programs.mariadbd",
            "/usr/sbin/mariadbd",
        ),
        mariadb_install_db: ctx.path(
            pr.mariadb_install_db.as_ref(),
            "programs.mariadb_install_db",
            "/usr/bin/mariadb-install-db",
        ),
        php: ctx.token(pr.php.as_ref(), "programs.php", "/usr/bin/php{version}"),
        runuser: ctx.path(pr.runuser.as_ref(), "programs.runuser", "/usr/sbin/runuser"),
        logrotate: ctx.path(
            pr.logrotate.as_ref(),
            "programs.logrotate",
            "/usr/sbin/logrotate",
        ),
        fail2ban_client: ctx.path(
            pr.fail2ban_client.as_ref(),
            "programs.fail2ban_client",
            "/usr/bin/fail2ban-client",
        ),
    }
}

pub(super) fn direct(ctx: &mut Ctx<'_>, d: crate::config::file::DirectFile) -> Direct {
    Direct {
        nginx_conf: ctx.path(
            d.nginx_conf.as_ref(),
            "direct.nginx_conf",
            "/etc/nginx/nginx.conf",
        ),
        nginx_pid: ctx.path(d.nginx_pid.as_ref(), "direct.nginx_pid", "/run/nginx.pid"),
        php_fpm_conf: ctx.token(
            d.php_fpm_conf.as_ref(),
            "direct.php_fpm_conf",
            "/etc/php/{version}/fpm/php-fpm.conf",
        ),
        php_fpm_pid: ctx.token(
            d.php_fpm_pid.as_ref(),
            "direct.php_fpm_pid",
            "/run/php/php{version}-fpm.pid",
        ),
        mariadb_datadir: d
            .mariadb_datadir
            .as_ref()
            .map(|v| ctx.path(Some(v), "direct.mariadb_datadir", "/var/lib/mysql")),
        mariadb_port: d.mariadb_port.as_ref().map_or(3306, |p| p.value),
    }
}
