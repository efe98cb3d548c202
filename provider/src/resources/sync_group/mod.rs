//! `geowp_sync_group`: joins the SyncThing instances of a site's regions
//! into one replication group. For every member it writes the complete
//! SyncThing configuration (every other member with its device ID and
//! address, the shared folder) into the Secret `syncthing-group` of that
//! member's cluster, and stamps its hash on the SyncThing Deployment's pod
//! template so the pod restarts with it. Everything goes through each
//! cluster's API server: no network path to the pods is needed. Work per
//! change is two writes per member, all in parallel. Destroy deletes the
//! group configs: each SyncThing runs alone again, its data intact.
//!
//! The skeleton: [`model`], [`validate`], [`plan`], [`apply`] (create,
//! update, read, destroy), [`import`].

pub mod apply;
pub mod import;
pub mod model;
pub mod plan;
pub mod validate;

use tfplugin::diag::Diagnostics;
use tfplugin::provider::Ctx;
use tfplugin::{TypedResource, Value};

use model::SyncGroupModel;

pub use geowp_syncthing::group::{GROUP_MANAGER, GROUP_SECRET, HASH_ANNOTATION};

pub struct SyncGroup;

#[tfplugin::async_trait]
impl TypedResource for SyncGroup {
    type Model = SyncGroupModel;
    const TYPE_NAME: &'static str = "geowp_sync_group";
    const DESCRIPTION: &'static str = "The SyncThing replication group of a site: every member knows every other member's device ID and address and shares the `wp-content` folder with them, so media, themes and plugins written in one region appear in all. Take the members straight from the stacks in a `for_each`. Adding or removing a member rewrites every member's configuration (one write per member, in parallel); destroy leaves each SyncThing alone with its data. Import with `terraform import ADDRESS CONTEXT,CONTEXT,...[/NAMESPACE]`.";

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        validate::check(config, diags);
    }

    fn modify_plan(
        &self,
        prior: Option<&SyncGroupModel>,
        planned: &mut Value,
        diags: &mut Diagnostics,
    ) {
        plan::modify(prior, planned, diags);
    }

    async fn create(
        &self,
        ctx: &mut Ctx,
        planned: SyncGroupModel,
        diags: &mut Diagnostics,
    ) -> Option<SyncGroupModel> {
        apply::converge(ctx, None, planned, diags).await
    }

    async fn read(
        &self,
        ctx: &mut Ctx,
        state: SyncGroupModel,
        diags: &mut Diagnostics,
    ) -> Option<SyncGroupModel> {
        apply::read(ctx, state, diags).await
    }

    async fn update(
        &self,
        ctx: &mut Ctx,
        prior: SyncGroupModel,
        planned: SyncGroupModel,
        diags: &mut Diagnostics,
    ) -> SyncGroupModel {
        match apply::converge(ctx, Some(&prior), planned, diags).await {
            Some(s) => s,
            None => prior,
        }
    }

    async fn delete(&self, ctx: &mut Ctx, prior: SyncGroupModel, diags: &mut Diagnostics) {
        apply::destroy(ctx, prior, diags).await
    }

    async fn import(
        &self,
        ctx: &mut Ctx,
        id: &str,
        diags: &mut Diagnostics,
    ) -> Option<SyncGroupModel> {
        import::import(ctx, id, diags).await
    }
}
