//! A small provider that exercises every part of the protocol crate end to
//! end with real Terraform: `tfcheck_thing` keeps each object as a JSON file
//! in a directory, so drift (edit the file), import (by path), refresh and
//! destroy are real; it has sensitive, computed, nested-attribute, block,
//! timeouts and state-upgrade (schema version 1; version 0 called `value`
//! `label`) parts, and a `create_delay` to test StopProvider and timeouts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tfplugin::diag::{AttrPath, Diagnostics};
use tfplugin::plan::{parse_timeout, timeouts, timeouts_block};
use tfplugin::provider::{Ctx, Resource};
use tfplugin::serve::ServeOpts;
use tfplugin::value::{from_json, to_json};
use tfplugin::{
    Attribute, Block, NestedBlock, Nesting, PlanRules, ProviderDef, Schema, TimeoutDefaults, Type,
    Value,
};

struct Thing;

const DEFAULTS: TimeoutDefaults = TimeoutDefaults {
    create: Duration::from_secs(120),
    update: Duration::from_secs(120),
    delete: Duration::from_secs(60),
};

fn file_of(v: &Value) -> Option<PathBuf> {
    Some(PathBuf::from(v.get("dir").as_str()?).join(format!("{}.json", v.get("name").as_str()?)))
}

fn etag() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{n:x}")
}

impl Thing {
    fn write(&self, v: &mut Value, diags: &mut Diagnostics) -> bool {
        v.set("etag", Value::str(etag()));
        if v.get("size").is_null() || !v.get("size").is_known() {
            v.set("size", Value::int(1));
        }
        let Some(path) = file_of(v) else {
            diags.error("Incomplete object", "dir and name must be known");
            return false;
        };
        let json = match to_json(v, &self.schema().cty_type()) {
            Ok(j) => j,
            Err(e) => {
                diags.error("Cannot encode", e.to_string());
                return false;
            }
        };
        if let Err(e) = std::fs::write(&path, json.to_string()) {
            diags.error("Cannot write object", format!("{}: {e}", path.display()));
            return false;
        }
        true
    }
}

