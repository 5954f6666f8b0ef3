//! The only place that writes to stdout and stderr. stdout carries data (`--json`, `list`,
//! `show`); human status lines go to stderr; `-q` leaves only errors.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::engine::plan::Action;
use crate::engine::report::{ErrorReport, Report};
use crate::error;
use crate::ops::s3::SyncRun;
use crate::ops::sandbox::ServiceState;
use crate::ops::status::Status;
use crate::services::s3::ProgressEvent;

#[derive(Debug)]
pub struct Printer {
    json: bool,
    quiet: bool,
    verbose: u8,
    /// The exit code a printed report asked for (a run that did its work but must still fail).
    code: std::cell::Cell<u8>,
    /// The error of the last failed report printed (a scheduled run records it).
    failure: std::cell::RefCell<Option<String>>,
    /// Warnings of the load (invalid site files set aside), added to whatever is printed.
    notes: crate::ops::Notes,
}

pub fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "lempctl=debug",
        _ => "lempctl=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LEMPCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .without_time()
        .with_target(false)
        .try_init();
}

impl Printer {
    pub fn new(json: bool, quiet: bool, verbose: u8) -> Self {
        Self {
            json,
            quiet,
            verbose,
            code: std::cell::Cell::new(0),
            failure: std::cell::RefCell::default(),
            notes: crate::ops::Notes::default(),
        }
    }

    /// The exit code of what was printed: 0, or the `error` of a report.
    pub fn exit_code(&self) -> u8 {
        self.code.get()
    }

    /// The error message of the last failed report printed, if any.
    pub fn failure(&self) -> Option<String> {
        self.failure.borrow().clone()
    }

    pub fn with_notes(mut self, notes: crate::ops::Notes) -> Self {
        self.notes = notes;
        self
    }

    /// The load's warnings: on stderr (unless `-q`), and returned for a JSON `warnings` field.
    fn take_notes(&self) -> Vec<String> {
        let notes = self.notes.take();
        if !self.quiet {
            let mut err = std::io::stderr().lock();
            for w in &notes {
                let _ = writeln!(err, "warning: {w}");
            }
        }
        notes
    }

    /// `value` as JSON with `notes` added to its `warnings` (objects only; an array stays as it is).
    fn json_with_notes<T: Serialize>(value: &T, notes: &[String]) -> String {
        let mut v = serde_json::to_value(value).unwrap_or_default();
        if !notes.is_empty()
            && let Some(obj) = v.as_object_mut()
        {
            let w = obj
                .entry("warnings")
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if let Some(list) = w.as_array_mut() {
                let mut all: Vec<serde_json::Value> =
                    notes.iter().map(|n| n.as_str().into()).collect();
                all.append(list);
                *list = all;
            }
        }
        serde_json::to_string(&v).unwrap_or_default()
    }

    /// Prints what a converging command did (or would do, with --dry-run).
    pub fn report(&self, r: &Report) {
        if let Some(e) = &r.error {
            self.code.set(self.code.get().max(e.exit_code));
            self.failure.replace(Some(e.message.clone()));
        }
        let notes = self.take_notes();
        if self.json {
            println!("{}", Self::json_with_notes(r, &notes));
            return;
        }
        if self.quiet {
            // -q (timers) keeps only errors
            if let Some(e) = &r.error {
                eprintln!("error: {}", e.message);
            }
            return;
        }
        let mut err = std::io::stderr().lock();
        for c in &r.changes {
            let verb = match (c.action, r.dry_run) {
                (Action::Create, false) => "Created",
                (Action::Update, false) => "Updated",
                (Action::Delete, false) => "Deleted",
                (Action::Reload, false) => "Reloaded",
                (Action::Start, false) => "Started",
                (Action::Stop, false) => "Stopped",
                (Action::Archive, false) => "Archived",
                (Action::Create, true) => "Would create",
                (Action::Update, true) => "Would update",
                (Action::Delete, true) => "Would delete",
                (Action::Reload, true) => "Would reload",
                (Action::Start, true) => "Would start",
                (Action::Stop, true) => "Would stop",
                (Action::Archive, true) => "Would archive",
            };
            let _ = writeln!(err, "{verb:>13} {} {}", c.kind, c.target);
            if (r.dry_run || self.verbose > 0)
                && let Some(d) = &c.diff
            {
                let _ = write!(err, "{d}");
            }
        }
        for s in &r.secrets_shown_once {
            let _ = writeln!(err, "{s}");
        }
        for w in &r.warnings {
            let _ = writeln!(err, "warning: {w}");
        }
        let summary = match (r.changed, r.dry_run) {
            (false, _) => "no change".to_owned(),
            (true, true) => format!(
                "{} change(s) planned; nothing was changed (--dry-run)",
                r.changes.len()
            ),
            (true, false) => format!("{} change(s) applied", r.changes.len()),
        };
        let _ = writeln!(err, "{summary}");
        if let Some(e) = &r.error {
            let _ = writeln!(err, "error: {}", e.message);
        }
    }

