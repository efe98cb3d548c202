//! Kubernetes resource quantities (`500m`, `1.5Gi`, `2e3`) as the API
//! server reads and writes them: parsed exactly (no floating point), and
//! printed in the canonical form the server stores and returns, so that
//! `1024Mi` written is `1Gi` read back.
//!
//! The rules follow kubernetes/apimachinery `pkg/api/resource`:
//! `ParseQuantity` (quantity.go) for the grammar and for rounding up to the
//! nano scale; `CanonicalizeBytes` (quantity.go) for the choice of format:
//! a binary-suffixed value strictly between -1024 and 1024, or one that is
//! not a whole number, is printed with decimal suffixes; `AsCanonicalBytes`
//! (amount.go) for the decimal mantissa, trailing zeros taken out and the
//! exponent brought to a multiple of three; `AsCanonicalBase1024Bytes`
//! (amount.go) for the binary one; suffix.go for the suffix names.
//!
//! Values are kept as a count of nano-units in an `i128`, which holds every
//! quantity up to about 10^29; larger ones are reported as not parsed
//! (callers then keep the text as it was).

use std::cmp::Ordering;

/// How a quantity was written, which decides how it is printed back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `Ki`, `Mi`, ... `Ei`
    BinarySi,
    /// no suffix or `n`, `u`, `m`, `k`, `M`, `G`, `T`, `P`, `E`
    DecimalSi,
    /// `e3`, `E-2`, ...
    DecimalExponent,
}

/// A parsed quantity: its value in nano-units and the format it was written in.
#[derive(Clone, Copy, Debug)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

const NANO: i128 = 1_000_000_000;

impl PartialEq for Quantity {
    /// Equal values are equal quantities, whatever the format (`1Gi` = `1024Mi`).
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

fn pow(base: i128, exp: u32) -> Option<i128> {
    base.checked_pow(exp)
}

impl Quantity {
    /// Parses `s` as the API server does; None when it is not a quantity (or
    /// is too large for this representation).
    pub fn parse(s: &str) -> Option<Quantity> {
        let (negative, rest) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let int_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int, rest) = rest.split_at(int_end);
        let (frac, suffix) = match rest.strip_prefix('.') {
            Some(r) => {
                let e = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
                r.split_at(e)
            }
            None => ("", rest),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        // the value is (int.frac) * base^exp
        let (format, base, exp): (Format, i128, i32) = match suffix {
            "Ki" => (Format::BinarySi, 2, 10),
            "Mi" => (Format::BinarySi, 2, 20),
            "Gi" => (Format::BinarySi, 2, 30),
            "Ti" => (Format::BinarySi, 2, 40),
            "Pi" => (Format::BinarySi, 2, 50),
            "Ei" => (Format::BinarySi, 2, 60),
            "n" => (Format::DecimalSi, 10, -9),
            "u" => (Format::DecimalSi, 10, -6),
            "m" => (Format::DecimalSi, 10, -3),
            "" => (Format::DecimalSi, 10, 0),
            "k" => (Format::DecimalSi, 10, 3),
            "M" => (Format::DecimalSi, 10, 6),
            "G" => (Format::DecimalSi, 10, 9),
            "T" => (Format::DecimalSi, 10, 12),
            "P" => (Format::DecimalSi, 10, 15),
            "E" => (Format::DecimalSi, 10, 18),
            e if e.starts_with(['e', 'E']) => {
                let n = &e[1..];
                let digits = n.strip_prefix(['-', '+']).unwrap_or(n);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                (Format::DecimalExponent, 10, n.parse().ok()?)
            }
            _ => return None,
        };
        // digits as one integer, scaled by 10^-frac.len()
        let digits: String = format!("{int}{frac}");
        let digits = digits.trim_start_matches('0');
        if digits.len() > 36 {
            return None;
        }
        let mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        let frac_len = frac.len() as i32;
        // nanos = mantissa * base^exp * 10^(9 - frac_len), rounded up
        let (mut num, mut den) = (mantissa, 1i128);
        if base == 2 {
            num = num.checked_mul(pow(2, exp as u32)?)?;
        } else if exp >= 0 {
            num = num.checked_mul(pow(10, exp as u32)?)?;
        } else {
            den = den.checked_mul(pow(10, (-exp) as u32)?)?;
        }
        let shift = 9 - frac_len;
        if shift >= 0 {
            num = num.checked_mul(pow(10, shift as u32)?)?;
        } else {
            den = den.checked_mul(pow(10, (-shift) as u32)?)?;
        }
        // finer than a nano-unit: rounded up, away from zero (ParseQuantity)
        let mut nanos = num / den + i128::from(num % den != 0);
        if negative {
            nanos = -nanos;
        }
        Some(Quantity { nanos, format })
    }

