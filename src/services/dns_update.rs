//! RFC 2136 dynamic updates for DNS-01 answers: a TXT record added to and removed from the zone
//! on its primary server, signed with a TSIG key (RFC 8945) read from a file in BIND's format
//! (what `tsig-keygen` writes, and what `named.conf` includes).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use crate::config::global::DnsUpdate;
use crate::config::values::split_dns_server;
use hickory_client::client::{Client, ClientHandle};
use hickory_proto::dnssec::rdata::tsig::TsigAlgorithm;
use hickory_proto::dnssec::tsig::TSigner;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::runtime::TokioRuntimeProvider;
use hickory_proto::tcp::TcpClientStream;

/// How long one exchange with the server may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The clock difference TSIG allows between us and the server (RFC 8945's recommended 300 s).
const FUDGE: u16 = 300;

const NOT_ACCEPTED: &str = "the server does not accept the key (its name, secret or algorithm), or the clocks differ by more than 5 minutes";

/// The algorithms a key may use (those hickory signs with).
pub(crate) const ALGORITHMS: &str = "hmac-sha256, hmac-sha384 or hmac-sha512";

/// A TSIG key: its name (as the server knows it), algorithm and secret.
pub(crate) struct TsigKey {
    pub name: String,
    algorithm: TsigAlgorithm,
    secret: Vec<u8>,
}

/// Reads a key file: regular, not readable by group or others, one `key "NAME" { algorithm …;
/// secret "…"; };` clause.
pub(crate) fn read_key(path: &Path) -> Result<TsigKey> {
    use rustix::fs::{FileType, Mode, OFlags};
    use std::io::Read as _;
    // one descriptor for the checks and the read: a link or FIFO put in its place is refused
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("{} cannot be read", path.display()))?;
    let stat = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        bail!("{} is not a regular file", path.display());
    }
    if stat.st_mode & 0o077 != 0 {
        bail!(
            "{} is readable by others (mode {:04o}): the key signs changes to the zone",
            path.display(),
            stat.st_mode & 0o7777
        );
    }
    let mut text = String::new();
    std::fs::File::from(fd)
        .read_to_string(&mut text)
        .with_context(|| format!("{} cannot be read", path.display()))?;
    parse_key(&text).with_context(|| format!("{} is not a TSIG key file", path.display()))
}

/// The tokens of BIND's configuration syntax: words, quoted strings and `{ } ;`, comments
/// (`#`, `//`, `/* */`) dropped.
fn tokens(text: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '#' => while chars.next_if(|&c| c != '\n').is_some() {},
            '/' if chars.peek() == Some(&'/') => while chars.next_if(|&c| c != '\n').is_some() {},
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                loop {
                    let c = chars.next().context("a comment that is not closed")?;
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '{' | '}' | ';' => out.push(c.to_string()),
            '"' => {
                let mut s = String::from('"');
                loop {
                    match chars.next().context("a quoted string that is not closed")? {
                        '"' => break,
                        c => s.push(c),
                    }
                }
                out.push(s);
            }
            c => {
                let mut s = String::from(c);
                while let Some(c) = chars.next_if(|&c| !c.is_whitespace() && !"{};\"#".contains(c))
                {
                    s.push(c);
                }
                out.push(s);
            }
        }
    }
    Ok(out)
}

fn parse_key(text: &str) -> Result<TsigKey> {
    let t = tokens(text)?;
    let unquote = |s: &str| s.strip_prefix('"').unwrap_or(s).to_owned();
    let expect = |i: usize, what: &str| -> Result<()> {
        (t.get(i).map(String::as_str) == Some(what))
            .then_some(())
            .ok_or_else(|| anyhow!("`{what}` expected, found {:?}", t.get(i)))
    };
    expect(0, "key")?;
    let name = unquote(t.get(1).context("the key's name is missing")?);
    expect(2, "{")?;
    let (mut algorithm, mut secret) = (None, None);
    let mut i = 3;
    while t.get(i).map(String::as_str) != Some("}") {
        let word = t.get(i).context("the key clause is not closed with `};`")?;
        let value = unquote(t.get(i + 1).context("a value is missing")?);
        expect(i + 2, ";")?;
        match word.as_str() {
            "algorithm" => algorithm = Some(value),
            "secret" => secret = Some(value),
            other => bail!("`{other}` is not part of a key clause (algorithm, secret)"),
        }
        i += 3;
    }
    expect(i + 1, ";")?;
    if t.len() > i + 2 {
        bail!("one key clause expected; the file has more after it");
    }
    let algorithm = algorithm.context("the key has no `algorithm`")?;
    let algorithm = match algorithm.to_ascii_lowercase().as_str() {
        "hmac-sha256" => TsigAlgorithm::HmacSha256,
        "hmac-sha384" => TsigAlgorithm::HmacSha384,
        "hmac-sha512" => TsigAlgorithm::HmacSha512,
        other => bail!("the algorithm `{other}` is not supported; use {ALGORITHMS}"),
    };
    let secret = secret.context("the key has no `secret`")?;
    let secret = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &secret)
        .map_err(|e| anyhow!("the secret is not base64: {e}"))?;
    if secret.is_empty() || Name::from_ascii(&name).is_err() {
        bail!("the key needs a name and a secret");
    }
    Ok(TsigKey {
        name,
        algorithm,
        secret,
    })
}

