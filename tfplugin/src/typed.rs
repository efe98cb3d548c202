//! Resources over typed models. A [`TypedResource`] names its model; the
//! [`Typed`] adapter turns it into a [`Resource`] for the RPC layer, so each
//! operation reads as four beats: decode (done here), stop on error (done
//! here), act (the resource), set state (done here).
//!
//! Besides decoding, the adapter runs the schema's validators and the
//! resource's own checks twice: at validate (on whatever is known) and again
//! at apply, on the planned value, where everything unknown at plan is known.
//! So a value that came from another resource is checked before anything
//! acts on it.

use crate::diag::Diagnostics;
use crate::model::{DecodeError, Model};
use crate::provider::{Ctx, Resource};
use crate::schema::{Block, Schema};
use crate::value::Value;

/// A resource whose config, plan and state are a [`Model`].
#[crate::async_trait]
pub trait TypedResource: Send + Sync + 'static {
    type Model: Model + Send + Sync + 'static;
    /// The Terraform type name, e.g. `geowp_site`.
    const TYPE_NAME: &'static str;
    /// What the resource is, for Terraform and the docs.
    const DESCRIPTION: &'static str;
    const SCHEMA_VERSION: i64 = 0;

    /// Checks across attributes, on what is known of a config or planned
    /// value (`Self::Model::partial` decodes it). Single-attribute checks
    /// belong on the attribute (`validate = ...`).
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}

    /// Converts state stored under an older schema version into the JSON
    /// of the current one.
    ///
    /// # Errors
    /// When it cannot: the message says what to do.
    fn upgrade(&self, version: i64, _raw: serde_json::Value) -> Result<serde_json::Value, String> {
        Err(format!(
            "state of {} has schema version {version}, this provider knows version {}. Use the provider version that wrote this state.",
            Self::TYPE_NAME,
            Self::SCHEMA_VERSION
        ))
    }

    /// Fills computed values the plan can know. `planned` already holds the
    /// defaults and Terraform's proposal; `prior` is None on create.
    fn modify_plan(
        &self,
        _prior: Option<&Self::Model>,
        _planned: &mut Value,
        _diags: &mut Diagnostics,
    ) {
    }

    /// Creates the resource. On failure returns what exists (to be stored,
    /// tainted) or None when nothing does, with error diagnostics.
    async fn create(
        &self,
        ctx: &mut Ctx,
        planned: Self::Model,
        diags: &mut Diagnostics,
    ) -> Option<Self::Model>;

    /// Refreshes; None means it is gone (removed from state). With error
    /// diagnostics the prior state is kept whatever is returned.
    async fn read(
        &self,
        ctx: &mut Ctx,
        state: Self::Model,
        diags: &mut Diagnostics,
    ) -> Option<Self::Model>;

    /// Updates in place; returns the new state (on failure, what is true now).
    async fn update(
        &self,
        ctx: &mut Ctx,
        prior: Self::Model,
        planned: Self::Model,
        diags: &mut Diagnostics,
    ) -> Self::Model;

    async fn delete(&self, ctx: &mut Ctx, prior: Self::Model, diags: &mut Diagnostics);

    /// Builds state from an import id; the result is then read.
    async fn import(
        &self,
        _ctx: &mut Ctx,
        _id: &str,
        diags: &mut Diagnostics,
    ) -> Option<Self::Model> {
        diags.error(
            "Import not supported",
            format!(
                "{} cannot be imported; create it with terraform apply instead.",
                Self::TYPE_NAME
            ),
        );
        None
    }

    /// The schema, from the model.
    fn schema() -> Schema {
        Schema::new(
            Self::SCHEMA_VERSION,
            Block {
                description: Self::DESCRIPTION.into(),
                deprecated: false,
                attributes: Self::Model::attributes(),
                blocks: Self::Model::blocks(),
            },
        )
    }
}

/// The adapter: `Arc::new(Typed(MyResource))` is a [`Resource`].
pub struct Typed<R>(pub R);

