//! terraform-provider-geowp: the Terraform adapter. Resource types live one
//! per folder under [`resources`], each on a typed model: they decode
//! Terraform's values, call the libraries that do the work, and map what
//! those return into diagnostics and state. One region's stack (its
//! configuration, rendering, certificates, pd-ctl and operations) is the
//! `geowp-stack` crate's; the SyncThing group is `geowp-syncthing`'s; the
//! protocol itself is the `tfplugin` crate's, cluster I/O `geowp-kube`'s.

use std::sync::Arc;

use tfplugin::serve::ServeOpts;
use tfplugin::{Block, ProviderDef, Schema, Typed};

pub use geowp_kube as cluster;
use geowp_stack::{pki, render, validators};
pub mod docs;
pub mod resources;

pub const ADDRESS: &str = "registry.terraform.io/geowp/geowp";

pub const SERVE_OPTS: ServeOpts = ServeOpts {
    address: ADDRESS,
    about: "terraform-provider-geowp is a Terraform provider: Terraform starts it and talks to it over gRPC. \
It installs one WordPress site across several Kubernetes clusters (TiDB spanning the regions, NFS, \
SyncThing file replication). Running it by hand does nothing useful; declare it in `required_providers` \
as `geowp/geowp` and run `terraform init`. See the project's README.md.",
    log_module: "provider.geowp",
    version: env!("CARGO_PKG_VERSION"),
};

/// The provider: no configuration of its own, since cluster credentials are
/// resource attributes (so a cluster created in the same apply works).
pub fn provider() -> ProviderDef {
    ProviderDef {
        name: "geowp",
        schema: Schema::new(
            0,
            Block::new(
                "The geowp provider has no settings: every resource carries the credentials of the cluster it \
                 manages, so clusters created in the same configuration can be used at once.",
            ),
        ),
        resources: vec![
            Arc::new(Typed(resources::site::Site)),
            Arc::new(Typed(resources::cluster_stack::ClusterStack::default())),
            Arc::new(Typed(resources::sync_group::SyncGroup)),
        ],
        data_sources: vec![],
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_attribute_and_block_of_every_schema_has_a_description() {
        let p = super::provider();
        assert!(
            !p.schema.block.description.trim().is_empty(),
            "provider schema has no description"
        );
        for r in &p.resources {
            let s = r.schema();
            assert!(
                !s.block.description.trim().is_empty(),
                "{} has no description",
                r.type_name()
            );
            let missing = s.block.missing_descriptions("");
            assert!(
                missing.is_empty(),
                "{}: attributes without a description: {missing:?}",
                r.type_name()
            );
        }
    }
}
