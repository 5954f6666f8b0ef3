//! `lempctl status`: its conversion into the `ops` call and its human output.

use anyhow::Result;

use super::printer::{self, Printer};
use crate::ops::{self, Context};

/// Runs `lempctl status`; returns its exit code (1 when something needs attention).
pub(super) fn run(ctx: &Context, p: &Printer) -> Result<u8> {
    let s = ops::status::status(ctx)?;
    p.data(&s, printer::status_text);
    Ok(u8::from(s.needs_attention()))
}
