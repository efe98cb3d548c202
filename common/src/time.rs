//! Calendar dates from Unix time, the one place they are computed (log
//! timestamps, fake API server timestamps, certificate expiry in status).
//! UTC only, proleptic Gregorian, from Howard Hinnant's civil-from-days.

use std::time::{SystemTime, UNIX_EPOCH};

/// (year, month, day) of a day count since 1970-01-01.
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Seconds since the epoch, now (0 if the clock is before it).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `YYYY-MM-DD` of a Unix time.
pub fn date(unix: i64) -> String {
    let (y, m, d) = civil(unix.div_euclid(86400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// RFC 3339 in UTC to the second, `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(unix: i64) -> String {
    let secs = unix.rem_euclid(86400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date(unix),
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_798_675_200), "2026-12-31");
        assert_eq!(rfc3339(1_798_675_200 + 3723), "2026-12-31T01:02:03Z");
        assert_eq!(civil(-1), (1969, 12, 31));
    }
}
