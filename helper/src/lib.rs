//! geowp-helper's library: SyncThing identities and device IDs (shared with
//! the provider), and in time the device exchange and kubeconfig merging of
//! the `geowp-helper` CLI.

pub mod stconfig;
pub mod syncthing;
