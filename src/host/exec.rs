//! The only place that starts processes. A command is built, logged at debug, run with stdin
//! closed (or fed explicitly), and a failure becomes a `ProcessError` quoting the program's own words.
#![allow(clippy::disallowed_methods)]

use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A command line to run: program, arguments, extra environment.
#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
}

/// How a process ended when it did not succeed.
#[derive(Debug)]
pub(crate) enum Outcome {
    NotStarted(std::io::Error),
    Exited(Option<i32>),
    /// Killed (with its whole process group) when it ran longer than this many seconds.
    TimedOut(u64),
    /// Killed (with its whole process group) when one of its streams went over this many bytes.
    OutputOver(usize),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::NotStarted(e) => write!(f, "could not be started: {e}"),
            Outcome::Exited(Some(c)) => write!(f, "exited with status {c}"),
            Outcome::Exited(None) => write!(f, "was killed by a signal"),
            Outcome::TimedOut(s) => write!(f, "timed out after {s} s (killed)"),
            Outcome::OutputOver(n) => write!(f, "printed output over {n} bytes (killed)"),
        }
    }
}

/// A program failed; carries its command line and the tail of what it printed.
#[derive(Debug, thiserror::Error)]
#[error("`{command}` {outcome}{}", if stderr_tail.is_empty() { String::new() } else { format!("\n{stderr_tail}") })]
pub(crate) struct ProcessError {
    pub command: String,
    pub outcome: Outcome,
    pub stderr_tail: String,
}

impl Cmd {
    pub(crate) fn new(program: impl AsRef<Path>) -> Self {
        Self {
            program: program.as_ref().to_path_buf(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
        }
    }

    pub(crate) fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub(crate) fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub(crate) fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Bytes written to the program's stdin (secrets go here, never into argv).
    pub(crate) fn stdin(mut self, data: Vec<u8>) -> Self {
        self.stdin = Some(data);
        self
    }

    /// Runs to completion; a non-zero exit is an error.
    pub(crate) fn run(&self) -> Result<Output, ProcessError> {
        let out = self.output()?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(self.failure(Outcome::Exited(out.status.code()), &out))
        }
    }

    /// Runs to completion and returns the status unjudged (`nginx -t`: failure is data).
    pub(crate) fn output(&self) -> Result<Output, ProcessError> {
        let start = std::time::Instant::now();
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let not_started = |e| ProcessError {
            command: self.to_string(),
            outcome: Outcome::NotStarted(e),
            stderr_tail: String::new(),
        };
        let mut child = cmd.spawn().map_err(not_started)?;
        if let (Some(data), Some(mut pipe)) = (self.stdin.as_ref(), child.stdin.take()) {
            // A program may exit without reading all of its input; its exit status tells the story.
            let _ = pipe.write_all(data);
        }
        let out = child.wait_with_output().map_err(not_started)?;
        tracing::debug!(
            "ran {self} in {:.1} ms ({})",
            start.elapsed().as_secs_f64() * 1000.0,
            out.status
        );
        Ok(out)
    }

    fn failure(&self, outcome: Outcome, out: &Output) -> ProcessError {
        let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
        if text.trim().is_empty() {
            text = String::from_utf8_lossy(&out.stdout).into_owned();
        }
        ProcessError {
            command: self.to_string(),
            outcome,
            stderr_tail: tail(text.trim(), 1024),
        }
    }
}

/// How a command runs as an unprivileged (site) user: see `Cmd::output_confined`.
#[derive(Debug, Clone)]
pub(crate) struct Confinement {
    pub uid: u32,
    /// The user's own group: the only group the process keeps.
    pub gid: u32,
    /// `HOME` and the working directory (entered after the switch to the user).
    pub home: PathBuf,
    /// The whole process group is killed after this long.
    pub timeout: Duration,
    /// Bytes kept per stream (stdout, stderr); one byte more kills the process group.
    pub max_output: usize,
}

/// `PATH` of a confined command.
pub(crate) const CONFINED_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// Default output cap of a confined command, per stream.
pub(crate) const DEFAULT_MAX_OUTPUT: usize = 1 << 20;

