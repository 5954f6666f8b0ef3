//! The admin connection: where it goes, how credentials are read, and error classification.
//! Invariant: every statement sent through `Admin` is counted, and connection failures
//! come back as `Unreachable` / `AuthFailed` / `Tls`, never as a bare driver error.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mysql_async::prelude::{FromRow, Queryable};
use mysql_async::{Conn, OptsBuilder, SslOpts};

use super::error::DbError;
use super::secret::Secret;
use super::sql::Stmt;

/// Debian's server socket, used when nothing else is configured.
pub(crate) const DEFAULT_SOCKET: &str = "/run/mysqld/mysqld.sock";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
// ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR, ER_DBACCESS_DENIED_ERROR
// ER_HOST_NOT_PRIVILEGED (1130): the admin may not connect from here, also a credentials problem.
const ACCESS_DENIED_CODES: &[u16] = &[1045, 1698, 1044, 1130];

#[derive(Debug, Clone)]
pub(crate) struct Tls {
    /// CA bundle to trust; `None` = the built-in web PKI roots.
    pub ca_file: Option<PathBuf>,
    /// `false` accepts any certificate (encryption without authentication).
    pub verify: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum AdminTarget {
    /// Unix socket, authenticating as root via unix_socket (the OS user must be root).
    Socket { path: PathBuf },
    Tcp {
        host: String,
        port: u16,
        user: String,
        password: Secret,
        tls: Option<Tls>,
    },
}

impl Default for AdminTarget {
    fn default() -> Self {
        AdminTarget::Socket {
            path: PathBuf::from(DEFAULT_SOCKET),
        }
    }
}

impl AdminTarget {
    /// Human-readable destination for messages (no password).
    pub(crate) fn describe(&self) -> String {
        match self {
            AdminTarget::Socket { path } => format!("unix socket {}", path.display()),
            AdminTarget::Tcp {
                host, port, user, ..
            } => format!("{user}@{host}:{port}"),
        }
    }

    fn uses_tls(&self) -> bool {
        matches!(self, AdminTarget::Tcp { tls: Some(_), .. })
    }

    fn opts(&self) -> OptsBuilder {
        match self {
            AdminTarget::Socket { path } => OptsBuilder::default()
                .user(Some("root"))
                .socket(Some(path.to_string_lossy().into_owned()))
                .prefer_socket(true),
            AdminTarget::Tcp {
                host,
                port,
                user,
                password,
                tls,
            } => {
                let ssl = tls.as_ref().map(|t| {
                    let mut o = SslOpts::default().with_danger_accept_invalid_certs(!t.verify);
                    if let Some(ca) = &t.ca_file {
                        o = o.with_root_certs(vec![ca.clone().into()]);
                    }
                    o
                });
                OptsBuilder::default()
                    .ip_or_hostname(host.clone())
                    .tcp_port(*port)
                    .user(Some(user.clone()))
                    .pass(Some(password.expose().to_owned()))
                    .prefer_socket(false)
                    .ssl_opts(ssl)
            }
        }
    }
}

/// Credentials for a TCP admin connection, read from a private file.
#[derive(Debug, Clone)]
pub(crate) struct AdminCredentials {
    pub user: String,
    pub password: Secret,
    // a my.cnf's host and port are read (and a bad port refused) so a full client file is
    // accepted; the connection's own come from lempctl.yaml
    #[allow(dead_code)]
    pub host: Option<String>,
    #[allow(dead_code)]
    pub port: Option<u16>,
}

/// Reads `user=`/`password=` (and optional `host=`/`port=`) lines, or the `[client]`
/// section of a my.cnf-style file. Refuses files readable or writable by group/others.
pub(crate) fn read_admin_credentials(path: &Path) -> Result<AdminCredentials, DbError> {
    let fail = |problem: String| DbError::Credentials {
        path: path.to_owned(),
        problem,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot stat: {e}")))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(fail(format!(
            "mode is {mode:04o}; it holds a password, so it must not be accessible to group or others (chmod 600)"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let (mut user, mut password, mut host, mut port) = (None, None, None, None);
    // Lines before any [section] count; inside sections only [client] does.
    let mut in_client = true;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_client = section.trim() == "client";
            continue;
        }
        if !in_client {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        match key.trim() {
            "user" => user = Some(value),
            "password" => password = Some(value),
            "host" => host = Some(value),
            "port" => {
                port = Some(
                    value
                        .parse::<u16>()
                        .map_err(|_| fail(format!("port {value:?} is not a number")))?,
                )
            }
            _ => {}
        }
    }
    Ok(AdminCredentials {
        user: user.ok_or_else(|| fail("no user= line".to_owned()))?,
        password: Secret::new(password.ok_or_else(|| fail("no password= line".to_owned()))?),
        host,
        port,
    })
}

fn unquote(v: &str) -> String {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_owned();
        }
    }
    v.to_owned()
}

fn is_unreachable_io(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        NotFound
            | ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | TimedOut
            | AddrNotAvailable
            | HostUnreachable
            | NetworkUnreachable
            | PermissionDenied
            | UnexpectedEof
    ) || e.raw_os_error().is_some()
}