#[tfplugin::async_trait]
impl Resource for Thing {
    fn type_name(&self) -> &'static str {
        "tfcheck_thing"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            1,
            Block::new("A thing stored as a JSON file.")
                .attr(Attribute::computed(
                    "id",
                    Type::String,
                    "Identifier: the name.",
                ))
                .attr(Attribute::required(
                    "dir",
                    Type::String,
                    "Directory holding the object file.",
                ))
                .attr(Attribute::required(
                    "name",
                    Type::String,
                    "Name; changing it replaces the thing.",
                ))
                .attr(Attribute::optional("value", Type::String, "A value."))
                .attr(Attribute::optional("secret", Type::String, "A secret value.").sensitive())
                .attr(Attribute::optional_computed(
                    "size",
                    Type::Number,
                    "A size, default 1.",
                ))
                .attr(Attribute::optional(
                    "tags",
                    Type::map(Type::String),
                    "Tags.",
                ))
                .attr(Attribute::optional(
                    "create_delay",
                    Type::String,
                    "How long create waits, e.g. `5s`.",
                ))
                .attr(
                    Attribute::optional(
                        "endpoints",
                        Type::String,
                        "Endpoints (a nested attribute).",
                    )
                    .nested(
                        Nesting::List,
                        vec![
                            Attribute::required("host", Type::String, "Host."),
                            Attribute::optional("port", Type::Number, "Port."),
                        ],
                    ),
                )
                .attr(Attribute::computed(
                    "etag",
                    Type::String,
                    "Changes on every write.",
                ))
                .block(NestedBlock::new(
                    "rule",
                    Nesting::List,
                    Block::new("A rule.").attr(Attribute::required(
                        "port",
                        Type::Number,
                        "A TCP port, 1-65535.",
                    )),
                ))
                .block(timeouts_block(DEFAULTS)),
        )
    }

    fn plan_rules(&self) -> PlanRules {
        PlanRules {
            requires_replace: vec!["dir", "name"],
            keep_state_when_unknown: vec!["id"],
        }
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        if let Some(n) = config.get("name").as_str() {
            if n.is_empty()
                || !n
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                diags.error_at(
                    AttrPath::root("name"),
                    "Invalid name",
                    format!("{n:?} must be lowercase letters, digits and '-'."),
                );
            }
        }
        for (i, r) in config
            .get("rule")
            .as_list()
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            if let Some(p) = r.get("port").as_i64() {
                if !(1..=65535).contains(&p) {
                    diags.error_at(
                        AttrPath::root("rule").index(i).attr("port"),
                        "Invalid port",
                        format!("{p} is not a TCP port: use 1 to 65535."),
                    );
                }
            }
        }
        if let Some(d) = config.get("create_delay").as_str() {
            if let Err(e) = parse_timeout(d) {
                diags.error_at(AttrPath::root("create_delay"), "Invalid duration", e);
            }
        }
    }

    async fn create(&self, ctx: &mut Ctx, planned: &Value, diags: &mut Diagnostics) -> Value {
        tracing::info!(
            name = planned.get("name").as_str().unwrap_or(""),
            "creating thing"
        );
        if let Some(d) = planned
            .get("create_delay")
            .as_str()
            .and_then(|d| parse_timeout(d).ok())
        {
            let limit = timeouts(planned, DEFAULTS).create;
            match ctx
                .run(tokio::time::timeout(limit, tokio::time::sleep(d)))
                .await
            {
                Err(c) => {
                    c.diagnose("creating the thing", diags);
                    return Value::Null;
                }
                Ok(Err(_)) => {
                    diags.error("Timed out", format!("creating took longer than the create timeout ({limit:?}); raise timeouts.create"));
                    return Value::Null;
                }
                Ok(Ok(())) => {}
            }
        }
        let mut v = planned.clone();
        v.set("id", planned.get("name").clone());
        if !self.write(&mut v, diags) {
            return Value::Null;
        }
        tracing::debug!(file = %file_of(&v).map(|p| p.display().to_string()).unwrap_or_default(), "thing written");
        ctx.private.0.insert("created".into(), "yes".into());
        v
    }

    async fn read(&self, _ctx: &mut Ctx, state: &Value, diags: &mut Diagnostics) -> Value {
        let Some(path) = file_of(state) else {
            return state.clone();
        };
        match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Value::Null,
            Err(e) => {
                diags.error("Cannot read object", format!("{}: {e}", path.display()));
                state.clone()
            }
            Ok(b) => match serde_json::from_slice(&b)
                .map_err(|e| e.to_string())
                .and_then(|j| from_json(&j, &self.schema().cty_type()).map_err(|e| e.to_string()))
            {
                Ok(mut v) => {
                    // settings that live only in Terraform are kept from state
                    v.set("timeouts", state.get("timeouts").clone());
                    v.set("create_delay", state.get("create_delay").clone());
                    v
                }
                Err(e) => {
                    diags.error("Corrupt object file", format!("{}: {e}", path.display()));
                    state.clone()
                }
            },
        }
    }

    async fn update(
        &self,
        _ctx: &mut Ctx,
        _prior: &Value,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Value {
        let mut v = planned.clone();
        self.write(&mut v, diags);
        v
    }

    async fn delete(&self, _ctx: &mut Ctx, prior: &Value, diags: &mut Diagnostics) {
        if let Some(p) = file_of(prior) {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => diags.error("Cannot delete object", format!("{}: {e}", p.display())),
            }
        }
    }

    async fn import(&self, _ctx: &mut Ctx, id: &str, diags: &mut Diagnostics) -> Value {
        match id.rsplit_once('/') {
            Some((dir, name)) if !dir.is_empty() && !name.is_empty() => Value::object([
                ("id", Value::str(name)),
                ("dir", Value::str(dir)),
                ("name", Value::str(name)),
            ]),
            _ => {
                diags.error(
                    "Invalid import id",
                    format!("{id:?} is not DIR/NAME, e.g. /tmp/things/web"),
                );
                Value::Null
            }
        }
    }

    fn upgrade_state(
        &self,
        version: i64,
        raw: &serde_json::Value,
        diags: &mut Diagnostics,
    ) -> Value {
        let mut raw = raw.clone();
        if version == 0 {
            // v0 called `value` `label` and had no etag
            if let Some(o) = raw.as_object_mut() {
                if let Some(l) = o.remove("label") {
                    o.insert("value".into(), l);
                }
            }
        } else if version != 1 {
            diags.error("Unsupported state version", format!("version {version}"));
            return Value::Null;
        }
        match from_json(&raw, &self.schema().cty_type()) {
            Ok(v) => v,
            Err(e) => {
                diags.error("Unreadable state", e.to_string());
                Value::Null
            }
        }
    }
}

fn main() -> std::process::ExitCode {
    tfplugin::serve::main(
        || ProviderDef {
            name: "tfcheck",
            schema: Schema::new(0, Block::new("Test provider for the tfplugin crate.")),
            resources: vec![Arc::new(Thing)],
            data_sources: vec![],
        },
        ServeOpts {
            address: "registry.terraform.io/geowp/tfcheck",
            about: "terraform-provider-tfcheck is the geowp project's test provider for its plugin protocol crate; Terraform starts it.",
            log_module: "provider.tfcheck",
            version: "0.1.0",
        },
    )
}
