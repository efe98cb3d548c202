//! Create and update: the planned model decoded into the stack library's
//! inputs, [`geowp_stack::ops::converge`] run, and what it returns mapped
//! into state and diagnostics. Even after a failure the returned state is
//! the truth: what was applied is in the inventory and `objects` says what
//! is not, so the next apply converges from it.

use geowp_stack::leave::Leaves;
use geowp_stack::ops::{self, Prior, Want};
use tfplugin::diag::Diagnostics;
use tfplugin::provider::Ctx;
use tfplugin::Val;

use super::model::{inventory_of, inventory_val, StackModel};
use super::report::{diagnose_report, diagnose_stop, Mode};

/// What a converge left behind.
pub enum Outcome {
    /// Nothing was written (the cluster refused before any write).
    Nothing,
    /// The new state, true even after a failure.
    State(Box<StackModel>),
}

pub async fn converge(
    ctx: &mut Ctx,
    leaves: &Leaves,
    prior: Option<&StackModel>,
    planned: StackModel,
    diags: &mut Diagnostics,
) -> Outcome {
    let member = planned.spec.member.clone();
    let want = Want {
        spec: &planned.spec,
        secrets: planned.secrets.render(),
        ca_certificate: planned.secrets.tls_ca_certificate.as_deref(),
        ca_key: planned
            .secrets
            .tls_ca_private_key
            .as_ref()
            .map(|k| k.expose().as_str()),
        force_conflicts: planned.force_conflicts,
        wait_for_rollout: planned.wait_for_rollout,
        limit: if prior.is_none() {
            planned.timeouts.create()
        } else {
            planned.timeouts.update()
        },
        topology: planned
            .out
            .topology()
            .unwrap_or_else(|| super::plan::topology(prior, &planned.spec)),
        who: planned.who(),
    };
    let prior = prior.map(|p| Prior {
        spec: &p.spec,
        inventory: inventory_of(&p.out),
    });
    let conn = planned.cluster.connection();
    let done = match ops::converge(&conn, ctx.cancel.clone(), leaves, prior, want).await {
        Ok(done) => done,
        Err(stop) => {
            diagnose_stop(stop, &member, Mode::Apply, diags);
            return Outcome::Nothing;
        }
    };
    let mut state = planned.clone();
    state.id = Val::Known(StackModel::id_of(&state.spec));
    state.out.objects = Val::Known(done.objects);
    state.out.inventory = inventory_val(done.inventory);
    state.out.set_topology(&done.topology);
    state.out.wordpress_endpoint = Val::from_option(done.endpoint);
    state.out.syncthing_device_id = Val::Known(done.device_id);
    state.out.tls_certificate_expires = Val::from_option(done.tls_expires);
    diagnose_report(done.report, &member, Mode::Apply, diags);
    Outcome::State(Box::new(state))
}
