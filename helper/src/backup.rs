//! `geowp-helper site backup`, `site restore`, and the last good backup in
//! `site status`: each a Job made from one of the stack's CronJobs (as
//! `kubectl create job --from=cronjob/NAME` makes it), so the pods are the
//! ones the provider renders and hardens, in the first region that
//! answers, with the helper's choice in one environment variable.

use std::time::Duration;

use kube::api::PatchParams;
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use geowp_common::error_chain;
use geowp_common::names::FIELD_MANAGER;
use geowp_kube::{Cluster, Obj, ObjRef};

use crate::sync::{connect_all, KubeTarget, SyncError};

/// The stack's backup CronJob and its restore template.
pub use geowp_stack::render::backup::{BACKUP, RESTORE};

/// A Job name from a prefix and the time (Job names are DNS labels).
fn stamp() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{t}")
}

/// The UTC time `secs` after the epoch as `YYYYMMDDTHHMMSSZ`.
pub fn utc_name(secs: u64) -> String {
    let (days, rem) = (secs / 86400, secs % 86400);
    // civil from days (Howard Hinnant's algorithm)
    let z = days as i64 + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The first region that answers and has `cron`: its member name, cluster
/// and the CronJob.
async fn first_with<'a>(
    t: &'a KubeTarget,
    cs: &'a [Cluster],
    cron: &str,
) -> Result<(&'a str, &'a Cluster, Value), SyncError> {
    let mut why = Vec::new();
    for ((name, _), c) in t.members.iter().zip(cs) {
        match c
            .get(&ObjRef::new("batch/v1", "CronJob", &t.namespace, cron))
            .await
        {
            Ok(Some(cj)) => return Ok((name, c, cj)),
            Ok(None) => why.push(format!(
                "{name}: no CronJob {cron} in namespace {} (is backup_repository set?)",
                t.namespace
            )),
            Err(e) => why.push(format!("{name}: {}", error_chain(&e))),
        }
    }
    Err(SyncError::Failed(format!(
        "no region can run it:\n  {}",
        why.join("\n  ")
    )))
}

async fn run_job(c: &Cluster, job: &Obj) -> Result<String, SyncError> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    c.run_job(job, &params)
        .await
        .map_err(|e| SyncError::Failed(error_chain(&e)))
}

/// `site backup`: a backup now, named `manual-<UTC time>` (or `name`).
pub async fn backup_now(
    t: &KubeTarget,
    name: Option<String>,
    wait: Duration,
    cancel: CancellationToken,
) -> Result<Vec<String>, SyncError> {
    let cs = connect_all(t, Instant::now() + wait, &cancel).await?;
    let (member, c, cron) = first_with(t, &cs, BACKUP).await?;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let run = name.unwrap_or_else(|| format!("manual-{}", utc_name(secs)));
    check_run(&run)?;
    let job = Obj::job_from_cronjob(
        &cron,
        &format!("{BACKUP}-{}", stamp()),
        &[("GEOWP_BACKUP_RUN", &run)],
    )
    .ok_or_else(|| SyncError::Failed(format!("CronJob {BACKUP} has no job template")))?;
    let log = run_job(c, &job).await?;
    let mut out = vec![format!("backup {run} made in region {member}")];
    out.extend(log.lines().map(String::from));
    Ok(out)
}

/// `site restore`: the named backup, or the latest, into the whole site.
pub async fn restore(
    t: &KubeTarget,
    backup: &str,
    wait: Duration,
    cancel: CancellationToken,
) -> Result<Vec<String>, SyncError> {
    if backup != "latest" {
        check_run(backup)?;
    }
    let cs = connect_all(t, Instant::now() + wait, &cancel).await?;
    let (member, c, cron) = first_with(t, &cs, RESTORE).await?;
    let job = Obj::job_from_cronjob(
        &cron,
        &format!("{RESTORE}-{}", stamp()),
        &[("GEOWP_RESTORE_RUN", backup)],
    )
    .ok_or_else(|| SyncError::Failed(format!("CronJob {RESTORE} has no job template")))?;
    let started = Instant::now();
    let log = run_job(c, &job).await.map_err(|e| {
        SyncError::Failed(format!(
            "{e}\nIf the restore stopped after putting WordPress in maintenance, run it again; to end the maintenance by hand, remove wp-content/uploads/.geowp-maintenance in any region (kubectl -n {} exec deploy/syncthing -- rm /var/syncthing/data/uploads/.geowp-maintenance).",
            t.namespace
        ))
    })?;
    let mut out: Vec<String> = log.lines().map(String::from).collect();
    out.push(format!(
        "restored in region {member} in {:.0?}; the other regions receive the files and the end of the maintenance through SyncThing within seconds, and cached pages refresh within page_cache_ttl",
        started.elapsed()
    ));
    Ok(out)
}

fn check_run(run: &str) -> Result<(), SyncError> {
    let ok = !run.is_empty()
        && run.len() <= 40
        && run.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(SyncError::Usage(format!(
            "{run:?} is not a backup name: letters, digits and '-', at most 40 (e.g. 20261207T0200Z or manual-20261207T021500Z)"
        )))
    }
}