fn decode_diag<M: Model>(v: &Value, what: &str, type_name: &str, d: &mut Diagnostics) -> Option<M> {
    match M::from_value(v) {
        Ok(m) => Some(m),
        Err(DecodeError::Unknown(p)) => {
            d.error_at(
                p.clone(),
                "Value unknown at apply",
                format!("{type_name}: {p} is still unknown in the {what}; this is a bug in the provider or Terraform, please report it."),
            );
            None
        }
        Err(DecodeError::Invalid { path, message }) => {
            d.error_at(
                path.clone(),
                "Unreadable value",
                format!("{type_name}: the {what} does not fit the schema at {path}: {message}. This is a bug in the provider, or state written by another version; please report it."),
            );
            None
        }
    }
}

impl<R: TypedResource> Typed<R> {
    /// Every check there is, on a config or planned value.
    fn check(&self, schema: &Schema, v: &Value, d: &mut Diagnostics) {
        crate::validate::validate_block(&schema.block, v, d);
        self.0.validate(v, d);
    }
}

#[crate::async_trait]
impl<R: TypedResource> Resource for Typed<R> {
    fn type_name(&self) -> &'static str {
        R::TYPE_NAME
    }

    fn schema(&self) -> Schema {
        R::schema()
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        // the schema's validators ran already (the RPC layer runs them)
        self.0.validate(config, diags);
    }

    fn modify_plan(
        &self,
        prior: &Value,
        _config: &Value,
        planned: &mut Value,
        diags: &mut Diagnostics,
    ) {
        if planned.is_null() {
            return;
        }
        let prior = if prior.is_null() {
            None
        } else {
            R::Model::from_value(prior).ok()
        };
        self.0.modify_plan(prior.as_ref(), planned, diags);
    }

    async fn create(&self, ctx: &mut Ctx, planned: &Value, diags: &mut Diagnostics) -> Value {
        self.check(&R::schema(), planned, diags);
        if diags.has_errors() {
            return Value::Null;
        }
        let Some(m) = decode_diag::<R::Model>(planned, "planned state", R::TYPE_NAME, diags) else {
            return Value::Null;
        };
        match self.0.create(ctx, m, diags).await {
            Some(s) => s.to_value(),
            None => Value::Null,
        }
    }

    async fn read(&self, ctx: &mut Ctx, state: &Value, diags: &mut Diagnostics) -> Value {
        let Some(m) = decode_diag::<R::Model>(state, "state", R::TYPE_NAME, diags) else {
            return state.clone();
        };
        match self.0.read(ctx, m, diags).await {
            Some(s) => s.to_value(),
            None => Value::Null,
        }
    }

    async fn update(
        &self,
        ctx: &mut Ctx,
        prior: &Value,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Value {
        self.check(&R::schema(), planned, diags);
        if diags.has_errors() {
            return prior.clone();
        }
        let (Some(p), Some(n)) = (
            decode_diag::<R::Model>(prior, "prior state", R::TYPE_NAME, diags),
            decode_diag::<R::Model>(planned, "planned state", R::TYPE_NAME, diags),
        ) else {
            return prior.clone();
        };
        self.0.update(ctx, p, n, diags).await.to_value()
    }

    async fn delete(&self, ctx: &mut Ctx, prior: &Value, diags: &mut Diagnostics) {
        if let Some(p) = decode_diag::<R::Model>(prior, "prior state", R::TYPE_NAME, diags) {
            self.0.delete(ctx, p, diags).await;
        }
    }

    fn upgrade_state(
        &self,
        version: i64,
        raw: &serde_json::Value,
        diags: &mut Diagnostics,
    ) -> Value {
        let schema = R::schema();
        let current = if version == R::SCHEMA_VERSION {
            Ok(raw.clone())
        } else {
            self.0.upgrade(version, raw.clone())
        };
        let json = match current {
            Ok(j) => j,
            Err(e) => {
                diags.error("Unsupported state version", e);
                return Value::Null;
            }
        };
        crate::provider::state_from_json(R::TYPE_NAME, &json, &schema, diags)
    }

    async fn import(&self, ctx: &mut Ctx, id: &str, diags: &mut Diagnostics) -> Value {
        match self.0.import(ctx, id, diags).await {
            Some(m) => m.to_value(),
            None => Value::Null,
        }
    }
}