/// Maps a driver error on connect to the variant the caller must report.
fn classify_connect(target: &AdminTarget, e: mysql_async::Error) -> DbError {
    let t = target.describe();
    match e {
        mysql_async::Error::Server(s) if ACCESS_DENIED_CODES.contains(&s.code) => {
            DbError::AuthFailed {
                target: t,
                message: s.message,
            }
        }
        mysql_async::Error::Io(mysql_async::IoError::Tls(err)) => DbError::Tls {
            target: t,
            reason: err.to_string(),
        },
        // rustls failures (unknown issuer, bad name, handshake) surface as InvalidData io errors
        mysql_async::Error::Io(mysql_async::IoError::Io(err))
            if target.uses_tls() && err.kind() == io::ErrorKind::InvalidData =>
        {
            DbError::Tls {
                target: t,
                reason: err.to_string(),
            }
        }
        mysql_async::Error::Io(mysql_async::IoError::Io(err)) if is_unreachable_io(&err) => {
            DbError::Unreachable {
                target: t,
                reason: err.to_string(),
            }
        }
        other => to_db_error(other, "connecting"),
    }
}

pub(crate) fn to_db_error(e: mysql_async::Error, context: &str) -> DbError {
    match e {
        mysql_async::Error::Server(s) => DbError::Sql {
            code: s.code,
            state: s.state,
            message: s.message,
            context: context.to_owned(),
        },
        other => DbError::Driver {
            context: context.to_owned(),
            message: other.to_string(),
        },
    }
}

/// An open admin connection that counts the statements it sends.
pub(crate) struct Admin {
    conn: Conn,
    target: AdminTarget,
    queries: AtomicU64,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("target", &self.target.describe())
            .field("queries", &self.query_count())
            .finish()
    }
}

impl Admin {
    pub(crate) async fn connect(target: &AdminTarget) -> Result<Admin, DbError> {
        if let AdminTarget::Socket { path } = target
            && !path.exists()
        {
            return Err(DbError::Unreachable {
                target: target.describe(),
                reason: "socket file does not exist (server not running?)".to_owned(),
            });
        }
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(target.opts()))
            .await
            .map_err(|_| DbError::Unreachable {
                target: target.describe(),
                reason: format!("no answer within {CONNECT_TIMEOUT:?}"),
            })?
            .map_err(|e| classify_connect(target, e))?;
        tracing::debug!(target = %target.describe(), "admin connection open");
        Ok(Admin {
            conn,
            target: target.clone(),
            queries: AtomicU64::new(0),
        })
    }

    pub(crate) fn target(&self) -> &AdminTarget {
        &self.target
    }

    /// Statements sent on this connection so far.
    pub(crate) fn query_count(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    pub(crate) async fn fetch<T: FromRow + Send + 'static>(
        &mut self,
        stmt: &Stmt,
    ) -> Result<Vec<T>, DbError> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(sql = stmt.shown(), "query");
        self.conn
            .query(stmt.text())
            .await
            .map_err(|e| to_db_error(e, stmt.shown()))
    }

    pub(crate) async fn exec(&mut self, stmt: &Stmt) -> Result<(), DbError> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(sql = stmt.shown(), "exec");
        self.conn
            .query_drop(stmt.text())
            .await
            .map_err(|e| to_db_error(e, stmt.shown()))
    }

    pub(crate) async fn disconnect(self) -> Result<(), DbError> {
        self.conn
            .disconnect()
            .await
            .map_err(|e| to_db_error(e, "disconnecting"))
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // fixtures are written directly
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &Path, name: &str, mode: u32, text: &str) -> PathBuf {
        let p = dir.join(name);
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(text.as_bytes()).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn credentials_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "a", 0o600, "user=admin\npassword = s3cr#t\n");
        let c = read_admin_credentials(&p).unwrap();
        assert_eq!(c.user, "admin");
        assert_eq!(c.password.expose(), "s3cr#t");

        let p = write(
            dir.path(),
            "b",
            0o400,
            "[mysqld]\nuser=mysql\n[client]\nuser = \"adm\"\npassword='p w'\nhost=db.test\nport=3307\n[mysql]\npassword=no\n",
        );
        let c = read_admin_credentials(&p).unwrap();
        assert_eq!((c.user.as_str(), c.password.expose()), ("adm", "p w"));
        assert_eq!((c.host.as_deref(), c.port), (Some("db.test"), Some(3307)));

        let p = write(dir.path(), "c", 0o640, "user=a\npassword=b\n");
        let e = read_admin_credentials(&p).unwrap_err().to_string();
        assert!(e.contains("0640") && e.contains("chmod 600"), "{e}");
        let p = write(dir.path(), "d", 0o604, "user=a\npassword=b\n");
        assert!(read_admin_credentials(&p).is_err());
        let p = write(dir.path(), "e", 0o600, "user=a\n");
        assert!(
            read_admin_credentials(&p)
                .unwrap_err()
                .to_string()
                .contains("password")
        );
    }
}
