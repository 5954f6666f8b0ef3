//! `kind: proxy`: nginx in front of a real Python HTTP application on a loopback port and a
//! WebSocket echo service on a unix socket; an application that is down is a 502 from nginx and a
//! failed health check; upstreams that are not this host's are refused.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// Answers every request with what it saw (path, headers, its client's port) as JSON; keeps
/// HTTP/1.1 connections open, so nginx's keep-alive shows as one client port for many requests.
const APP: &str = r#"
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/healthz":
            body = b"ok"
        else:
            body = json.dumps({"path": self.path, "headers": dict(self.headers),
                               "peer_port": self.client_address[1]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

/// A WebSocket echo service on a unix socket (RFC 6455 handshake, text frames echoed back).
const WS_ECHO: &str = r#"
import base64, hashlib, os, socketserver, struct, sys
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
class H(socketserver.StreamRequestHandler):
    def handle(self):
        head = {}
        self.rfile.readline()
        while True:
            line = self.rfile.readline().decode().strip()
            if not line:
                break
            k, v = line.split(":", 1)
            head[k.strip().lower()] = v.strip()
        if head.get("upgrade", "").lower() != "websocket":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nwsecho\r\n")
            return
        accept = base64.b64encode(hashlib.sha1((head["sec-websocket-key"] + GUID).encode()).digest())
        self.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        while True:
            h = self.rfile.read(2)
            if len(h) < 2 or h[0] & 0x0f == 8:
                return
            n = h[1] & 0x7f
            if n == 126:
                n = struct.unpack(">H", self.rfile.read(2))[0]
            mask = self.rfile.read(4)
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(n)))
            reply = b"echo: " + data
            self.wfile.write(bytes([0x81, len(reply)]) + reply)
            self.wfile.flush()
