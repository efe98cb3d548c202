//! Refresh: [`geowp_stack::ops::read`] compares each object, on the fields
//! geowp sets, with what it would apply; `objects` says which differ and
//! how, so drift reads as a sentence in the next plan. A deleted namespace
//! means the stack is gone; a region that does not answer keeps its state.

use geowp_stack::ops::{self, read::Recorded};
use tfplugin::diag::Diagnostics;
use tfplugin::provider::Ctx;
use tfplugin::Val;

use super::model::{inventory_val, StackModel};
use super::report::{diagnose_stop, Mode};

/// The refreshed state; None when the stack is gone.
pub async fn read(ctx: &mut Ctx, state: StackModel, diags: &mut Diagnostics) -> Option<StackModel> {
    let rec = Recorded {
        spec: &state.spec,
        secrets: state.secrets.render(),
        ca_certificate: state.secrets.tls_ca_certificate.as_deref(),
        topology: state.out.topology(),
        limit: state.timeouts.update(),
        who: state.who(),
    };
    let conn = state.cluster.connection();
    let found = match ops::read(&conn, ctx.cancel.clone(), rec).await {
        Ok(found) => found?,
        Err(stop) => {
            diagnose_stop(stop, &state.spec.member, Mode::Refresh, diags);
            return Some(state);
        }
    };
    let mut new = state.clone();
    new.out.objects = Val::Known(found.objects);
    new.out.inventory = inventory_val(found.inventory);
    if let Some(id) = found.device_id {
        new.out.syncthing_device_id = Val::Known(id);
    }
    if let Some(expires) = found.tls_expires {
        new.out.tls_certificate_expires = Val::from_option(expires);
    }
    if let Some(endpoint) = found.endpoint {
        new.out.wordpress_endpoint = Val::from_option(endpoint);
    }
    Some(new)
}
