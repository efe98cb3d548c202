//! Plan helpers every resource needs: the default planned state (computed
//! attributes unknown when something changed, or kept from state when the
//! resource says so), requires-replace, the `timeouts` block and private
//! state.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::diag::AttrPath;
use crate::schema::{Attribute, Block, NestedBlock, Nesting, Schema};
use crate::value::{Type, Value};

/// How a resource's plan is derived from config and prior state.
#[derive(Clone, Debug, Default)]
pub struct PlanRules {
    /// Top-level attributes whose change forces a new resource.
    pub requires_replace: Vec<&'static str>,
    /// Computed attributes that keep their state value on update instead of
    /// becoming "known after apply" (ids, creation times, ...).
    pub keep_state_when_unknown: Vec<&'static str>,
}

/// The result of planning: the planned state and the paths forcing replacement.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub state: Value,
    pub requires_replace: Vec<AttrPath>,
}

/// Derives the planned state from Terraform's proposed new state.
///
/// Terraform's proposal already carries prior values for computed attributes
/// the config leaves unset. Attributes with a schema default take it when the
/// config leaves them out (inside nested attributes too). Other computed
/// attributes become unknown on create, and on update when a configurable
/// attribute changes, except those marked `use_state_for_unknown` (or listed
/// in `rules.keep_state_when_unknown`). Attributes and blocks marked
/// `requires_replace` (or listed in `rules.requires_replace`) force a new
/// resource when they change.
pub fn plan_change(
    schema: &Schema,
    rules: &PlanRules,
    prior: &Value,
    proposed: &Value,
    config: &Value,
) -> Planned {
    if proposed.is_null() {
        return Planned {
            state: Value::Null,
            requires_replace: vec![],
        };
    }
    let mut planned = proposed.clone();
    let block = &schema.block;
    apply_defaults(&block.attributes, config, &mut planned);
    let creating = prior.is_null();
    let changed = !creating && configurable_differs(block, prior, &planned);
    for a in block
        .attributes
        .iter()
        .filter(|a| a.computed && a.default.is_none())
    {
        if !config.get(&a.name).is_null() {
            continue;
        }
        if creating {
            planned.set(&a.name, Value::Unknown);
        } else if changed {
            let keep =
                a.use_state_for_unknown || rules.keep_state_when_unknown.contains(&a.name.as_str());
            if keep {
                planned.set(&a.name, prior.get(&a.name).clone());
            } else {
                planned.set(&a.name, Value::Unknown);
            }
        }
    }
    let mut requires_replace = Vec::new();
    if !creating {
        let flagged = block
            .attributes
            .iter()
            .filter(|a| a.requires_replace)
            .map(|a| a.name.as_str())
            .chain(
                block
                    .blocks
                    .iter()
                    .filter(|b| b.requires_replace)
                    .map(|b| b.name.as_str()),
            )
            .chain(rules.requires_replace.iter().copied());
        let mut seen = std::collections::BTreeSet::new();
        for name in flagged {
            if seen.insert(name) && !same(prior.get(name), planned.get(name)) {
                requires_replace.push(AttrPath::root(name));
            }
        }
    }
    Planned {
        state: planned,
        requires_replace,
    }
}

/// Puts each attribute's default into `planned` where `config` leaves it
/// out, recursing into nested attributes (objects, maps and lists of them).
fn apply_defaults(attrs: &[Attribute], config: &Value, planned: &mut Value) {
    for a in attrs {
        let cv = config.get(&a.name);
        if let (Some(d), true) = (&a.default, cv.is_null()) {
            planned.set(&a.name, d.clone());
            continue;
        }
        let crate::schema::AttrType::Nested(n) = &a.ty else {
            continue;
        };
        let Some(pv) = planned.get_mut(&a.name) else {
            continue;
        };
        match (n.nesting, pv) {
            (Nesting::Single | Nesting::Group, pv @ Value::Map(_)) => {
                apply_defaults(&n.attributes, cv, pv)
            }
            (Nesting::Map, Value::Map(items)) => {
                for (k, item) in items.iter_mut() {
                    apply_defaults(&n.attributes, cv.get(k), item);
                }
            }
            (Nesting::List | Nesting::Set, Value::List(items)) => {
                let cl = cv.as_list().unwrap_or(&[]);
                for (i, item) in items.iter_mut().enumerate() {
                    apply_defaults(&n.attributes, cl.get(i).unwrap_or(&Value::Null), item);
                }
            }
            _ => {}
        }
    }
}

