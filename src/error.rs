//! Exit codes (design §5): 0 success, 1 failure, 2 invalid input (nothing was changed).

use crate::config::{ConfigErrors, UsageError};

/// 2 when the error chain holds invalid input, else 1.
pub(crate) fn exit_code(err: &anyhow::Error) -> u8 {
    if is_invalid_input(err) { 2 } else { 1 }
}

pub(crate) fn is_invalid_input(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.is::<ConfigErrors>() || e.is::<UsageError>() || e.is::<crate::engine::KindChangeError>()
    })
}
