//! Logical dumps: `mariadb-dump` streamed through zstd into a writer, no plain-text copy.
//! Invariant: credentials reach mariadb-dump only via a 0600 `--defaults-extra-file` in a
//! 0700 temp dir that is removed afterwards; a non-zero exit is an error carrying stderr.
//!
//! Restore by hand: `mariadb -e 'CREATE DATABASE new_db'; zstd -dc dump.sql.zst | mariadb new_db`
//! (the dump has no CREATE DATABASE/USE, so it loads into any database name).
// Dumps and their private option files are data streams outside the managed tree: they are
// written here (atomically, 0600) rather than through `host::Root`'s journal.
#![allow(clippy::disallowed_methods)]

use std::ffi::{OsStr, OsString};
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rand::TryRng;
use rand::rngs::SysRng;

use super::conn::AdminTarget;
use super::error::DbError;
use crate::config::db_names::{NameError, validate_database_name};
use crate::host::exec::{Cmd, spawn_piped};

pub(crate) const DUMP_PROGRAM: &str = "mariadb-dump";
/// zstd level: 3 is zstd's default, fast enough to keep up with mariadb-dump.
pub(crate) const ZSTD_LEVEL: i32 = 3;
/// How much of mariadb-dump's stderr is kept for the error message.
const STDERR_KEEP: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DumpStats {
    /// Bytes of SQL produced by mariadb-dump.
    pub sql_bytes: u64,
    /// Bytes written to the destination after compression.
    pub compressed_bytes: u64,
}

/// A private temp dir holding the option file; removed on drop.
struct OptionFile {
    dir: PathBuf,
    file: PathBuf,
}

impl Drop for OptionFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.file);
        let _ = fs::remove_dir(&self.dir);
    }
}

