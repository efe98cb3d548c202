//! geowp-helper's library: SyncThing identities and device exchange, and
//! kubeconfig merging, shared by the provider and the `geowp-helper` CLI.
//! Not written yet: see the sync-group/helper issue.
