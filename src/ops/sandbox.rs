//! `lempctl sandbox init|start|stop|status`: a self-contained root with private nginx and php-fpm
//! instances on 127.0.0.1, driven by the `direct` service manager. The demo and the tests use it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use nix::sys::signal::{Signal, kill};
use serde::Serialize;

use super::Context;
use crate::config::UsageError;
use crate::config::global::{ManagerKind, PhpVersion};
use crate::host::exec::Cmd;
use crate::host::service_manager::{self, Service};
use crate::host::{Journal, Perms, Root};
use crate::render::Renderer;

#[derive(Debug, Clone)]
pub(crate) struct InitOptions {
    pub dir: PathBuf,
    pub port: u16,
    pub php_version: String,
    pub force: bool,
    /// Also run a private MariaDB (own datadir, socket and port in the sandbox).
    pub mariadb: bool,
    /// Also run a local ACME CA (pebble) and point `acme` at it.
    pub acme: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct InitReport {
    pub root: PathBuf,
    pub config: PathBuf,
    pub http: String,
    pub https: String,
    pub mariadb: Option<String>,
    /// The local ACME CA's directory URL.
    pub acme: Option<String>,
}

/// Writes a sandbox root: lempctl.yaml, main nginx and php-fpm configs, and the directories they use.
pub(crate) fn init(o: &InitOptions) -> Result<InitReport> {
    if PhpVersion::parse(&o.php_version).is_none() {
        return Err(UsageError(format!(
            "`{}` is not a PHP version (MAJOR.MINOR)",
            o.php_version
        ))
        .into());
    }
    if o.port == 0 || o.port == u16::MAX {
        return Err(UsageError("--port must be between 1 and 65534".into()).into());
    }
    // Checked before anything is created, and again for parents `create_dir_all` made (umask).
    let wanted =
        std::path::absolute(&o.dir).with_context(|| format!("resolving {}", o.dir.display()))?;
    if let Some(existing) = wanted.ancestors().find(|a| a.exists()) {
        let existing = existing
            .canonicalize()
            .with_context(|| format!("resolving {}", existing.display()))?;
        let first = if existing == wanted {
            existing.parent().map(Path::to_path_buf)
        } else {
            Some(existing)
        };
        if let Some(first) = first {
            check_traversable(&first)?;
        }
    }
    // the sandbox's own directory, on the host (no sandbox root exists yet)
    Root::new(Path::new("/"))?.create_dirs(&wanted)?;
    let dir = o
        .dir
        .canonicalize()
        .with_context(|| format!("resolving {}", o.dir.display()))?;
    if let Some(parent) = dir.parent() {
        check_traversable(parent)?;
    }
    let root = Root::new(&dir)?;
    let config = Path::new("/etc/lempctl/lempctl.yaml");
    if root.path(config).exists() && !o.force {
        return Err(UsageError(format!(
            "{} is already a sandbox (use --force to rewrite its configuration)",
            dir.display()
        ))
        .into());
    }
    let mut j = Journal::default();
    // The services run as www-data and site users: they must be able to traverse the root.
    root.ensure_dir(&mut j, Path::new("/"), &Perms::root(0o755))?;
    let v = &o.php_version;
    for d in [
        "/etc/lempctl/sites.d".to_owned(),
        "/etc/lempctl/templates".to_owned(),
        "/etc/nginx/sites-available".to_owned(),
        "/etc/nginx/sites-enabled".to_owned(),
        "/etc/nginx/conf.d".to_owned(),
        format!("/etc/php/{v}/fpm/pool.d"),
        format!("/etc/php/{v}/fpm/conf.d"),
        "/run/php".to_owned(),
        "/var/log/nginx".to_owned(),
        "/var/log/php".to_owned(),
        "/var/lib/nginx".to_owned(),
        "/srv/www".to_owned(),
    ] {
        mkdirs(&root, &mut j, Path::new(&d))?;
    }
    mkdirs(&root, &mut j, Path::new("/var/lib"))?;
    if !root.path(Path::new("/var/lib/lempctl")).is_dir() {
        root.ensure_dir(&mut j, Path::new("/var/lib/lempctl"), &Perms::root(0o700))?;
    }
    if !root.path(Path::new("/var/lib/lempctl/lock")).exists() {
        root.write_atomic(
            &mut j,
            Path::new("/var/lib/lempctl/lock"),
            b"",
            &Perms::root(0o600),
        )?;
    }
    let r = Renderer::new(&dir.join("etc/lempctl/templates"))?;
    let lempctl = std::env::current_exe().context("locating the lempctl binary")?;
    let ctx = minijinja::context! {
        dir => dir.display().to_string(), port => o.port, https_port => o.port + 1,
        php_version => v, lempctl => lempctl.display().to_string(),
        mariadb => o.mariadb, db_port => o.port + 2,
        acme => o.acme, acme_port => super::pebble::acme_port(o.port),
    };
    if o.acme {
        super::pebble::init(&root, &mut j, o.port)?;
    }
    let files = [
        (
            "sandbox/lempctl.yaml.j2",
            "/etc/lempctl/lempctl.yaml".to_owned(),
        ),
        ("sandbox/nginx.conf.j2", "/etc/nginx/nginx.conf".to_owned()),
        (
            "sandbox/php-fpm.conf.j2",
            format!("/etc/php/{v}/fpm/php-fpm.conf"),
        ),
    ];
    for (tmpl, path) in files {
        root.write_atomic(
            &mut j,
            Path::new(&path),
            r.render(tmpl, &ctx)?.as_bytes(),
            &Perms::root(0o644),
        )?;
    }
    // nginx resolves relative includes against its config dir: give the sandbox the distribution's files.
    for f in ["mime.types", "fastcgi_params"] {
        let src = Path::new("/etc/nginx").join(f);
        let text = std::fs::read(&src)
            .with_context(|| format!("reading {} (is nginx installed?)", src.display()))?;
        root.write_atomic(
            &mut j,
            &Path::new("/etc/nginx").join(f),
            &text,
            &Perms::root(0o644),
        )?;
    }
    copy_fail2ban(&root, &mut j)?;
    Ok(InitReport {
        root: dir.clone(),
        config: dir.join("etc/lempctl/lempctl.yaml"),
        http: format!("127.0.0.1:{}", o.port),
        https: format!("127.0.0.1:{}", o.port + 1),
        mariadb: o.mariadb.then(|| {
            format!(
                "127.0.0.1:{} and {}/run/mysqld/mysqld.sock",
                o.port + 2,
                dir.display()
            )
        }),
        acme: o
            .acme
            .then(|| format!("https://127.0.0.1:{}/dir", super::pebble::acme_port(o.port))),
    })
}

/// The distribution's fail2ban configuration (filters and actions the managed jails use), so
/// `fail2ban-client -c <sandbox>/etc/fail2ban -t` tests the sandbox's jails; without Debian's
/// default jails (its `sshd` jail needs an auth log a sandbox does not have).
fn copy_fail2ban(root: &Root, j: &mut Journal) -> Result<()> {
    let src = Path::new("/etc/fail2ban");
    if !src.is_dir() {
        return Ok(());
    }
    for entry in walkdir::WalkDir::new(src).follow_links(false) {
        let entry = entry.with_context(|| format!("reading {}", src.display()))?;
        if !entry.file_type().is_file() || entry.path().ends_with("jail.d/defaults-debian.conf") {
            continue;
        }
        let text = std::fs::read(entry.path())
            .with_context(|| format!("reading {}", entry.path().display()))?;
        root.write_atomic(j, entry.path(), &text, &Perms::root(0o644))?;
    }
    // a private server: its own socket, pid, database and log inside the sandbox
    for d in ["/run/fail2ban", "/var/lib/fail2ban"] {
        root.ensure_dir(j, Path::new(d), &Perms::root(0o755))?;
    }
    let own = |p: &str| root.path(Path::new(p)).display().to_string();
    let text = format!(
        "# lempctl sandbox: a private fail2ban server\n[Definition]\nlogtarget = {}\nsocket = {}\npidfile = {}\ndbfile = {}\n",
        own("/var/log/fail2ban.log"),
        own("/run/fail2ban/fail2ban.sock"),
        own("/run/fail2ban/fail2ban.pid"),
        own("/var/lib/fail2ban/fail2ban.sqlite3"),
    );
    root.write_atomic(
        j,
        Path::new("/etc/fail2ban/fail2ban.d/lempctl-sandbox.local"),
        text.as_bytes(),
        &Perms::root(0o644),
    )?;
    Ok(())
}

/// Every directory from `dir` up to `/` must let others search it (`x`): the sandbox's servers
/// and PHP run as `www-data`, `mysql` and the site users, which must reach files inside the
/// sandbox. A `mktemp -d` directory (0700) above the sandbox would otherwise surface much later as
/// raw MariaDB or nginx permission errors.
fn check_traversable(dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    for a in dir.ancestors() {
        let meta = std::fs::metadata(a).with_context(|| format!("reading {}", a.display()))?;
        if meta.mode() & 0o001 == 0 {
            return Err(UsageError(format!(
                "{} (mode {:04o}, owner uid {}) is not searchable by other users, but the sandbox's \
                 servers and PHP run as `www-data`, `mysql` and the site users and must reach into \
                 the sandbox through it\n  fix: `chmod o+x {}`, or choose a sandbox directory whose \
                 parent directories all have the x bit for others (e.g. under /srv or /var/tmp)",
                a.display(),
                meta.mode() & 0o7777,
                meta.uid(),
                a.display()
            ))
            .into());
        }
    }
    Ok(())
}

fn mkdirs(root: &Root, j: &mut Journal, p: &Path) -> Result<()> {
    let mut cur = PathBuf::from("/");
    for c in p.components().skip(1) {
        cur.push(c);
        if !root.path(&cur).is_dir() {
            root.ensure_dir(j, &cur, &Perms::root(0o755))?;
        }
    }
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct ServiceState {
    pub service: String,
    pub pid: Option<i32>,
}

fn direct_config(ctx: &Context) -> Result<crate::config::Config> {
    direct_only(ctx, ctx.load()?)
}

/// For stopping and status, a broken site file must not keep the servers running: the global
/// configuration (pid files) is enough.
fn global_config(ctx: &Context) -> Result<crate::config::Config> {
    let config = match ctx.load() {
        Ok(c) => c,
        Err(e) if crate::error::is_invalid_input(&e) => {
            let mut errors = Vec::new();
            let global = crate::config::load_global(&ctx.root, &ctx.config_path, &mut errors)?;
            if !errors.is_empty() {
                return Err(e);
            }
            crate::config::Config {
                global,
                sites: Vec::new(),
                broken: Vec::new(),
            }
        }
        Err(e) => return Err(e),
    };
    direct_only(ctx, config)
}

fn direct_only(ctx: &Context, config: crate::config::Config) -> Result<crate::config::Config> {
    if config.global.manager != ManagerKind::Direct || ctx.root.is_host() {
        bail!(UsageError(
            "sandbox commands need `--root DIR` of a sandbox made by `lempctl sandbox init DIR`"
                .into()
        ));
    }
    Ok(config)
}

/// Starts the private php-fpm master(s) and nginx; already running ones are left alone.
pub(crate) fn start(ctx: &Context) -> Result<Vec<ServiceState>> {
    let config = direct_config(ctx)?;
    let g = &config.global;
    raise_nofile();
    start_mariadb(ctx, &config)?;
    super::pebble::start(ctx)?;
    // the sandbox's own fail2ban, when lempctl.yaml manages jails
    if g.fail2ban.is_some()
        && ctx
            .root
            .path(&g.paths.fail2ban_dir)
            .join("fail2ban.d/lempctl-sandbox.local")
            .is_file()
        && !crate::services::fail2ban::running(&ctx.root, g)
    {
        crate::services::fail2ban::start(&ctx.root, g)?;
    }
    for s in config.services() {
        let pid_file = service_manager::pid_file(&ctx.root, &g.machine(), &s);
        if service_manager::running_pid(&pid_file).is_some() {
            continue;
        }
        match &s {
            Service::Nginx => {
                Cmd::new(&g.programs.nginx)
                    .arg("-c")
                    .arg(ctx.root.path(&g.direct.nginx_conf))
                    .run()?;
            }
            Service::PhpFpm(id) => {
                let fpm = g.master(&id.version, id.shard);
                // lempctl's own masters exist once `apply` wrote their configuration
                if fpm.is_own() && !ctx.root.path(&fpm.main_conf()).is_file() {
                    continue;
                }
                fpm.start_cmd(&ctx.root).run()?;
            }
        }
        service_manager::wait_until(Duration::from_secs(10), || {
            service_manager::running_pid(&pid_file).is_some()
        })
        .with_context(|| format!("{s} did not start"))?;
    }
    status(ctx)
}

/// Stops the private instances gracefully (SIGQUIT) and waits for them to exit.
pub(crate) fn stop(ctx: &Context) -> Result<Vec<ServiceState>> {
    let config = global_config(ctx)?;
    super::pebble::stop(ctx)?;
    if config.global.fail2ban.is_some()
        && crate::services::fail2ban::running(&ctx.root, &config.global)
    {
        crate::services::fail2ban::stop(&ctx.root, &config.global)?;
    }
    if config.global.direct.mariadb_datadir.is_some()
        && let Some(pid) = service_manager::running_pid(&ctx.root.path(Path::new(MARIADB_PID)))
    {
        kill(pid, Signal::SIGTERM).context("stopping mariadbd")?;
        let _ = service_manager::wait_until(Duration::from_secs(30), || kill(pid, None).is_err());
    }
    for s in config.services() {
        let pid_file = service_manager::pid_file(&ctx.root, &config.global.machine(), &s);
        if let Some(pid) = service_manager::running_pid(&pid_file) {
            kill(pid, Signal::SIGQUIT).with_context(|| format!("stopping {s}"))?;
            if service_manager::wait_until(Duration::from_secs(10), || kill(pid, None).is_err())
                .is_err()
            {
                kill(pid, Signal::SIGTERM).with_context(|| format!("stopping {s}"))?;
            }
        }
    }
    status(ctx)
}

pub(crate) fn status(ctx: &Context) -> Result<Vec<ServiceState>> {
    let config = global_config(ctx)?;
    let db = config
        .global
        .direct
        .mariadb_datadir
        .as_ref()
        .map(|_| ServiceState {
            service: "mariadb".into(),
            pid: service_manager::running_pid(&ctx.root.path(Path::new(MARIADB_PID)))
                .map(|p| p.as_raw()),
        });
    let pebble = super::pebble::state(ctx).map(|pid| ServiceState {
        service: "pebble".into(),
        pid,
    });
    Ok(db
        .into_iter()
        .chain(pebble)
        .chain(config.services().into_iter().map(|s| {
            ServiceState {
                pid: service_manager::running_pid(&service_manager::pid_file(
                    &ctx.root,
                    &config.global.machine(),
                    &s,
                ))
                .map(|p| p.as_raw()),
                service: s.unit(),
            }
        }))
        .collect())
}

const MARIADB_PID: &str = "/run/mysqld/mysqld.pid";

/// Starts the sandbox's MariaDB (initialising its datadir on first start) unless it runs.
fn start_mariadb(ctx: &Context, config: &crate::config::Config) -> Result<()> {
    let g = &config.global;
    let Some(datadir) = &g.direct.mariadb_datadir else {
        return Ok(());
    };
    let crate::config::global::DbAdmin::Socket(socket) = &g.database.admin else {
        return Ok(());
    };
    let pid_file = ctx.root.path(Path::new(MARIADB_PID));
    if service_manager::running_pid(&pid_file).is_some() {
        return Ok(());
    }
    let data = ctx.root.path(datadir);
    let socket = ctx.root.path(socket);
    let mut j = Journal::default();
    // The socket directory is traversable: site users' PHP connects through it.
    for (dir, mode) in [
        (datadir.as_path(), 0o750),
        (Path::new("/run/mysqld"), 0o755),
    ] {
        if !ctx.root.path(dir).is_dir() {
            mkdirs(&ctx.root, &mut j, dir.parent().unwrap_or(Path::new("/")))?;
        }
        ctx.root
            .ensure_dir(&mut j, dir, &Perms::new("mysql", "mysql", mode))?;
    }
    if !data.join("mysql").is_dir() {
        // Parallel bootstraps on one host are serialised: concurrent installs were seen to fail.
        // a host-wide lock in /tmp, outside any root or site tree: only flock'ed, never written
        #[allow(clippy::disallowed_methods)]
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open("/tmp/lempctl-mariadb-install.lock")
            .context("opening the install lock")?;
        let _held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .context("locking the install lock")?;
        Cmd::new(&g.programs.mariadb_install_db)
            .args([
                "--no-defaults",
                "--user=mysql",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
                "--innodb-use-native-aio=0",
            ])
            .arg(format!("--datadir={}", data.display()))
            .run()?;
    }
    // mariadbd opens its log as mysql, which cannot create files in the root-owned /var/log.
    let log_path = Path::new("/var/log/mysql-error.log");
    ctx.root
        .ensure_log(&mut j, log_path, &Perms::new("mysql", "adm", 0o640))?;
    let log = ctx.root.path(log_path);
    let pid = crate::host::exec::spawn_detached(
        &Cmd::new(&g.programs.mariadbd)
            .args([
                "--no-defaults",
                "--user=mysql",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=64M",
                "--skip-log-bin",
                "--innodb-use-native-aio=0",
            ])
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", pid_file.display()))
            .arg(format!("--log-error={}", log.display()))
            .arg(format!("--port={}", g.direct.mariadb_port)),
    )?;
    // A mariadbd that exits (a port in use, a damaged datadir) is reported at once with its log,
    // not after the whole wait; a slow first start on a loaded machine gets a minute.
    let mut exited = None;
    let waited = service_manager::wait_until(Duration::from_secs(60), || {
        use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
        match waitpid(
            nix::unistd::Pid::from_raw(pid as i32),
            Some(WaitPidFlag::WNOHANG),
        ) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(WaitStatus::Exited(_, code)) => {
                exited = Some(format!("exit status {code}"));
                return true;
            }
            Ok(WaitStatus::Signaled(_, sig, _)) => {
                exited = Some(format!("killed by {sig}"));
                return true;
            }
            Ok(_) => {}
            Err(_) => {}
        }
        std::os::unix::net::UnixStream::connect(&socket).is_ok() && pid_file.exists()
    });
    let tail = || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    };
    match (waited, exited) {
        (Ok(()), None) => Ok(()),
        (Ok(()), Some(status)) => Err(anyhow::anyhow!("{}", tail()).context(format!(
            "mariadbd exited ({status}); the end of {}:",
            log.display()
        ))),
        (Err(e), _) => Err(e.context(format!(
            "mariadbd did not start (see {}); its last lines:\n{}",
            log.display(),
            tail()
        ))),
    }
}

/// nginx's master opens every per-site log file: lift the soft limit to the hard one for children.
pub(crate) fn raise_nofile() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}
