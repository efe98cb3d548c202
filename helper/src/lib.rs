//! geowp-helper's library: SyncThing identities, device IDs and config.xml
//! (shared with the provider), kubeconfig merging, and the `geowp-helper`
//! command line on top of them.

pub mod cli;
pub mod cluster;
pub mod group;
pub mod kubeconfig;
pub mod rest;
pub mod stconfig;
pub mod sync;
pub mod syncthing;
