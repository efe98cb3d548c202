//! The provider side of protocol 6: a provider is a schema plus a set of
//! [`Resource`]s; [`ProviderServer`] implements the generated gRPC trait by
//! decoding values, dispatching by type name, and encoding the answer.
//! Every RPC follows "decode, stop on error diagnostics, act, encode".

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::diag::Diagnostics;
use crate::plan::{plan_change, PlanRules, Private};
use crate::proto::tfplugin6 as pb;
use crate::proto::tfplugin6::provider_server::Provider as ProviderRpc;
use crate::schema::Schema;
use crate::value::{self, Type, Value};
use crate::wire::ToProto;

/// What a resource operation gets besides its values.
pub struct Ctx {
    /// Cancelled when Terraform calls StopProvider (Ctrl-C): long waits must
    /// select on it and stop with a diagnostic.
    pub cancel: CancellationToken,
    /// Provider-private state, read from and written back to Terraform.
    pub private: Private,
}

impl Ctx {
    /// Waits for `fut` unless Terraform stops the provider first.
    pub async fn run<F: std::future::Future>(&self, fut: F) -> Result<F::Output, Cancelled> {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(Cancelled),
            r = fut => Ok(r),
        }
    }
}

/// Work was interrupted by StopProvider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

impl Cancelled {
    pub fn diagnose(self, what: &str, diags: &mut Diagnostics) {
        diags.error(
            "Interrupted",
            format!("Terraform asked the provider to stop (Ctrl-C) while {what}. Run the command again to finish; the state records what was done."),
        );
    }
}

/// One Terraform resource type. Methods receive decoded values (objects of
/// the schema's type) and report problems into `diags`.
#[tonic::async_trait]
pub trait Resource: Send + Sync + 'static {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn plan_rules(&self) -> PlanRules {
        PlanRules::default()
    }
    /// Checks of a config (which may hold unknown values) beyond the
    /// schema's own validators, which the RPC layer runs first.
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}
    /// Adjusts the default plan (see [`plan_change`]); `planned` is null on destroy.
    fn modify_plan(
        &self,
        _prior: &Value,
        _config: &Value,
        _planned: &mut Value,
        _diags: &mut Diagnostics,
    ) {
    }
    /// Creates and returns the new state. On failure, return what exists so far
    /// (or Null if nothing does) along with error diagnostics.
    async fn create(&self, ctx: &mut Ctx, planned: &Value, diags: &mut Diagnostics) -> Value;
    /// Refreshes state; `Value::Null` means the object is gone.
    async fn read(&self, ctx: &mut Ctx, state: &Value, diags: &mut Diagnostics) -> Value;
    async fn update(
        &self,
        ctx: &mut Ctx,
        prior: &Value,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Value;
    async fn delete(&self, ctx: &mut Ctx, prior: &Value, diags: &mut Diagnostics);
    /// Builds state from an import id; the result is then read.
    async fn import(&self, _ctx: &mut Ctx, _id: &str, diags: &mut Diagnostics) -> Value {
        diags.error(
            "Import not supported",
            format!(
                "{} cannot be imported; create it with terraform apply instead.",
                self.type_name()
            ),
        );
        Value::Null
    }
    /// Converts stored JSON state of `version` into a value of the current schema.
    fn upgrade_state(
        &self,
        version: i64,
        raw: &serde_json::Value,
        diags: &mut Diagnostics,
    ) -> Value {
        let schema = self.schema();
        if version != schema.version {
            diags.error(
                "Unsupported state version",
                format!(
                    "state of {} has schema version {version}, this provider knows version {}. Use the provider version that wrote this state.",
                    self.type_name(),
                    schema.version
                ),
            );
            return Value::Null;
        }
        state_from_json(self.type_name(), raw, &schema, diags)
    }
}