/// Option-file value: quoted, with `\` and the quote escaped; control characters refused.
fn cnf_value(v: &str) -> Result<String, DbError> {
    if v.chars().any(|c| c.is_control()) {
        return Err(DbError::invalid_value(
            "[redacted]",
            "control characters cannot be written to an option file",
        ));
    }
    Ok(format!(
        "\"{}\"",
        v.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

fn option_file_text(target: &AdminTarget) -> Result<String, DbError> {
    let mut s = String::from("[client]\n");
    match target {
        AdminTarget::Socket { path } => {
            let p = path.to_str().ok_or_else(|| {
                DbError::invalid_value(&path.to_string_lossy(), "socket path is not UTF-8")
            })?;
            s.push_str("user=root\n");
            s.push_str(&format!("socket={}\n", cnf_value(p)?));
        }
        AdminTarget::Tcp {
            host,
            port,
            user,
            password,
            tls,
        } => {
            s.push_str("protocol=TCP\n");
            s.push_str(&format!("host={}\nport={port}\n", cnf_value(host)?));
            s.push_str(&format!("user={}\n", cnf_value(user)?));
            s.push_str(&format!("password={}\n", cnf_value(password.expose())?));
            if let Some(t) = tls {
                s.push_str("ssl\n");
                if let Some(ca) = &t.ca_file {
                    s.push_str(&format!("ssl-ca={}\n", cnf_value(&ca.to_string_lossy())?));
                }
                if t.verify {
                    s.push_str("ssl-verify-server-cert\n");
                } else {
                    s.push_str("disable-ssl-verify-server-cert\n");
                }
            }
        }
    }
    Ok(s)
}

fn write_option_file(target: &AdminTarget) -> Result<OptionFile, DbError> {
    let io_err = |e: io::Error| DbError::Dump {
        database: String::new(),
        reason: format!("cannot write the temporary option file: {e}"),
    };
    let mut rnd = [0u8; 8];
    SysRng
        .try_fill_bytes(&mut rnd)
        .map_err(|e| DbError::Random(e.to_string()))?;
    let dir = std::env::temp_dir().join(format!("lempctl-dump-{}", hex::encode(rnd)));
    DirBuilder::new().mode(0o700).create(&dir).map_err(io_err)?;
    let file = dir.join("client.cnf");
    let guard = OptionFile {
        dir,
        file: file.clone(),
    };
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file)
        .map_err(io_err)?;
    f.write_all(option_file_text(target)?.as_bytes())
        .map_err(io_err)?;
    Ok(guard)
}

/// A private 0600 client option file holding the admin credentials, for `mariadb` and
/// `mariadb-dump` started elsewhere (backups); removed on drop.
pub(crate) struct ClientOptions(OptionFile);

impl ClientOptions {
    pub(crate) fn write(target: &AdminTarget) -> Result<Self, DbError> {
        write_option_file(target).map(ClientOptions)
    }

    /// `--defaults-extra-file=…`: must be the first argument of the client program.
    pub(crate) fn arg(&self) -> OsString {
        let mut a = OsString::from("--defaults-extra-file=");
        a.push(&self.0.file);
        a
    }
}

/// Arguments of a consistent dump of `database` for backups: one `INSERT` per row (exact row
/// counts from the stream, finer deduplication), one transaction per table on restore.
pub(crate) fn backup_dump_args(opts: &ClientOptions, database: &str) -> Vec<OsString> {
    let mut v = vec![opts.arg()];
    v.extend(
        [
            "--single-transaction",
            "--quick",
            "--routines",
            "--triggers",
            "--events",
            "--hex-blob",
            "--skip-extended-insert",
            "--no-autocommit",
            "--skip-dump-date",
            "--default-character-set=utf8mb4",
            database,
        ]
        .map(OsString::from),
    );
    v
}

/// The dump of `database` a backup streams into its repository (`backup_dump_args`), by the
/// same program as every other dump (`DUMP_PROGRAM`: no setting names it).
pub(crate) fn backup_dump_cmd(opts: &ClientOptions, database: &str) -> Cmd {
    Cmd::new(DUMP_PROGRAM).args(backup_dump_args(opts, database))
}

/// Which tables of a database a copy takes.
#[derive(Debug, Clone, Default)]
pub(crate) struct TableFilter {
    /// Only these tables (empty: every table).
    pub only: Vec<String>,
    /// Not these tables.
    pub except: Vec<String>,
}

/// A consistent dump of `database` for a copy into another database (`site clone`, `site
/// promote`): one transaction, multi-row inserts (the fast form), routines, triggers and events.
pub(crate) fn copy_dump_cmd(opts: &ClientOptions, database: &str, tables: &TableFilter) -> Cmd {
    let mut c = Cmd::new(DUMP_PROGRAM).arg(opts.arg()).args([
        "--single-transaction",
        "--quick",
        "--routines",
        "--triggers",
        "--events",
        "--hex-blob",
        "--skip-dump-date",
        "--default-character-set=utf8mb4",
    ]);
    for t in &tables.except {
        c = c.arg(format!("--ignore-table={database}.{t}"));
    }
    c = c.arg(database);
    for t in &tables.only {
        c = c.arg(t);
    }
    c
}

/// The `mariadb` client (`program`, from `backup.mariadb`) loading a dump from its stdin into
/// `database`.
pub(crate) fn load_cmd(program: &Path, opts: &ClientOptions, database: &str) -> Cmd {
    Cmd::new(program)
        .arg(opts.arg())
        .arg("--binary-mode")
        .arg(database)
}

/// Counts the rows of each table in a `--skip-extended-insert` dump as it streams by.
#[derive(Debug, Default)]
pub(crate) struct RowCounter {
    head: Vec<u8>,
    pub counts: std::collections::BTreeMap<String, u64>,
}

impl RowCounter {
    const HEAD: usize = 512;

    pub(crate) fn feed(&mut self, mut b: &[u8]) {
        while !b.is_empty() {
            let (seg, rest, ended) = match b.iter().position(|&c| c == b'\n') {
                Some(i) => (&b[..i], &b[i + 1..], true),
                None => (b, &b[b.len()..], false),
            };
            if self.head.len() < Self::HEAD {
                let take = (Self::HEAD - self.head.len()).min(seg.len());
                self.head.extend_from_slice(&seg[..take]);
            }
            if ended {
                self.line_done();
            }
            b = rest;
        }
    }

    fn line_done(&mut self) {
        if let Some(rest) = self.head.strip_prefix(b"INSERT INTO `")
            && let Some(end) = rest.windows(9).position(|w| w == b"` VALUES ")
        {
            let name = String::from_utf8_lossy(&rest[..end]).replace("``", "`");
            *self.counts.entry(name).or_default() += 1;
        } else if let Some(rest) = self.head.strip_prefix(b"CREATE TABLE `")
            && let Some(end) = rest.windows(3).position(|w| w == b"` (")
        {
            let name = String::from_utf8_lossy(&rest[..end]).replace("``", "`");
            self.counts.entry(name).or_default();
        }
        self.head.clear();
    }

    /// Rows per table; empty tables are listed (from their `CREATE TABLE` line) with 0.
    pub(crate) fn finish(mut self) -> std::collections::BTreeMap<String, u64> {
        self.line_done();
        self.counts
    }
}

struct Counting<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn dump_blocking<W: Write>(
    target: &AdminTarget,
    database: &str,
    out: W,
) -> Result<(W, DumpStats), DbError> {
    let fail = |reason: String| DbError::Dump {
        database: database.to_owned(),
        reason,
    };
    let opt = write_option_file(target)?;
    let mut defaults = OsString::from("--defaults-extra-file=");
    defaults.push(&opt.file);
    let args: [&OsStr; 9] = [
        // must come first: mariadb-dump only honours --defaults-* as the first argument
        &defaults,
        OsStr::new("--single-transaction"),
        OsStr::new("--quick"),
        OsStr::new("--routines"),
        OsStr::new("--triggers"),
        OsStr::new("--events"),
        OsStr::new("--hex-blob"),
        OsStr::new("--default-character-set=utf8mb4"),
        OsStr::new(database),
    ];
    let mut child = spawn_piped(OsStr::new(DUMP_PROGRAM), &args)
        .map_err(|e| fail(format!("cannot start {DUMP_PROGRAM}: {e}")))?;
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(fail("child pipes missing".to_owned()));
    };
    // stderr is drained on its own thread so a chatty child can never block on a full pipe.
    let stderr_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stderr).take(STDERR_KEEP as u64).read_to_end(&mut buf);
        let _ = io::copy(&mut stderr, &mut io::sink());
        buf
    });
    let counted = Counting { inner: out, n: 0 };
    let streamed = (|| -> io::Result<(Counting<W>, u64)> {
        let mut enc = zstd::stream::write::Encoder::new(counted, ZSTD_LEVEL)?;
        let sql_bytes = io::copy(&mut stdout, &mut enc)?;
        let mut counted = enc.finish()?;
        counted.flush()?;
        Ok((counted, sql_bytes))
    })();
    if streamed.is_err() {
        // Writing failed (disk full…): stop the dump instead of waiting for it.
        let _ = child.kill();
    }
    drop(stdout);
    let status = child
        .wait()
        .map_err(|e| fail(format!("waiting for {DUMP_PROGRAM}: {e}")))?;
    let err_text = stderr_reader.join().unwrap_or_default();
    let err_text = String::from_utf8_lossy(&err_text).trim().to_owned();
    let (counted, sql_bytes) = streamed.map_err(|e| fail(format!("writing the dump: {e}")))?;
    if !status.success() {
        return Err(fail(format!(
            "{DUMP_PROGRAM} exited with {status}: {err_text}"
        )));
    }
    if !err_text.is_empty() {
        tracing::warn!(database, stderr = %err_text, "mariadb-dump reported warnings");
    }
    Ok((
        counted.inner,
        DumpStats {
            sql_bytes,
            compressed_bytes: counted.n,
        },
    ))
}

