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

/// An error and its causes, `a: b: c`, each cause once (reqwest and hyper
/// repeat their source in their own message).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        let t = x.to_string();
        if !s.contains(&t) {
            s.push_str(&format!(": {t}"));
        }
        src = x.source();
    }
    s
}
