//! `geowp_cluster_stack`: one region of the site, installed into a cluster
//! Terraform already created. The same skeleton as every resource here:
//! [`model`] (the attributes), [`validate`] (checks across them), [`plan`]
//! (what the plan knows), [`apply`] (create and update), [`read`]
//! (refresh with drift), [`destroy`], [`import`]. The work is the
//! `geowp-stack` library's operations; these decode Terraform's values
//! into its inputs and map its results, in [`report`], into diagnostics.

pub mod apply;
pub mod destroy;
pub mod import;
pub mod model;
pub mod plan;
pub mod read;
pub mod report;
pub mod validate;

pub use geowp_stack::tls;

use tfplugin::diag::Diagnostics;
use tfplugin::provider::Ctx;
use tfplugin::{TypedResource, Value};

use apply::Outcome;
use model::StackModel;

/// The resource type. It owns the board where a departing region's
/// destroy and the surviving regions' applies of one run meet.
#[derive(Default)]
pub struct ClusterStack {
    leaves: geowp_stack::leave::Leaves,
}

#[tfplugin::async_trait]
impl TypedResource for ClusterStack {
    type Model = StackModel;
    const TYPE_NAME: &'static str = "geowp_cluster_stack";
    const DESCRIPTION: &'static str = "One region of a geo-distributed WordPress site, installed into a Kubernetes cluster: a TiDB member (PD, TiKV and TiDB server; all regions form one TiDB cluster with 3 replicas, one per region), an NFS provisioner serving a ReadWriteMany volume, WordPress on both, and SyncThing replicating `wp-content`. Objects are applied with server-side apply (field manager `geowp`); changes made behind Terraform's back show in `objects` at the next plan. Import with `terraform import ADDRESS CONTEXT/NAMESPACE/MEMBER`, CONTEXT naming a context of `$KUBECONFIG`.";
    const SCHEMA_VERSION: i64 = 1;

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        validate::check(config, diags);
    }

    fn upgrade(&self, version: i64, raw: serde_json::Value) -> Result<serde_json::Value, String> {
        match version {
            0 => Ok(model::upgrade_v0(raw)),
            v => Err(format!("state of geowp_cluster_stack has schema version {v}, this provider knows up to version {}. Use the provider version that wrote this state.", Self::SCHEMA_VERSION)),
        }
    }

    fn modify_plan(
        &self,
        prior: Option<&StackModel>,
        planned: &mut Value,
        diags: &mut Diagnostics,
    ) {
        plan::modify(prior, planned, diags);
    }

    async fn create(
        &self,
        ctx: &mut Ctx,
        planned: StackModel,
        diags: &mut Diagnostics,
    ) -> Option<StackModel> {
        match apply::converge(ctx, &self.leaves, None, planned, diags).await {
            Outcome::Nothing => None,
            Outcome::State(s) => Some(*s),
        }
    }

    async fn read(
        &self,
        ctx: &mut Ctx,
        state: StackModel,
        diags: &mut Diagnostics,
    ) -> Option<StackModel> {
        read::read(ctx, state, diags).await
    }

    async fn update(
        &self,
        ctx: &mut Ctx,
        prior: StackModel,
        planned: StackModel,
        diags: &mut Diagnostics,
    ) -> StackModel {
        match apply::converge(ctx, &self.leaves, Some(&prior), planned, diags).await {
            Outcome::Nothing => prior,
            Outcome::State(s) => *s,
        }
    }

    async fn delete(&self, ctx: &mut Ctx, prior: StackModel, diags: &mut Diagnostics) {
        destroy::destroy(ctx, &self.leaves, prior, diags).await
    }

    async fn import(&self, ctx: &mut Ctx, id: &str, diags: &mut Diagnostics) -> Option<StackModel> {
        import::import(ctx, id, diags).await
    }
}