path = sys.argv[1]
os.makedirs(os.path.dirname(path), exist_ok=True)
s = socketserver.ThreadingUnixStreamServer(path, H)
os.chmod(path, 0o666)
s.serve_forever()
"#;

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(script: &str, arg: &str, ready: impl Fn() -> bool) -> Service {
    let child = Command::new("python3")
        .args(["-c", script, arg])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let svc = Service(child);
    let until = Instant::now() + Duration::from_secs(10);
    while !ready() {
        assert!(Instant::now() < until, "the service did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    svc
}

fn json_body(r: &Response) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {r:?}"))
}

/// A WebSocket handshake through nginx, then one text frame out and its echo back.
fn websocket_echo(port: u16, host: &str, text: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /chat HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    // a client frame is masked (RFC 6455 §5.3)
    let mask = [0x11u8, 0x22, 0x33, 0x44];
    let mut frame = vec![0x81, 0x80 | text.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&frame).unwrap();
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap();
    let mut payload = vec![0u8; usize::from(h[1] & 0x7f)];
    s.read_exact(&mut payload).unwrap();
    (head, String::from_utf8(payload).unwrap())
}

#[test]
fn proxy_sites_pass_http_and_websockets_to_the_application_and_report_it_down() {
    require!(&["nginx", "php-fpm8.2", "useradd", "python3"]);
    let app_port = free_port();
    let sb = Sandbox::new()
        .site(
            "app.yaml",
            &format!(
                "name: app.proxy.test\nkind: proxy\nproxy:\n  upstream: http://127.0.0.1:{app_port}\n  static: /static/\n  read_timeout: 30\nhealth:\n  path: /healthz\n"
            ),
        )
        .site(
            "ws.yaml",
            "name: ws.proxy.test\nkind: proxy\nproxy:\n  upstream: unix:/run/wsecho/ws.sock\n",
        )
        .started();
    let app = start(APP, &app_port.to_string(), || {
        TcpStream::connect(("127.0.0.1", app_port)).is_ok()
    });
    let socket = sb.path("/run/wsecho/ws.sock");
    let _ws = start(WS_ECHO, socket.to_str().unwrap(), || socket.exists());

    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(
        v["warnings"].as_array().is_none_or(|w| w.is_empty()),
        "both applications answer their health check: {v}"
    );
    assert!(
        !sb.path("/srv/www/app.proxy.test/htdocs/index.html")
            .exists()
            && !sb
                .path("/etc/php")
                .join("8.2/fpm/pool.d/app.proxy.test.conf")
                .exists(),
        "a proxy site gets no seed page and no PHP pool"
    );

    // The request reaches the application with the client's host and where it came from.
    let r = sb.get("app.proxy.test", "/some/page?q=1");
    assert_eq!(r.status, 200, "{r:?}");
    let seen = json_body(&r);
    assert_eq!(seen["path"], "/some/page?q=1", "{seen}");
    let h = &seen["headers"];
    assert_eq!(h["Host"], "app.proxy.test", "{seen}");
    assert_eq!(h["X-Forwarded-For"], "127.0.0.1", "{seen}");
    assert_eq!(h["X-Real-IP"], "127.0.0.1", "{seen}");
    assert_eq!(h["X-Forwarded-Proto"], "http", "{seen}");
    assert_eq!(h["X-Forwarded-Host"], "app.proxy.test", "{seen}");
    assert_eq!(h["X-Forwarded-Port"], sb.port.to_string(), "{seen}");
    assert!(
        r.headers.contains("X-Content-Type-Options: nosniff"),
        "the host's security headers are added: {}",
        r.headers
    );
    // Keep-alive to the upstream: later requests come over the connection nginx kept open.
    let ports: Vec<_> = (0..3)
        .map(|_| json_body(&sb.get("app.proxy.test", "/"))["peer_port"].clone())
        .collect();
    assert!(
        ports.windows(2).any(|w| w[0] == w[1]),
        "nginx opened a new upstream connection for every request: {ports:?}"
    );

    // The static prefix is nginx's own: the application never sees it.
    sb.write("/srv/www/app.proxy.test/htdocs/static/app.css", "body{}\n");
    let r = sb.get("app.proxy.test", "/static/app.css");
    assert_eq!((r.status, r.body.as_str()), (Status::Code(200), "body{}\n"));
    assert_eq!(sb.get("app.proxy.test", "/static/none.css").status, 404);

    // A WebSocket through nginx to the unix socket.
    let (head, echo) = websocket_echo(sb.port, "ws.proxy.test", "hello");
    assert!(
        head.starts_with("HTTP/1.1 101")
            && head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{head}"
    );
    assert_eq!(echo, "echo: hello");

    // The application down: nginx answers 502, and the health check says so.
    drop(app);
    let r = sb.get("app.proxy.test", "/");
    assert_eq!(r.status, 502, "{r:?}");
    let (code, v, err) = sb.json(&["status"]);
    assert_eq!(code, 1, "{err}\n{v}");
    let site = v["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "app.proxy.test")
        .unwrap();
    assert_eq!(
        (&site["state"], &site["http"]["status"]),
        (&"down".into(), &502.into()),
        "{v}"
    );
    let ws = v["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "ws.proxy.test")
        .unwrap();
    assert_eq!(
        (&ws["state"], &ws["http"]["status"]),
        (&"ok".into(), &200.into()),
        "the other application still answers: {v}"
    );
}

#[test]
fn proxy_upstreams_that_are_not_this_hosts_are_refused() {
    let sb = Sandbox::new();
    for (upstream, expect) in [
        ("10.0.0.5:8080", "10.0.0.5 is not a loopback address"),
        (
            "app.example.test:80",
            "`app.example.test` is not a loopback address",
        ),
        ("127.0.0.1", "has no port"),
        ("127.0.0.1:http", "`http` is not a port"),
        ("::1:8000", "an IPv6 address is written in brackets"),
        (
            "unix:/etc/app.sock",
            "is neither under `/run` nor in the site's directory",
        ),
        (
            "unix:/run/php/w_other_test.sock",
            "is a PHP-FPM pool's socket",
        ),
        ("unix:run/app.sock", "is not an absolute socket path"),
        (
            "unix:/run/../etc/app.sock",
            "is not an absolute socket path",
        ),
    ] {
        sb.write_site(
            "p.yaml",
            &format!("name: p.example.test\nkind: proxy\nproxy:\n  upstream: \"{upstream}\"\n"),
        );
        let before = sb.tree();
        let out = sb.lempctl().arg("apply").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{upstream}: {err}");
        assert!(
            err.contains("p.yaml:4:13: `proxy.upstream`") && err.contains(expect),
            "{upstream}: expected {expect:?} in:\n{err}"
        );
        assert_eq!(before, sb.tree(), "{upstream}: the tree changed");
    }
    for (yaml, expect) in [
        (
            "name: p.example.test\nkind: proxy\n",
            "a `proxy` site needs a `proxy.upstream`",
        ),
        (
            "name: p.example.test\nkind: static\nproxy:\n  upstream: 127.0.0.1:80\n",
            "only `proxy` sites take a `proxy` section",
        ),
        (
            "name: p.example.test\nkind: proxy\nproxy:\n  upstream: 127.0.0.1:80\n  read_timeout: 0\n",
            "`proxy.read_timeout`: 0 s is not a usable timeout",
        ),
        (
            "name: p.example.test\nkind: proxy\nproxy:\n  upstream: 127.0.0.1:80\n  static: static\n",
            "`proxy.static`: `static` is not a URL prefix",
        ),
        (
            "name: p.example.test\nkind: proxy\nproxy:\n  upstream: 127.0.0.1:80\n  max_body_size: lots\n",
            "`proxy.max_body_size`: `lots` is not a size",
        ),
    ] {
        sb.write_site("p.yaml", yaml);
        let before = sb.tree();
        let out = sb.lempctl().arg("apply").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{yaml}: {err}");
        assert!(err.contains(expect), "expected {expect:?} in:\n{err}");
        assert_eq!(before, sb.tree(), "{yaml}: the tree changed");
    }
    // Explicitly allowed, another host is taken.
    sb.write_site(
        "p.yaml",
        "name: p.example.test\nkind: proxy\nproxy:\n  upstream: 10.0.0.5:8080\n  allow_remote: true\n",
    );
    let (code, v, err) = sb.json(&["apply", "--dry-run"]);
    assert_eq!(code, 0, "{err}\n{v}");
    std::fs::remove_file(sb.path("/etc/lempctl/sites.d/p.yaml")).unwrap();
    // On the command line the flag is named.
    let before = sb.tree();
    let out = sb
        .lempctl()
        .args(["site", "create", "q.example.test", "--kind", "proxy"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs `--upstream ADDRESS`"));
    let out = sb
        .lempctl()
        .args([
            "site",
            "create",
            "q.example.test",
            "--kind",
            "proxy",
            "--upstream",
            "10.1.1.1:80",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("`--upstream`: 10.1.1.1 is not a loopback address"),
        "{err}"
    );
    assert_eq!(before, sb.tree());
}
