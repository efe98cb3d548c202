//! Destroy: [`geowp_stack::ops::destroy`] over the state's inventory; what
//! it reports, as diagnostics. A stack that applied nothing is removed
//! without contacting its cluster.

use geowp_stack::leave::Leaves;
use geowp_stack::ops::{self, destroy::Doomed};
use tfplugin::diag::Diagnostics;
use tfplugin::provider::Ctx;

use super::model::{inventory_of, StackModel};
use super::report::{diagnose_report, diagnose_stop, Mode};

pub async fn destroy(ctx: &mut Ctx, leaves: &Leaves, prior: StackModel, diags: &mut Diagnostics) {
    let inventory = inventory_of(&prior.out);
    let doomed = Doomed {
        spec: &prior.spec,
        inventory: &inventory,
        limit: prior.timeouts.delete(),
        who: prior.who(),
    };
    let conn = prior.cluster.connection();
    match ops::destroy(&conn, ctx.cancel.clone(), leaves, doomed).await {
        Ok(report) => diagnose_report(report, &prior.spec.member, Mode::Apply, diags),
        Err(stop) => diagnose_stop(stop, &prior.spec.member, Mode::Apply, diags),
    }
}
