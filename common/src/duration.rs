//! Durations in Go's grammar (`time.ParseDuration`), which Terraform's
//! `timeouts` blocks and Kubernetes tools use: a sequence of decimal numbers,
//! each with a unit (`ns`, `us` or `µs`, `ms`, `s`, `m`, `h`), such as `90s`,
//! `1h30m` or `1.5s`. A bare `0` is zero, as in Go. Negative durations are
//! refused: nothing in geowp waits for a negative time.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("{0:?} is negative")]
    Negative(String),
    #[error("{input:?} is not a duration: expected a number at {at:?}")]
    ExpectedNumber { input: String, at: String },
    #[error("{0:?} is missing a unit (h, m, s or ms)")]
    MissingUnit(String),
    #[error("{input:?} has an unknown unit {unit:?} (use h, m, s, ms, us or ns)")]
    UnknownUnit { input: String, unit: String },
    #[error("{0:?} is too long")]
    Overflow(String),
}

/// Parses a Go duration.
///
/// # Errors
/// Empty, negative, malformed, unit-less (other than `0`) or overflowing
/// input; the error says which.
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s.starts_with('-') {
        return Err(DurationError::Negative(s.into()));
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        let n: f64 = match num.parse() {
            Ok(n) if !num.is_empty() && num != "." => n,
            _ => {
                return Err(DurationError::ExpectedNumber {
                    input: s.into(),
                    at: rest.into(),
                })
            }
        };
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(DurationError::MissingUnit(s.into())),
            u => {
                return Err(DurationError::UnknownUnit {
                    input: s.into(),
                    unit: u.into(),
                })
            }
        };
        total += n * nanos_per;
        rest = &rest[unit_end..];
    }
    // Go's limit: about 290 years in nanoseconds
    if !total.is_finite() || total > i64::MAX as f64 {
        return Err(DurationError::Overflow(s.into()));
    }
    Ok(Duration::from_nanos(total as u64))
}

/// The shortest Go form of whole seconds (`90s` is `1m30s`); below a second,
/// milliseconds (`250ms`).
pub fn format(d: Duration) -> String {
    let secs = d.as_secs();
    if d.is_zero() {
        return "0s".into();
    }
    if secs == 0 {
        let ms = d.subsec_millis();
        return if ms == 0 {
            format!("{}ns", d.subsec_nanos())
        } else {
            format!("{ms}ms")
        };
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_like_go() {
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("45s").unwrap(), Duration::from_secs(45));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
        assert_eq!(parse("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse("2us").unwrap(), Duration::from_micros(2));
        assert!(matches!(parse("10"), Err(DurationError::MissingUnit(_))));
        assert!(matches!(
            parse("5d"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(parse("-1s"), Err(DurationError::Negative(_))));
        assert!(matches!(parse(""), Err(DurationError::Empty)));
        assert!(matches!(
            parse("s"),
            Err(DurationError::ExpectedNumber { .. })
        ));
        assert!(matches!(
            parse("1.2.3s"),
            Err(DurationError::ExpectedNumber { .. })
        ));
        assert!(matches!(
            parse("99999999999h"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn formats_briefly() {
        assert_eq!(format(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
        assert_eq!(format(Duration::from_secs(3600)), "1h");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
        assert_eq!(format(Duration::from_millis(10)), "10ms");
        assert_eq!(format(Duration::ZERO), "0s");
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,24}") {
            let _ = parse(&s);
        }

        #[test]
        fn whole_seconds_round_trip(secs in 0u64..10_000_000) {
            let d = Duration::from_secs(secs);
            prop_assert_eq!(parse(&format(d)).unwrap(), d);
        }
    }
}
