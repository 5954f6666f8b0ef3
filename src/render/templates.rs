//! Embedded template sources, by name. A file of the same name under the configured templates
//! directory overrides the embedded one. Names are paths relative to `templates/`; shared nginx
//! snippets are `globals/…` and shipped systemd units `units/…`.

/// Every embedded template, `(name, source)`.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "nginx/vhost.conf.j2",
        include_str!("../../templates/nginx/vhost.conf.j2"),
    ),
    (
        "nginx/site-body.conf.j2",
        include_str!("../../templates/nginx/site-body.conf.j2"),
    ),
    (
        "nginx/kind/php.conf.j2",
        include_str!("../../templates/nginx/kind/php.conf.j2"),
    ),
    (
        "nginx/kind/wordpress.conf.j2",
        include_str!("../../templates/nginx/kind/wordpress.conf.j2"),
    ),
    (
        "nginx/kind/static.conf.j2",
        include_str!("../../templates/nginx/kind/static.conf.j2"),
    ),
    (
        "nginx/kind/redirect.conf.j2",
        include_str!("../../templates/nginx/kind/redirect.conf.j2"),
    ),
    (
        "nginx/kind/proxy.conf.j2",
        include_str!("../../templates/nginx/kind/proxy.conf.j2"),
    ),
    (
        "nginx/wordpress-fastcgi.conf.j2",
        include_str!("../../templates/nginx/wordpress-fastcgi.conf.j2"),
    ),
    (
        "wordpress/wp-config.php.j2",
        include_str!("../../templates/wordpress/wp-config.php.j2"),
    ),
    (
        "wordpress/install.php",
        include_str!("../../templates/wordpress/install.php"),
    ),
    (
        "wordpress/tasks.php",
        include_str!("../../templates/wordpress/tasks.php"),
    ),
    (
        "php-fpm/pool.conf.j2",
        include_str!("../../templates/php-fpm/pool.conf.j2"),
    ),
    (
        "php-fpm/master.conf.j2",
        include_str!("../../templates/php-fpm/master.conf.j2"),
    ),
    (
        "php/opcache.ini.j2",
        include_str!("../../templates/php/opcache.ini.j2"),
    ),
    (
        "site/index.php.j2",
        include_str!("../../templates/site/index.php.j2"),
    ),
    (
        "site/index.html.j2",
        include_str!("../../templates/site/index.html.j2"),
    ),
    (
        "systemd/schedule.conf.j2",
        include_str!("../../templates/systemd/schedule.conf.j2"),
    ),
    (
        "cron/lempctl.j2",
        include_str!("../../templates/cron/lempctl.j2"),
    ),
    (
        "sandbox/lempctl.yaml.j2",
        include_str!("../../templates/sandbox/lempctl.yaml.j2"),
    ),
    (
        "sandbox/nginx.conf.j2",
        include_str!("../../templates/sandbox/nginx.conf.j2"),
    ),
    (
        "sandbox/php-fpm.conf.j2",
        include_str!("../../templates/sandbox/php-fpm.conf.j2"),
    ),
    (
        "globals/security-headers.conf",
        include_str!("../../globals/security-headers.conf"),
    ),
    (
        "globals/deny-dotfiles.conf",
        include_str!("../../globals/deny-dotfiles.conf"),
    ),
    (
        "globals/deny-php-in-uploads.conf",
        include_str!("../../globals/deny-php-in-uploads.conf"),
    ),
    (
        "globals/static-assets.conf",
        include_str!("../../globals/static-assets.conf"),
    ),
    ("globals/gzip.conf", include_str!("../../globals/gzip.conf")),
    (
        "globals/acme-challenge.conf.j2",
        include_str!("../../globals/acme-challenge.conf.j2"),
    ),
    (
        "units/lempctl-alert@.service.j2",
        include_str!("../../systemd/lempctl-alert@.service.j2"),
    ),
    (
        "units/lempctl-php-fpm.service.j2",
        include_str!("../../systemd/lempctl-php-fpm.service.j2"),
    ),
    (
        "units/lempctl-apply.service.j2",
        include_str!("../../systemd/lempctl-apply.service.j2"),
    ),
    (
        "units/lempctl-apply.timer.j2",
        include_str!("../../systemd/lempctl-apply.timer.j2"),
    ),
    (
        "units/lempctl-backup@.service.j2",
        include_str!("../../systemd/lempctl-backup@.service.j2"),
    ),
    (
        "units/lempctl-backup@.timer.j2",
        include_str!("../../systemd/lempctl-backup@.timer.j2"),
    ),
    (
        "units/lempctl-wpcron@.service.j2",
        include_str!("../../systemd/lempctl-wpcron@.service.j2"),
    ),
    (
        "units/lempctl-wpcron@.timer.j2",
        include_str!("../../systemd/lempctl-wpcron@.timer.j2"),
    ),
    (
        "units/lempctl-s3sync@.service.j2",
        include_str!("../../systemd/lempctl-s3sync@.service.j2"),
    ),
    (
        "units/lempctl-s3sync@.timer.j2",
        include_str!("../../systemd/lempctl-s3sync@.timer.j2"),
    ),
    (
        "fail2ban/jail.local.j2",
        include_str!("../../templates/fail2ban/jail.local.j2"),
    ),
    (
        "fail2ban/lempctl-wp-login.conf",
        include_str!("../../templates/fail2ban/lempctl-wp-login.conf"),
    ),
    (
        "fail2ban/lempctl-xmlrpc.conf",
        include_str!("../../templates/fail2ban/lempctl-xmlrpc.conf"),
    ),
    (
        "fail2ban/lempctl-scan.conf",
        include_str!("../../templates/fail2ban/lempctl-scan.conf"),
    ),
    (
        "logrotate/lempctl.j2",
        include_str!("../../templates/logrotate/lempctl.j2"),
    ),
    (
        "units/lempctl-cert-renew.service.j2",
        include_str!("../../systemd/lempctl-cert-renew.service.j2"),
    ),
    (
        "units/lempctl-cert-renew.timer.j2",
        include_str!("../../systemd/lempctl-cert-renew.timer.j2"),
    ),
    (
        "units/lempctl-cert-check.service.j2",
        include_str!("../../systemd/lempctl-cert-check.service.j2"),
    ),
    (
        "units/lempctl-cert-check.timer.j2",
        include_str!("../../systemd/lempctl-cert-check.timer.j2"),
    ),
];

/// The shared nginx snippets installed under `<nginx_dir>/lempctl/`, by installed file name.
pub fn globals() -> impl Iterator<Item = (&'static str, &'static str)> {
    EMBEDDED.iter().filter_map(|(name, _)| {
        name.strip_prefix("globals/")
            .map(|f| (*name, f.trim_end_matches(".j2")))
    })
}

pub fn embedded(name: &str) -> Option<&'static str> {
    EMBEDDED.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every file under templates/, globals/ and systemd/ is embedded, and nothing else.
    #[test]
    fn embedded_names_match_the_repository_files() {
        let top = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut on_disk = Vec::new();
        for (dir, prefix) in [
            ("templates", ""),
            ("globals", "globals/"),
            ("systemd", "units/"),
        ] {
            for e in walkdir::WalkDir::new(top.join(dir))
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
            {
                let rel = e
                    .path()
                    .strip_prefix(top.join(dir))
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                on_disk.push(format!("{prefix}{rel}"));
            }
        }
        on_disk.sort();
        let mut names: Vec<String> = EMBEDDED.iter().map(|(n, _)| (*n).to_owned()).collect();
        names.sort();
        assert_eq!(on_disk, names);
    }
}
