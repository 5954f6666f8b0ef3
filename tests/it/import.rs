//! `import wpzo`: a sandbox laid out as wpzo's scripts lay out a host (vhosts from their
//! template, pools with their settings, databases with users on `%`, the registry), adopted and
//! switched over by `apply` while every site is polled: no request may fail.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::support::*;

const SERVERS: &str = "/srv/servers";
const DOMAIN: &str = "example.test";

/// One wpzo site: `SUB.example.test`, served as `adm<dom[..3]><sub[..1]>.SUB.example.test`.
struct Old {
    sub: &'static str,
    kind: Kind,
}

#[derive(PartialEq)]
enum Kind {
    /// `wp_install.sh`'s Bedrock layout with its `.env` and database.
    Bedrock,
    Static,
    /// `host_create.sh` alone: the phpinfo() placeholder page (not adoptable).
    Placeholder,
}

impl Old {
    fn tech(&self) -> String {
        format!("{}_{}", DOMAIN.replace('.', ""), self.sub)
    }
    fn admin(&self) -> String {
        format!(
            "adm{}{}.{}.{DOMAIN}",
            &DOMAIN[..3],
            &self.sub[..1],
            self.sub
        )
    }
    fn db(&self) -> String {
        format!("{}{}", DOMAIN.replace(['-', '.'], ""), &self.sub[..2])
    }
    fn password(&self) -> String {
        format!("Zm9v{}YmFy+/1", self.sub)
    }
    fn path(&self) -> &'static str {
        if self.kind == Kind::Static {
            "/index.html"
        } else {
            "/"
        }
    }
    fn expect(&self) -> String {
        match self.kind {
            Kind::Bedrock => format!("blogname={}", self.sub),
            Kind::Static => format!("static {}", self.sub),
            Kind::Placeholder => format!("Welcome to {}.{DOMAIN}", self.sub),
        }
    }
}

const SITES: [Old; 4] = [
    Old {
        sub: "blog",
        kind: Kind::Bedrock,
    },
    Old {
        sub: "shop",
        kind: Kind::Bedrock,
    },
    Old {
        sub: "docs",
        kind: Kind::Static,
    },
    Old {
        sub: "new",
        kind: Kind::Placeholder,
    },
];

/// `scripts/template/nginx.conf` after envsubst (and, for WordPress, after wp_install.sh's seds).
fn vhost(sb: &Sandbox, o: &Old) -> String {
    let r = sb.root().display();
    let (root_suffix, wp) = if o.kind == Kind::Bedrock {
        ("/bedrock/web", "")
    } else {
        ("", "#<WP>")
    };
    let t = o.tech();
    format!(
        "#server {{
#    listen 80;
#    server_name {sub}.{DOMAIN};
#    return 301 $scheme://{DOMAIN}$request_uri;
#}}

server {{
    listen 127.0.0.1:{port};
    server_name {admin};
    index index.php;
    root {r}{SERVERS}/{DOMAIN}/{sub}/webroot{root_suffix};

    access_log {r}/var/log/nginx/{t}-access.log;
    error_log {r}/var/log/nginx/{t}-error.log;
    access_log {r}/var/log/nginx/{t}-scripts.log scripts;

    include \"globals/restrictions.conf\";
    include \"globals/assets.conf\";
    include \"globals/no-indexation.conf\";
    {wp}include \"globals/wordpress-seo-plugin-support.conf\";
    #include \"globals/security-headers.conf\"; #TODO
    #include \"globals/auto-versioning-support.conf\"; #TODO

    {wp}rewrite /wp-admin$ $scheme://$host$uri/ permanent;

    location ~* \\.php$ {{
        fastcgi_split_path_info ^(.+\\.php)(/.*)$;
        if (!-f $document_root$fastcgi_script_name) {{ return 404; }}
        include \"fastcgi_params\";
        fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
        fastcgi_index index.php;
        fastcgi_pass unix:{r}/run/php-fpm/{t}.sock;
        add_header \"X-Cache\" \"MISS\";
    }}

    {wp}include \"globals/cache/wp-super-cache.conf\";
}}
",
        sub = o.sub,
        port = sb.port,
        admin = o.admin(),
    )
}

