//! Resource limits of processes: the open-files limit of a running process (from
//! `/proc/PID/limits`) or of this one.

use nix::sys::resource::{Resource, getrlimit};
use nix::unistd::Pid;

/// An open-files limit (`RLIMIT_NOFILE`); `u64::MAX` stands for unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NoFile {
    pub soft: u64,
    pub hard: u64,
}

/// The open-files limit of the running process `pid`, read from `/proc/PID/limits`; `None` when
/// the process is gone or the file cannot be read.
pub(crate) fn nofile_of(pid: Pid) -> Option<NoFile> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    parse_limits(&text)
}

/// This process's own open-files limit (what a program started from here inherits).
pub(crate) fn own_nofile() -> Option<NoFile> {
    getrlimit(Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, hard)| NoFile { soft, hard })
}

/// The `Max open files` line of a `/proc/PID/limits` text.
fn parse_limits(text: &str) -> Option<NoFile> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let mut fields = line["Max open files".len()..].split_whitespace();
    let value = |v: &str| {
        if v == "unlimited" {
            Some(u64::MAX)
        } else {
            v.parse().ok()
        }
    };
    let soft = value(fields.next()?)?;
    let hard = value(fields.next()?)?;
    Some(NoFile { soft, hard })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_open_files_line() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max cpu time              unlimited            unlimited            seconds   \n\
                    Max open files            1024                 524288               files     \n";
        assert_eq!(
            parse_limits(text),
            Some(NoFile {
                soft: 1024,
                hard: 524_288
            })
        );
        assert_eq!(
            parse_limits(
                "Max open files            unlimited            unlimited            files\n"
            ),
            Some(NoFile {
                soft: u64::MAX,
                hard: u64::MAX
            })
        );
        assert_eq!(parse_limits("Max processes 10 10 processes\n"), None);
    }
}
