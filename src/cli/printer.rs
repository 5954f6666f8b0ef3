//! The only place that writes to stdout and stderr. stdout carries data (`--json`, `list`,
//! `show`); human status lines go to stderr; `-q` leaves only errors.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, Write};

use serde::Serialize;

use crate::engine::plan::Action;
use crate::error;
use crate::ops::sandbox::ServiceState;
use crate::ops::status::Status;
use crate::report::{ErrorReport, Report};

#[derive(Debug)]
pub struct Printer {
    json: bool,
    quiet: bool,
    verbose: u8,
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
        }
    }

    /// Prints what a converging command did (or would do, with --dry-run).
    pub fn report(&self, r: &Report) {
        if self.json {
            println!("{}", serde_json::to_string(r).unwrap_or_default());
            return;
        }
        if self.quiet {
            return;
        }
        let mut err = std::io::stderr().lock();
        for c in &r.changes {
            let verb = match (c.action, r.dry_run) {
                (Action::Create, false) => "Created",
                (Action::Update, false) => "Updated",
                (Action::Delete, false) => "Deleted",
                (Action::Reload, false) => "Reloaded",
                (Action::Archive, false) => "Archived",
                (Action::Create, true) => "Would create",
                (Action::Update, true) => "Would update",
                (Action::Delete, true) => "Would delete",
                (Action::Reload, true) => "Would reload",
                (Action::Archive, true) => "Would archive",
            };
            let _ = writeln!(err, "{verb:>13} {} {}", c.kind, c.target);
            if (r.dry_run || self.verbose > 0)
                && let Some(d) = &c.diff
            {
                let _ = write!(err, "{d}");
            }
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
    }

    /// Prints data: JSON with --json, else the human rendering.
    pub fn data<T: Serialize>(&self, value: &T, human: impl Fn(&T) -> String) {
        if self.json {
            println!("{}", serde_json::to_string(value).unwrap_or_default());
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
            println!("{}", serde_json::to_string(&r).unwrap_or_default());
        }
        let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
        eprintln!("error: {}", chain.join("\n  caused by: "));
        code
    }
}

pub fn status_text(s: &Status) -> String {
    let mut out = format!("service manager: {}\n", s.manager);
    for svc in &s.services {
        out.push_str(&format!(
            "{:<14} {}\n",
            svc.service,
            if svc.running { "running" } else { "stopped" }
        ));
    }
    for site in &s.sites {
        let state = if !site.applied {
            "not applied".to_owned()
        } else if site.drifted.is_empty() {
            "ok".to_owned()
        } else {
            format!("drift: {}", site.drifted.join(", "))
        };
        out.push_str(&format!(
            "{:<40} {:<10} {:<9} {state}\n",
            site.name,
            site.kind,
            if site.enabled { "enabled" } else { "disabled" }
        ));
    }
    for r in &s.removed_sites {
        out.push_str(&format!(
            "{r:<40} removed from sites.d; run `lempctl apply --prune`\n"
        ));
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
