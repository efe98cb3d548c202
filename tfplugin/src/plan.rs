//! Plan helpers every resource needs: the default planned state (computed
//! attributes unknown when something changed, or kept from state when the
//! resource says so), requires-replace, the `timeouts` block and private
//! state.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::diag::{AttrPath, Diagnostics};
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
/// the config leaves unset. On create those become unknown; on update they
/// become unknown only if a configurable attribute changes, except the ones
/// in `keep_state_when_unknown`.
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
    let creating = prior.is_null();
    let changed = !creating && configurable_differs(block, prior, proposed);
    for a in block.attributes.iter().filter(|a| a.computed) {
        if !config.get(&a.name).is_null() {
            continue;
        }
        if creating {
            planned.set(&a.name, Value::Unknown);
        } else if changed {
            if rules.keep_state_when_unknown.contains(&a.name.as_str()) {
                planned.set(&a.name, prior.get(&a.name).clone());
            } else {
                planned.set(&a.name, Value::Unknown);
            }
        }
    }
    let mut requires_replace = Vec::new();
    if !creating {
        for name in &rules.requires_replace {
            if prior.get(name) != planned.get(name) {
                requires_replace.push(AttrPath::root(name));
            }
        }
    }
    Planned {
        state: planned,
        requires_replace,
    }
}

fn configurable_differs(block: &Block, prior: &Value, proposed: &Value) -> bool {
    let attrs = block
        .attributes
        .iter()
        .filter(|a| a.required || a.optional)
        .map(|a| a.name.as_str());
    let blocks = block.blocks.iter().map(|b| b.name.as_str());
    attrs.chain(blocks).any(|n| prior.get(n) != proposed.get(n))
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
                "How long {op} may take before it fails, as a duration such as `30s`, `10m` or `1h30m`. Default `{}`.",
                fmt_duration(dur)
            ),
        )
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
            .and_then(|s| parse_duration(s).ok())
            .unwrap_or(dflt)
    };
    TimeoutDefaults {
        create: get("create", d.create),
        update: get("update", d.update),
        delete: get("delete", d.delete),
    }
}

/// Adds a diagnostic for each timeout in `config` that is not a valid duration.
pub fn validate_timeouts(config: &Value, diags: &mut Diagnostics) {
    if let Some(m) = config.get(TIMEOUTS).as_map() {
        for (op, v) in m {
            if let Some(s) = v.as_str() {
                if let Err(e) = parse_duration(s) {
                    diags.error_at(
                        AttrPath::root(TIMEOUTS).attr(op),
                        "Invalid duration",
                        format!("{e}. Write a duration such as \"30s\", \"10m\" or \"1h30m\"."),
                    );
                }
            }
        }
    }
}

/// Parses Go-style durations: a sequence of number+unit (`h`, `m`, `s`, `ms`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return Err(format!(
                "{s:?} is not a duration: expected a number at {rest:?}"
            ));
        }
        let n: f64 = rest[..num_end]
            .parse()
            .map_err(|_| format!("{s:?} has a bad number"))?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "" => return Err(format!("{s:?} is missing a unit (h, m, s or ms)")),
            u => {
                return Err(format!(
                    "{s:?} has an unknown unit {u:?} (use h, m, s or ms)"
                ))
            }
        };
        total += n * secs;
        rest = &rest[unit_end..];
    }
    if total > 30.0 * 24.0 * 3600.0 {
        return Err(format!("{s:?} is longer than 30 days"));
    }
    Ok(Duration::from_secs_f64(total))
}

pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, sec) => format!("{m}m{sec}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, 0) => format!("{h}h{m}m"),
        (h, m, sec) => format!("{h}h{m}m{sec}s"),
    }
}

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
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("45s").unwrap(), Duration::from_secs(45));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("10").unwrap_err().contains("missing a unit"));
        assert!(parse_duration("5d").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("").is_err());
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
        let mut d = Diagnostics::new();
        validate_timeouts(&bad, &mut d);
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