    /// Prints data: JSON with --json, else the human rendering.
    pub fn data<T: Serialize>(&self, value: &T, human: impl Fn(&T) -> String) {
        let notes = self.take_notes();
        if self.json {
            println!("{}", Self::json_with_notes(value, &notes));
        } else {
            let text = human(value);
            if !text.is_empty() {
                println!("{text}");
            }
        }
    }

    pub fn raw(&self, bytes: &[u8]) {
        let _ = std::io::stdout().write_all(bytes);
    }

    /// A warning on stderr (also with --json, whose stdout stays one object).
    pub fn warn(&self, message: &str) {
        if !self.quiet {
            eprintln!("warning: {message}");
        }
    }

    pub fn confirm(&self, question: &str) -> bool {
        eprint!("{question} [y/N] ");
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        matches!(line.trim(), "y" | "Y" | "yes")
    }

    /// Prints an error (as the `error` of a JSON report with --json) and returns the exit code.
    pub fn error(&self, e: &anyhow::Error) -> u8 {
        let code = error::exit_code(e);
        let message = format!("{e:#}");
        if self.json {
            let r = Report {
                error: Some(ErrorReport {
                    message: message.clone(),
                    kind: if code == 2 {
                        "invalid-input"
                    } else {
                        "failure"
                    },
                    exit_code: code,
                }),
                ..Report::default()
            };
            println!("{}", Self::json_with_notes(&r, &self.take_notes()));
        } else {
            self.take_notes();
        }
        let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
        eprintln!("error: {}", chain.join("\n  caused by: "));
        code
    }
}

impl Printer {
    /// Progress of `s3 sync`: a bar on a terminal, a line every ~2 s otherwise, nothing with
    /// `--json` or `-q`.
    pub fn s3_progress(&self) -> S3Progress {
        let mode = if self.json || self.quiet {
            Mode::Off
        } else if std::io::stderr().is_terminal() {
            Mode::Bar(indicatif::ProgressBar::hidden())
        } else {
            Mode::Lines
        };
        S3Progress {
            mode,
            state: Mutex::new(ProgressState::default()),
        }
    }

    /// Prints the outcome of `s3 sync` and returns the exit code (1 when any sync failed).
    pub fn s3_sync(&self, run: &SyncRun) -> u8 {
        let code = run.exit_code();
        let notes = self.take_notes();
        if self.json {
            println!("{}", Self::json_with_notes(&run.report(), &notes));
        }
        let mut err = std::io::stderr().lock();
        for o in &run.outcomes {
            if let Some(e) = &o.error {
                self.failure.replace(Some(format!("{}: {e}", o.label)));
            }
            let r = &o.report;
            if !self.json && !self.quiet {
                if r.dry_run {
                    for u in &r.planned_uploads {
                        let why = match u.reason {
                            crate::services::s3::UploadReason::New => "new",
                            crate::services::s3::UploadReason::Changed => "changed",
                        };
                        let _ = writeln!(err, "Would upload {} ({}, {why})", u.key, bytes(u.size));
                    }
                    for (i, k) in r.planned_deletes.iter().enumerate() {
                        let size = r.planned_delete_sizes.get(i).copied().unwrap_or(0);
                        let _ = writeln!(err, "Would delete {k} ({})", bytes(size));
                    }
                }
                if o.error.is_none() || r.uploaded > 0 || r.deleted > 0 {
                    let _ = writeln!(err, "{}", sync_summary(o));
                }
            }
            if let Some(e) = &o.error {
                let _ = writeln!(err, "error: {}: {e}", o.label);
            }
        }
        if run.outcomes.is_empty() && !self.json && !self.quiet {
            let _ = writeln!(err, "no site has an `s3` section");
        }
        code
    }
}

