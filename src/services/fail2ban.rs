//! fail2ban: testing the whole configuration with the real client before a run counts, and
//! reloading a running server (never restarting it: a restart forgets the bans).

use anyhow::Result;

use super::ValidationError;
use crate::config::Global;
use crate::host::Root;
use crate::host::exec::Cmd;

fn client(root: &Root, g: &Global) -> Cmd {
    Cmd::new(&g.programs.fail2ban_client)
        .arg("-c")
        .arg(root.path(&g.paths.fail2ban_dir))
}

/// `fail2ban-client -t`: every jail, filter and log path; on failure the error quotes fail2ban.
pub(crate) fn check_config(root: &Root, g: &Global) -> Result<()> {
    let out = client(root, g).arg("-t").output()?;
    if out.status.success() {
        return Ok(());
    }
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let message = text
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("rror"))
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    Err(ValidationError {
        program: "fail2ban-client".into(),
        message,
    }
    .into())
}

/// `fail2ban-client reload` when a server answers; nothing when none runs.
pub(crate) fn reload_if_running(root: &Root, g: &Global) -> Result<bool> {
    if !client(root, g).arg("ping").output()?.status.success() {
        return Ok(false);
    }
    client(root, g).arg("reload").run()?;
    Ok(true)
}

/// A server answers on the configured socket.
pub(crate) fn running(root: &Root, g: &Global) -> bool {
    client(root, g)
        .arg("ping")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Starts the server (in the background) with the configuration directory's settings.
pub(crate) fn start(root: &Root, g: &Global) -> Result<()> {
    client(root, g).args(["-x", "start"]).run()?;
    Ok(())
}

/// Stops the server.
pub(crate) fn stop(root: &Root, g: &Global) -> Result<()> {
    client(root, g).arg("stop").run()?;
    Ok(())
}

/// One jail as the server sees it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct JailStatus {
    pub jail: String,
    pub currently_failed: u64,
    pub total_failed: u64,
    pub currently_banned: u64,
    pub total_banned: u64,
    pub banned: Vec<String>,
}

/// `fail2ban-client status JAIL`, parsed.
pub(crate) fn jail_status(root: &Root, g: &Global, jail: &str) -> Result<JailStatus> {
    let out = client(root, g).args(["status", jail]).run()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut s = JailStatus {
        jail: jail.to_owned(),
        ..JailStatus::default()
    };
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key
            .trim_start_matches(|c: char| !c.is_ascii_alphabetic())
            .trim();
        let value = value.trim();
        let n = || value.parse().unwrap_or(0);
        match key {
            "Currently failed" => s.currently_failed = n(),
            "Total failed" => s.total_failed = n(),
            "Currently banned" => s.currently_banned = n(),
            "Total banned" => s.total_banned = n(),
            "Banned IP list" => {
                s.banned = value.split_whitespace().map(str::to_owned).collect();
            }
            _ => {}
        }
    }
    Ok(s)
}

/// `fail2ban-client unban ADDR`: lifts the address's bans in every jail; how many there were.
pub(crate) fn unban(root: &Root, g: &Global, addr: &str) -> Result<u64> {
    let out = client(root, g).args(["unban", addr]).run()?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0))
}

/// `fail2ban-client banned`: every jail's banned addresses in one call (one client start, not
/// one per jail: `status` stays fast). fail2ban prints a Python list of one-key dicts,
/// `[{'jail': ['192.0.2.9']}, {'recidive': []}]`.
pub(crate) fn banned(root: &Root, g: &Global) -> Result<Vec<(String, Vec<String>)>> {
    let out = client(root, g).arg("banned").run()?;
    Ok(parse_banned(&String::from_utf8_lossy(&out.stdout)))
}

fn parse_banned(text: &str) -> Vec<(String, Vec<String>)> {
    let quoted = |s: &str| -> Vec<String> {
        s.split(['\'', '"'])
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    text.split('{')
        .skip(1)
        .filter_map(|entry| {
            let (name, rest) = entry.split_once(':')?;
            let name = quoted(name).into_iter().next()?;
            let list = rest.split_once('[')?.1.split_once(']')?.0;
            Some((name, quoted(list)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse_banned;

    #[test]
    fn banned_lists_parse() {
        assert_eq!(
            parse_banned("[{'lempctl-scan': ['192.0.2.9', '2001:db8::1']}, {'recidive': []}]\n"),
            vec![
                (
                    "lempctl-scan".to_owned(),
                    vec!["192.0.2.9".to_owned(), "2001:db8::1".to_owned()]
                ),
                ("recidive".to_owned(), vec![]),
            ]
        );
        assert!(parse_banned("[]").is_empty());
    }
}