/// Stored state (JSON of the current schema version) as a value; Null with
/// an error when it does not fit the schema.
pub fn state_from_json(
    type_name: &str,
    raw: &serde_json::Value,
    schema: &Schema,
    diags: &mut Diagnostics,
) -> Value {
    match value::from_json(raw, &schema.cty_type()) {
        Ok(v) => v,
        Err(e) => {
            diags.error(
                "Unreadable state",
                format!("stored state of {type_name} does not fit its schema: {e}"),
            );
            Value::Null
        }
    }
}

/// A data source: a schema and a read from its configuration.
#[tonic::async_trait]
pub trait DataSource: Send + Sync + 'static {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    /// The data source's state from its (wholly known) configuration.
    async fn read(&self, ctx: &mut Ctx, config: &Value, diags: &mut Diagnostics) -> Value;
}

/// A provider: its type name, configuration schema, resources and data sources.
pub struct ProviderDef {
    pub name: &'static str,
    pub schema: Schema,
    pub resources: Vec<Arc<dyn Resource>>,
    pub data_sources: Vec<Arc<dyn DataSource>>,
}

struct DataEntry {
    ds: Arc<dyn DataSource>,
    schema: Schema,
    ty: Type,
}

struct Entry {
    res: Arc<dyn Resource>,
    schema: Schema,
    ty: Type,
    rules: PlanRules,
}

/// The tonic service for a [`ProviderDef`].
pub struct ProviderServer {
    def_schema: Schema,
    resources: BTreeMap<&'static str, Entry>,
    data_sources: BTreeMap<&'static str, DataEntry>,
    cancel: CancellationToken,
}

impl ProviderServer {
    pub fn new(def: ProviderDef) -> ProviderServer {
        let resources = def
            .resources
            .into_iter()
            .map(|r| {
                let schema = r.schema();
                let ty = schema.cty_type();
                let rules = r.plan_rules();
                (
                    r.type_name(),
                    Entry {
                        res: r,
                        schema,
                        ty,
                        rules,
                    },
                )
            })
            .collect();
        let data_sources = def
            .data_sources
            .into_iter()
            .map(|ds| {
                let schema = ds.schema();
                let ty = schema.cty_type();
                (ds.type_name(), DataEntry { ds, schema, ty })
            })
            .collect();
        ProviderServer {
            def_schema: def.schema,
            resources,
            data_sources,
            cancel: CancellationToken::new(),
        }
    }

    fn ctx(&self, private: &[u8]) -> Ctx {
        Ctx {
            cancel: self.cancel.clone(),
            private: Private::decode(private),
        }
    }

    fn data_entry(&self, name: &str, diags: &mut Diagnostics) -> Option<&DataEntry> {
        lookup(&self.data_sources, "data source", name, diags)
    }

    fn entry(&self, name: &str, diags: &mut Diagnostics) -> Option<&Entry> {
        lookup(&self.resources, "resource type", name, diags)
    }
}

/// The entry of type `name`, or an error naming the types there are.
fn lookup<'a, T>(
    map: &'a BTreeMap<&'static str, T>,
    what: &str,
    name: &str,
    diags: &mut Diagnostics,
) -> Option<&'a T> {
    let e = map.get(name);
    if e.is_none() {
        let offered = map.keys().cloned().collect::<Vec<_>>().join(", ");
        let summary = if what == "data source" {
            "Unknown data source"
        } else {
            "Unknown resource type"
        };
        diags.error(
            summary,
            format!("this provider has no {what} {name:?}; it offers: {offered}"),
        );
    }
    e
}

fn decode(
    dv: &Option<pb::DynamicValue>,
    ty: &Type,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<Value> {
    let Some(dv) = dv else {
        return Some(Value::Null);
    };
    let r = if !dv.msgpack.is_empty() {
        value::from_msgpack(&dv.msgpack, ty)
    } else if !dv.json.is_empty() {
        serde_json::from_slice(&dv.json)
            .map_err(|e| value::CodecError::Json(e.to_string()))
            .and_then(|j| value::from_json(&j, ty))
    } else {
        Ok(Value::Null)
    };
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            diags.error("Invalid value from Terraform", format!("the {what} could not be decoded: {e}. This is a bug in the provider or Terraform; please report it."));
            None
        }
    }
}