/// Which change an update makes.
#[derive(Clone, Copy)]
enum Change {
    Add,
    Remove,
    /// None: an update whose prerequisite cannot hold (see `check`).
    Probe,
}

/// Adds the TXT record `fqdn` = `value` (other values at the name stay: a name and its
/// wildcard share one record name).
pub(crate) fn add(u: &DnsUpdate, fqdn: &str, value: &str) -> Result<()> {
    run(u, Change::Add, fqdn, value).map(drop)
}

/// Removes the TXT record `fqdn` = `value` (only that value).
pub(crate) fn remove(u: &DnsUpdate, fqdn: &str, value: &str) -> Result<()> {
    run(u, Change::Remove, fqdn, value).map(drop)
}

/// Checks, changing nothing, that the server takes TXT updates for `fqdn` signed with the key,
/// and returns the zone: the update sent replaces a TXT value nobody set, on the prerequisite
/// that it is set, so the server answers NXRRSET once it has accepted the signature and its
/// policy allows the change (RFC 2136 §3.2: prerequisites are checked before anything changes).
pub(crate) fn check(u: &DnsUpdate, fqdn: &str) -> Result<String> {
    run(u, Change::Probe, fqdn, "")
}

/// One update on a thread of its own: the ACME order that asks for it is itself async. Returns
/// the zone it went to.
fn run(u: &DnsUpdate, change: Change, fqdn: &str, value: &str) -> Result<String> {
    let key = read_key(&u.key_file)?;
    let addr = resolve(&u.server)?;
    if unreachable().contains(&addr) {
        bail!(
            "{} ({addr}) could not be reached earlier in this run; not trying again for {fqdn}",
            u.server
        );
    }
    std::thread::scope(|s| {
        s.spawn(|| super::runtime()?.block_on(update(addr, &key, u.ttl, change, fqdn, value)))
            .join()
            .map_err(|_| anyhow!("the DNS update thread panicked"))?
    })
    .with_context(|| {
        let what = match change {
            Change::Add => "adding the TXT record",
            Change::Remove => "removing the TXT record",
            Change::Probe => "checking updates of",
        };
        format!("{what} {fqdn} at {} (key `{}`)", u.server, key.name)
    })
}

