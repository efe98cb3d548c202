//! geowp-common: the few things every geowp crate needs exactly once.
//! [`names`] holds the object names, labels and annotations the provider
//! writes and the helper reads (so they cannot drift apart); [`b64`] is the
//! one base64 helper, [`duration`] the one duration grammar (Go's, as
//! Terraform's `timeouts` use), [`fs`] the one atomic file write, [`time`] the one calendar arithmetic,
//! [`quantity`] Kubernetes quantities as the API server canonicalises them.
//!
//! It depends on nothing of ours and on almost nothing else, so that even
//! the protocol crate can use it.

pub mod b64;
pub mod duration;
pub mod fs;
pub mod names;
pub mod quantity;
pub mod time;

/// An error and its causes as one line, `a: b: c`, each cause once (reqwest,
/// hyper and kube repeat their source in their own message at times).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        let t = x.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = x.source();
    }
    s
}