fn encode(v: &Value, ty: &Type, diags: &mut Diagnostics) -> Option<pb::DynamicValue> {
    match value::to_msgpack(v, ty) {
        Ok(b) => Some(pb::DynamicValue {
            msgpack: b,
            json: vec![],
        }),
        Err(e) => {
            diags.error(
                "Provider produced an invalid value",
                format!("{e}. This is a bug in the provider; please report it."),
            );
            None
        }
    }
}

/// Replaces unknowns with nulls, so that a faulty state can still be stored.
fn strip_unknown(v: Value) -> Value {
    match v {
        Value::Unknown => Value::Null,
        Value::List(l) => Value::List(l.into_iter().map(strip_unknown).collect()),
        Value::Map(m) => Value::Map(m.into_iter().map(|(k, v)| (k, strip_unknown(v))).collect()),
        Value::Dynamic(t, v) => Value::Dynamic(t, Box::new(strip_unknown(*v))),
        other => other,
    }
}

type Rpc<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl ProviderRpc for ProviderServer {
    async fn get_provider_schema(
        &self,
        _r: Request<pb::get_provider_schema::Request>,
    ) -> Rpc<pb::get_provider_schema::Response> {
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some((&self.def_schema).into()),
            resource_schemas: self
                .resources
                .iter()
                .map(|(k, e)| (k.to_string(), (&e.schema).into()))
                .collect(),
            data_source_schemas: self
                .data_sources
                .iter()
                .map(|(k, e)| (k.to_string(), (&e.schema).into()))
                .collect(),
            diagnostics: vec![],
            provider_meta: None,
        }))
    }

    async fn validate_provider_config(
        &self,
        r: Request<pb::validate_provider_config::Request>,
    ) -> Rpc<pb::validate_provider_config::Response> {
        let mut diags = Diagnostics::new();
        decode(
            &r.get_ref().config,
            &self.def_schema.cty_type(),
            "provider configuration",
            &mut diags,
        );
        Ok(Response::new(pb::validate_provider_config::Response {
            diagnostics: diags.to_proto(),
        }))
    }

    async fn validate_resource_config(
        &self,
        r: Request<pb::validate_resource_config::Request>,
    ) -> Rpc<pb::validate_resource_config::Response> {
        let r = r.into_inner();
        let mut diags = Diagnostics::new();
        if let Some(e) = self.entry(&r.type_name, &mut diags) {
            if let Some(cfg) = decode(&r.config, &e.ty, "configuration", &mut diags) {
                crate::validate::validate_block(&e.schema.block, &cfg, &mut diags);
                e.res.validate(&cfg, &mut diags);
            }
        }
        Ok(Response::new(pb::validate_resource_config::Response {
            diagnostics: diags.to_proto(),
        }))
    }

    async fn validate_data_resource_config(
        &self,
        r: Request<pb::validate_data_resource_config::Request>,
    ) -> Rpc<pb::validate_data_resource_config::Response> {
        let r = r.into_inner();
        let mut diags = Diagnostics::new();
        if let Some(e) = self.data_entry(&r.type_name, &mut diags) {
            if let Some(cfg) = decode(&r.config, &e.ty, "configuration", &mut diags) {
                crate::validate::validate_block(&e.schema.block, &cfg, &mut diags);
            }
        }
        Ok(Response::new(pb::validate_data_resource_config::Response {
            diagnostics: diags.to_proto(),
        }))
    }

    async fn upgrade_resource_state(
        &self,
        r: Request<pb::upgrade_resource_state::Request>,
    ) -> Rpc<pb::upgrade_resource_state::Response> {
        let r = r.into_inner();
        let mut diags = Diagnostics::new();
        let mut upgraded = None;
        if let Some(e) = self.entry(&r.type_name, &mut diags) {
            let raw = r.raw_state.unwrap_or_default();
            if raw.json.is_empty() {
                diags.error("Unsupported state format", "the stored state is in the legacy flatmap format, which this provider never wrote. Remove the resource from state and import it.");
            } else {
                match serde_json::from_slice::<serde_json::Value>(&raw.json) {
                    Ok(j) => {
                        let v = e.res.upgrade_state(r.version, &j, &mut diags);
                        if !diags.has_errors() {
                            upgraded = encode(&v, &e.ty, &mut diags);
                        }
                    }
                    Err(err) => diags.error(
                        "Unreadable state",
                        format!("stored state is not JSON: {err}"),
                    ),
                }
            }
        }
        Ok(Response::new(pb::upgrade_resource_state::Response {
            upgraded_state: upgraded,
            diagnostics: diags.to_proto(),
        }))
    }

    async fn configure_provider(
        &self,
        r: Request<pb::configure_provider::Request>,
    ) -> Rpc<pb::configure_provider::Response> {
        let mut diags = Diagnostics::new();
        decode(
            &r.get_ref().config,
            &self.def_schema.cty_type(),
            "provider configuration",
            &mut diags,
        );
        tracing::debug!(terraform_version = %r.get_ref().terraform_version, "provider configured");
        Ok(Response::new(pb::configure_provider::Response {
            diagnostics: diags.to_proto(),
        }))
    }

    async fn read_resource(
        &self,
        r: Request<pb::read_resource::Request>,
    ) -> Rpc<pb::read_resource::Response> {
        let r = r.into_inner();
        let mut diags = Diagnostics::new();
        let mut out = pb::read_resource::Response {
            new_state: r.current_state.clone(),
            diagnostics: vec![],
            private: r.private.clone(),
        };
        if let Some(e) = self.entry(&r.type_name, &mut diags) {
            if let Some(state) = decode(&r.current_state, &e.ty, "current state", &mut diags) {
                let mut ctx = self.ctx(&r.private);
                let new = e.res.read(&mut ctx, &state, &mut diags);
                let new = new.await;
                // On errors keep the state Terraform had: never lose it.
                if !diags.has_errors() {
                    if let Some(dv) = encode(&new, &e.ty, &mut diags) {
                        out.new_state = Some(dv);
                        out.private = ctx.private.encode();
                    }
                }
            }
        }
        out.diagnostics = diags.to_proto();
        Ok(Response::new(out))
    }

    async fn plan_resource_change(
        &self,
        r: Request<pb::plan_resource_change::Request>,
    ) -> Rpc<pb::plan_resource_change::Response> {
        let r = r.into_inner();
        let mut diags = Diagnostics::new();
        let mut out = pb::plan_resource_change::Response::default();
        if let Some(e) = self.entry(&r.type_name, &mut diags) {
            let prior = decode(&r.prior_state, &e.ty, "prior state", &mut diags);
            let proposed = decode(&r.proposed_new_state, &e.ty, "proposed state", &mut diags);
            let config = decode(&r.config, &e.ty, "configuration", &mut diags);
            if let (Some(prior), Some(proposed), Some(config)) = (prior, proposed, config) {
                let mut planned = plan_change(&e.schema, &e.rules, &prior, &proposed, &config);
                e.res
                    .modify_plan(&prior, &config, &mut planned.state, &mut diags);
                if !diags.has_errors() {
                    out.planned_state = encode(&planned.state, &e.ty, &mut diags);
                    out.requires_replace =
                        planned.requires_replace.iter().map(Into::into).collect();
                    out.planned_private = r.prior_private;
                }
            }
        }
        out.diagnostics = diags.to_proto();
        Ok(Response::new(out))
    }

    async fn apply_resource_change(
        &self,
        r: Request<pb::apply_resource_change::Request>,
    ) -> Rpc<pb::apply_resource_change::Response> {
        let r = r.into_inner();
        let mut diags = Diagnostics::new();
        let mut out = pb::apply_resource_change::Response {
            new_state: r.prior_state.clone(),
            ..Default::default()
        };
        if let Some(e) = self.entry(&r.type_name, &mut diags) {
            let prior = decode(&r.prior_state, &e.ty, "prior state", &mut diags);
            let planned = decode(&r.planned_state, &e.ty, "planned state", &mut diags);
            if let (Some(prior), Some(planned)) = (prior, planned) {
                let mut ctx = self.ctx(&r.planned_private);
                let new = if planned.is_null() {
                    e.res.delete(&mut ctx, &prior, &mut diags).await;
                    // A failed delete keeps the prior state so it can be retried.
                    if diags.has_errors() {
                        prior
                    } else {
                        Value::Null
                    }
                } else if prior.is_null() {
                    e.res.create(&mut ctx, &planned, &mut diags).await
                } else {
                    e.res.update(&mut ctx, &prior, &planned, &mut diags).await
                };
                let new = if new.is_wholly_known() {
                    new
                } else {
                    diags.error(
                        "Provider left values unknown",
                        format!("{} returned unknown values after apply. This is a bug in the provider; please report it. The values it knew are kept.", r.type_name),
                    );
                    strip_unknown(new)
                };
                out.new_state = encode(&new, &e.ty, &mut diags);
                out.private = ctx.private.encode();
            }
        }
        out.diagnostics = diags.to_proto();
        Ok(Response::new(out))
    }

    async fn import_resource_state(
        &self,
        r: Request<pb::import_resource_state::Request>,
    ) -> Rpc<pb::import_resource_state::Response> {
        let r = r.into_inner();
        let mut diags = Diagnostics::new();
        let mut out = pb::import_resource_state::Response::default();
        if let Some(e) = self.entry(&r.type_name, &mut diags) {
            let mut ctx = self.ctx(&[]);
            let v = e.res.import(&mut ctx, &r.id, &mut diags).await;
            if !diags.has_errors() && !v.is_null() {
                if let Some(state) = encode(&v, &e.ty, &mut diags) {
                    out.imported_resources
                        .push(pb::import_resource_state::ImportedResource {
                            type_name: r.type_name.clone(),
                            state: Some(state),
                            private: ctx.private.encode(),
                        });
                }
            }
        }
        out.diagnostics = diags.to_proto();
        Ok(Response::new(out))
    }

    async fn read_data_source(
        &self,
        r: Request<pb::read_data_source::Request>,
    ) -> Rpc<pb::read_data_source::Response> {
        let r = r.into_inner();
        let mut diags = Diagnostics::new();
        let mut state = None;
        if let Some(e) = self.data_entry(&r.type_name, &mut diags) {
            if let Some(cfg) = decode(&r.config, &e.ty, "configuration", &mut diags) {
                let mut ctx = self.ctx(&[]);
                let v = e.ds.read(&mut ctx, &cfg, &mut diags).await;
                if !diags.has_errors() {
                    state = encode(&v, &e.ty, &mut diags);
                }
            }
        }
        Ok(Response::new(pb::read_data_source::Response {
            state,
            diagnostics: diags.to_proto(),
        }))
    }

    async fn stop_provider(
        &self,
        _r: Request<pb::stop_provider::Request>,
    ) -> Rpc<pb::stop_provider::Response> {
        tracing::info!("StopProvider: cancelling work in flight");
        // Permanent: a call that reaches us after StopProvider (Terraform may
        // have sent it just before) must stop too, not start fresh work.
        self.cancel.cancel();
        Ok(Response::new(pb::stop_provider::Response {
            error: String::new(),
        }))
    }
}