/// `scripts/template/phpfpm.conf` after envsubst; `nginx` is the web server's user (www-data here).
fn pool(sb: &Sandbox, o: &Old) -> String {
    let r = sb.root().display();
    let (t, sub) = (o.tech(), o.sub);
    let dir = format!("{r}{SERVERS}/{DOMAIN}/{sub}");
    format!(
        "[{t}]
user = www-data
group = www-data
listen = {r}/run/php-fpm/{t}.sock
listen.owner = www-data
listen.group = www-data
listen.mode = 0660
listen.allowed_clients = 127.0.0.1
pm = dynamic
pm.max_children = 50
pm.start_servers = 5
pm.min_spare_servers = 5
pm.max_spare_servers = 35
;request_slowlog_timeout = 5s
access.log = {r}/var/log/php-fpm/{t}.access.log
slowlog = {r}/var/log/php-fpm/{t}.slow.log
php_admin_value[error_log] = {r}/var/log/php-fpm/{t}.error.log
php_admin_flag[log_errors] = on
php_value[session.save_handler] = files
php_admin_value[sys_temp-dir] = {dir}/php/misc
php_admin_value[upload_tmp_dir] = {dir}/php/upload
php_admin_value[session.save_path] = {dir}/php/session
php_admin_value[soap.wsdl_cache_dir] = {dir}/php/wsdl
"
    )
}

/// A Bedrock-shaped front controller: reads `../.env` as Bedrock does and answers from the
/// database with the credentials there.
const APP: &str = r#"<?php
if (isset($_GET['slow'])) { usleep(700000); }
$env = [];
foreach (file(__DIR__ . '/../.env') as $l) {
    if (preg_match("/^([A-Z_]+)='([^']*)'/", trim($l), $m)) { $env[$m[1]] = $m[2]; }
}
[$host, $sock] = explode(':', $env['DB_HOST'], 2) + [1 => null];
$db = new mysqli($host, $env['DB_USER'], $env['DB_PASSWORD'], $env['DB_NAME'], 0, $sock);
$row = $db->query("SELECT option_value FROM {$env['DB_PREFIX']}options WHERE option_name = 'blogname'")->fetch_row();
echo "blogname={$row[0]} env={$env['WP_ENV']}\n";
"#;

fn write_mode(p: &Path, text: &str, mode: u32) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown_web(p: &Path) {
    assert!(
        std::process::Command::new("chown")
            .args(["-R", "www-data:www-data"])
            .arg(p)
            .status()
            .unwrap()
            .success()
    );
}

