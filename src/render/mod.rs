//! Model → text. Pure: no writes, no processes. minijinja with strict undefined variables;
//! templates are embedded and overridable by files under the configured templates directory.

pub mod context;
#[cfg(test)]
mod snapshot_tests;
pub mod templates;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use minijinja::{Environment, UndefinedBehavior, syntax::SyntaxConfig};

/// A template environment bound to one override directory (real path).
#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
    override_dir: PathBuf,
}

impl Renderer {
    pub fn new(override_dir: &Path) -> Result<Self> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_syntax(
            SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .context("template syntax")?,
        );
        let dir = override_dir.to_path_buf();
        env.set_loader(move |name| {
            let over = dir.join(name);
            if !name.contains("..") && over.is_file() {
                return std::fs::read_to_string(&over).map(Some).map_err(|e| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        format!("reading {}: {e}", over.display()),
                    )
                });
            }
            Ok(templates::embedded(name).map(str::to_owned))
        });
        Ok(Self {
            env,
            override_dir: override_dir.to_path_buf(),
        })
    }

    /// Where a template comes from, for error messages.
    pub fn origin(&self, name: &str) -> String {
        let over = self.override_dir.join(name);
        if over.is_file() {
            format!("{} (override)", over.display())
        } else {
            format!("templates/{name} (built in)")
        }
    }

    /// Renders a template with a serialisable context. Errors name the template (and every
    /// included template) with the line, without dumping the context (it may hold secrets).
    pub fn render<T: serde::Serialize>(&self, name: &str, ctx: &T) -> Result<String> {
        let tmpl = self.env.get_template(name).map_err(|e| {
            anyhow::anyhow!("loading template {}: {}", self.origin(name), chain(&e))
        })?;
        tmpl.render(minijinja::value::Serde(ctx))
            .map_err(|e| anyhow::anyhow!("rendering {}: {}", self.origin(name), chain(&e)))
    }
}

fn chain(e: &minijinja::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cur {
        parts.push(c.to_string());
        cur = c.source();
    }
    parts.join(": ")
}