impl Cmd {
    /// Runs as another user, confined, and returns the output with the exit status unjudged:
    /// a new session without a controlling terminal (`setsid`), supplementary groups dropped to the
    /// user's own group, gid then uid switched, `SIGKILL` if lempctl dies; stdin is `/dev/null` or
    /// the bytes given with `stdin`; the environment is `PATH`, `HOME`, `LANG=C.UTF-8` and only the
    /// variables set with `env` (nothing of the caller's). Running longer than `timeout` or
    /// printing more than `max_output` bytes on a stream kills the whole process group and is an
    /// error (`Outcome::TimedOut`, `Outcome::OutputOver`).
    pub(crate) fn output_confined(&self, c: &Confinement) -> Result<Output, ProcessError> {
        use std::io::Read;
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::process::CommandExt;

        use nix::sys::signal::{Signal, killpg};
        use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
        use nix::unistd::{Gid, Pid, Uid};

        let start = Instant::now();
        let not_started = |e| ProcessError {
            command: self.to_string(),
            outcome: Outcome::NotStarted(e),
            stderr_tail: String::new(),
        };
        let home = std::ffi::CString::new(c.home.as_os_str().as_bytes()).map_err(|_| {
            not_started(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a NUL byte in the home directory",
            ))
        })?;
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .env_clear()
            .env("PATH", CONFINED_PATH)
            .env("HOME", &c.home)
            .env("LANG", "C.UTF-8")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let (uid, gid) = (Uid::from_raw(c.uid), Gid::from_raw(c.gid));
        let parent = nix::unistd::getpid();
        // SAFETY: the closure runs in the forked child before exec. It only makes system calls that
        // are async-signal-safe and allocates nothing (the home directory is converted above).
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || {
                nix::unistd::setsid()?;
                nix::unistd::setgroups(&[gid])?;
                nix::unistd::setgid(gid)?;
                nix::unistd::setuid(uid)?;
                // after setuid: a change of credentials clears the parent-death signal
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
                if nix::unistd::getppid() != parent {
                    return Err(nix::errno::Errno::ESRCH.into());
                }
                nix::unistd::chdir(home.as_c_str())?;
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(not_started)?;
        #[allow(clippy::cast_possible_wrap)]
        let pid = Pid::from_raw(child.id() as i32);
        let feeder = match (self.stdin.clone(), child.stdin.take()) {
            (Some(data), Some(mut pipe)) => Some(std::thread::spawn(move || {
                // A program may exit without reading all of its input; its exit status tells.
                let _ = pipe.write_all(&data);
            })),
            _ => None,
        };
        let (tx, rx) = std::sync::mpsc::channel::<bool>();
        let cap = c.max_output;
        let reader = |r: Option<Box<dyn Read + Send>>| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(r) = r {
                    let _ = r.take(cap as u64 + 1).read_to_end(&mut buf);
                }
                let over = buf.len() > cap;
                buf.truncate(cap);
                let _ = tx.send(over);
                buf
            })
        };
        let out_reader = reader(
            child
                .stdout
                .take()
                .map(|r| Box::new(r) as Box<dyn Read + Send>),
        );
        let err_reader = reader(
            child
                .stderr
                .take()
                .map(|r| Box::new(r) as Box<dyn Read + Send>),
        );
        drop(tx);
        let deadline = start + c.timeout;
        let mut killed: Option<Outcome> = None;
        let mut streams_done = 0;
        loop {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(true) => {
                    killed = Some(Outcome::OutputOver(cap));
                    break;
                }
                Ok(false) => streams_done += 1,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                // both streams closed (the program may run on without them): poll gently
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            // exited? (WNOWAIT: not reaped yet, so the process group id stays ours to kill)
            match waitid(
                Id::Pid(pid),
                WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT,
            ) {
                Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::EINTR) => {}
                _ => break,
            }
            if Instant::now() >= deadline {
                killed = Some(Outcome::TimedOut(c.timeout.as_secs()));
                break;
            }
        }
        // Whatever the leader did, nothing it started outlives the run.
        let _ = killpg(pid, Signal::SIGKILL);
        let status = child.wait().map_err(not_started)?;
        // The writers are gone; a stream held open by an escaped process is not waited for long.
        let grace = Instant::now() + Duration::from_secs(2);
        while streams_done < 2 {
            match rx.recv_timeout(grace.saturating_duration_since(Instant::now())) {
                Ok(over) => {
                    streams_done += 1;
                    if over && killed.is_none() {
                        killed = Some(Outcome::OutputOver(cap));
                    }
                }
                Err(_) => break,
            }
        }
        // A reader reports on the channel just before it returns its buffer: one that reported
        // is joined (it finishes at once); one held open by an escaped process is given up on.
        let all_reported = streams_done >= 2;
        let take = |h: std::thread::JoinHandle<Vec<u8>>| {
            let until = Instant::now() + Duration::from_millis(200);
            while !all_reported && !h.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
            if all_reported || h.is_finished() {
                h.join().unwrap_or_default()
            } else {
                Vec::new()
            }
        };
        let out = Output {
            status,
            stdout: take(out_reader),
            stderr: take(err_reader),
        };
        if let Some(f) = feeder
            && f.is_finished()
        {
            let _ = f.join();
        }
        tracing::debug!(
            "ran {self} as uid {} in {:.1} ms ({})",
            c.uid,
            start.elapsed().as_secs_f64() * 1000.0,
            out.status
        );
        match killed {
            Some(outcome) => Err(self.failure(outcome, &out)),
            None => Ok(out),
        }
    }

    /// `output_confined`; a non-zero exit is an error.
    pub(crate) fn run_confined(&self, c: &Confinement) -> Result<Output, ProcessError> {
        let out = self.output_confined(c)?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(self.failure(Outcome::Exited(out.status.code()), &out))
        }
    }
}

