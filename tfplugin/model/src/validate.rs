//! Validators attached to schema attributes, and the walk that runs them.
//!
//! A [`Validator`] is declared once, on the attribute it checks, with a
//! short stable summary ("Invalid member name") and a check that explains
//! what is wrong and what to do. [`validate_block`] walks a config value
//! along its schema and runs every validator on every known, non-null
//! value, giving each problem its full attribute path, map keys included
//! (`members["eu-west"].pd_client_url`). Unknown values are skipped: they
//! are checked once known (the typed adapter validates the planned value
//! again before an apply acts on it).

use std::fmt;
use std::sync::Arc;

use crate::diag::{AttrPath, Diagnostics};
use crate::schema::{AttrType, Attribute, Block, NestedBlock, Nesting};
use crate::value::Value;

type Check = dyn Fn(&Value) -> Result<(), String> + Send + Sync;

/// One check of an attribute's value.
#[derive(Clone)]
pub struct Validator {
    /// Short and stable: what is wrong ("Invalid member name").
    pub summary: String,
    /// For the docs: what the value must be ("a DNS label").
    pub describes: String,
    check: Arc<Check>,
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Validator({})", self.describes)
    }
}

impl PartialEq for Validator {
    fn eq(&self, other: &Validator) -> bool {
        self.summary == other.summary && self.describes == other.describes
    }
}

impl Validator {
    /// A check over the attribute's value, called only when it is known and
    /// not null; `Err` carries the detail (what is wrong, what to do).
    pub fn new(
        summary: &str,
        describes: &str,
        check: impl Fn(&Value) -> Result<(), String> + Send + Sync + 'static,
    ) -> Validator {
        Validator {
            summary: summary.into(),
            describes: describes.into(),
            check: Arc::new(check),
        }
    }

    /// A check of a string value.
    pub fn string(
        summary: &str,
        describes: &str,
        check: impl Fn(&str) -> Result<(), String> + Send + Sync + 'static,
    ) -> Validator {
        Validator::new(summary, describes, move |v| match v.as_str() {
            Some(s) => check(s),
            None => Ok(()),
        })
    }

    /// A check of a whole-number value.
    pub fn int(
        summary: &str,
        describes: &str,
        check: impl Fn(i64) -> Result<(), String> + Send + Sync + 'static,
    ) -> Validator {
        Validator::new(summary, describes, move |v| match v {
            Value::Number(n) => match n.as_i64() {
                Some(i) => check(i),
                None => Err(format!("{n} is not a whole number")),
            },
            _ => Ok(()),
        })
    }

    /// This validator applied to every known element of a list, set or map.
    pub fn each(self) -> Validator {
        let inner = self.check.clone();
        Validator {
            describes: format!("each element: {}", self.describes),
            summary: self.summary,
            check: Arc::new(move |v: &Value| {
                let items: Vec<(&Value, String)> = match v {
                    Value::List(l) => l
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (x, format!("element {i}")))
                        .collect(),
                    Value::Map(m) => m.iter().map(|(k, x)| (x, format!("{k:?}"))).collect(),
                    _ => vec![],
                };
                for (x, at) in items {
                    if x.is_known() && !x.is_null() {
                        inner(x).map_err(|e| format!("{at}: {e}"))?;
                    }
                }
                Ok(())
            }),
        }
    }

    /// Runs the check.
    pub fn check(&self, v: &Value) -> Result<(), String> {
        (self.check)(v)
    }
}

/// A whole number from `lo` to `hi`.
pub fn int_between(lo: i64, hi: i64) -> Validator {
    Validator::int("Out of range", &format!("from {lo} to {hi}"), move |i| {
        if (lo..=hi).contains(&i) {
            Ok(())
        } else {
            Err(format!("{i} is not from {lo} to {hi}."))
        }
    })
}

/// One of the given strings.
pub fn one_of(allowed: &'static [&'static str]) -> Validator {
    Validator::string(
        "Invalid value",
        &format!("one of {}", allowed.join(", ")),
        move |s| {
            if allowed.contains(&s) {
                Ok(())
            } else {
                Err(format!("{s:?} must be one of {}.", allowed.join(", ")))
            }
        },
    )
}

/// At least `n` elements (of a known collection).
pub fn min_items(n: usize, why: &'static str) -> Validator {
    Validator::new(
        "Too few elements",
        &format!("at least {n} elements"),
        move |v| {
            let len = match v {
                Value::List(l) => l.len(),
                Value::Map(m) => m.len(),
                _ => return Ok(()),
            };
            if len < n {
                Err(format!("{len} given, at least {n} needed: {why}"))
            } else {
                Ok(())
            }
        },
    )
}

