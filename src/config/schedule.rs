//! Schedules: written in cron syntax (5 fields or `@hourly`-style), validated with the `cron`
//! crate, and translated to an equivalent systemd `OnCalendar=` expression, so one site file works
//! on hosts with and without systemd as PID 1.

use std::str::FromStr;

/// A validated schedule with both renderings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Schedule {
    /// Five-field cron expression (for `/etc/cron.d`).
    pub cron: String,
    /// The same schedule for systemd timers.
    pub on_calendar: String,
    /// The same schedule for the `cron` crate (seconds first), for the next run's time.
    #[serde(skip)]
    quartz: String,
}

pub const ALLOWED: &str = "a cron expression with 5 fields (`*/15 * * * *`, `30 2 * * 1-5`) or one of `@hourly`, `@daily`, `@weekly`, `@monthly`";

const DOW: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

impl Schedule {
    pub fn parse(input: &str) -> Result<Self, String> {
        let expr = match input.trim() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            other => other,
        };
        let fields: Vec<&str> = expr.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "`{input}` has {} fields; 5 are needed (minute hour day-of-month month day-of-week)",
                fields.len()
            ));
        }
        let minutes = expand(fields[0], 0, 59, "minute")?;
        let hours = expand(fields[1], 0, 23, "hour")?;
        let dom = expand(fields[2], 1, 31, "day of month")?;
        let months = expand(fields[3], 1, 12, "month")?;
        let dow = expand(fields[4], 0, 7, "day of week")?;
        let dow: Vec<u32> = {
            let mut d: Vec<u32> = dow.iter().map(|d| d % 7).collect();
            d.sort_unstable();
            d.dedup();
            d
        };
        // The cron crate (seconds first, Quartz days 1-7 from Sunday) checks the whole expression
        // and computes its next run, so it is not something no clock would ever reach.
        let quartz_dow = if fields[4] == "*" {
            "*".to_owned()
        } else {
            dow.iter()
                .map(|d| (d + 1).to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let quartz = format!(
            "0 {} {} {} {} {quartz_dow}",
            fields[0], fields[1], fields[2], fields[3]
        );
        let parsed = cron::Schedule::from_str(&quartz).map_err(|e| {
            format!(
                "`{input}` is not a valid cron expression: {}",
                e.to_string().lines().last().unwrap_or_default()
            )
        })?;
        if parsed.upcoming(chrono::Utc).next().is_none() {
            return Err(format!("`{input}` never runs"));
        }
        let dom_all = dom.len() == 31;
        let dow_all = dow.len() == 7;
        if !dom_all && !dow_all {
            return Err(format!(
                "`{input}` restricts both day of month and day of week; cron runs when either matches but systemd only when both do, so choose one"
            ));
        }
        let dow_part = if dow_all {
            String::new()
        } else {
            format!(
                "{} ",
                dow.iter()
                    .map(|d| DOW[*d as usize])
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        let on_calendar = format!(
            "{dow_part}*-{}-{} {}:{}:00",
            compact(&months, 1, 12, false),
            compact(&dom, 1, 31, false),
            compact(&hours, 0, 23, true),
            compact(&minutes, 0, 59, true)
        );
        Ok(Self {
            cron: fields.join(" "),
            on_calendar,
            quartz,
        })
    }

    /// Unix time of the first run after `after`, in the host's time zone as cron reads it.
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let parsed = cron::Schedule::from_str(&self.quartz).ok()?;
        let t = chrono::DateTime::from_timestamp(after, 0)?.with_timezone(&chrono::Local);
        parsed.after(&t).next().map(|n| n.timestamp())
    }
}

/// Expands one cron field into the sorted list of values it matches.
fn expand(field: &str, min: u32, max: u32, what: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .map_err(|_| format!("bad step `{s}` in the {what} field"))?,
            ),
            None => (part, 1),
        };
        if step == 0 {
            return Err(format!("step 0 in the {what} field"));
        }
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (num(a, what, min, max)?, num(b, what, min, max)?)
        } else {
            let v = num(range, what, min, max)?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo > hi {
            return Err(format!(
                "range `{range}` runs backwards in the {what} field"
            ));
        }
        out.extend((lo..=hi).step_by(step as usize));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn num(s: &str, what: &str, min: u32, max: u32) -> Result<u32, String> {
    let v = s.parse::<u32>().map_err(|_| format!("`{s}` is not a number in the {what} field (names like `mon` are not supported; use numbers)"))?;
    if v < min || v > max {
        return Err(format!(
            "{v} is out of range {min}-{max} in the {what} field"
        ));
    }
    Ok(v)
}

/// Renders values for systemd: `*`, `start/step`, or a comma list (zero-padded times).
fn compact(values: &[u32], min: u32, max: u32, pad: bool) -> String {
    let fmt = |v: u32| {
        if pad {
            format!("{v:02}")
        } else {
            v.to_string()
        }
    };
    if values.len() as u32 == max - min + 1 {
        return "*".into();
    }
    if values.len() >= 2 {
        let step = values[1] - values[0];
        let arithmetic = values.windows(2).all(|w| w[1] - w[0] == step);
        if arithmetic && values[values.len() - 1] + step > max {
            return format!("{}/{}", fmt(values[0]), step);
        }
    }
    values.iter().map(|v| fmt(*v)).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_run() {
        // 2026-12-02 10:07:00 UTC; the tests run with the machine's zone, so compare minutes
        let s = Schedule::parse("*/15 * * * *").unwrap();
        let next = s.next_after(1_796_206_020).unwrap();
        assert_eq!(next % 900, 0, "a quarter hour");
        assert!(next > 1_796_206_020 && next - 1_796_206_020 <= 900);
    }

    #[test]
    fn translates_cron_to_on_calendar() {
        let cases = [
            ("*/15 * * * *", "*-*-* *:00/15:00"),
            ("30 2 * * *", "*-*-* 02:30:00"),
            ("@hourly", "*-*-* *:00:00"),
            ("@daily", "*-*-* 00:00:00"),
            ("0 3 * * 1-5", "Mon,Tue,Wed,Thu,Fri *-*-* 03:00:00"),
            ("0 0 1 * *", "*-*-1 00:00:00"),
            ("5,35 */6 * * 0", "Sun *-*-* 00/6:05/30:00"),
        ];
        for (cron, cal) in cases {
            assert_eq!(Schedule::parse(cron).unwrap().on_calendar, cal, "{cron}");
        }
    }

    #[test]
    fn refuses_invalid_schedules() {
        for bad in [
            "* * *",
            "61 * * * *",
            "0 25 * * *",
            "0 0 1 * 1",
            "daily",
            "*/0 * * * *",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }
}