/// Dumps `database` as zstd-compressed SQL into `out`; returns the writer and byte counts.
pub(crate) async fn dump_database<W: Write + Send + 'static>(
    target: &AdminTarget,
    database: &str,
    out: W,
) -> Result<(W, DumpStats), DbError> {
    validate_database_name(database).or_else(|e| match e {
        // reserved names (e.g. mysql) may still be dumped; only the character set matters
        NameError::InvalidName { ref problem, .. } if problem.contains("reserved") => Ok(()),
        e => Err(e),
    })?;
    let target = target.clone();
    let db = database.to_owned();
    tokio::task::spawn_blocking(move || dump_blocking(&target, &db, out))
        .await
        .map_err(|e| DbError::Dump {
            database: database.to_owned(),
            reason: format!("dump task failed: {e}"),
        })?
}

/// Dumps into `path` (mode 0600) via `path.partial` + fsync + rename, so a file at `path`
/// is always a complete dump.
pub(crate) async fn dump_to_file(
    target: &AdminTarget,
    database: &str,
    path: &Path,
) -> Result<DumpStats, DbError> {
    let fail = |reason: String| DbError::Dump {
        database: database.to_owned(),
        reason,
    };
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .map_err(|e| fail(format!("cannot create {}: {e}", partial.display())))?;
    let result = dump_database(
        target,
        database,
        io::BufWriter::with_capacity(256 * 1024, file),
    )
    .await;
    let finish = match result {
        Ok((w, stats)) => w
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .and_then(|()| fs::rename(&partial, path))
            .map(|()| stats)
            .map_err(|e| fail(format!("finishing {}: {e}", path.display()))),
        Err(e) => Err(e),
    };
    if finish.is_err() {
        let _ = fs::remove_file(&partial);
    }
    finish
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::mariadb::secret::Secret;

    #[test]
    fn option_file_quotes_and_keeps_password_off_argv() {
        let t = AdminTarget::Tcp {
            host: "127.0.0.1".into(),
            port: 3307,
            user: "admin".into(),
            password: Secret::new(r#"a"b\c#d"#),
            tls: None,
        };
        let text = option_file_text(&t).unwrap();
        assert!(text.contains(r#"password="a\"b\\c#d""#), "{text}");
        let bad = AdminTarget::Tcp {
            host: "h".into(),
            port: 1,
            user: "u".into(),
            password: Secret::new("a\nb"),
            tls: None,
        };
        assert!(option_file_text(&bad).is_err());
    }

    #[test]
    fn row_counter_counts_rows_across_chunk_boundaries() {
        let dump = b"-- x\nCREATE TABLE `e` (\nCREATE TABLE `t` (id int);\nINSERT INTO `t` VALUES (1,'a\\nb');\nINSERT INTO `t` VALUES (2,'c');\nINSERT INTO `we``ird` VALUES (3);\n";
        for split in [1, 3, 7, 50, dump.len()] {
            let mut c = RowCounter::default();
            for chunk in dump.chunks(split) {
                c.feed(chunk);
            }
            let counts = c.finish();
            assert_eq!(counts.get("t"), Some(&2), "split {split}");
            assert_eq!(counts.get("we`ird"), Some(&1));
            assert_eq!(counts.get("e"), Some(&0));
        }
    }

    #[test]
    fn option_file_is_private_and_removed() {
        let g = write_option_file(&AdminTarget::default()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&g.file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir = g.dir.clone();
        drop(g);
        assert!(!dir.exists());
    }
}