fn sync_summary(o: &crate::ops::s3::SyncOutcome) -> String {
    let r = &o.report;
    let secs = r.duration_ms as f64 / 1000.0;
    let reqs = {
        let q = &r.requests;
        q.list
            + q.put
            + q.mpu_create
            + q.mpu_part
            + q.mpu_complete
            + q.mpu_abort
            + q.head
            + q.delete_batches
    };
    if r.dry_run {
        let up: u64 = r.planned_uploads.iter().map(|u| u.size).sum();
        let del: u64 = r.planned_delete_sizes.iter().sum();
        format!(
            "{}: would upload {} file(s) ({}), delete {} object(s) ({}); {} unchanged; nothing was changed (--dry-run)",
            o.label,
            r.planned_uploads.len(),
            bytes(up),
            r.planned_deletes.len(),
            bytes(del),
            r.unchanged
        )
    } else {
        format!(
            "{}: uploaded {} file(s) ({}), deleted {}, unchanged {}; {reqs} request(s) in {secs:.1} s",
            o.label,
            r.uploaded,
            bytes(r.uploaded_bytes),
            r.deleted,
            r.unchanged
        )
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

enum Mode {
    Off,
    Bar(indicatif::ProgressBar),
    Lines,
}

#[derive(Default)]
struct ProgressState {
    label: String,
    files: u64,
    bytes: u64,
    done_files: u64,
    done_bytes: u64,
    deleted: u64,
    last_line: Option<Instant>,
}

/// Renders `ProgressEvent`s of `s3 sync` (see `Printer::s3_progress`).
pub struct S3Progress {
    mode: Mode,
    state: Mutex<ProgressState>,
}

impl S3Progress {
    pub fn event(&self, label: &str, e: ProgressEvent) {
        if matches!(self.mode, Mode::Off) {
            return;
        }
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if st.label != label {
            *st = ProgressState {
                label: label.to_owned(),
                ..ProgressState::default()
            };
        }
        let line = match e {
            ProgressEvent::Scanned { files, bytes: b } => {
                Some(format!("{label}: {files} local file(s), {}", bytes(b)))
            }
            ProgressEvent::Listed { objects } => {
                Some(format!("{label}: {objects} object(s) in the bucket"))
            }
            ProgressEvent::Planned {
                uploads,
                upload_bytes,
                deletes,
                unchanged,
            } => {
                st.files = uploads;
                st.bytes = upload_bytes;
                if let Mode::Bar(bar) = &self.mode
                    && uploads > 0
                {
                    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    bar.set_length(upload_bytes);
                    bar.set_position(0);
                    bar.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    bar.set_message(format!("{label}: 0/{uploads} files"));
                }
                Some(format!(
                    "{label}: {uploads} to upload ({}), {deletes} to delete, {unchanged} unchanged",
                    bytes(upload_bytes)
                ))
            }
            ProgressEvent::Uploaded { bytes: b, .. } => {
                st.done_files += 1;
                st.done_bytes += b;
                if let Mode::Bar(bar) = &self.mode {
                    bar.inc(b);
                    bar.set_message(format!("{label}: {}/{} files", st.done_files, st.files));
                    None
                } else if st
                    .last_line
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(2))
                {
                    Some(format!(
                        "{label}: uploaded {}/{} file(s), {}/{}",
                        st.done_files,
                        st.files,
                        bytes(st.done_bytes),
                        bytes(st.bytes)
                    ))
                } else {
                    None
                }
            }
            ProgressEvent::UploadFailed { key } => Some(format!("{label}: upload failed: {key}")),
            ProgressEvent::Deleted { count } => {
                st.deleted += count;
                Some(format!("{label}: deleted {} object(s)", st.deleted))
            }
        };
        let Some(line) = line else { return };
        match &self.mode {
            Mode::Bar(bar) => {
                if bar.is_hidden() {
                    eprintln!("{line}");
                } else {
                    bar.println(line);
                }
            }
            Mode::Lines => {
                eprintln!("{line}");
                st.last_line = Some(Instant::now());
            }
            Mode::Off => {}
        }
    }

    /// Removes the bar (the summary follows).
    pub fn finish(&self) {
        if let Mode::Bar(bar) = &self.mode {
            bar.finish_and_clear();
        }
    }
}

/// Rows under a header, each column as wide as its widest cell; empty when there are no rows.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&width).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_owned()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out.join("\n")
}