/// Equal, counting a null collection and an empty one as the same:
/// Terraform 1.0's `ignore_changes` turns unset maps into empty ones, which
/// must not plan a replacement.
fn same(a: &Value, b: &Value) -> bool {
    let empty = |v: &Value| {
        v.is_null()
            || v.as_map().is_some_and(|m| m.is_empty())
            || v.as_list().is_some_and(|l| l.is_empty())
    };
    a == b || (empty(a) && empty(b))
}

fn configurable_differs(block: &Block, prior: &Value, proposed: &Value) -> bool {
    let attrs = block
        .attributes
        .iter()
        .filter(|a| a.required || a.optional)
        .map(|a| a.name.as_str());
    let blocks = block.blocks.iter().map(|b| b.name.as_str());
    attrs
        .chain(blocks)
        .any(|n| !same(prior.get(n), proposed.get(n)))
}

// ------------------------------------------------------------ timeouts

/// Which operations a `timeouts` block offers, with their defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeoutDefaults {
    pub create: Duration,
    pub update: Duration,
    pub delete: Duration,
}

pub const TIMEOUTS: &str = "timeouts";

/// The `timeouts { create = "20m" ... }` block, documented with its defaults.
pub fn timeouts_block(d: TimeoutDefaults) -> NestedBlock {
    let attr = |op: &str, dur: Duration| {
        Attribute::optional(
            op,
            Type::String,
            &format!(
                "How long {op} may take before it fails, as a duration such as `30s`, `10m` or `1h30m` (more than zero, at most 30 days). Default `{}`.",
                fmt_duration(dur)
            ),
        )
        .validate(crate::validate::Validator::string(
            "Invalid duration",
            "a duration such as 30s, 10m or 1h30m",
            |s| {
                parse_timeout(s).map(|_| ()).map_err(|e| {
                    format!("{e}. Write a duration such as \"30s\", \"10m\" or \"1h30m\".")
                })
            },
        ))
    };
    NestedBlock::new(
        TIMEOUTS,
        Nesting::Single,
        Block::new("Time limits for the operations of this resource.")
            .attr(attr("create", d.create))
            .attr(attr("update", d.update))
            .attr(attr("delete", d.delete)),
    )
}

/// Effective timeouts from a config/plan/state value holding a `timeouts` block.
pub fn timeouts(v: &Value, d: TimeoutDefaults) -> TimeoutDefaults {
    let t = v.get(TIMEOUTS);
    let get = |op: &str, dflt: Duration| {
        t.get(op)
            .as_str()
            .and_then(|s| parse_timeout(s).ok())
            .unwrap_or(dflt)
    };
    TimeoutDefaults {
        create: get("create", d.create),
        update: get("update", d.update),
        delete: get("delete", d.delete),
    }
}

/// A timeout: a duration in Go's grammar (see [`geowp_common::duration`]),
/// more than zero and at most 30 days.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = geowp_common::duration::parse(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err(format!("{s:?} is zero: nothing could finish in no time"));
    }
    if d > Duration::from_secs(30 * 24 * 3600) {
        return Err(format!("{s:?} is longer than 30 days"));
    }
    Ok(d)
}

pub use geowp_common::duration::format as fmt_duration;

// ------------------------------------------------------------ private state

/// Provider-private data Terraform stores next to a resource's state but
/// never shows: a small string map, JSON on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Private(pub BTreeMap<String, String>);

impl Private {
    pub fn decode(b: &[u8]) -> Private {
        if b.is_empty() {
            return Private::default();
        }
        Private(serde_json::from_slice(b).unwrap_or_default())
    }
    pub fn encode(&self) -> Vec<u8> {
        if self.0.is_empty() {
            return Vec::new();
        }
        serde_json::to_vec(&self.0).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema::new(
            0,
            Block::new("t")
                .attr(Attribute::computed("id", Type::String, "id"))
                .attr(Attribute::computed("etag", Type::String, "etag"))
                .attr(Attribute::required("name", Type::String, "name"))
                .attr(Attribute::optional("size", Type::Number, "size"))
                .block(timeouts_block(DEFAULTS)),
        )
    }
    const DEFAULTS: TimeoutDefaults = TimeoutDefaults {
        create: Duration::from_secs(600),
        update: Duration::from_secs(600),
        delete: Duration::from_secs(300),
    };
    fn rules() -> PlanRules {
        PlanRules {
            requires_replace: vec!["name"],
            keep_state_when_unknown: vec!["id"],
        }
    }
    fn obj(id: Value, etag: Value, name: &str, size: i64) -> Value {
        Value::object([
            ("id", id),
            ("etag", etag),
            ("name", Value::str(name)),
            ("size", Value::int(size)),
            ("timeouts", Value::Null),
        ])
    }

