//! The Ansible collection `lempctl.hosting` and the example playbook (`ansible/`), run by the
//! real ansible-core from the test venv against localhost (connection local) on a sandbox root:
//! the playbook serves its sites and a second run changes nothing; check mode with diffs shows
//! a change and writes nothing; the modules fail with lempctl's message on invalid input;
//! `state: absent` keeps the data; ansible-lint (production profile) passes.

use std::path::{Path, PathBuf};

use crate::support::*;

fn ansible_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ansible")
}

/// ansible-core and ansible-lint (the test venv, `scripts/install-deps`).
fn ansible() -> Need<()> {
    programs(&["ansible-playbook", "ansible", "ansible-lint"]).map_err(|_| {
        missing("ansible-core and ansible-lint are not installed (the venv of scripts/install-deps, on PATH)")
    })
}

/// A command from the Ansible tree, with its configuration and no colours.
fn ansible_cmd(program: &str) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::new(program);
    c.current_dir(ansible_dir())
        .env("ANSIBLE_CONFIG", ansible_dir().join("ansible.cfg"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_HOST_KEY_CHECKING", "0")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .env("LC_ALL", "C.UTF-8");
    c
}

/// The variables that point the example playbook at a sandbox: no package install (the test's
/// binary is lempctl), the sandbox's lempctl.yaml kept and the example's settings merged in.
fn sandbox_vars(sb: &Sandbox, dir: &Path) -> PathBuf {
    let vars = serde_json::json!({
        "lempctl_host_install_package": false,
        "lempctl_host_bin": bin(),
        "lempctl_host_root": sb.root(),
        "lempctl_host_config_merge": true,
        "lempctl_host_config": {
            "programs": {"lempctl": bin()},
            "backup": {"repository": "/var/backups/lempctl"}
        },
        "ansible_become": false,
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
    });
    let path = dir.join("sandbox.json");
    std::fs::write(&path, vars.to_string()).unwrap();
    path
}

struct Run {
    ok: bool,
    out: String,
}

impl Run {
    /// `changed=N` of the play recap.
    fn changed(&self) -> u32 {
        let recap = self
            .out
            .lines()
            .find(|l| l.starts_with("localhost") && l.contains("changed="))
            .unwrap_or_else(|| panic!("no play recap:\n{}", self.out));
        recap
            .split_whitespace()
            .find_map(|w| w.strip_prefix("changed="))
            .unwrap()
            .parse()
            .unwrap()
    }

    /// The `+`/`-` lines of the diffs Ansible printed (headers left out).
    fn diff_lines(&self) -> Vec<&str> {
        self.out
            .lines()
            .filter(|l| {
                (l.starts_with('+') || l.starts_with('-'))
                    && !l.starts_with("+++")
                    && !l.starts_with("---")
            })
            .collect()
    }
}

/// The example playbook with these variable files (later ones win) and options.
fn playbook(vars: &[&Path], extra: &[&str]) -> Run {
    let mut c = ansible_cmd("ansible-playbook");
    c.args(["-i", "localhost,", "-c", "local", "playbooks/site.yml"]);
    for v in vars {
        c.arg("-e").arg(format!("@{}", v.display()));
    }
    let out = c.args(extra).output().unwrap();
    Run {
        ok: out.status.success(),
        out: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The example's variables (group_vars) with `from` replaced by `to`, as an operator edits them.
fn edited_example(dir: &Path, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(ansible_dir().join("playbooks/group_vars/all/lempctl.yml"))
        .unwrap();
    assert!(text.contains(from), "{from} not in the example");
    let path = dir.join("edited.yml");
    std::fs::write(&path, text.replace(from, to)).unwrap();
    path
}

/// The tree minus what the servers change on their own (MariaDB's files).
fn host_state(sb: &Sandbox) -> Vec<String> {
    sb.tree()
        .into_iter()
        .filter(|(p, _)| !p.starts_with("var/lib/mysql"))
        .map(|(p, m)| format!("{} {m:?}", p.display()))
        .collect()
}

#[test]
fn ansible_playbook_converges_then_changes_nothing_and_check_diff_writes_nothing() {
    require!(DB, wordpress(), ansible());
    let sb = Sandbox::with_db().started();
    let scratch = tempfile::tempdir().unwrap();
    let vars = sandbox_vars(&sb, scratch.path());

    let first = playbook(&[&vars], &[]);
    assert!(first.ok, "{}", first.out);
    assert!(first.changed() > 0, "{}", first.out);
    for host in [
        "app.example.test",
        "static.example.test",
        "blog.example.test",
    ] {
        let r = sb.get(host, "/");
        assert!(r.is_served(), "{host}: {r:?}\n{}", first.out);
    }
    assert!(
        sb.get("blog.example.test", "/")
            .body
            .contains("Example Blog"),
        "WordPress installed with the playbook's title"
    );
    let file =
        std::fs::read_to_string(sb.path("/etc/lempctl/sites.d/blog.example.test.yaml")).unwrap();
    assert!(file.contains("cache: \"fastcgi\""), "{file}");

    let second = playbook(&[&vars], &[]);
    assert!(second.ok, "{}", second.out);
    assert_eq!(second.changed(), 0, "{}", second.out);

    // An operator raises the PHP site's memory limit: check mode shows the pool's diff and
    // writes nothing.
    let edited = edited_example(scratch.path(), "memory_limit: 128M", "memory_limit: 192M");
    let vars2: &[&Path] = &[&edited, &vars];
    let before = host_state(&sb);
    let check = playbook(vars2, &["--check", "--diff"]);
    assert!(check.ok, "{}", check.out);
    assert!(
        check
            .out
            .contains("/etc/php/8.2/fpm/pool.d/app.example.test.conf"),
        "{}",
        check.out
    );
    let diff = check.diff_lines();
    for line in [
        "-php_admin_value[memory_limit] = 128M",
        "+php_admin_value[memory_limit] = 192M",
    ] {
        assert!(
            diff.contains(&line),
            "{line} not in {diff:?}\n{}",
            check.out
        );
    }
    assert_eq!(before, host_state(&sb), "check mode changed the sandbox");

    // The real run applies exactly that.
    let real = playbook(vars2, &["--diff"]);
    assert!(real.ok, "{}", real.out);
    assert_eq!(check.diff_lines(), real.diff_lines(), "{}", real.out);
    let pool =
        std::fs::read_to_string(sb.path("/etc/php/8.2/fpm/pool.d/app.example.test.conf")).unwrap();
    assert!(
        pool.contains("php_admin_value[memory_limit] = 192M"),
        "{pool}"
    );
    let again = playbook(vars2, &[]);
    assert_eq!(again.changed(), 0, "{}", again.out);
}

/// One module call (ad hoc), its JSON result read from the `tree` callback, with `failed` set
/// from ansible's exit code (the tree callback leaves it out).
fn module(sb: &Sandbox, name: &str, args: serde_json::Value, check: bool) -> serde_json::Value {
    let tree = tempfile::tempdir().unwrap();
    let mut args = args;
    args["lempctl_bin"] = serde_json::json!(bin());
    args["root"] = serde_json::json!(sb.root());
    let mut c = ansible_cmd("ansible");
    c.args(["localhost", "-c", "local", "-i", "localhost,", "-m"])
        .arg(format!("lempctl.hosting.{name}"))
        .arg("-a")
        .arg(args.to_string())
        .arg("-t")
        .arg(tree.path())
        .args([
            "-e",
            "ansible_python_interpreter={{ ansible_playbook_python }}",
        ]);
    if check {
        c.arg("--check");
    }
    let out = c.output().unwrap();
    let text = std::fs::read_to_string(tree.path().join("localhost")).unwrap_or_else(|e| {
        panic!(
            "no result ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["failed"] = serde_json::json!(!out.status.success());
    v
}

#[test]
fn ansible_site_module_refuses_invalid_input_and_absent_keeps_data() {
    require!(WEB, ansible());
    let sb = Sandbox::new().started();
    let before = sb.tree();

    // A bad name: lempctl's own message, exit class, nothing written.
    let r = module(
        &sb,
        "site",
        serde_json::json!({"name": "Bad_Name.example.test", "kind": "php"}),
        false,
    );
    assert_eq!(r["failed"], true, "{r}");
    let msg = r["msg"].as_str().unwrap();
    assert!(
        msg.contains("invalid site name `Bad_Name.example.test`"),
        "{r}"
    );
    assert_eq!(r["rc"], 2, "{r}");
    assert_eq!(r["error_kind"], "invalid-input", "{r}");
    assert!(!msg.contains("Traceback"), "{r}");

    // An unknown section: lempctl's message with the file's position, nothing written.
    let r = module(
        &sb,
        "site",
        serde_json::json!({"name": "app.example.test", "kind": "php", "config": {"bogus": {"x": 1}}}),
        false,
    );
    assert_eq!(r["failed"], true, "{r}");
    let msg = r["msg"].as_str().unwrap();
    assert!(
        msg.contains("sites.d/app.example.test.yaml") && msg.contains("bogus"),
        "{r}"
    );
    assert_eq!(r["error_kind"], "invalid-input", "{r}");
    assert_eq!(before, sb.tree(), "a refused task changed the sandbox");

    // `sites`: one bad site among good ones, and nothing of any of them is written.
    let r = module(
        &sb,
        "sites",
        serde_json::json!({"sites": [
            {"name": "one.example.test", "kind": "static"},
            {"name": "two.example.test", "kind": "php", "config": {"php": {"max_children": "many"}}},
        ]}),
        false,
    );
    assert_eq!(r["failed"], true, "{r}");
    assert!(
        r["msg"].as_str().unwrap().contains("two.example.test.yaml")
            && r["msg"].as_str().unwrap().contains("php.max_children"),
        "{r}"
    );
    assert_eq!(
        before,
        sb.tree(),
        "a refused sites task changed the sandbox"
    );
    let r = module(
        &sb,
        "sites",
        serde_json::json!({"sites": [{"name": "one.example.test", "kind": "static", "config": {"name": "x"}}]}),
        false,
    );
    assert!(
        r["msg"]
            .as_str()
            .unwrap()
            .contains("config: set name with the option"),
        "{r}"
    );

    // Check mode: changed, nothing written.
    let site = serde_json::json!({"name": "app.example.test", "kind": "php", "config": {"php": {"memory_limit": "160M"}}});
    let r = module(&sb, "site", site.clone(), true);
    assert_eq!(r["changed"], true, "{r}");
    assert_eq!(before, sb.tree(), "check mode changed the sandbox");

    let r = module(&sb, "site", site.clone(), false);
    assert_eq!(r["changed"], true, "{r}");
    assert_eq!(sb.get("app.example.test", "/").status, 200);
    std::fs::write(
        sb.path("/srv/www/app.example.test/htdocs/data.txt"),
        "user data",
    )
    .unwrap();
    let r = module(&sb, "site", site, false);
    assert_eq!(r["changed"], false, "{r}");

    // info: the site and the status, as facts.
    let r = module(&sb, "info", serde_json::json!({}), false);
    assert_eq!(r["changed"], false, "{r}");
    assert_eq!(r["sites"][0]["name"], "app.example.test", "{r}");
    assert_eq!(r["status"]["ok"], true, "{r}");

    // absent: configuration gone, data kept; again: no change.
    let r = module(
        &sb,
        "site",
        serde_json::json!({"name": "app.example.test", "state": "absent"}),
        false,
    );
    assert_eq!(r["changed"], true, "{r}");
    assert!(
        !sb.path("/etc/lempctl/sites.d/app.example.test.yaml")
            .exists()
    );
    assert!(
        !sb.path("/etc/nginx/sites-available/app.example.test.conf")
            .exists()
    );
    assert_eq!(
        std::fs::read_to_string(sb.path("/srv/www/app.example.test/htdocs/data.txt")).unwrap(),
        "user data"
    );
    let r = module(
        &sb,
        "site",
        serde_json::json!({"name": "app.example.test", "state": "absent"}),
        false,
    );
    assert_eq!(r["changed"], false, "{r}");
}

/// `host`: a whole host in one task — configuration, a private file, sites, converge, service
/// check; check mode writes nothing; a configuration lempctl refuses is put back.
#[test]
fn ansible_host_module_converges_a_host_in_one_task_and_puts_a_refused_config_back() {
    require!(WEB, ansible());
    let sb = Sandbox::new().started();
    let conf = sb.path("/etc/lempctl/lempctl.yaml");
    let config: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&conf).unwrap()).unwrap();
    let secret = "/etc/lempctl/extra.password";
    let args = serde_json::json!({
        "config": config,
        "private_files": [{"path": secret, "content": "s3cret\n"}],
        "sites": [{"name": "one.host.test", "kind": "static"}, {"name": "two.host.test", "kind": "php"}],
    });

    let before = sb.tree();
    let r = module(&sb, "host", args.clone(), true);
    assert_eq!(
        (r["failed"].clone(), r["changed"].clone()),
        (false.into(), true.into()),
        "{r}"
    );
    assert_eq!(r["config_changed"], true, "{r}");
    assert_eq!(before, sb.tree(), "check mode changed the sandbox");

    let r = module(&sb, "host", args.clone(), false);
    assert_eq!(
        (r["failed"].clone(), r["changed"].clone()),
        (false.into(), true.into()),
        "{r}"
    );
    assert!(
        std::fs::read_to_string(&conf)
            .unwrap()
            .starts_with("# managed by Ansible (lempctl.hosting.host)")
    );
    let meta = std::fs::metadata(sb.path(secret)).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    assert!(sb.get("two.host.test", "/").is_served());
    let r = module(&sb, "host", args.clone(), false);
    assert_eq!(r["changed"], false, "{r}");

    // lempctl refuses the new configuration: the old one and the old private file are back
    let written = std::fs::read_to_string(&conf).unwrap();
    let mut bad = args.clone();
    bad["config"]["listen"]["http"] = serde_json::json!("not-a-port");
    bad["private_files"][0]["content"] = serde_json::json!("other\n");
    let r = module(&sb, "host", bad, false);
    assert_eq!(r["failed"], true, "{r}");
    assert_eq!(r["error_kind"], "invalid-input", "{r}");
    assert!(r["msg"].as_str().unwrap().contains("listen.http"), "{r}");
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), written);
    assert_eq!(
        std::fs::read_to_string(sb.path(secret)).unwrap(),
        "s3cret\n"
    );

    // nothing to change, but nginx is down: the task fails and says so
    let pid = std::fs::read_to_string(sb.path("/run/nginx.pid")).unwrap();
    let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let r = module(&sb, "host", args, false);
    assert_eq!(r["failed"], true, "{r}");
    assert_eq!(r["msg"], "not running: nginx", "{r}");
}

#[test]
fn ansible_lint_passes_on_the_playbook_role_and_collection() {
    require!(ansible());
    let out = ansible_cmd("ansible-lint")
        .args([
            "--offline",
            "--profile",
            "production",
            "playbooks/site.yml",
            "roles",
            "collections",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