fn run(a: &Attribute, v: &Value, path: &AttrPath, d: &mut Diagnostics) {
    if !v.is_known() || v.is_null() {
        return;
    }
    for val in &a.validators {
        if let Err(detail) = val.check(v) {
            d.error_at(path.clone(), val.summary.clone(), detail);
        }
    }
    if let AttrType::Nested(n) = &a.ty {
        nested(&n.attributes, &[], n.nesting, v, path, d);
    }
}

fn object(
    attrs: &[Attribute],
    blocks: &[NestedBlock],
    v: &Value,
    path: &AttrPath,
    d: &mut Diagnostics,
) {
    if !v.is_known() || v.is_null() {
        return;
    }
    for a in attrs {
        run(a, v.get(&a.name), &path.clone().attr(&a.name), d);
    }
    for b in blocks {
        let p = path.clone().attr(&b.name);
        let bv = v.get(&b.name);
        for val in &b.validators {
            if bv.is_known() && !bv.is_null() {
                if let Err(detail) = val.check(bv) {
                    d.error_at(p.clone(), val.summary.clone(), detail);
                }
            }
        }
        nested(&b.block.attributes, &b.block.blocks, b.nesting, bv, &p, d);
    }
}

fn nested(
    attrs: &[Attribute],
    blocks: &[NestedBlock],
    nesting: Nesting,
    v: &Value,
    path: &AttrPath,
    d: &mut Diagnostics,
) {
    match (nesting, v) {
        (Nesting::Single | Nesting::Group, _) => object(attrs, blocks, v, path, d),
        (Nesting::Map, Value::Map(m)) => {
            for (k, x) in m {
                object(attrs, blocks, x, &path.clone().key(k), d);
            }
        }
        (Nesting::List | Nesting::Set, Value::List(l)) => {
            for (i, x) in l.iter().enumerate() {
                object(attrs, blocks, x, &path.clone().index(i), d);
            }
        }
        _ => {}
    }
}

/// Runs every validator of `block` over `v` (a config or planned value),
/// reporting each problem at its attribute path.
pub fn validate_block(block: &Block, v: &Value, d: &mut Diagnostics) {
    object(&block.attributes, &block.blocks, v, &AttrPath::default(), d);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Attribute;
    use crate::value::Type;

    fn dns() -> Validator {
        Validator::string("Invalid name", "a DNS label", |s| {
            if s.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                Ok(())
            } else {
                Err(format!("{s:?} is not a DNS label."))
            }
        })
    }

    #[test]
    fn problems_carry_full_paths_and_unknowns_are_skipped() {
        let member = vec![
            Attribute::required("address", Type::String, "a").validate(dns()),
            Attribute::optional("port", Type::Number, "p").validate(int_between(1, 10)),
        ];
        let block = Block::new("b")
            .attr(Attribute::required("name", Type::String, "n").validate(dns()))
            .attr(Attribute::required("members", Type::String, "m").nested(Nesting::Map, member))
            .attr(
                Attribute::optional("tags", Type::list(Type::String), "t").validate(dns().each()),
            );
        let v = Value::object([
            ("name", Value::str("Bad")),
            (
                "members",
                Value::object([
                    (
                        "eu-west",
                        Value::object([("address", Value::str("X_Y")), ("port", Value::int(11))]),
                    ),
                    (
                        "us",
                        Value::object([("address", Value::Unknown), ("port", Value::Unknown)]),
                    ),
                ]),
            ),
            (
                "tags",
                Value::List(vec![Value::str("ok"), Value::Unknown, Value::str("NO")]),
            ),
        ]);
        let mut d = Diagnostics::new();
        validate_block(&block, &v, &mut d);
        let got: Vec<String> =
            d.0.iter()
                .map(|x| format!("{} {}", x.path.as_ref().unwrap(), x.summary))
                .collect();
        assert_eq!(
            got,
            vec![
                "name Invalid name",
                "members[\"eu-west\"].address Invalid name",
                "members[\"eu-west\"].port Out of range",
                "tags Invalid name",
            ]
        );
        assert!(d.0[3].detail.contains("element 2"), "{}", d.0[3].detail);
    }

    #[test]
    fn whole_numbers_and_choices() {
        assert!(int_between(1, 3).check(&Value::int(2)).is_ok());
        let frac = Value::Number(crate::value::Number::Float(1.5));
        assert!(int_between(1, 3)
            .check(&frac)
            .unwrap_err()
            .contains("whole"));
        let v = one_of(&["ClusterIP", "NodePort"]);
        assert!(v
            .check(&Value::str("LoadBalancer"))
            .unwrap_err()
            .contains("ClusterIP, NodePort"));
        assert!(min_items(3, "quorum")
            .check(&Value::object([("a", Value::Null)]))
            .is_err());
    }
}
