//! The scheduling mechanism shared by every periodic job (apply, wp-cron, S3 sync, backups…):
//! systemd timer units with a per-job schedule drop-in and a `timers.target.wants` link (made the
//! way `systemctl --root enable` makes it), or one `/etc/cron.d/lempctl` file without systemd.

use std::path::PathBuf;

use anyhow::Result;

use super::resource::{Affects, Resource};
use crate::config::global::{Global, Scheduler};
use crate::config::schedule::Schedule;
use crate::host::Perms;
use crate::render::Renderer;

/// One scheduled job: `unit` is the unit base name (`lempctl-apply`, `lempctl-s3sync`); per-site
/// jobs are instances of a template unit (`lempctl-s3sync@shop.example.test`).
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub unit: String,
    pub instance: Option<String>,
    pub schedule: Schedule,
    /// lempctl arguments (the instance is appended for per-site jobs).
    pub args: Vec<String>,
}

impl Job {
    /// `lempctl-apply.timer` or `lempctl-s3sync@site.timer`.
    pub(crate) fn timer(&self) -> String {
        match &self.instance {
            Some(i) => format!("{}@{i}.timer", self.unit),
            None => format!("{}.timer", self.unit),
        }
    }
    /// The template file a unit comes from (`lempctl-s3sync@.timer`).
    fn template(&self, ext: &str) -> String {
        if self.instance.is_some() {
            format!("{}@.{ext}", self.unit)
        } else {
            format!("{}.{ext}", self.unit)
        }
    }
}

/// Adds the files and links that schedule `jobs` to `out`.
pub(crate) fn resources(
    out: &mut Vec<Resource>,
    r: &Renderer,
    root_arg: String,
    g: &Global,
    jobs: &[Job],
) -> Result<()> {
    let lempctl = g.programs.lempctl.display().to_string();
    match g.scheduler {
        Scheduler::Systemd => {
            let dir = &g.paths.systemd_dir;
            let mut templates_done = Vec::new();
            for job in jobs {
                for ext in ["service", "timer"] {
                    let file = job.template(ext);
                    if templates_done.contains(&file) {
                        continue;
                    }
                    let text = r.render(&format!("units/{file}.j2"), &minijinja::context! { lempctl => lempctl.clone(), root_arg => root_arg.clone() })?;
                    out.push(unit_file(dir.join(&file), text, job.timer()));
                    templates_done.push(file);
                }
                let drop_in = r.render("systemd/schedule.conf.j2", &minijinja::context! { unit => job.timer(), schedule => minijinja::value::Serde(&job.schedule) })?;
                out.push(unit_file(
                    dir.join(format!("{}.d/schedule.conf", job.timer())),
                    drop_in,
                    job.timer(),
                ));
                out.push(Resource::Link {
                    path: dir.join("timers.target.wants").join(job.timer()),
                    target: dir.join(job.template("timer")),
                    site: job.instance.clone(),
                    affects: Affects::Unit(job.timer()),
                });
            }
            if !jobs.is_empty() {
                // every job's OnFailure= unit: mails the failure once (`lempctl alert`)
                let text = r.render("units/lempctl-alert@.service.j2", &minijinja::context! { lempctl => lempctl.clone(), root_arg => root_arg.clone() })?;
                let file = "lempctl-alert@.service";
                // verified as an instance: a template alone is not a unit systemd loads
                let instance = "lempctl-alert@lempctl-apply.service.service";
                out.push(unit_file(dir.join(file), text, instance.to_owned()));
            }
        }
        Scheduler::Cron => {
            if jobs.is_empty() {
                return Ok(());
            }
            let lines: Vec<_> = jobs
                .iter()
                .map(|j| {
                    let name = j.timer();
                    let name = name.trim_end_matches(".timer");
                    let mut cmd = format!("{lempctl}{root_arg} --job {name} {}", j.args.join(" "));
                    if let Some(i) = &j.instance {
                        cmd.push(' ');
                        cmd.push_str(i);
                    }
                    minijinja::context! { unit => j.timer(), schedule => minijinja::value::Serde(&j.schedule), command => cmd }
                })
                .collect();
            let text = r.render("cron/lempctl.j2", &minijinja::context! { jobs => lines })?;
            out.push(Resource::File {
                path: g.paths.cron_file.clone(),
                contents: text.into_bytes(),
                perms: Perms::root(0o644),
                site: None,
                affects: Affects::Nothing,
            });
        }
    }
    Ok(())
}

fn unit_file(path: PathBuf, text: String, unit: String) -> Resource {
    Resource::File {
        path,
        contents: text.into_bytes(),
        perms: Perms::root(0o644),
        site: None,
        affects: Affects::Unit(unit),
    }
}
