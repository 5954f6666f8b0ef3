//! `tuning`: opcache shares, file limits, PHP-FPM masters per version and the id range of site
//! users.

use crate::config::check::Ctx;
use crate::host::machine::ManagerKind;

/// Bounds of `tuning.php_fpm_masters`.
const MASTERS_MAX: u16 = 64;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Tuning {
    pub opcache_mb_per_site: u32,
    pub opcache_files_per_site: u32,
    pub nofile_soft_limit: u32,
    /// PHP-FPM masters per PHP version: the distribution's and `php_fpm_masters - 1` of
    /// lempctl's own, each carrying the pools whose site name hashes to it.
    pub php_fpm_masters: u16,
    /// Range of uid/gid for site users (their own range: the system range is too small).
    pub site_ids: (u32, u32),
}

pub(super) fn section(
    ctx: &mut Ctx<'_>,
    t: crate::config::file::TuningFile,
    manager: ManagerKind,
) -> Tuning {
    Tuning {
        php_fpm_masters: match &t.php_fpm_masters {
            None => 1,
            Some(v) if !(1..=u32::from(MASTERS_MAX)).contains(&v.value) => {
                ctx.err(
                    v,
                    "tuning.php_fpm_masters",
                    format!("{} masters", v.value),
                    Some("1 to 64 PHP-FPM masters per PHP version"),
                );
                1
            }
            Some(v) if v.value > 1 && manager == ManagerKind::Sysv => {
                ctx.err(
                    v,
                    "tuning.php_fpm_masters",
                    "lempctl's own PHP-FPM masters need systemd units to start at boot; this host has SysV init scripts",
                    Some("1 unless the service manager is `systemd` or `direct`"),
                );
                1
            }
            Some(v) => u16::try_from(v.value).unwrap_or(1),
        },
        opcache_mb_per_site: t.opcache_mb_per_site.map_or(16, |v| v.value),
        opcache_files_per_site: t.opcache_files_per_site.map_or(400, |v| v.value),
        nofile_soft_limit: t.nofile_soft_limit.map_or(1024, |v| v.value),
        site_ids: {
            let (lo, hi) = (&t.site_uid_min, &t.site_uid_max);
            let (l, h) = (
                lo.as_ref().map_or(20_000, |v| v.value),
                hi.as_ref().map_or(59_999, |v| v.value),
            );
            if l < 1000 || h <= l {
                if let Some(v) = lo.as_ref().or(hi.as_ref()) {
                    ctx.err(
                        v,
                        "tuning.site_uid_min",
                        format!("{l}-{h} is not a usable id range"),
                        Some("1000 <= site_uid_min < site_uid_max"),
                    );
                }
                (20_000, 59_999)
            } else {
                (l, h)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::file::GlobalFile;
    use crate::config::global::{Global, validate};

    fn global(yaml: &str) -> (Global, Vec<String>) {
        let file = Path::new("/etc/lempctl/lempctl.yaml");
        let parsed: GlobalFile = crate::config::parse_yaml_all::<Option<GlobalFile>>(file, yaml)
            .unwrap()
            .unwrap_or_default();
        let mut errors = Vec::new();
        let g = validate(file, parsed, &mut errors);
        (g, errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn masters_are_counted_from_one_and_need_a_manager_that_starts_them() {
        let (g, errors) = global("service_manager: direct\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(g.tuning.php_fpm_masters, 1);
        let (g, errors) = global("service_manager: systemd\ntuning:\n  php_fpm_masters: 8\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(g.tuning.php_fpm_masters, 8);
        for (yaml, problem) in [
            (
                "service_manager: direct\ntuning:\n  php_fpm_masters: 0\n",
                "0 masters",
            ),
            (
                "service_manager: direct\ntuning:\n  php_fpm_masters: 65\n",
                "65 masters",
            ),
            (
                "service_manager: sysv\ntuning:\n  php_fpm_masters: 2\n",
                "SysV",
            ),
        ] {
            let (g, errors) = global(yaml);
            assert_eq!(errors.len(), 1, "{yaml}: {errors:?}");
            assert!(
                errors[0].contains("lempctl.yaml:3:")
                    && errors[0].contains("tuning.php_fpm_masters")
                    && errors[0].contains(problem),
                "{errors:?}"
            );
            assert_eq!(g.tuning.php_fpm_masters, 1);
        }
    }

    #[test]
    fn a_site_stays_on_its_master_and_the_masters_share_the_sites() {
        let (g, _) = global("service_manager: direct\ntuning:\n  php_fpm_masters: 3\n");
        // fixed across runs, builds and hosts
        for (name, shard) in [
            ("a.masters.test", 0),
            ("d.masters.test", 1),
            ("b.masters.test", 2),
        ] {
            assert_eq!(g.shard_of(name), shard, "{name}");
        }
        let (g, _) = global("service_manager: direct\ntuning:\n  php_fpm_masters: 10\n");
        let mut per = [0_u32; 10];
        for i in 0..1000 {
            per[usize::from(g.shard_of(&format!("s{i}.bench.test")))] += 1;
        }
        assert!(per.iter().all(|n| (70..=130).contains(n)), "{per:?}");
        // one more master takes about its share from the others; no other site moves
        let (g11, _) = global("service_manager: direct\ntuning:\n  php_fpm_masters: 11\n");
        let mut moved = 0;
        for i in 0..1000 {
            let name = format!("s{i}.bench.test");
            if g.shard_of(&name) != g11.shard_of(&name) {
                assert_eq!(g11.shard_of(&name), 10, "{name} moved to an old master");
                moved += 1;
            }
        }
        assert!((60..=130).contains(&moved), "{moved} of 1000 moved");
        let (g, _) = global("service_manager: direct\n");
        assert_eq!(g.shard_of("b.masters.test"), 0);
    }
}
