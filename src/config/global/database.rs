//! `database`: how lempctl reaches MariaDB as administrator, and the defaults of site databases.

use std::path::PathBuf;

use crate::config::check::Ctx;
use crate::config::values::safe_token;

pub const DEFAULT_CHARSET: &str = "utf8mb4";
/// UCA 14.0 collation, available since MariaDB 10.10; dumps then need MariaDB ≥ 10.10 to load.
pub const DEFAULT_COLLATION: &str = "utf8mb4_uca1400_ai_ci";

/// How lempctl reaches MariaDB as administrator.
#[derive(Debug, Clone, serde::Serialize)]
pub enum DbAdmin {
    /// Unix-socket authentication as root (a host path, mapped under `--root`).
    Socket(PathBuf),
    /// TCP with a password admin read from a 0600 credentials file.
    Tcp {
        host: String,
        port: u16,
        credentials_file: PathBuf,
        tls: Option<DbTls>,
    },
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DbTls {
    pub ca_file: Option<PathBuf>,
    pub verify: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Database {
    pub admin: DbAdmin,
    /// Host part of site users: where the web server connects from.
    pub web_hosts: Vec<String>,
    pub allow_host_patterns: bool,
    pub charset: String,
    pub collation: String,
    /// Other lempctl hosts use the same server: accounts at hosts other than `web_hosts` are
    /// theirs, and a site that leaves this host keeps its database (another host may serve it).
    pub shared: bool,
    /// Site users are `REQUIRE SSL` and WordPress connects with TLS (only with `host` + `tls`).
    pub require_tls: bool,
}

pub(super) fn section(ctx: &mut Ctx<'_>, d: crate::config::file::DatabaseFile) -> Database {
    let admin = match (&d.host, &d.socket) {
        (Some(h), None) => {
            if !safe_token(&h.value) {
                ctx.err(
                    h,
                    "database.host",
                    format!("`{}` is not a host name or address", h.value),
                    Some("a host name or IP address"),
                );
            }
            let credentials_file = match &d.credentials_file {
                Some(_) => ctx.path(
                    d.credentials_file.as_ref(),
                    "database.credentials_file",
                    "/etc/lempctl/mariadb-admin.cnf",
                ),
                None => {
                    ctx.err(
                        h,
                        "database.credentials_file",
                        "a TCP admin connection needs a credentials file",
                        Some("an absolute path to a 0600 file with `user=` and `password=` lines"),
                    );
                    PathBuf::new()
                }
            };
            let tls = d.tls.as_ref().map(|t| DbTls {
                ca_file: t
                    .ca_file
                    .as_ref()
                    .map(|c| ctx.path(Some(c), "database.tls.ca_file", "/")),
                verify: t.verify.unwrap_or(true),
            });
            DbAdmin::Tcp {
                host: h.value.clone(),
                port: d.port.as_ref().map_or(3306, |p| p.value),
                credentials_file,
                tls,
            }
        }
        (Some(h), Some(_)) => {
            ctx.err(
                h,
                "database.host",
                "`host` and `socket` exclude each other",
                Some("either `socket` (local, the default) or `host` + `credentials_file`"),
            );
            DbAdmin::Socket(PathBuf::from("/run/mysqld/mysqld.sock"))
        }
        (None, s) => {
            DbAdmin::Socket(ctx.path(s.as_ref(), "database.socket", "/run/mysqld/mysqld.sock"))
        }
    };
    let mut web_hosts = Vec::new();
    let patterns = d.allow_host_patterns.unwrap_or(false);
    for (i, h) in d.web_hosts.iter().enumerate() {
        match crate::config::values::valid_db_host(&h.value, patterns) {
            Ok(()) => web_hosts.push(h.value.clone()),
            Err(e) => ctx.err(h, &format!("database.web_hosts[{i}]"), e.to_string(), Some("`localhost`, an IP address or a host name; `%` patterns only with `allow_host_patterns: true`")),
        }
    }
    if web_hosts.is_empty() {
        web_hosts.push(match &admin {
            DbAdmin::Socket(_) => "localhost".to_owned(),
            DbAdmin::Tcp { .. } => "127.0.0.1".to_owned(),
        });
    }
    let charset = ctx.charset_word(d.charset.as_ref(), "database.charset", DEFAULT_CHARSET);
    let collation = ctx.charset_word(
        d.collation.as_ref(),
        "database.collation",
        DEFAULT_COLLATION,
    );
    let require_tls = match &d.require_tls {
        Some(r) if r.value && !matches!(admin, DbAdmin::Tcp { tls: Some(_), .. }) => {
            ctx.err(
                r,
                "database.require_tls",
                "`require_tls: true` needs a TLS connection to the server",
                Some("`require_tls: true` together with `host` and `tls` (e.g. `tls: {ca_file: /etc/lempctl/db-ca.pem}`)"),
            );
            false
        }
        r => r.as_ref().is_some_and(|r| r.value),
    };
    Database {
        admin,
        web_hosts,
        allow_host_patterns: patterns,
        charset,
        collation,
        shared: d.shared.as_ref().is_some_and(|s| s.value),
        require_tls,
    }
}
