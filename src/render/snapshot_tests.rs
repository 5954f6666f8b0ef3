//! Snapshots of the nginx vhost and PHP-FPM pool of each site kind, rendered with the built-in
//! templates and fixed inputs, so that a template change shows up as a diff to review
//! (`cargo insta review`, or `INSTA_UPDATE=always cargo test --lib`; see docs/testing.md).
// Test fixtures are written directly, not through host::Root.
#![allow(clippy::disallowed_methods)]

use std::path::Path;

use super::Renderer;
use super::context::{self, PathMap};
use crate::config::global::Global;
use crate::config::site::Site;
use crate::host::Root;

/// The default global configuration, with WordPress taken from `wp` (a tree that exists).
fn global(wp: &Path) -> Global {
    let mut errors = Vec::new();
    let mut g = crate::config::global::validate(
        Path::new("/etc/lempctl/lempctl.yaml"),
        crate::config::file::GlobalFile::default(),
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors:?}");
    g.wordpress_source = wp.to_path_buf();
    g.wordpress_allowed_sources.push(wp.to_path_buf());
    g
}

/// Renders the vhost and (for PHP kinds) the pool of the site `yaml`, with host paths.
fn render(yaml: &str) -> (String, Option<String>) {
    // Validation reads nothing from the host (the preflight step checks the TLS files and the
    // WordPress source), so none need exist; the rendered files name host paths (root `/`).
    let scratch = tempfile::tempdir().unwrap();
    let wp = scratch.path().join("wordpress");
    let g = global(&wp);
    let file = Path::new("/etc/lempctl/sites.d/site.yaml");
    let parsed = crate::config::parse_yaml(file, yaml).unwrap();
    let mut errors = Vec::new();
    let site: Site = crate::config::site::validate(file, parsed, &g, &mut errors)
        .unwrap_or_else(|| panic!("{errors:?}"));
    assert!(errors.is_empty(), "{errors:?}");

    let map = PathMap::new(&Root::new(Path::new("/")).unwrap(), &g);
    let r = Renderer::new(&scratch.path().join("no-overrides")).unwrap();
    let vhost = r
        .render("nginx/vhost.conf.j2", &context::vhost(&map, &g, &site))
        .unwrap();
    let pool = site.php.as_ref().map(|php| {
        r.render("php-fpm/pool.conf.j2", &context::pool(&map, &g, &site, php))
            .unwrap()
    });
    assert!(
        !vhost.contains(&*scratch.path().to_string_lossy())
            && !pool
                .as_deref()
                .unwrap_or_default()
                .contains(&*scratch.path().to_string_lossy()),
        "a scratch path leaked into the rendered files"
    );
    (vhost, pool)
}

#[test]
fn php_site() {
    let (vhost, pool) =
        render("name: php.example.test\nkind: php\naliases: [www.php.example.test]\n");
    insta::assert_snapshot!("php_vhost", vhost);
    insta::assert_snapshot!("php_pool", pool.unwrap());
}

#[test]
fn static_site() {
    let (vhost, pool) = render("name: static.example.test\nkind: static\n");
    insta::assert_snapshot!("static_vhost", vhost);
    assert_eq!(pool, None, "a static site has no pool");
}

#[test]
fn wordpress_site_with_the_fastcgi_cache() {
    let (vhost, pool) = render(
        "name: blog.example.test\nkind: wordpress\ncache: fastcgi\nwordpress:\n  title: Blog\n  admin_email: owner@example.test\n",
    );
    insta::assert_snapshot!("wordpress_fastcgi_vhost", vhost);
    insta::assert_snapshot!("wordpress_fastcgi_pool", pool.unwrap());
}

#[test]
fn redirect_site() {
    let (vhost, pool) = render(
        "name: go.example.test\nkind: redirect\nredirect:\n  to: https://example.test\n  code: 308\n",
    );
    insta::assert_snapshot!("redirect_vhost", vhost);
    assert_eq!(pool, None, "a redirect site has no pool");
}

#[test]
fn proxy_site() {
    let (vhost, pool) = render(
        "name: app.example.test\nkind: proxy\nproxy:\n  upstream: 127.0.0.1:8000\n  static: /static/\n  read_timeout: 300\n",
    );
    insta::assert_snapshot!("proxy_vhost", vhost);
    assert_eq!(pool, None, "a proxy site has no pool");
    let (socket, _) = render(
        "name: app.example.test\nkind: proxy\nproxy:\n  upstream: unix:/run/app/app.sock\n  websocket: false\n  keepalive: 0\n",
    );
    assert!(
        socket.contains("server unix:/run/app/app.sock;"),
        "{socket}"
    );
    assert!(!socket.contains("keepalive") && !socket.contains("map $http_upgrade"));
    assert!(socket.contains("proxy_set_header Connection \"\";"));
}

#[test]
fn php_site_with_tls() {
    let (vhost, pool) = render(
        "name: shop.example.test\nkind: php\ntls:\n  certificate: /etc/ssl/shop/cert.pem\n  key: /etc/ssl/shop/key.pem\n  hsts: true\n",
    );
    insta::assert_snapshot!("php_tls_vhost", vhost);
    insta::assert_snapshot!("php_tls_pool", pool.unwrap());
}
