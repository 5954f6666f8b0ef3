//! `alerts`: the SMTP relay and recipients of failure alerts.

use std::path::PathBuf;

use crate::config::check::Ctx;

/// The SMTP relay and recipients of failure alerts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Alerts {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub from: String,
    pub to: Vec<String>,
    pub starttls: bool,
    /// A root-only file `user:password` (or `user` and `password` on two lines).
    pub credentials_file: Option<PathBuf>,
}

/// A plain mail address `local@domain` (no display name, no spaces).
pub fn valid_mail_address(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && s.len() <= 254
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
        && domain
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

pub(super) fn section(ctx: &mut Ctx<'_>, a: crate::config::file::AlertsFile) -> Option<Alerts> {
    let addr = "an address like `lempctl@example.com`";
    let Some(host) = &a.smtp_host else {
        if let Some(v) = a.from.as_ref() {
            ctx.err(
                v,
                "alerts.smtp_host",
                "an `alerts` section needs an `smtp_host`",
                Some("a host name or IP address"),
            );
        }
        return None;
    };
    let ok_host = !host.value.is_empty()
        && host
            .value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c));
    if !ok_host {
        ctx.err(
            host,
            "alerts.smtp_host",
            format!("`{}` is not a host name", host.value),
            Some("a host name or IP address"),
        );
    }
    let from = match &a.from {
        Some(v) if valid_mail_address(&v.value) => v.value.clone(),
        Some(v) => {
            ctx.err(
                v,
                "alerts.from",
                format!("`{}` is not a mail address", v.value),
                Some(addr),
            );
            String::new()
        }
        None => {
            ctx.err(
                host,
                "alerts.from",
                "an `alerts` section needs a `from` address",
                Some(addr),
            );
            String::new()
        }
    };
    let mut to = Vec::new();
    match &a.to {
        Some(list) if !list.value.is_empty() => {
            for (i, v) in list.value.iter().enumerate() {
                if valid_mail_address(&v.value) {
                    to.push(v.value.clone());
                } else {
                    ctx.err(
                        v,
                        &format!("alerts.to[{i}]"),
                        format!("`{}` is not a mail address", v.value),
                        Some(addr),
                    );
                }
            }
        }
        Some(list) => ctx.err(
            list,
            "alerts.to",
            "the list of recipients is empty",
            Some(addr),
        ),
        None => ctx.err(
            host,
            "alerts.to",
            "an `alerts` section needs `to` recipients",
            Some(addr),
        ),
    }
    let smtp_port = match &a.smtp_port {
        Some(p) if p.value == 0 => {
            ctx.err(p, "alerts.smtp_port", "port 0", Some("1-65535"));
            25
        }
        Some(p) => p.value,
        None => 25,
    };
    let credentials_file = a.credentials_file.as_ref().map(|v| {
        ctx.path(
            Some(v),
            "alerts.credentials_file",
            "/etc/lempctl/smtp.credentials",
        )
    });
    Some(Alerts {
        smtp_host: host.value.clone(),
        smtp_port,
        from,
        to,
        starttls: a.starttls.as_ref().is_some_and(|v| v.value),
        credentials_file,
    })
}