/// Servers a connection failed to in this process: a run with many DNS-01 names waits for a
/// silent server once, not once per name.
fn unreachable() -> std::sync::MutexGuard<'static, std::collections::BTreeSet<SocketAddr>> {
    static SET: std::sync::Mutex<std::collections::BTreeSet<SocketAddr>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    SET.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn resolve(address: &str) -> Result<SocketAddr> {
    let (host, port) = split_dns_server(address).context("not a `host[:port]` address")?;
    (host, port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .next()
        .with_context(|| format!("{host} has no address"))
}

async fn update(
    addr: SocketAddr,
    key: &TsigKey,
    ttl: u32,
    change: Change,
    fqdn: &str,
    value: &str,
) -> Result<String> {
    let signer = TSigner::new(
        key.secret.clone(),
        key.algorithm.clone(),
        Name::from_ascii(&key.name)?,
        FUDGE,
    )?;
    let (stream, sender) =
        TcpClientStream::new(addr, None, Some(TIMEOUT), TokioRuntimeProvider::new());
    let (mut client, background) =
        match Client::with_timeout(stream, sender, TIMEOUT, Some(Arc::new(signer))).await {
            Ok(c) => c,
            Err(e) => {
                unreachable().insert(addr);
                return Err(anyhow::Error::from(e).context("connecting"));
            }
        };
    tokio::spawn(background);
    let mut name = Name::from_ascii(fqdn)?;
    name.set_fqdn(true);
    let zone = zone_of(&mut client, &name).await?;
    let record = Record::from_rdata(name, ttl, RData::TXT(TXT::new(vec![value.to_owned()])));
    let response = match change {
        Change::Add => client.append(record, zone.clone(), false).await,
        Change::Remove => client.delete_by_rdata(record, zone.clone()).await,
        Change::Probe => {
            // replace a value nobody set by itself: the prerequisite (that it is set) fails
            let absent = format!("lempctl-check-{}", chrono::Utc::now().timestamp_micros());
            let mut r = record;
            r.set_data(RData::TXT(TXT::new(vec![absent])));
            client.compare_and_swap(r.clone(), r, zone.clone()).await
        }
    }
    .map_err(|e| {
        // a key the server refuses gets an unsigned answer, which fails verification
        if format!("{e:?}").contains("HMAC") {
            anyhow!("the server's answer is not signed with the key: {NOT_ACCEPTED}")
        } else {
            anyhow::Error::from(e).context("sending the update")
        }
    })?;
    match (change, response.response_code()) {
        (Change::Add | Change::Remove, ResponseCode::NoError)
        | (Change::Probe, ResponseCode::NXRRSet) => Ok(zone.to_string()),
        (_, code) => Err(refused(code, &format!("the update of zone {zone}"))),
    }
}

/// The zone `name` is in, as the server sees it: the SOA of the nearest enclosing name it is
/// authoritative for (an answer, or the authority section of a negative answer).
async fn zone_of(client: &mut Client, name: &Name) -> Result<Name> {
    let mut candidate = name.clone();
    loop {
        let response = client
            .query(candidate.clone(), DNSClass::IN, RecordType::SOA)
            .await
            .with_context(|| format!("asking for the SOA of {candidate}"))?;
        match response.response_code() {
            ResponseCode::NoError | ResponseCode::NXDomain => {}
            code => return Err(refused(code, &format!("the SOA query for {candidate}"))),
        }
        let soa = response
            .answers()
            .iter()
            .chain(response.name_servers())
            .find(|r| r.record_type() == RecordType::SOA);
        if let Some(soa) = soa {
            return Ok(soa.name().clone());
        }
        if candidate.is_root() {
            bail!("the server is not authoritative for any zone above {name}");
        }
        candidate = candidate.base_name();
    }
}

/// The error for a refused request, with what the response code usually means.
fn refused(code: ResponseCode, what: &str) -> anyhow::Error {
    let hint = match code {
        ResponseCode::NotAuth => NOT_ACCEPTED,
        ResponseCode::Refused => {
            "the server's update policy does not allow this key to change TXT records there"
        }
        ResponseCode::NotZone => "the name is not in the zone",
        _ => "see the server's log",
    };
    anyhow!("the server answered {code} to {what}: {hint}")
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // test fixtures are written directly, not through host::Root
mod tests {
    use super::*;

    #[test]
    fn reads_what_tsig_keygen_writes() {
        let k = parse_key(
            "key \"lempctl-acme\" {\n\talgorithm hmac-sha256;\n\tsecret \"LW6HHEZw+zc9rD3icEahwEKeb37xRd5j9obnluYZN04=\";\n};\n",
        )
        .unwrap();
        assert_eq!(k.name, "lempctl-acme");
        assert_eq!(k.algorithm, TsigAlgorithm::HmacSha256);
        assert_eq!(k.secret.len(), 32);
        // comments and other spacing
        let k = parse_key("# made by hand\nkey acme { // the name\n algorithm HMAC-SHA512; /* long */ secret \"YWJj\"; };").unwrap();
        assert_eq!(
            (k.name.as_str(), k.secret.as_slice()),
            ("acme", &b"abc"[..])
        );
    }

    #[test]
    fn refuses_what_is_not_a_usable_key() {
        for (text, why) in [
            ("", "`key` expected"),
            (
                "key a { algorithm hmac-md5; secret \"YWJj\"; };",
                "hmac-md5",
            ),
            ("key a { algorithm hmac-sha256; };", "no `secret`"),
            ("key a { secret \"YWJj\"; };", "no `algorithm`"),
            (
                "key a { algorithm hmac-sha256; secret \"%%\"; };",
                "not base64",
            ),
            (
                "key a { algorithm hmac-sha256; secret \"YWJj\" };",
                "`;` expected",
            ),
            (
                "key a { algorithm hmac-sha256; secret \"YWJj\"; }; key b {};",
                "one key clause",
            ),
            (
                "key a { algorithm hmac-sha256; secret \"YWJj\"; primary 1; };",
                "`primary`",
            ),
            ("key a { algorithm hmac-sha256; secret \"YWJj", "not closed"),
        ] {
            let e = parse_key(text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_key_file_is_read_only_when_it_is_a_private_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        std::fs::write(&key, "key k { algorithm hmac-sha256; secret \"YWJj\"; };").unwrap();
        let mode = |m| {
            std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(m))
                .unwrap();
        };
        mode(0o600);
        assert_eq!(read_key(&key).unwrap().name, "k");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&key, &link).unwrap();
        let e = format!("{:#}", read_key(&link).err().unwrap());
        assert!(e.contains("cannot be read"), "a link is not followed: {e}");
        mode(0o640);
        let e = format!("{:#}", read_key(&key).err().unwrap());
        assert!(e.contains("readable by others"), "{e}");
    }

    #[test]
    fn a_server_that_cannot_be_reached_is_tried_once_per_run() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        std::fs::write(&key, "key k { algorithm hmac-sha256; secret \"YWJj\"; };").unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        // a port nothing listens on
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = DnsUpdate {
            server: format!("127.0.0.1:{port}"),
            key_file: key,
            ttl: 60,
            propagation_seconds: 0,
        };
        let first = format!(
            "{:#}",
            add(&server, "_acme-challenge.a.test", "v").unwrap_err()
        );
        assert!(first.contains("connecting"), "{first}");
        let second = format!(
            "{:#}",
            add(&server, "_acme-challenge.b.test", "v").unwrap_err()
        );
        assert!(second.contains("could not be reached earlier"), "{second}");
    }
}
