//! Failure alerts by mail through an SMTP relay (lettre, rustls). Plain SMTP by default (a local
//! relay on port 25); STARTTLS and authentication when configured.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::global::Alerts;

/// Parses a credentials file: `user:password` on one line, or `user` and `password` on two.
pub(crate) fn parse_credentials(text: &str) -> Result<(String, String)> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    match lines.as_slice() {
        [one] => one
            .split_once(':')
            .map(|(u, p)| (u.trim().to_owned(), p.trim_end().to_owned()))
            .ok_or_else(|| anyhow!("expected `user:password`")),
        [u, p] => Ok((u.trim().to_owned(), p.trim_end().to_owned())),
        _ => Err(anyhow!(
            "expected `user:password`, or the user and the password on two lines"
        )),
    }
}

/// Builds the message.
pub(crate) fn message(a: &Alerts, subject: &str, body: &str) -> Result<Message> {
    let mut b = Message::builder()
        .from(a.from.parse().context("alerts.from")?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for to in &a.to {
        b = b.to(to.parse().with_context(|| format!("alerts.to: {to}"))?);
    }
    b.body(body.to_owned()).context("building the alert mail")
}

/// Sends one mail to every recipient.
pub(crate) fn send(
    a: &Alerts,
    credentials: Option<(String, String)>,
    subject: &str,
    body: &str,
) -> Result<()> {
    let msg = message(a, subject, body)?;
    let mut builder = if a.starttls {
        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&a.smtp_host)
            .with_context(|| format!("STARTTLS to {}", a.smtp_host))?
    } else {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&a.smtp_host)
    };
    builder = builder
        .port(a.smtp_port)
        .timeout(Some(Duration::from_secs(30)));
    if let Some((user, password)) = credentials {
        builder = builder.credentials(Credentials::new(user, password));
    }
    let transport = builder.build();
    super::runtime()?
        .block_on(transport.send(msg))
        .with_context(|| {
            format!(
                "sending the alert mail through {}:{}",
                a.smtp_host, a.smtp_port
            )
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_formats() {
        assert_eq!(
            parse_credentials("u:p:w\n").unwrap(),
            ("u".into(), "p:w".into())
        );
        assert_eq!(
            parse_credentials("u\np w\n").unwrap(),
            ("u".into(), "p w".into())
        );
        assert!(parse_credentials("").is_err());
    }
}