/// Starts `program args…` with stdout and stderr piped and stdin closed, for callers that stream
/// the output (database dumps). No secret is ever put in `args`.
pub(crate) fn spawn_piped(
    program: &std::ffi::OsStr,
    args: &[&std::ffi::OsStr],
) -> std::io::Result<std::process::Child> {
    tracing::debug!(program = ?program, args = ?args, "spawn");
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

/// What `pipe` moved: the consumer's stdout and the number of bytes that went through.
#[derive(Debug)]
pub(crate) struct PipeOutput {
    pub stdout: Vec<u8>,
    pub bytes: u64,
}

/// Runs `producer | consumer` with the stream passing through this process in memory, so `tap`
/// sees every chunk (hashing, counting) and nothing is written to disk in between (a database
/// dump into `restic backup --stdin`, `restic dump` into the `mariadb` client). Both programs must
/// succeed; the first failure is returned with that program's stderr. When the producer fails,
/// the consumer is killed rather than given a clean end of input.
pub(crate) fn pipe(
    producer: &Cmd,
    consumer: &Cmd,
    tap: &mut dyn FnMut(&[u8]),
) -> Result<PipeOutput, ProcessError> {
    pipe_with_trailer(producer, consumer, tap, &mut Vec::new)
}

/// `pipe`, and once the producer has finished successfully, the bytes `trailer` returns are
/// written to the consumer after the stream (not seen by `tap`, not counted in `bytes`): a
/// description of the stream that only exists once it has been read.
pub(crate) fn pipe_with_trailer(
    producer: &Cmd,
    consumer: &Cmd,
    tap: &mut dyn FnMut(&[u8]),
    trailer: &mut dyn FnMut() -> Vec<u8>,
) -> Result<PipeOutput, ProcessError> {
    struct TapTrailer<'a> {
        tap: &'a mut dyn FnMut(&[u8]),
        trailer: &'a mut dyn FnMut() -> Vec<u8>,
    }
    impl StreamFilter for TapTrailer<'_> {
        fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
            (self.tap)(input);
            out.extend_from_slice(input);
        }
        fn finish(&mut self, out: &mut Vec<u8>) {
            out.extend((self.trailer)());
        }
    }
    pipe_filtered(producer, consumer, &mut TapTrailer { tap, trailer })
}

/// A `StreamFilter` that passes the stream on unchanged and shows it to a closure.
pub(crate) struct Tap<F: FnMut(&[u8])>(pub F);

impl<F: FnMut(&[u8])> StreamFilter for Tap<F> {
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        (self.0)(input);
        out.extend_from_slice(input);
    }
    fn finish(&mut self, _: &mut Vec<u8>) {}
}

/// A transformation of the stream between the two programs of `pipe_filtered`.
pub(crate) trait StreamFilter {
    /// Writes to `out` what `input` (the next bytes of the producer) becomes.
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>);
    /// Writes what follows the stream, once the producer has finished successfully.
    fn finish(&mut self, out: &mut Vec<u8>);
}