/// The last good backup as `site status` shows it: (line, healthy).
pub async fn last_good(t: &KubeTarget, cs: &[Cluster]) -> (String, bool) {
    let (member, c, cron) = match first_with(t, cs, BACKUP).await {
        Ok(x) => x,
        Err(_) => return ("BACKUP  not configured (backup_repository)".into(), true),
    };
    let interval_h: u64 = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        ["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == "GEOWP_INTERVAL_HOURS")
        .and_then(|e| e["value"].as_str()?.parse().ok())
        .unwrap_or(1);
    let Some(job) = Obj::job_from_cronjob(
        &cron,
        &format!("{BACKUP}-status-{}", stamp()),
        &[("GEOWP_BACKUP_MODE", "status")],
    ) else {
        return ("BACKUP  the CronJob has no job template".into(), false);
    };
    let log = match run_job(c, &job).await {
        Ok(l) => l,
        Err(e) => return (format!("BACKUP  unknown (asked in {member}: {e})"), false),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let created = cron["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(parse_utc)
        .unwrap_or(0);
    judge(&log, now, created, interval_h, &t.namespace)
}

/// What the status Job printed, judged at `now` for backups every
/// `interval_h` hours that were turned on at `created`: the line, and
/// whether it is healthy (the last good backup no older than twice the
/// interval; none yet is healthy for that long after backups were turned
/// on).
pub fn judge(log: &str, now: u64, created: u64, interval_h: u64, ns: &str) -> (String, bool) {
    let limit = 2 * interval_h * 3600;
    let check = format!("check the geowp-backup Jobs (kubectl -n {ns} get jobs)");
    let line = log.lines().find(|l| l.starts_with("last-good-backup"));
    match line.and_then(|l| {
        let run = l.split("run=").nth(1)?.split(' ').next()?.to_string();
        let at = l.split("finished=").nth(1)?.trim().to_string();
        Some((run, at))
    }) {
        Some((run, at)) => {
            let age = parse_utc(&at).map(|s| now.saturating_sub(s));
            let ok = age.is_some_and(|a| a <= limit);
            let age_text = age
                .map(|a| format!("{}h{:02}m ago", a / 3600, a % 3600 / 60))
                .unwrap_or_else(|| "at an unreadable time".into());
            let warn = if ok {
                String::new()
            } else {
                format!("; older than twice the interval ({interval_h}h): {check}")
            };
            (
                format!("BACKUP  last good {run}, finished {at} ({age_text}){warn}"),
                ok,
            )
        }
        None if line.is_some() && now.saturating_sub(created) <= limit => (
            format!("BACKUP  none yet (the first is due within {interval_h}h of the schedule)"),
            true,
        ),
        None if line.is_some() => (
            format!("BACKUP  none, though backups have been on for more than twice the interval ({interval_h}h): {check}"),
            false,
        ),
        None => (
            format!("BACKUP  unknown: the status Job printed no last-good-backup line: {check}"),
            false,
        ),
    }
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SSZ`.
pub fn parse_utc(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if s.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hh, mm, ss) = (n(11..13)?, n(14..16)?, n(17..19)?);
    // days from civil (Howard Hinnant's algorithm)
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    u64::try_from(days * 86400 + hh * 3600 + mm * 60 + ss).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_good_backup_is_judged_against_twice_the_interval() {
        let at = parse_utc("2026-12-07T02:17:40Z").unwrap();
        let log = "geowp-backup: ...\nlast-good-backup run=20261207T0200Z finished=2026-12-07T02:17:40Z\n";
        let (line, ok) = judge(log, at + 3600, 0, 1, "geowp");
        assert!(ok, "{line}");
        assert!(
            line.contains("last good 20261207T0200Z") && line.contains("1h00m ago"),
            "{line}"
        );
        // just within twice the interval, and just past it
        assert!(judge(log, at + 2 * 3600, 0, 1, "geowp").1);
        let (line, ok) = judge(log, at + 2 * 3600 + 1, 0, 1, "geowp");
        assert!(!ok);
        assert!(
            line.contains("older than twice the interval (1h)"),
            "{line}"
        );
        // a six-hourly schedule allows twelve hours
        assert!(judge(log, at + 12 * 3600, 0, 6, "geowp").1);
        // none yet: fine right after backups were turned on, not later
        let none = "last-good-backup none\n";
        assert!(judge(none, at + 60, at, 1, "geowp").1);
        let (line, ok) = judge(none, at + 3 * 3600, at, 1, "geowp");
        assert!(
            !ok && line.contains("more than twice the interval"),
            "{line}"
        );
        // a Job that printed nothing useful is not taken for good news
        assert!(!judge("error: cannot connect\n", at, at, 1, "geowp").1);
    }

    #[test]
    fn times_round_trip_and_names_are_checked() {
        assert_eq!(utc_name(0), "19700101T000000Z");
        assert_eq!(utc_name(1_796_608_800), "20261207T020000Z");
        assert_eq!(parse_utc("2026-12-07T02:00:00Z"), Some(1_796_608_800));
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_utc("2024-02-29T12:30:15Z"), Some(1_709_209_815));
        assert_eq!(parse_utc("not a time"), None);
        assert!(check_run("manual-20261207T021500Z").is_ok());
        assert!(check_run("20261207T0200Z").is_ok());
        assert!(check_run("x'; DROP TABLE wp_posts; --").is_err());
        assert!(check_run("").is_err());
    }
}
