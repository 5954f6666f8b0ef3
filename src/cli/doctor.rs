//! `lempctl doctor`: its conversion into the `ops` call and its human output.

use anyhow::Result;

use super::printer::Printer;
use crate::ops::doctor::{Doctor, Outcome};
use crate::ops::{self, Context};

/// Runs `lempctl doctor`; returns its exit code (1 when a check failed).
pub(super) fn run(ctx: &Context, p: &Printer) -> Result<u8> {
    let d = ops::doctor::doctor(ctx)?;
    p.data(&d, text);
    Ok(u8::from(!d.ok))
}

/// One line per check (`ok   nginx-config      nginx -t passed`), the hint under a warning or
/// failure, and a count at the end.
fn text(d: &Doctor) -> String {
    let width = d.checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
    let mut out = Vec::new();
    for c in &d.checks {
        out.push(format!(
            "{:<4} {:<width$}  {}",
            c.result.as_str(),
            c.check,
            c.message
        ));
        if c.result != Outcome::Ok && !c.hint.is_empty() {
            out.push(format!("     {:<width$}  hint: {}", "", c.hint));
        }
    }
    let count = |o| d.checks.iter().filter(|c| c.result == o).count();
    out.push(format!(
        "{} failed, {} warning(s), {} ok",
        count(Outcome::Fail),
        count(Outcome::Warn),
        count(Outcome::Ok)
    ));
    out.join("\n")
}
