//! Errors in configuration and site files: each names the file, line, column and field, and says
//! what is allowed. `ConfigErrors` holds every problem of one load so they are fixed in one pass.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
    pub field: String,
    pub problem: String,
    pub allowed: Option<String>,
}

impl ConfigError {
    pub fn new(
        file: &Path,
        line: u64,
        column: u64,
        field: &str,
        problem: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
            column,
            field: field.to_owned(),
            problem: problem.into(),
            allowed: None,
        }
    }

    pub fn allowed(mut self, allowed: impl Into<String>) -> Self {
        self.allowed = Some(allowed.into());
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": `{}`", self.field)?;
        }
        write!(f, ": {}", self.problem)?;
        if let Some(a) = &self.allowed {
            write!(f, "\n  allowed: {a}")?;
        }
        Ok(())
    }
}

/// Every problem found while loading; the run stops before anything is written.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A command-line value that is not acceptable (exit code 2, nothing changed).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
