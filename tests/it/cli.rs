//! The CLI contract scripts and playbooks rely on.

use crate::support::*;

#[test]
fn site_show_and_list_json_carry_paths_and_derived_names() {
    let sb = Sandbox::new()
        .site("php.example.test.yaml", PHP_SITE)
        .site("static.example.test.yaml", STATIC_SITE);
    let out = sb
        .lempctl()
        .args(["site", "show", "php.example.test", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "php.example.test");
    assert_eq!(v["user"], "w_php_example_test");
    assert_eq!(v["document_root"], "/srv/www/php.example.test/htdocs");
    assert_eq!(v["site_dir"], "/srv/www/php.example.test");
    assert_eq!(v["pool_socket"], "/run/php/w_php_example_test.sock");
    assert_eq!(
        v["vhost"],
        "/etc/nginx/sites-available/php.example.test.conf"
    );
    // Under --root the real places are there too, labelled.
    let real = &v["real_paths"];
    assert_eq!(real["root"], sb.root().to_str().unwrap(), "{v}");
    for key in [
        "site_dir",
        "document_root",
        "pool",
        "pool_socket",
        "vhost",
        "vhost_enabled",
        "access_log",
    ] {
        let host = v[key].as_str().unwrap();
        assert_eq!(real[key], sb.path(host).to_str().unwrap(), "{key}: {v}");
    }
    let out = sb
        .lempctl()
        .args(["site", "list", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["php.example.test", "static.example.test"]);
    let out = sb
        .lempctl()
        .args(["site", "show", "nope.example.test"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn site_show_in_a_sandbox_names_the_paths_the_vhost_uses() {
    require!(WEB);
    let sb = Sandbox::new()
        .site("static.example.test.yaml", STATIC_SITE)
        .started();
    let (code, v, err) = sb.json(&["apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let v = sb.show("static.example.test");
    let real = &v["real_paths"];
    let docroot = real["document_root"].as_str().unwrap();
    assert!(std::path::Path::new(docroot).is_dir(), "{v}");
    let vhost = std::fs::read_to_string(real["vhost"].as_str().unwrap()).unwrap();
    assert!(
        vhost.contains(&format!("root {docroot}")),
        "{docroot} not in:\n{vhost}"
    );
    // The human form labels the real paths too.
    let out = sb
        .lempctl()
        .args(["site", "show", "static.example.test"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("real paths:") && text.contains(docroot),
        "{text}"
    );
}

#[test]
fn sandbox_init_below_a_private_directory_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    // A directory like `mktemp -d` makes (0700).
    let private = tempfile::Builder::new()
        .prefix("lempctl-it-private-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    for dir in [private.path().join("sb"), private.path().join("a/b/sb")] {
        let out = assert_cmd::Command::new(bin())
            .args(["sandbox", "init", "--no-mariadb"])
            .arg(&dir)
            .args(["--port", &free_port().to_string()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        let shown = private.path().display().to_string();
        assert!(
            err.contains(&format!("{shown} (mode 0700"))
                && err.contains(&format!("chmod o+x {shown}")),
            "{err}"
        );
        assert_eq!(
            std::fs::read_dir(private.path()).unwrap().count(),
            0,
            "nothing created"
        );
    }
    // DIR itself may be private: init opens it up. With the parent searchable, init works.
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let dir = private.path().join("sb");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = assert_cmd::Command::new(bin())
        .args(["sandbox", "init", "--no-mariadb"])
        .arg(&dir)
        .args(["--port", &free_port().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn json_errors_are_one_object_on_stdout() {
    let sb = Sandbox::new();
    sb.write_site("bad.yaml", "name: x\nkind: php\n");
    let (code, v, _) = sb.json(&["apply"]);
    assert_eq!(code, 2);
    assert_eq!(v["changed"], false);
    assert_eq!(v["error"]["kind"], "invalid-input");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("single label")
    );
}

#[test]
fn completions_and_man_page_are_generated() {
    let out = assert_cmd::Command::new(bin())
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("lempctl"));
    let out = assert_cmd::Command::new(bin()).arg("man").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(".TH lempctl"));
    // one page per subcommand, named as git and cargo name theirs
    let out = assert_cmd::Command::new(bin())
        .args(["man", "site", "update"])
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.contains(".TH lempctl-site-update") && page.contains("memory\\-limit"),
        "{page}"
    );
    let out = assert_cmd::Command::new(bin())
        .args(["man", "site", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Bash completes site names (from `site list --names`, under the same --root) where a command
/// takes one, and subcommands as clap does elsewhere.
#[test]
fn bash_completes_site_names() {
    let sb = Sandbox::new()
        .site("php.yaml", PHP_SITE)
        .site("static.yaml", STATIC_SITE);
    let out = sb
        .lempctl()
        .args(["site", "list", "--names"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "php.example.test\nstatic.example.test\n"
    );
    let script = std::process::Command::new(bin())
        .args(["completions", "bash"])
        .output()
        .unwrap()
        .stdout;
    let file = sb.path("/tmp-completion.bash");
    std::fs::write(&file, script).unwrap();
    let complete = |line: &str| {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source {}; COMP_LINE='{line}'; read -ra COMP_WORDS <<< \"$COMP_LINE\"; [[ $COMP_LINE == *' ' ]] && COMP_WORDS+=(''); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); COMP_POINT=${{#COMP_LINE}}; _lempctl_sites lempctl \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; echo \"${{COMPREPLY[*]}}\"",
                file.display()
            ))
            .env("PATH", format!("{}:/usr/bin:/bin", bin().parent().unwrap().display()))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let root = sb.root().display().to_string();
    assert_eq!(
        complete(&format!("lempctl --root {root} site show ")),
        "php.example.test static.example.test"
    );
    assert_eq!(
        complete(&format!("lempctl --root {root} backup run st")),
        "static.example.test"
    );
    assert_eq!(complete("lempctl site sh"), "show");
}

#[test]
fn every_example_site_in_the_repository_loads() {
    require!(DB);
    let sb = Sandbox::with_db().started();
    for e in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/sites.d")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(
            &p,
            sb.path("/etc/lempctl/sites.d").join(p.file_name().unwrap()),
        )
        .unwrap();
    }
    let (code, v, err) = sb.json(&["apply", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["changed"], true);
}

/// docs/cli-help.md is the `--help` of every command; it must match the binary.
#[test]
fn cli_help_reference_is_up_to_date() {
    fn help(args: &[String]) -> String {
        let out = assert_cmd::Command::new(bin())
            .args(args)
            .arg("--help")
            .env_clear()
            .env("COLUMNS", "100")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    let mut doc = String::from(
        "# lempctl --help\n\nGenerated from the binary by `LEMPCTL_UPDATE_DOCS=1 cargo test --test it cli_help`; do not edit.\n",
    );
    let mut queue: Vec<Vec<String>> = vec![vec![]];
    while let Some(path) = queue.pop() {
        let text = help(&path);
        doc.push_str(&format!(
            "\n## `lempctl{}{}`\n\n```text\n{}```\n",
            if path.is_empty() { "" } else { " " },
            path.join(" "),
            text
        ));
        let mut subs: Vec<Vec<String>> = subcommands(&text)
            .into_iter()
            .map(|s| [path.clone(), vec![s]].concat())
            .collect();
        subs.reverse();
        queue.extend(subs);
    }
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cli-help.md");
    if std::env::var("LEMPCTL_UPDATE_DOCS").is_ok_and(|v| v == "1") {
        std::fs::write(&file, &doc).unwrap();
    }
    let current = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        current == doc,
        "docs/cli-help.md is out of date: run `LEMPCTL_UPDATE_DOCS=1 cargo test --test it cli_help`"
    );
}

/// A broken site file must not keep the private servers running.
#[test]
fn sandbox_stop_works_with_a_broken_site_file() {
    require!(WEB);
    let sb = Sandbox::new().started();
    let pid: i32 = std::fs::read_to_string(sb.path("/run/nginx.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    sb.write_site("bad.yaml", "name: [broken\n");
    sb.lempctl().args(["sandbox", "stop"]).assert().success();
    let gone = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err()
    });
    assert!(gone, "nginx {pid} still runs");
}

/// The subcommand names a `--help` text lists (its `Commands:` section, `help` left out).
pub(crate) fn subcommands(text: &str) -> Vec<String> {
    let mut in_cmds = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("Commands:") {
            in_cmds = true;
            continue;
        }
        if in_cmds {
            if line.trim().is_empty() {
                break;
            }
            if let Some(name) = line.split_whitespace().next()
                && line.starts_with("  ")
                && !line.starts_with("   ")
                && name != "help"
            {
                out.push(name.to_owned());
            }
        }
    }
    out
}

/// `site list` is a table with kind, PHP, cache, TLS and state, filtered by state or kind;
/// `site show` reads as text by default and as JSON with --json.
#[test]
fn site_list_filters_and_site_show_reads_as_text() {
    require!(WEB);
    let sb = Sandbox::new()
        .site(
            "php.yaml",
            &format!("{PHP_SITE}php:\n  memory_limit: 192M\n"),
        )
        .site("static.yaml", &format!("{STATIC_SITE}enabled: false\n"));
    let list = |args: &[&str]| {
        let out = sb
            .lempctl()
            .args(["site", "list"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let all = list(&[]);
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 3, "{all}");
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("CACHE") && lines[0].contains("TLS"),
        "{all}"
    );
    assert!(
        lines[1].contains("php.example.test")
            && lines[1].contains("8.2")
            && lines[1].contains("enabled"),
        "{all}"
    );
    assert!(
        lines[2].contains("static.example.test") && lines[2].contains("disabled"),
        "{all}"
    );
    let enabled = list(&["--enabled"]);
    assert!(
        enabled.contains("php.example.test") && !enabled.contains("static.example.test"),
        "{enabled}"
    );
    let disabled = list(&["--disabled"]);
    assert!(
        !disabled.contains("php.example.test") && disabled.contains("static.example.test"),
        "{disabled}"
    );
    let statics = list(&["--kind", "static"]);
    assert!(!statics.contains("php.example.test"), "{statics}");
    assert_eq!(list(&["--kind", "wordpress"]), "", "no rows, no header");
    // an unknown kind is refused by the command-line parser (exit 2, clap's message, not JSON)
    let out = sb
        .lempctl()
        .args(["site", "list", "--kind", "perl", "--json"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("invalid value 'perl' for '--kind <KIND>'"),
        "{err}"
    );

    let out = sb
        .lempctl()
        .args(["site", "show", "php.example.test"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "kind:",
        "php",
        "memory_limit 192M",
        "cache:",
        "tls:",
        "none",
        "access log:",
        "slow log:",
        "backups:",
    ] {
        assert!(text.contains(want), "{want} in\n{text}");
    }
    assert!(!text.trim_start().starts_with('{'), "{text}");
    let v = sb.show("php.example.test");
    assert_eq!(v["memory_limit"], "192M", "{v}");
    assert_eq!(v["cache"], "none", "{v}");
}

/// A mistyped `--root` never builds a host in a stray directory: a missing root is an error, and
/// without a configuration file there a changing command refuses while a read-only one says why.
#[test]
fn a_wrong_root_is_refused_not_populated() {
    let out = assert_cmd::Command::new(bin())
        .args(["--root", "/nonexistent-lempctl-root", "apply"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such directory"));
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["apply"],
        vec!["site", "create", "a.example.test", "--kind", "static"],
        vec!["backup", "run", "--all"],
    ] {
        let out = assert_cmd::Command::new(bin())
            .arg("--root")
            .arg(dir.path())
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no lempctl configuration at") && err.contains("sandbox init"),
            "{err}"
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was created"
    );
    let out = assert_cmd::Command::new(bin())
        .arg("--root")
        .arg(dir.path())
        .args(["site", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: no lempctl configuration at"));
}

/// Every flag of every subcommand (as the binary's `--help` in docs/cli-help.md lists them) is
/// described in the hand-written docs, and every flag a documented `lempctl …` command line
/// uses exists.
#[test]
fn documented_flags_exist_and_real_flags_are_documented() {
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let help = std::fs::read_to_string(docs.join("cli-help.md")).unwrap();
    let mut prose = String::new();
    for e in std::fs::read_dir(&docs).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") && !p.ends_with("cli-help.md") {
            prose.push_str(&std::fs::read_to_string(&p).unwrap());
        }
    }
    let flag_of = |w: &str| -> Option<String> {
        let w = w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-');
        let name = w.strip_prefix("--")?;
        let name = name.split('=').next().unwrap_or(name);
        (name.len() > 1 && name.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
            .then(|| format!("--{name}"))
    };
    let global = [
        "--config",
        "--root",
        "--json",
        "--dry-run",
        "--verbose",
        "--quiet",
        "--wait",
        "--help",
        "--version",
    ];
    let mut real = std::collections::BTreeSet::new();
    for line in help.lines() {
        let t = line.trim_start();
        if line.starts_with("  ") && t.starts_with('-') {
            for w in t.split([' ', ',']).take(3) {
                if let Some(f) = flag_of(w) {
                    real.insert(f);
                }
            }
        }
    }
    let undocumented: Vec<&String> = real
        .iter()
        .filter(|f| !global.contains(&f.as_str()) && !prose.contains(f.as_str()))
        .collect();
    assert!(
        undocumented.is_empty(),
        "flags no page of docs/ describes: {undocumented:?}"
    );
    let mut unknown = std::collections::BTreeSet::new();
    for line in prose.lines() {
        let t = line.trim_start().trim_start_matches("$ ");
        if let Some(rest) = t.strip_prefix("lempctl ") {
            for w in rest.split_whitespace() {
                if let Some(f) = flag_of(w)
                    && !real.contains(&f)
                {
                    unknown.insert(f);
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "documented `lempctl` command lines use flags the binary lacks: {unknown:?}"
    );
}

/// Every template a user can override is in configuration.md's override table.
#[test]
fn every_overridable_template_is_documented() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .unwrap();
    let table = &doc[doc.find("## Template overrides").unwrap()..];
    let missing: Vec<&str> = lempctl::render::templates::EMBEDDED
        .iter()
        .map(|(name, _)| *name)
        // the PHP programs lempctl runs are part of the binary, not configuration
        .filter(|n| !n.ends_with(".php"))
        .filter(|n| !table.contains(&format!("`{n}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "templates missing from the override table: {missing:?}"
    );
}

/// Every field the parser accepts (found by asking it: an unknown key's error lists the known
/// ones, level by level) is described in docs/, and every dotted field the docs' tables name
/// is one the parser accepts.
#[test]
fn documented_fields_exist_and_real_fields_are_documented() {
    use lempctl::config::file::{GlobalFile, SiteFile};
    use lempctl::config::parse_yaml;
    /// The YAML of `path` (dotted) holding `leaf` as its innermost mapping.
    fn nest(prefix: &str, path: &[String], leaf: &str) -> String {
        let mut y = prefix.to_owned();
        for (i, p) in path.iter().enumerate() {
            y.push_str(&format!("{}{p}:\n", "  ".repeat(i)));
        }
        y.push_str(&format!("{}{leaf}\n", "  ".repeat(path.len())));
        y
    }
    fn known(
        parse: &dyn Fn(&str) -> Option<String>,
        prefix: &str,
        path: &[String],
    ) -> Option<Vec<String>> {
        for leaf in ["lempctl_no_such_field: 1", "- lempctl_no_such_field: 1"] {
            let msg = parse(&nest(prefix, path, leaf))?;
            if let Some(list) = msg.split("expected one of ").nth(1) {
                return Some(
                    list.split(", ")
                        .map(|f| f.trim().trim_matches('`').to_owned())
                        .collect(),
                );
            }
            if let Some(one) = msg.split("expected `").nth(1) {
                return Some(vec![one.split('`').next().unwrap_or("").to_owned()]);
            }
        }
        None
    }
    fn walk(
        parse: &dyn Fn(&str) -> Option<String>,
        prefix: &str,
        path: Vec<String>,
        out: &mut Vec<String>,
    ) {
        if path.len() > 3 {
            return;
        }
        let Some(fields) = known(parse, prefix, &path) else {
            return;
        };
        for f in fields {
            let mut p = path.clone();
            p.push(f);
            out.push(p.join("."));
            walk(parse, prefix, p, out);
        }
    }
    let file = std::path::Path::new("/x.yaml");
    let site = |t: &str| parse_yaml::<SiteFile>(file, t).err().map(|e| e.problem);
    let global = |t: &str| parse_yaml::<GlobalFile>(file, t).err().map(|e| e.problem);
    let mut fields = Vec::new();
    walk(&site, "", vec![], &mut fields);
    let site_fields = fields.len();
    walk(&global, "", vec![], &mut fields);
    assert!(
        site_fields > 30 && fields.len() > site_fields + 30,
        "{fields:?}"
    );

    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut prose = String::new();
    for e in std::fs::read_dir(&docs).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") && !p.ends_with("cli-help.md") {
            prose.push_str(&std::fs::read_to_string(&p).unwrap());
        }
    }
    let undocumented: Vec<&String> = fields
        .iter()
        .filter(|f| {
            let leaf = f.rsplit('.').next().unwrap_or(f);
            !prose.contains(&format!("`{f}`")) && !prose.contains(&format!("`{leaf}`"))
        })
        .collect();
    assert!(
        undocumented.is_empty(),
        "fields no page of docs/ describes: {undocumented:?}"
    );

    // the first column of the field tables in configuration.md: dotted names must exist
    let conf = std::fs::read_to_string(docs.join("configuration.md")).unwrap();
    let mut unknown = Vec::new();
    for line in conf.lines() {
        let Some(cell) = line.strip_prefix("| `") else {
            continue;
        };
        let name = cell.split('`').next().unwrap_or("");
        let plain = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
        if !plain || !name.contains('.') || name.ends_with(".conf") || name.ends_with(".j2") {
            continue;
        }
        if !fields.iter().any(|f| f == name) {
            unknown.push(name.to_owned());
        }
    }
    assert!(
        unknown.is_empty(),
        "configuration.md documents fields the parser does not know: {unknown:?}"
    );
}
