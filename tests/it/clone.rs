//! `site clone`: a live staging copy of a WordPress site whose serialized options and post meta
//! hold its URL; the source is only read.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::*;

const SRC: &str = "blog.cl.test";
const DST: &str = "stage.blog.cl.test";
const BLOG: &str = "name: blog.cl.test\nkind: wordpress\naliases: [www.blog.cl.test]\nwordpress:\n  title: Clone Source\n  admin_email: owner@cl.test\n";

/// `serialize(EXPR)` computed by PHP.
fn php_serialize(expr: &str) -> String {
    let out = Command::new("php")
        .args(["-r", &format!("echo serialize({expr});")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// PHP unserializes `value` (no classes allowed; `depth` times for data serialized twice) and
/// prints it with `print_r`; `None` when PHP refuses it.
fn php_unserialize(value: &str, depth: usize) -> Option<String> {
    let code = format!(
        "$v = stream_get_contents(STDIN); for ($i = 0; $i < {depth}; $i++) {{ $v = unserialize($v, ['allowed_classes' => false]); if ($v === false) exit(3); }} print_r($v);"
    );
    let mut child = Command::new("php")
        .args(["-r", &code])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), value.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn sql_text(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// Every entry under `dir`: file contents, link targets, `fifo` for FIFOs.
fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            let t = e.file_type().unwrap();
            if t.is_symlink() {
                let target = std::fs::read_link(&p).unwrap();
                out.insert(rel, target.display().to_string().into_bytes());
            } else if t.is_dir() {
                todo.push(p);
            } else if t.is_file() {
                out.insert(rel, std::fs::read(&p).unwrap());
            } else {
                out.insert(rel, b"fifo".to_vec());
            }
        }
    }
    out
}

/// `CHECKSUM TABLE` of every table of `db`.
fn checksums(sb: &Sandbox, db: &str) -> String {
    let tables = sb.sql_root(&format!(
        "SELECT GROUP_CONCAT(CONCAT('`{db}`.`', TABLE_NAME, '`')) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}'"
    ));
    sb.sql_root(&format!("CHECKSUM TABLE {tables}"))
}

fn curl(sb: &Sandbox, host: &str, args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "--resolve"])
        .arg(format!("{host}:{}:127.0.0.1", sb.port))
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_clone_rewrites_serialized_urls_serves_behind_basic_auth_and_leaves_the_source_alone() {
    require!(
        &[
            "nginx",
            "php-fpm8.2",
            "php8.2",
            "php",
            "mariadbd",
            "mariadb",
            "mariadb-dump",
            "curl"
        ],
        wordpress()
    );
    let sb = Sandbox::with_db()
        .site("blog.yaml", BLOG)
        .site("other.yaml", "name: other.cl.test\nkind: static\n")
        .started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let port = sb.port;
    let src_db = sb.show(SRC)["database"].as_str().unwrap().to_owned();

    // The URL inside serialized data: nested arrays and an object, data serialized twice, a
    // string whose length changes, block JSON with escaped slashes, and a plain link.
    let nested = php_serialize(&format!(
        "['url' => 'http://blog.cl.test:{port}/x', 'list' => ['https://blog.cl.test/a', 5, true, null, 1.5], \
         'obj' => (object) ['home' => 'http://blog.cl.test:{port}', 'deep' => ['k' => '//blog.cl.test/img.png']], \
         'other' => 'café']"
    ));
    let twice = php_serialize(&format!(
        "serialize(['u' => 'http://blog.cl.test:{port}/twice'])"
    ));
    let meta = php_serialize("(object) ['link' => 'https://blog.cl.test/page', 'n' => 3]");
    sb.sql_root(&format!(
        "INSERT INTO `{src_db}`.wp_options (option_name, option_value, autoload) VALUES \
         ('lempctl_nested', {}, 'no'), ('lempctl_twice', {}, 'no')",
        sql_text(&nested),
        sql_text(&twice)
    ));
    sb.sql_root(&format!(
        "INSERT INTO `{src_db}`.wp_postmeta (post_id, meta_key, meta_value) VALUES (1, 'lempctl_meta', {})",
        sql_text(&meta)
    ));
    // Plugin tables: one with a two-column key, one without a key.
    sb.sql_root(&format!(
        "CREATE TABLE `{src_db}`.wp_pair (a INT, b INT, v TEXT, PRIMARY KEY (a, b)); \
         CREATE TABLE `{src_db}`.wp_nokey (v TEXT); \
         INSERT INTO `{src_db}`.wp_pair VALUES (1, 2, {m}); INSERT INTO `{src_db}`.wp_nokey VALUES ({m}), ('plain //blog.cl.test')",
        m = sql_text(&meta)
    ));
    sb.sql_root(&format!(
        "UPDATE `{src_db}`.wp_posts SET post_content = CONCAT(post_content, {}) WHERE ID = 1",
        sql_text(&format!(
            "<!-- wp:image {{\"url\":\"http:\\/\\/blog.cl.test:{port}\\/img.png\"}} --><a href=\"http://blog.cl.test:{port}/about\">about</a>"
        ))
    ));
    // Planted by the (hostile) source site: a link to a root-only file and a FIFO.
    let secret = sb.path("/root-secret.txt");
    std::fs::write(&secret, "root only\n").unwrap();
    let src_root = sb.path(&format!("/srv/www/{SRC}/htdocs"));
    std::os::unix::fs::symlink(&secret, src_root.join("secret-link")).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(src_root.join("pipe"))
            .status()
            .unwrap()
            .success()
    );
    let files_before = contents(&src_root);
    let tables_before = checksums(&sb, &src_db);
    let sites_before = contents(&sb.path("/etc/lempctl/sites.d"));

    // Bad input: exit 2 and nothing written.
    for args in [
        vec!["site", "clone", SRC, SRC],
        vec!["site", "clone", SRC, "other.cl.test"],
        vec!["site", "clone", "missing.cl.test", DST],
        vec!["site", "clone", SRC, DST, "--kind", "static"],
        vec!["site", "clone", SRC, DST, "--alias", "Not A Name"],
    ] {
        let (code, v, err) = sb.json(&args);
        assert_eq!(code, 2, "{args:?}: {err}\n{v}");
        assert!(!err.is_empty(), "{args:?}");
    }
    assert_eq!(contents(&sb.path("/etc/lempctl/sites.d")), sites_before);
    assert!(!sb.path(&format!("/srv/www/{DST}")).exists());

    // --dry-run writes nothing either.
    let (code, v, err) = sb.json(&["site", "clone", SRC, DST, "--dry-run"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["dry_run"], true, "{v}");
    assert_eq!(contents(&sb.path("/etc/lempctl/sites.d")), sites_before);

    let (code, v, err) = sb.json(&["site", "clone", SRC, DST]);
    assert_eq!(code, 0, "{err}\n{v}");
    let stats = &v["copied"]["urls_rewritten"];
    assert!(stats["serialized_rows"].as_u64() >= Some(5), "{v}");
    assert!(stats["plain_rows"].as_u64() >= Some(2), "{v}");
    assert_eq!(v["basic_auth_user"], "staging", "{v}");

    // The source is byte-for-byte what it was.
    assert_eq!(contents(&src_root), files_before);
    assert_eq!(checksums(&sb, &src_db), tables_before);
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "root only\n");

    // The copy: its own user, database and files; the planted link copied as a link.
    let copy = sb.show(DST);
    let dst_db = copy["database"].as_str().unwrap().to_owned();
    assert_ne!(dst_db, src_db);
    assert_ne!(copy["user"], sb.show(SRC)["user"]);
    let dst_root = sb.path(&format!("/srv/www/{DST}/htdocs"));
    let link = dst_root.join("secret-link");
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert!(
        !dst_root.join("pipe").exists(),
        "a FIFO is not site content"
    );
    let file =
        std::fs::read_to_string(sb.path(&format!("/etc/lempctl/sites.d/{DST}.yaml"))).unwrap();
    assert!(!file.contains("www.blog.cl.test"), "{file}");
    assert!(file.contains("basic_auth: true"), "{file}");

    // Serialized values unserialize in PHP and hold the copy's URL only.
    let get = |table: &str, key: &str, col: &str, name: &str| {
        sb.sql_root(&format!(
            "SELECT {col} FROM `{dst_db}`.{table} WHERE {key} = '{name}'"
        ))
    };
    for (value, depth) in [
        (
            get(
                "wp_options",
                "option_name",
                "option_value",
                "lempctl_nested",
            ),
            1,
        ),
        (
            get("wp_options", "option_name", "option_value", "lempctl_twice"),
            2,
        ),
        (
            get("wp_postmeta", "meta_key", "meta_value", "lempctl_meta"),
            1,
        ),
    ] {
        let shown = php_unserialize(&value, depth)
            .unwrap_or_else(|| panic!("PHP refuses the rewritten value {value}"));
        assert!(shown.contains(&format!("//{DST}")), "{shown}");
        assert!(!shown.contains(&format!("//{SRC}")), "{shown}");
    }
    let nested = php_unserialize(
        &get(
            "wp_options",
            "option_name",
            "option_value",
            "lempctl_nested",
        ),
        1,
    )
    .unwrap();
    assert!(
        nested.contains("café") && nested.contains("[1] => 5"),
        "{nested}"
    );
    // Block JSON and links in post content; the GUIDs stay.
    let post = sb.sql_root(&format!(
        "SELECT CONCAT(LOCATE('\\\\/\\\\/{DST}', post_content) > 0, LOCATE('//{DST}:{port}/about', post_content) > 0, LOCATE('//{SRC}', post_content)) FROM `{dst_db}`.wp_posts WHERE ID = 1"
    ));
    assert_eq!(post, "110", "JSON link, plain link, nothing of the source");
    assert_eq!(
        sb.sql_root(&format!(
            "SELECT v FROM `{dst_db}`.wp_nokey WHERE v LIKE 'plain%'"
        )),
        format!("plain //{DST}")
    );
    let guid = sb.sql_root(&format!(
        "SELECT guid FROM `{dst_db}`.wp_posts WHERE ID = 1"
    ));
    assert!(guid.contains(&format!("//{SRC}")), "{guid}");
    let home = get("wp_options", "option_name", "option_value", "home");
    assert_eq!(home, format!("http://{DST}:{port}"));

    // Served: behind basic auth, hidden from search engines, the pages and the admin work.
    let pw = sb.secrets(DST)["basic_auth_password"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = |p: &str| format!("http://{DST}:{port}{p}");
    let anon = curl(&sb, DST, &["-i", &url("/")]);
    assert!(anon.starts_with("HTTP/1.1 401"), "{anon}");
    let auth = format!("staging:{pw}");
    let page = curl(&sb, DST, &["-i", "-u", &auth, &url("/")]);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.to_lowercase().contains("x-robots-tag: noindex"),
        "{page}"
    );
    assert!(page.contains(&format!("//{DST}:{port}")), "{page}");
    assert!(!page.contains(&format!("//{SRC}")), "{page}");
    let admin_pw = sb.secrets(DST)["wp_admin_password"]
        .as_str()
        .unwrap()
        .to_owned();
    let jar = sb.path("/tmp-cookies");
    let login = curl(
        &sb,
        DST,
        &[
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-u",
            &auth,
            "-c",
            jar.to_str().unwrap(),
            "-b",
            "wordpress_test_cookie=WP%20Cookie%20check",
            "--data-urlencode",
            "log=admin",
            "--data-urlencode",
            &format!("pwd={admin_pw}"),
            "-d",
            "testcookie=1",
            &url("/wp-login.php"),
        ],
    );
    assert!(login.starts_with("HTTP/1.1 302"), "{login}");
    assert!(
        login.contains(&format!("{DST}:{port}/wp-admin/")),
        "{login}"
    );
    let dash = curl(
        &sb,
        DST,
        &[
            "-i",
            "-u",
            &auth,
            "-b",
            jar.to_str().unwrap(),
            &url("/wp-admin/"),
        ],
    );
    assert!(
        dash.starts_with("HTTP/1.1 200"),
        "{}",
        &dash[..dash.len().min(600)]
    );
    // The source still serves as before, without basic auth.
    let src_page = curl(&sb, SRC, &["-i", &format!("http://{SRC}:{port}/")]);
    assert!(src_page.starts_with("HTTP/1.1 200"), "{src_page}");
    assert!(
        !src_page.to_lowercase().contains("x-robots-tag"),
        "{src_page}"
    );

    // A second apply changes nothing; status counts the copy as healthy (401 expected).
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["changed"], false, "{v}");
    let (code, v, err) = sb.json(&["status", DST]);
    assert_eq!(code, 0, "{err}\n{v}");

    // A source whose document root was swapped for a link is refused, and nothing is read.
    std::fs::rename(&src_root, sb.path(&format!("/srv/www/{SRC}/htdocs.real"))).unwrap();
    std::os::unix::fs::symlink(sb.path("/etc"), &src_root).unwrap();
    let (code, v, err) = sb.json(&["site", "clone", SRC, "two.blog.cl.test", "--public"]);
    assert_ne!(code, 0, "{err}\n{v}");
    assert!(err.contains("link"), "{err}");
    let two = sb.path("/srv/www/two.blog.cl.test/htdocs");
    assert!(
        !two.join("lempctl").exists() && !two.join("passwd").exists(),
        "nothing of the link's target was copied"
    );
}