    #[test]
    fn create_marks_computed_unknown() {
        let cfg = obj(Value::Null, Value::Null, "a", 1);
        let p = plan_change(&schema(), &rules(), &Value::Null, &cfg, &cfg);
        assert_eq!(p.state.get("id"), &Value::Unknown);
        assert_eq!(p.state.get("etag"), &Value::Unknown);
        assert!(p.requires_replace.is_empty());
    }

    #[test]
    fn a_null_map_turned_empty_is_no_change() {
        // what Terraform 1.0's ignore_changes does to an unset map
        assert!(same(&Value::Null, &Value::Map(Default::default())));
        assert!(same(&Value::Null, &Value::List(vec![])));
        assert!(!same(&Value::Null, &Value::str("")));
        assert!(!same(&Value::Null, &Value::List(vec![Value::str("a")])));
    }

    #[test]
    fn no_change_keeps_everything() {
        let prior = obj(Value::str("x"), Value::str("e1"), "a", 1);
        let cfg = obj(Value::Null, Value::Null, "a", 1);
        let p = plan_change(&schema(), &rules(), &prior, &prior, &cfg);
        assert_eq!(p.state, prior);
    }

    #[test]
    fn update_keeps_id_and_unknowns_the_rest() {
        let prior = obj(Value::str("x"), Value::str("e1"), "a", 1);
        let proposed = obj(Value::str("x"), Value::str("e1"), "a", 2);
        let cfg = obj(Value::Null, Value::Null, "a", 2);
        let p = plan_change(&schema(), &rules(), &prior, &proposed, &cfg);
        assert_eq!(p.state.get("id"), &Value::str("x"));
        assert_eq!(p.state.get("etag"), &Value::Unknown);
        assert!(p.requires_replace.is_empty());
    }

    #[test]
    fn replace_on_name_change_and_destroy_plans_null() {
        let prior = obj(Value::str("x"), Value::str("e1"), "a", 1);
        let proposed = obj(Value::str("x"), Value::str("e1"), "b", 1);
        let p = plan_change(&schema(), &rules(), &prior, &proposed, &proposed);
        assert_eq!(p.requires_replace, vec![AttrPath::root("name")]);
        let d = plan_change(&schema(), &rules(), &prior, &Value::Null, &Value::Null);
        assert_eq!(d.state, Value::Null);
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_timeout("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_timeout("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_timeout("10").unwrap_err().contains("missing a unit"));
        assert!(parse_timeout("5d").unwrap_err().contains("unknown unit"));
        assert!(parse_timeout("0s").unwrap_err().contains("zero"));
        assert!(parse_timeout("800h").unwrap_err().contains("30 days"));
        assert!(parse_timeout("").is_err());
        assert_eq!(fmt_duration(Duration::from_secs(5400)), "1h30m");
    }

    #[test]
    fn timeouts_read_with_defaults_and_validate_with_paths() {
        let v = Value::object([(
            "timeouts",
            Value::object([("create", Value::str("2m")), ("delete", Value::Null)]),
        )]);
        let t = timeouts(&v, DEFAULTS);
        assert_eq!(t.create, Duration::from_secs(120));
        assert_eq!(t.delete, DEFAULTS.delete);
        let bad = Value::object([("timeouts", Value::object([("update", Value::str("soon"))]))]);
        let mut d = crate::diag::Diagnostics::new();
        crate::validate::validate_block(&schema().block, &bad, &mut d);
        assert_eq!(d.0.len(), 1);
        assert_eq!(d.0[0].path.as_ref().unwrap().to_string(), "timeouts.update");
    }

    #[test]
    fn private_state_round_trips() {
        let mut p = Private::default();
        p.0.insert("k".into(), "v".into());
        assert_eq!(Private::decode(&p.encode()), p);
        assert_eq!(Private::decode(b"not json"), Private::default());
    }
}