/// The host as host_create.sh, db_create.sh and wp_install.sh leave it, under the sandbox root.
fn lay_out_wpzo(sb: &Sandbox) {
    let r = sb.root().display().to_string();
    // wpzo's nginx.conf pieces the vhosts need (log format `scripts`, the `$https_suffix` map)
    sb.write(
        "/etc/nginx/conf.d/wpzo.conf",
        "log_format scripts '$document_root$fastcgi_script_name > $request';\nmap $scheme $https_suffix { default ''; https '-https'; }\n",
    );
    sb.write(
        "/etc/nginx/globals/restrictions.conf",
        "location /.git { deny all; }\nlocation ~ ^/\\. { deny all; }\nlocation ~* /uploads/.*\\.php$ { deny all; }\nlocation /wp-content/cache/ { deny all; }\nlocation ~ ~$ { deny all; }\n",
    );
    sb.write(
        "/etc/nginx/globals/assets.conf",
        "location ~ \\.(?:css|js)$ { expires max; log_not_found off; access_log off; }\n",
    );
    sb.write(
        "/etc/nginx/globals/no-indexation.conf",
        "location = /robots.txt { access_log off; deny all; }\nif ($http_user_agent ~ \"Google\") { return 403; }\n",
    );
    sb.write(
        "/etc/nginx/globals/wordpress-seo-plugin-support.conf",
        "rewrite ^/sitemap_index\\.xml$ /index.php?sitemap=1 last;\n",
    );
    sb.write(
        "/etc/nginx/globals/cache/wp-super-cache.conf",
        "location / {\n    error_page 418 = @cachemiss;\n    recursive_error_pages on;\n    if ($request_method = POST) { return 418; }\n    try_files \"/wp-content/cache/supercache/$host${uri}index$https_suffix.html\" $uri $uri/ /index.php$is_args$args;\n}\nlocation @cachemiss { try_files $uri $uri/ /index.php$is_args$args; }\n",
    );
    for d in ["/run/php-fpm", "/var/log/php-fpm", "/var/log/wordpress"] {
        std::fs::create_dir_all(sb.path(d)).unwrap();
    }
    // /etc/php-fpm.conf's `include=/etc/php-fpm.d/*.conf`
    let main = sb.path("/etc/php/8.2/fpm/php-fpm.conf");
    let mut text = std::fs::read_to_string(&main).unwrap();
    text.push_str(&format!("include = {r}/etc/php-fpm.d/*.conf\n"));
    std::fs::write(&main, text).unwrap();
    let mut registry = String::new();
    for o in &SITES {
        let site = sb.path(&format!("{SERVERS}/{DOMAIN}/{}", o.sub));
        for d in [
            "conf",
            "webroot",
            "php/misc",
            "php/opcache",
            "php/session",
            "php/upload",
            "php/wsdl",
        ] {
            std::fs::create_dir_all(site.join(d)).unwrap();
        }
        let webroot = site.join("webroot");
        match o.kind {
            Kind::Bedrock => {
                let (db, pw) = (o.db(), o.password());
                write_mode(
                    &webroot.join("bedrock/.env"),
                    &format!(
                        "DB_NAME='{db}'\nDB_USER='{db}'\nDB_PASSWORD='{pw}'\nDB_HOST='localhost:{r}/run/mysqld/mysqld.sock'\nDB_PREFIX='wpzo_'\nWP_ENV='development'\nWP_HOME='http://{a}'\nWP_SITEURL=\"http://{a}/wp\"\nWP_DEBUG_LOG='/var/log/wordpress/TECHNAME-debug.log'\nAUTH_KEY='k'\n",
                        a = o.admin()
                    ),
                    0o644,
                );
                write_mode(&webroot.join("bedrock/web/index.php"), APP, 0o644);
                write_mode(
                    &webroot.join("bedrock/config/application.php"),
                    "<?php // Bedrock's configuration\n",
                    0o644,
                );
                write_mode(
                    &webroot.join("bedrock/web/app/uploads/logo.txt"),
                    "logo\n",
                    0o644,
                );
                sb.sql_root(&format!(
                    "CREATE DATABASE {db}; CREATE USER '{db}'@'%' IDENTIFIED BY '{pw}'; GRANT ALL PRIVILEGES ON {db}.* TO '{db}'@'%'; FLUSH PRIVILEGES; CREATE TABLE {db}.wpzo_options (option_name varchar(191) PRIMARY KEY, option_value longtext); INSERT INTO {db}.wpzo_options VALUES ('blogname', '{sub}');",
                    sub = o.sub
                ));
                write_mode(
                    &site.join(format!("conf/20250101-1200-{db}")),
                    &format!("{db}:{pw}\n"),
                    0o644,
                );
                registry.push_str(&format!("{}.{DOMAIN}:{db}:{pw}\n", o.sub));
            }
            Kind::Static => write_mode(
                &webroot.join("index.html"),
                &format!("<h1>static {}</h1>\n", o.sub),
                0o644,
            ),
            Kind::Placeholder => write_mode(
                &webroot.join("index.php"),
                &format!(
                    "<h1>Welcome to {}.{DOMAIN}</h1><p>Nginx seems to work</p><?php echo 'x'; // phpinfo();?>\n",
                    o.sub
                ),
                0o644,
            ),
        }
        chown_web(&webroot);
        chown_web(&site.join("php"));
        let t = o.tech();
        sb.write(&format!("/etc/php-fpm.d/{t}.conf"), &pool(sb, o));
        sb.write(
            &format!("/etc/nginx/sites-available/{t}.conf"),
            &vhost(sb, o),
        );
        std::os::unix::fs::symlink(
            format!("../sites-available/{t}.conf"),
            sb.path(&format!("/etc/nginx/sites-enabled/{t}.conf")),
        )
        .unwrap();
    }
    sb.write("/etc/conf/site.conf", &registry);
}