#[test]
fn promote_copies_staging_over_production_keeps_excluded_tables_and_rolls_back_a_broken_result() {
    require!(
        &[
            "nginx",
            "php-fpm8.2",
            "php8.2",
            "mariadbd",
            "mariadb",
            "mariadb-dump",
            "restic",
            "curl"
        ],
        wordpress()
    );
    const PROD: &str = "shop.pm.test";
    const STAGE: &str = "stage.shop.pm.test";
    let sb = Sandbox::with_db();
    let g = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&g).unwrap();
    std::fs::write(
        &g,
        format!("{text}backup:\n  repository: /var/backups/lempctl\n"),
    )
    .unwrap();
    let sb = sb
        .site(
            "shop.yaml",
            "name: shop.pm.test\nkind: wordpress\ncache: fastcgi\nwordpress:\n  title: Production Shop\n  admin_email: owner@pm.test\n",
        )
        .site("static.yaml", "name: static.pm.test\nkind: static\n")
        .started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let (code, v, err) = sb.json(&["backup", "init"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let prod_db = sb.show(PROD)["database"].as_str().unwrap().to_owned();
    sb.sql_root(&format!(
        "CREATE TABLE `{prod_db}`.wp_orders (id INT PRIMARY KEY, note TEXT); INSERT INTO `{prod_db}`.wp_orders VALUES (1, 'first'), (2, 'second')"
    ));
    let (code, v, err) = sb.json(&["site", "clone", PROD, STAGE, "--public"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let stage_db = sb.show(STAGE)["database"].as_str().unwrap().to_owned();
    // Work on staging; meanwhile production takes an order.
    sb.sql_root(&format!(
        "UPDATE `{stage_db}`.wp_options SET option_value = 'Staged Title' WHERE option_name = 'blogname'"
    ));
    sb.sql_root(&format!(
        "INSERT INTO `{prod_db}`.wp_orders VALUES (3, 'while staging')"
    ));
    let port = sb.port;
    let prod_home = || curl(&sb, PROD, &["-s", &format!("http://{PROD}:{port}/")]);
    assert!(prod_home().contains("Production Shop"));

    // Refused with exit 2, nothing changed.
    for args in [
        vec!["site", "promote", STAGE, "static.pm.test", "--yes"],
        vec!["site", "promote", PROD, PROD, "--yes"],
        vec![
            "site",
            "promote",
            STAGE,
            PROD,
            "--exclude-table",
            "orders;drop",
            "--yes",
        ],
        vec!["site", "promote", STAGE, PROD],
    ] {
        let (code, v, err) = sb.json(&args);
        assert_eq!(code, 2, "{args:?}: {err}\n{v}");
    }
    assert!(prod_home().contains("Production Shop"));

    let (code, v, err) = sb.json(&[
        "site",
        "promote",
        STAGE,
        PROD,
        "--db-only",
        "--exclude-table",
        "orders",
        "--yes",
    ]);
    assert_eq!(code, 0, "{err}\n{v}");
    let run = v["backup_run"].as_str().unwrap().to_owned();
    assert!(!run.is_empty(), "{v}");
    assert_eq!(v["tables_kept"][0], "wp_orders", "{v}");
    let home = prod_home();
    assert!(home.contains("Staged Title"), "{home}");
    assert!(
        home.contains(&format!("//{PROD}:{port}")) && !home.contains(STAGE),
        "{home}"
    );
    assert_eq!(
        sb.sql_root(&format!(
            "SELECT GROUP_CONCAT(id ORDER BY id) FROM `{prod_db}`.wp_orders"
        )),
        "1,2,3",
        "production keeps the orders it took while staging was worked on"
    );
    let (code, v, err) = sb.json(&["backup", "list", PROD]);
    assert_eq!(code, 0, "{err}");
    assert!(v.to_string().contains(&run), "{v}");

    // A promotion whose result fails the health check is rolled back.
    let mu = sb.path(&format!("/srv/www/{STAGE}/htdocs/wp-content/mu-plugins"));
    std::fs::create_dir_all(&mu).unwrap();
    std::fs::write(mu.join("broken.php"), "<?php this is not php;\n").unwrap();
    let (code, v, err) = sb.json(&["site", "promote", STAGE, PROD, "--yes"]);
    assert_eq!(code, 1, "{err}\n{v}");
    assert!(err.contains("restored from backup"), "{err}");
    assert!(err.contains("health check"), "{err}");
    let home = prod_home();
    assert!(
        home.contains("Staged Title"),
        "production serves what it served: {home}"
    );
    assert!(
        !sb.path(&format!(
            "/srv/www/{PROD}/htdocs/wp-content/mu-plugins/broken.php"
        ))
        .exists()
    );
    assert_eq!(
        sb.sql_root(&format!(
            "SELECT GROUP_CONCAT(id ORDER BY id) FROM `{prod_db}`.wp_orders"
        )),
        "1,2,3"
    );
}