/// `producer | filter | consumer` with the filter in this process; `bytes` counts what the
/// producer wrote. Otherwise as `pipe`.
pub(crate) fn pipe_filtered(
    producer: &Cmd,
    consumer: &Cmd,
    filter: &mut dyn StreamFilter,
) -> Result<PipeOutput, ProcessError> {
    use std::io::Read;
    let start = std::time::Instant::now();
    let spawn = |c: &Cmd, stdin: Stdio| {
        Command::new(&c.program)
            .args(&c.args)
            .envs(c.env.iter().map(|(k, v)| (k, v)))
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| ProcessError {
                command: c.to_string(),
                outcome: Outcome::NotStarted(e),
                stderr_tail: String::new(),
            })
    };
    let mut prod = spawn(producer, Stdio::null())?;
    let mut cons = match spawn(consumer, Stdio::piped()) {
        Ok(c) => c,
        Err(e) => {
            let _ = prod.kill();
            let _ = prod.wait();
            return Err(e);
        }
    };
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let prod_err = drain(
        prod.stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let cons_out = drain(
        cons.stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let cons_err = drain(
        cons.stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let mut bytes = 0u64;
    let mut broken = false;
    let mut prod_status = None;
    let mut consumer_killed = false;
    if let (Some(mut out), Some(mut inp)) = (prod.stdout.take(), cons.stdin.take()) {
        let mut buf = vec![0u8; 256 * 1024];
        let mut filtered = Vec::with_capacity(buf.len());
        loop {
            match out.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    filtered.clear();
                    filter.feed(&buf[..n], &mut filtered);
                    bytes += n as u64;
                    if inp.write_all(&filtered).is_err() {
                        broken = true;
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    broken = true;
                    break;
                }
            }
        }
        // the producer's output ended: the trailer follows only a complete stream
        if !broken && let Ok(st) = prod.wait() {
            prod_status = Some(st);
            if st.success() {
                let mut t = Vec::new();
                filter.finish(&mut t);
                if !t.is_empty() && inp.write_all(&t).is_err() {
                    broken = true;
                }
            } else {
                // a truncated stream must not be committed (restic would save it as a snapshot)
                let _ = cons.kill();
                consumer_killed = true;
            }
        }
        drop(inp);
    }
    if broken {
        let _ = prod.kill();
    }
    let wait = |c: &mut std::process::Child, cmd: &Cmd| {
        c.wait().map_err(|e| ProcessError {
            command: cmd.to_string(),
            outcome: Outcome::NotStarted(e),
            stderr_tail: String::new(),
        })
    };
    let cons_status = wait(&mut cons, consumer)?;
    let prod_status = match prod_status {
        Some(st) => st,
        None => wait(&mut prod, producer)?,
    };
    let text = |h: std::thread::JoinHandle<Vec<u8>>| {
        let b = h.join().unwrap_or_default();
        tail(String::from_utf8_lossy(&b).trim(), 1024)
    };
    let (prod_err, cons_out, cons_err) = (
        text(prod_err),
        cons_out.join().unwrap_or_default(),
        text(cons_err),
    );
    tracing::debug!(
        "ran {producer} | {consumer} in {:.1} ms ({bytes} bytes)",
        start.elapsed().as_secs_f64() * 1000.0
    );
    if !cons_status.success() && !consumer_killed {
        return Err(ProcessError {
            command: consumer.to_string(),
            outcome: Outcome::Exited(cons_status.code()),
            stderr_tail: cons_err,
        });
    }
    if !prod_status.success() {
        return Err(ProcessError {
            command: producer.to_string(),
            outcome: Outcome::Exited(prod_status.code()),
            stderr_tail: prod_err,
        });
    }
    Ok(PipeOutput {
        stdout: cons_out,
        bytes,
    })
}

/// Starts a server that does not daemonize itself (mariadbd): own process group, no stdio, not
/// waited for. Returns its pid.
pub(crate) fn spawn_detached(cmd: &Cmd) -> Result<u32, ProcessError> {
    use std::os::unix::process::CommandExt;
    tracing::debug!("starting {cmd}");
    let mut c = Command::new(&cmd.program);
    c.args(&cmd.args)
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    c.spawn().map(|child| child.id()).map_err(|e| ProcessError {
        command: cmd.to_string(),
        outcome: Outcome::NotStarted(e),
        stderr_tail: String::new(),
    })
}

/// Shell-quoted command line, for errors and `-v` logs. Secrets never reach argv, so none are shown.
impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", quote(&self.program.to_string_lossy()))?;
        for a in &self.args {
            write!(f, " {}", quote(&a.to_string_lossy()))?;
        }
        Ok(())
    }
}

fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The last `max` bytes of `s`, cut at a char boundary.
pub(crate) fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &s[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_quotes_stderr_and_command() {
        let err = Cmd::new("/bin/sh")
            .arg("-c")
            .arg("echo boom >&2; exit 3")
            .run()
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("exited with status 3"), "{msg}");
        assert!(msg.contains("boom"), "{msg}");
        assert!(msg.contains("'echo boom >&2; exit 3'"), "{msg}");
    }

    #[test]
    fn pipe_streams_through_the_tap_and_reports_either_failure() {
        let mut seen = 0usize;
        let out = pipe(
            &Cmd::new("/bin/sh").args(["-c", "seq 1 100000"]),
            &Cmd::new("/usr/bin/wc").arg("-l"),
            &mut |b| seen += b.len(),
        )
        .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "100000");
        assert_eq!(out.bytes as usize, seen);
        let e = pipe(
            &Cmd::new("/bin/sh").args(["-c", "echo dumpfail >&2; exit 4"]),
            &Cmd::new("/bin/cat"),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(e.to_string().contains("dumpfail"), "{e}");
        let e = pipe(
            &Cmd::new("/bin/sh").args(["-c", "seq 1 1000000"]),
            &Cmd::new("/bin/sh").args(["-c", "echo nope >&2; exit 5"]),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("nope") && e.to_string().contains("status 5"),
            "{e}"
        );
    }

    fn nobody(timeout: Duration, max_output: usize) -> Option<Confinement> {
        // switching users needs root; elsewhere there is nothing to check
        nix::unistd::geteuid().is_root().then(|| Confinement {
            uid: 65534,
            gid: 65534,
            home: PathBuf::from("/"),
            timeout,
            max_output,
        })
    }

    #[test]
    fn confined_command_gets_a_new_session_the_user_and_a_fixed_environment() {
        let Some(c) = nobody(Duration::from_secs(20), DEFAULT_MAX_OUTPUT) else {
            return;
        };
        let out = Cmd::new("/bin/sh")
            .args([
                "-c",
                "id -u; id -G; env | sort; cat; ps -o sid=,tty= -p $$; pwd",
            ])
            .env("EXTRA", "given")
            .stdin(b"fed\n".to_vec())
            .run_confined(&c)
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "65534", "{text}");
        assert_eq!(lines[1], "65534", "{text}");
        assert!(
            text.contains("EXTRA=given") && text.contains("HOME=/\n"),
            "{text}"
        );
        assert!(
            text.contains("PATH=/usr/local/bin:/usr/bin:/bin\n"),
            "{text}"
        );
        assert!(
            !text.contains("CARGO"),
            "the caller's environment leaked: {text}"
        );
        assert!(text.contains("fed\n"), "{text}");
        // session leader (sid is its own pid) and no terminal
        let ps: Vec<&str> = lines[lines.len() - 2].split_whitespace().collect();
        assert_eq!(ps.get(1), Some(&"?"), "{text}");
        assert_eq!(lines[lines.len() - 1], "/", "{text}");
    }

    #[test]
    fn confined_command_is_killed_with_its_group_on_timeout_and_over_the_output_cap() {
        // 3 s: on a loaded machine the shell must have printed its child's pid before the kill
        let Some(c) = nobody(Duration::from_secs(3), 1000) else {
            return;
        };
        let t = Instant::now();
        let err = Cmd::new("/bin/sh")
            .args(["-c", "sleep 30 & echo $!; sleep 30"])
            .run_confined(&c)
            .unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(12), "{:?}", t.elapsed());
        assert!(err.to_string().contains("timed out after 3 s"), "{err}");
        // the background child went with the group
        let bg = err.stderr_tail.trim();
        assert!(
            !bg.is_empty() && bg.chars().all(|c| c.is_ascii_digit()),
            "{err}"
        );
        std::thread::sleep(Duration::from_millis(200));
        // gone, or a zombie waiting for whichever process reaps orphans here
        let stat = std::fs::read_to_string(format!("/proc/{bg}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty()
                || stat
                    .rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z')),
            "{bg} survived: {stat}"
        );
        let err = Cmd::new("/bin/sh")
            .args(["-c", "yes | head -c 5000; sleep 30"])
            .run_confined(&c)
            .unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        assert!(err.to_string().contains("over 1000 bytes"), "{err}");
    }

    #[test]
    fn missing_program_is_not_started() {
        let err = Cmd::new("/nonexistent/prog").run().unwrap_err();
        assert!(matches!(err.outcome, Outcome::NotStarted(_)));
    }
}