/// A user's uid, from `id -u`.
fn nix_uid(user: &str) -> u32 {
    let out = std::process::Command::new("id")
        .args(["-u", user])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn assert_serving(sb: &Sandbox, o: &Old) {
    let r = sb.get(&o.admin(), o.path());
    assert!(
        r.status == 200 && r.body.contains(&o.expect()),
        "{}: {:?}\n{}",
        o.admin(),
        r.status,
        r.body
    );
}

#[test]
fn import_adopts_a_wpzo_host_and_apply_switches_it_without_a_failed_request() {
    require!(&[
        "nginx",
        "php-fpm8.2",
        "useradd",
        "mariadbd",
        "mariadb",
        "chown"
    ]);
    let sb = Sandbox::with_db();
    // MariaDB and the sandbox's own servers first, then the old layout, then everything again
    // with the old pools included (as wpzo's php-fpm.conf includes php-fpm.d/)
    let sb = sb.started();
    lay_out_wpzo(&sb);
    sb.lempctl().args(["sandbox", "stop"]).assert().success();
    sb.lempctl().args(["sandbox", "start"]).assert().success();
    for o in &SITES {
        assert_serving(&sb, o);
    }

    // a path that is not a wpzo layout: exit 2, nothing written
    let before = sb.tree();
    let out = sb
        .lempctl()
        .args(["import", "wpzo", "--from", "/var"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a wpzo layout"), "{err}");
    assert_eq!(before, sb.tree());
    // the directories are there, but no vhost in them is one of wpzo's
    sb.write(
        "/opt/other/nginx/sites-available/app.conf",
        "server { listen 80; server_name app.example.test; root /var/www/app; }\n",
    );
    std::fs::create_dir_all(sb.path("/opt/other/nginx/sites-enabled")).unwrap();
    std::fs::create_dir_all(sb.path("/opt/other/php-fpm.d")).unwrap();
    let before = sb.tree();
    let out = sb
        .lempctl()
        .args(["import", "wpzo", "--from", "/opt/other"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a wpzo layout") && err.contains("host_create.sh"),
        "{err}"
    );
    assert_eq!(before, sb.tree());

    // --dry-run lists the sites, the fixes and the site it leaves alone, and writes nothing
    let (code, v, err) = sb.json(&["import", "wpzo", "--dry-run"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(before, sb.tree());
    let names: Vec<&str> = v["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["site"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [SITES[0].admin(), SITES[2].admin(), SITES[1].admin()],
        "{v}"
    );
    let blog = &v["sites"][0];
    assert_eq!(blog["kind"], "php");
    assert_eq!(blog["database"], SITES[0].db());
    assert_eq!(blog["credentials_kept"], true);
    let fixes = blog["fixes"].to_string();
    for defect in ["'%'", "WP_ENV=development", "www-data", "5 workers"] {
        assert!(fixes.contains(defect), "{defect} not in {fixes}");
    }
    assert_eq!(v["sites"][1]["kind"], "static");
    let skipped = v["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{v}");
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("placeholder page"),
        "{v}"
    );
    let human = sb
        .lempctl()
        .args(["import", "wpzo", "--dry-run"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    eprintln!("{text}");
    assert!(
        text.contains("would adopt 3") && text.contains("not adopted"),
        "{text}"
    );

    // import, then apply, polled all along from a thread
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let port = sb.port;
        let targets: Vec<(String, &'static str, String)> = SITES
            .iter()
            .map(|o| (o.admin(), o.path(), o.expect()))
            .collect();
        // one thread polls every site; two more keep a slow request (0.7 s) of a WordPress
        // site in flight all along, so reloads happen while requests run
        let mut lanes = vec![targets];
        for _ in 0..2 {
            lanes.push(vec![(SITES[0].admin(), "/?slow=1", SITES[0].expect())]);
        }
        lanes
            .into_iter()
            .map(|targets| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let (mut requests, mut failures) = (0u32, Vec::new());
                    while !stop.load(Ordering::SeqCst) {
                        for (host, path, expect) in &targets {
                            let r = http_get(port, host, path, &[]);
                            requests += 1;
                            if !(r.status == 200 && r.body.contains(expect.as_str())) {
                                failures.push(format!("{host}{path}: {:?} {}", r.status, r.body));
                            }
                        }
                    }
                    (requests, failures)
                })
            })
            .collect::<Vec<_>>()
    };
    let (code, v, err) = sb.json(&["import", "wpzo"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let (code, plan, err) = sb.json(&["apply", "--dry-run"]);
    assert_eq!(code, 0, "{err}\n{plan}");
    for old in [
        "/etc/nginx/sites-available/exampletest_blog.conf",
        "/etc/nginx/sites-enabled/exampletest_blog.conf",
        "/etc/php-fpm.d/exampletest_blog.conf",
    ] {
        assert!(
            plan["changes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["target"] == old && c["action"] == "delete"),
            "{old} not deleted by the plan: {plan}"
        );
    }
    assert!(
        !plan["changes"].to_string().contains("exampletest_new.conf"),
        "{plan}"
    );
    let (code, applied, err) = sb.json(&["apply"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let (mut requests, mut failures) = (0, Vec::new());
    for lane in poller {
        let (n, f) = lane.join().unwrap();
        requests += n;
        failures.extend(f);
    }
    assert_eq!(code, 0, "{err}\n{applied}");
    assert!(
        failures.is_empty(),
        "{} of {requests} requests failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(requests > 20, "only {requests} requests");
    eprintln!("{requests} requests during import and apply, none failed");

    // every adopted site is lempctl's now
    for o in &SITES[..3] {
        assert_serving(&sb, o);
        let t = o.tech();
        assert!(!sb.path(&format!("/etc/php-fpm.d/{t}.conf")).exists());
        assert!(
            sb.path(&format!("/etc/nginx/sites-enabled/{t}.conf"))
                .symlink_metadata()
                .is_err()
        );
        assert!(
            !sb.path(&format!("/etc/nginx/sites-available/{t}.conf"))
                .exists()
        );
        let show = sb.show(&o.admin());
        let user = show["user"].as_str().unwrap().to_owned();
        assert!(user.starts_with("w_"), "{show}");
        // the old tree is left as it was
        let webroot = sb.path(&format!("{SERVERS}/{DOMAIN}/{}/webroot", o.sub));
        assert!(webroot.is_dir());
        if o.kind == Kind::Bedrock {
            let pool =
                std::fs::read_to_string(show["real_paths"]["pool"].as_str().unwrap()).unwrap();
            assert!(pool.contains("pm = ondemand"), "{pool}");
            assert!(pool.contains(&format!("user = {user}")), "{pool}");
            let r = sb.get(&o.admin(), "/");
            assert!(r.body.contains("env=production"), "{}", r.body);
            let old_env = std::fs::read_to_string(webroot.join("bedrock/.env")).unwrap();
            assert!(old_env.contains("WP_ENV='development'"), "{old_env}");
            let copied = sb.path(&format!("/srv/www/{}/htdocs/bedrock/.env", o.admin()));
            let meta = std::fs::metadata(&copied).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
            assert_eq!(
                std::os::unix::fs::MetadataExt::uid(&meta),
                nix_uid(&user),
                "the copied .env belongs to the site user"
            );
            let db = o.db();
            assert_eq!(
                sb.sql_root(&format!("SELECT host FROM mysql.user WHERE user = '{db}'")),
                "localhost"
            );
            assert_eq!(sb.secrets(&o.admin())["db_password"], o.password());
        } else {
            assert!(show["pool"].is_null(), "{show}");
        }
    }
    // the site it could not adopt is as it was, and still served by its old vhost and pool
    let t = SITES[3].tech();
    assert!(sb.path(&format!("/etc/php-fpm.d/{t}.conf")).exists());
    assert!(
        sb.path(&format!("/etc/nginx/sites-enabled/{t}.conf"))
            .exists()
    );
    assert_serving(&sb, &SITES[3]);

    // a second apply changes nothing
    let (code, again, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{again}");
    assert_eq!(again["changed"], false, "{again}");
}