/// 1536 → `1.5 KiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[allow(clippy::ptr_arg)] // used as `Fn(&Vec<_>)` by `Printer::data`
pub fn sites_table(sites: &Vec<crate::ops::site::SiteInfo>) -> String {
    let rows: Vec<Vec<String>> = sites
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.kind.to_owned(),
                s.php_version.clone().unwrap_or_else(|| "-".into()),
                s.cache.to_owned(),
                s.tls.clone(),
                if s.enabled { "enabled" } else { "disabled" }.to_owned(),
            ]
        })
        .collect();
    table(&["NAME", "KIND", "PHP", "CACHE", "TLS", "STATE"], &rows)
}

pub fn site_text(s: &crate::ops::site::SiteInfo) -> String {
    let mut lines: Vec<(&str, String)> = vec![
        ("name", s.name.clone()),
        ("kind", s.kind.to_owned()),
        (
            "state",
            if s.enabled { "enabled" } else { "disabled" }.to_owned(),
        ),
        (
            "aliases",
            if s.aliases.is_empty() {
                "-".to_owned()
            } else {
                s.aliases.join(", ")
            },
        ),
        ("site file", s.file.display().to_string()),
    ];
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let path =
        |v: &Option<std::path::PathBuf>| v.as_ref().map_or("-".into(), |p| p.display().to_string());
    if let Some(v) = &s.php_version {
        lines.push((
            "php",
            format!(
                "{v} (memory_limit {}, max_children {}, uploads up to {})",
                opt(&s.memory_limit),
                s.max_children.map_or("-".into(), |n| n.to_string()),
                opt(&s.upload_max_size)
            ),
        ));
    }
    lines.push(("cache", s.cache.to_owned()));
    lines.push(("tls", s.tls.clone()));
    lines.push(("user", opt(&s.user)));
    lines.push(("document root", path(&s.document_root)));
    lines.push(("vhost", s.vhost.display().to_string()));
    if s.pool.is_some() {
        lines.push(("pool", path(&s.pool)));
    }
    lines.push(("access log", s.access_log.display().to_string()));
    lines.push(("error log", s.error_log.display().to_string()));
    if s.php_error_log.is_some() {
        lines.push(("php error log", path(&s.php_error_log)));
        lines.push(("slow log", path(&s.slow_log)));
    }
    if let Some(db) = &s.database {
        lines.push(("database", format!("{db} (user {})", opt(&s.db_user))));
    }
    lines.push((
        "backups",
        s.backup_schedule
            .as_ref()
            .map_or("none".into(), |c| format!("on `{c}`")),
    ));
    if let Some(r) = &s.real_paths {
        lines.push(("real paths", format!("under --root {}", r.root.display())));
        lines.push(("  document root", path(&r.document_root)));
        lines.push(("  vhost", r.vhost.display().to_string()));
        if r.pool.is_some() {
            lines.push(("  pool", path(&r.pool)));
        }
        lines.push(("  access log", r.access_log.display().to_string()));
    }
    let w = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    lines
        .iter()
        .map(|(k, v)| format!("{:<w$}  {v}", format!("{k}:"), w = w + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn status_text(s: &Status, detail: bool) -> String {
    let mut out = format!("service manager: {}\n", s.manager);
    let w = s
        .services
        .iter()
        .map(|svc| svc.service.len())
        .max()
        .unwrap_or(0)
        .max(14);
    for svc in &s.services {
        let mut line = format!(
            "{:<w$} {}",
            svc.service,
            if svc.running { "running" } else { "stopped" }
        );
        if let Some(pid) = svc.pid {
            line.push_str(&format!(" (pid {pid})"));
        }
        if let Some(t) = svc.last_reload {
            line.push_str(&format!(", reloaded by lempctl {}", when(Some(t))));
        }
        out.push_str(&line);
        out.push('\n');
    }
    for j in &s.jails {
        out.push_str(&format!(
            "jail {:<20} {} banned{}{}\n",
            j.jail,
            j.banned.len(),
            if j.banned.is_empty() { "" } else { ": " },
            j.banned.join(" ")
        ));
    }
    if !s.sites.is_empty() {
        out.push_str(&format!(
            "{:<40} {:<10} {:<9} {:<4} {:<8} {:<7} {:<20} {}\n",
            "SITE", "KIND", "ENABLED", "PHP", "CACHE", "TLS", "LAST BACKUP (UTC)", "STATE"
        ));
    }
    for site in &s.sites {
        let backup = match &site.last_backup {
            Some(b) => {
                let when = chrono::DateTime::from_timestamp(b.last_run, 0).map_or_else(
                    || b.last_run.to_string(),
                    |t| t.format("%Y-%m-%d %H:%M").to_string(),
                );
                if b.success {
                    when
                } else {
                    format!("{when} FAILED")
                }
            }
            None if site.backup_scheduled => "never".to_owned(),
            None => "-".to_owned(),
        };
        out.push_str(&format!(
            "{:<40} {:<10} {:<9} {:<4} {:<8} {:<7} {:<20} {}\n",
            site.name,
            site.kind,
            if site.enabled { "enabled" } else { "disabled" },
            site.php.as_deref().unwrap_or("-"),
            site.cache,
            match (site.tls, site.tls_days_left) {
                (false, _) => "no".to_owned(),
                (true, Some(d)) => format!("{d}d"),
                (true, None) => "no cert".to_owned(),
            },
            backup,
            site.state
        ));
        for p in &site.pending {
            out.push_str(&format!("  pending: {p}\n"));
        }
        for d in &site.drifted {
            out.push_str(&format!(
                "  drift: {d} (edited by hand since lempctl wrote it)\n"
            ));
        }
        if let Some(e) = site.last_backup.as_ref().and_then(|b| b.error.as_ref()) {
            out.push_str(&format!("  backup error: {e}\n"));
        }
        if let Some(h) = site.http.as_ref().filter(|h| detail || !h.ok) {
            out.push_str(&format!("  http: {}\n", http_text(h)));
        }
        for j in site.jobs.iter().filter(|j| detail || j.result == "failed") {
            out.push_str(&format!("  {}\n", job_text(j)));
        }
    }
    for j in s.jobs.iter().filter(|j| detail || j.result == "failed") {
        out.push_str(&format!("host: {}\n", job_text(j)));
    }
    for p in &s.pending_host {
        out.push_str(&format!("host: pending: {p}\n"));
    }
    for f in &s.invalid_files {
        out.push_str(&format!("invalid site file: {f}\n"));
    }
    for r in &s.removed_sites {
        out.push_str(&format!(
            "{r:<40} removed from sites.d; run `lempctl apply --prune`\n"
        ));
    }
    for w in s.warnings.iter().filter(|w| !w.contains("edited by hand")) {
        out.push_str(&format!("warning: {w}\n"));
    }
    if let Some(e) = &s.plan_error {
        out.push_str(&format!("pending changes unknown: {e}\n"));
    }
    if s.ok {
        out.push_str("status: ok (the host matches the site files)\n");
    } else {
        out.push_str(
            "status: needs attention (`lempctl apply --dry-run` shows what apply would change)\n",
        );
    }
    out.trim_end().to_owned()
}

#[allow(clippy::ptr_arg)] // used as `Fn(&Vec<_>)` by `Printer::data`
pub fn services_text(v: &Vec<ServiceState>) -> String {
    v.iter()
        .map(|s| {
            format!(
                "{:<14} {}",
                s.service,
                s.pid
                    .map_or("stopped".to_owned(), |p| format!("running (pid {p})"))
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn when(t: Option<i64>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map_or_else(
            || "-".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M").to_string(),
        )
}

fn job_text(j: &crate::ops::status::JobStatus) -> String {
    let mut line = format!(
        "job {} ({}): {}, last run {}, next {}",
        j.job,
        j.schedule,
        j.result,
        when(j.last_run),
        when(j.next_run)
    );
    if let Some(e) = &j.error {
        line.push_str(&format!(": {e}"));
    }
    line
}

fn http_text(h: &crate::ops::status::HttpProbe) -> String {
    match (h.status, &h.error) {
        (Some(c), _) if h.ok => format!("{c}"),
        (Some(c), _) => format!("{c}, expected {} (DOWN)", h.expected),
        (None, e) => format!("no answer (DOWN): {}", e.as_deref().unwrap_or("")),
    }
}

pub(crate) fn alert_text(a: &crate::ops::jobs::Alerted) -> String {
    match &a.skipped {
        None => format!("mailed the failure of {}", a.unit),
        Some(why) => format!("no mail for {}: {why}", a.unit),
    }
}