    /// The format the quantity was written in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Its value in base units, as a float (for display and rough sums).
    pub fn as_f64(&self) -> f64 {
        self.nanos as f64 / NANO as f64
    }

    /// The text the API server stores and returns for this quantity.
    pub fn canonical(&self) -> String {
        if self.nanos == 0 {
            return "0".into();
        }
        let mut format = self.format;
        if format == Format::BinarySi && (self.nanos.abs() < 1024 * NANO || self.nanos % NANO != 0)
        {
            format = Format::DecimalSi;
        }
        if format == Format::BinarySi {
            let mut v = self.nanos / NANO;
            let mut k = 0;
            while k < 6 && v % 1024 == 0 {
                v /= 1024;
                k += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][k];
            return format!("{v}{suffix}");
        }
        let (mut m, mut e) = (self.nanos, -9i32);
        while m % 10 == 0 {
            m /= 10;
            e += 1;
        }
        match e.rem_euclid(3) {
            1 => {
                m *= 10;
                e -= 1;
            }
            2 => {
                m *= 100;
                e -= 2;
            }
            _ => {}
        }
        let suffix = match (format, e) {
            (_, 0) => String::new(),
            (Format::DecimalSi, -9) => "n".into(),
            (Format::DecimalSi, -6) => "u".into(),
            (Format::DecimalSi, -3) => "m".into(),
            (Format::DecimalSi, 3) => "k".into(),
            (Format::DecimalSi, 6) => "M".into(),
            (Format::DecimalSi, 9) => "G".into(),
            (Format::DecimalSi, 12) => "T".into(),
            (Format::DecimalSi, 15) => "P".into(),
            (Format::DecimalSi, 18) => "E".into(),
            (_, e) => format!("e{e}"),
        };
        format!("{m}{suffix}")
    }
}

/// `s` in canonical form, or `s` itself when it is not a quantity.
pub fn canonical(s: &str) -> String {
    Quantity::parse(s).map_or_else(|| s.to_string(), |q| q.canonical())
}

/// Whether two texts are the same quantity (`1Gi` and `1024Mi`); texts that
/// are not quantities are compared as text.
pub fn same(a: &str, b: &str) -> bool {
    match (Quantity::parse(a), Quantity::parse(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn canonical_forms_are_the_api_servers() {
        // each pair: what a user writes, what kubectl get -o yaml shows
        for (given, want) in [
            ("1024Mi", "1Gi"),
            ("0.5", "500m"),
            ("1000m", "1"),
            ("1.5Gi", "1536Mi"),
            ("2000", "2k"),
            ("1e3", "1e3"),
            ("1E3", "1e3"),
            ("0.5Gi", "512Mi"),
            ("512Ki", "512Ki"),
            ("1.5", "1500m"),
            ("100M", "100M"),
            ("1.5Ki", "1536"),
            ("0.5Ki", "512"),
            ("1Ki", "1Ki"),
            ("10Gi", "10Gi"),
            ("0", "0"),
            ("0Gi", "0"),
            ("+2", "2"),
            ("-1500m", "-1500m"),
            ("12e6", "12e6"),
            ("0.1Gi", "107374182400m"),
            ("0.000000001", "1n"),
            ("0.0000000001", "1n"),
            ("4096", "4096"),
            ("8", "8"),
            ("256Mi", "256Mi"),
            ("64Mi", "64Mi"),
        ] {
            assert_eq!(canonical(given), want, "{given}");
        }
    }

    #[test]
    fn not_quantities() {
        for bad in [
            "", "Gi", "1 Gi", "1.2.3", "1gi", "1e", "1ee3", ".", "lots", "1Mib",
        ] {
            assert!(Quantity::parse(bad).is_none(), "{bad}");
            assert_eq!(canonical(bad), bad);
        }
    }

    #[test]
    fn equal_values_are_the_same_quantity() {
        assert!(same("1Gi", "1024Mi"));
        assert!(same("0.5", "500m"));
        assert!(!same("1G", "1Gi"));
        assert!(Quantity::parse("1536Mi") > Quantity::parse("1Gi"));
    }

    proptest! {
        // printing is a fixed point, and keeps the value
        #[test]
        fn canonical_is_stable(n in 0u64..1_000_000_000, frac in 0u32..1000, s in 0usize..12) {
            let suffix = ["", "Ki", "Mi", "Gi", "m", "k", "M", "G", "e3", "e-2", "n", "u"][s];
            let text = format!("{n}.{frac:03}{suffix}");
            let q = Quantity::parse(&text).unwrap();
            let c = q.canonical();
            let back = Quantity::parse(&c).unwrap();
            prop_assert_eq!(back, q, "{} -> {}", text, c);
            prop_assert_eq!(back.canonical(), c);
        }
    }
}
