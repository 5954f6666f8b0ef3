//! One invalid site file (an edit half done) must not stop the other sites: their commands and
//! scheduled jobs go on, the broken file is named in a warning, `apply` of everything refuses.

use crate::support::*;

const BLOG: &str = "name: blog.ok.test\nkind: wordpress\ncache: fastcgi\nwordpress:\n  title: Still Running\n  admin_email: owner@ok.test\nbackup:\n  schedule: \"30 3 * * *\"\n";
const SHOP: &str =
    "name: shop.ok.test\nkind: php\ndb: {}\nbackup:\n  schedule: \"40 3 * * *\"\n  keep_last: 3\n";
const NEWS: &str = "name: news.ok.test\nkind: static\n";

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn one_invalid_site_file_does_not_stop_the_other_sites() {
    require!(
        &[
            "nginx",
            "php-fpm8.2",
            "php8.2",
            "mariadbd",
            "mariadb",
            "restic",
            "useradd",
        ],
        wordpress()
    );
    let sb = Sandbox::with_db()
        .site("blog.ok.test.yaml", BLOG)
        .site("shop.yaml", SHOP)
        .site("news.ok.test.yaml", NEWS)
        .started();
    let g = sb.path("/etc/lempctl/lempctl.yaml");
    let text = std::fs::read_to_string(&g).unwrap();
    std::fs::write(
        &g,
        format!("{text}backup:\n  repository: /var/backups/lempctl\n"),
    )
    .unwrap();
    let (c, v, err) = sb.json(&["apply"]);
    assert_eq!(c, 0, "{err}\n{v}");
    let (c, v, err) = sb.json(&["backup", "init"]);
    assert_eq!(c, 0, "{err}\n{v}");
    let cron_before = std::fs::read_to_string(sb.path("/etc/cron.d/lempctl")).unwrap();
    assert!(
        cron_before.contains("backup run --quiet shop.ok.test"),
        "{cron_before}"
    );

    // Half-way through an edit: the shop's file has a typo, its name line is still there.
    let shop_file = sb.path("/etc/lempctl/sites.d/shop.yaml");
    std::fs::write(&shop_file, format!("{SHOP}php:\n  max_chidlren: 8\n")).unwrap();
    let place = "shop.yaml:8:3";

    // Everything at once is refused with the file's position, nothing written.
    let before = sb.tree();
    let (c, v, _) = sb.json(&["apply"]);
    assert_eq!(c, 2, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains(place),
        "{v}"
    );
    let (c, _, _) = sb.json(&["apply", "--prune", "news.ok.test"]);
    assert_eq!(c, 2);
    assert_eq!(before, sb.tree());

    // The other sites' scheduled jobs and commands run, naming the broken file in a warning.
    let out = sb
        .lempctl()
        .args(["backup", "run", "--quiet", "blog.ok.test"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let (c, v, err) = sb.json(&["backup", "run", "blog.ok.test"]);
    assert_eq!(c, 0, "{err}\n{v}");
    let warned = |v: &serde_json::Value| {
        v["warnings"]
            .as_array()
            .is_some_and(|w| w.iter().any(|w| w.as_str().unwrap().contains(place)))
    };
    assert!(warned(&v), "{v}");
    assert!(err.contains(place), "{err}");
    let out = sb
        .lempctl()
        .args(["wp", "cron", "blog.ok.test"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains(place), "{}", stderr(&out));
    let (c, v, err) = sb.json(&["wp", "purge", "blog.ok.test"]);
    assert_eq!(c, 0, "{err}\n{v}");
    assert!(warned(&v), "{v}");
    let out = sb
        .lempctl()
        .args(["site", "list", "--json"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["blog.ok.test", "news.ok.test"]);
    assert!(stderr(&out).contains(place), "{}", stderr(&out));

    // `apply OTHER` converges that site and leaves the shop's timers as they were.
    std::fs::write(
        sb.path("/etc/lempctl/sites.d/news.ok.test.yaml"),
        "name: news.ok.test\nkind: static\naliases: [www.news.ok.test]\n",
    )
    .unwrap();
    let (c, v, err) = sb.json(&["apply", "news.ok.test"]);
    assert_eq!(c, 0, "{err}\n{v}");
    assert!(warned(&v), "{v}");
    assert_eq!(sb.get("www.news.ok.test", "/").status, 200);
    assert_eq!(
        std::fs::read_to_string(sb.path("/etc/cron.d/lempctl")).unwrap(),
        cron_before
    );
    assert!(
        !v["warnings"]
            .to_string()
            .contains("no longer in the sites directory"),
        "{v}"
    );
    // Nothing left to do for it: what is held back is not reported as a change (nor reloaded).
    let (c, v, err) = sb.json(&["apply", "news.ok.test"]);
    assert_eq!(c, 0, "{err}\n{v}");
    assert_eq!(v["changed"], false, "{v}");
    // The shop is still served.
    assert_ne!(sb.get("shop.ok.test", "/").status, 404);

    // Commands about the broken site itself fail with its position.
    for args in [
        &["backup", "run", "shop.ok.test"][..],
        &["apply", "shop.ok.test"],
        &["site", "show", "shop.ok.test"],
    ] {
        let (c, v, _) = sb.json(args);
        assert_eq!(c, 2, "{args:?}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(place),
            "{args:?}: {v}"
        );
    }

    // `status` reports the broken file as a problem instead of failing.
    let (c, v, err) = sb.json(&["status"]);
    assert_eq!(c, 1, "{err}\n{v}");
    assert!(v["invalid_files"].to_string().contains(place), "{v}");
    assert!(warned(&v), "{v}");
    // The sites that load are reported as they are; the broken site's host-wide files are not
    // taken for pending changes.
    let states: Vec<(&str, &str)> = v["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [("blog.ok.test", "ok"), ("news.ok.test", "ok")],
        "{v}"
    );
    assert_eq!(v["pending_host"], serde_json::json!([]), "{v}");
    assert_eq!(v["removed_sites"], serde_json::json!([]), "{v}");

    // A file that no longer says which site it is keeps the site it was applied as (the state
    // records the file), and no other file can take that name meanwhile.
    std::fs::write(&shop_file, "name: [half\n").unwrap();
    sb.write_site("zz.yaml", "name: shop.ok.test\nkind: static\n");
    for args in [
        &["backup", "run", "shop.ok.test"][..],
        &["apply", "shop.ok.test"],
    ] {
        let (c, v, _) = sb.json(args);
        assert_eq!(c, 2, "{args:?}: {v}");
    }
    let (c, v, err) = sb.json(&["backup", "run", "blog.ok.test"]);
    assert_eq!(c, 0, "{err}\n{v}");
    let w = v["warnings"].to_string();
    assert!(w.contains("shop.yaml") && w.contains("zz.yaml"), "{v}");
    assert_eq!(
        std::fs::read_to_string(sb.path("/etc/cron.d/lempctl")).unwrap(),
        cron_before
    );
}
