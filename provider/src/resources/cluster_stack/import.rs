//! Import by `CONTEXT/NAMESPACE/MEMBER`: the cluster settings come from that
//! context of `$KUBECONFIG` (credentials embedded); the stack's settings,
//! secrets and PD topology from its cluster ([`geowp_stack::ops::import`]).
//! Terraform then reads the stack, which fills the rest.

use std::collections::BTreeMap;

use geowp_stack::ops;
use tfplugin::diag::Diagnostics;
use tfplugin::provider::Ctx;
use tfplugin::{Secret, Timeouts, Val};

use super::model::{SiteSecrets, StackModel, StackOutputs, TIMEOUTS};
use super::report::{diagnose_stop, Mode};
use crate::resources::cluster::{import_kubeconfig, ClusterModel};

pub async fn import(ctx: &mut Ctx, id: &str, diags: &mut Diagnostics) -> Option<StackModel> {
    let parts: Vec<&str> = id.rsplitn(3, '/').collect();
    let [member, ns, context] = parts.as_slice() else {
        diags.error("Invalid import id", format!("{id:?} is not CONTEXT/NAMESPACE/MEMBER, e.g. gke-us-east/geowp/us-east (CONTEXT is a context of $KUBECONFIG)."));
        return None;
    };
    let text = import_kubeconfig(diags)?;
    let cluster_settings = match ClusterModel::from_kubeconfig(&text, context) {
        Ok(c) => c,
        Err(e) => {
            diags.error(
                "Unusable context",
                format!("{e}. Import reads the cluster's credentials from $KUBECONFIG."),
            );
            return None;
        }
    };
    let conn = cluster_settings.connection();
    let found = match ops::import(&conn, ctx.cancel.clone(), ns, member).await {
        Ok(found) => found,
        Err(stop) => {
            diagnose_stop(stop, member, Mode::Apply, diags);
            return None;
        }
    };
    let spec = found.spec;
    let pd = found.topology;
    Some(StackModel {
        id: Val::Known(StackModel::id_of(&spec)),
        cluster: cluster_settings,
        secrets: SiteSecrets {
            tidb_root_password: Secret::new(found.tidb_root_password),
            wordpress_db_password: Secret::new(found.wordpress_db_password),
            wordpress_salts: Secret::new(found.salts),
            // the CA's certificate is in the cluster (its key never is)
            tls_ca_certificate: found.ca_certificate,
            tls_ca_private_key: None,
            backup_password: found.backup_password.map(Secret::new),
            backup_credentials: found.backup_credentials.map(Secret::new),
        },
        force_conflicts: true,
        wait_for_rollout: true,
        out: StackOutputs {
            wordpress_endpoint: Val::Null,
            health_check_path: Val::Known(geowp_common::names::HEALTH_PATH.into()),
            tidb_endpoint: Val::Known(spec.tidb_endpoint()),
            syncthing_device_id: Val::Null,
            syncthing_address: Val::from_option(spec.me().map(|m| m.syncthing_address.clone())),
            objects: Val::Known(BTreeMap::new()),
            inventory: Val::Known(BTreeMap::new()),
            tls_certificate_expires: Val::Null,
            pd_initial_cluster: Val::from_option(pd.as_ref().map(|t| t.initial_cluster.clone())),
            pd_join: Val::from_option(pd.as_ref().map(|t| t.join.clone())),
            pd_endpoints: Val::from_option(pd.map(|t| t.endpoints)),
        },
        spec,
        timeouts: Timeouts::defaults(TIMEOUTS),
    })
}
