//! geowp-kubeconfig: kubeconfig files. [`Doc`] is the one reader (its
//! contexts, and the credentials a context points at, with file references
//! resolved); [`merge`] joins the kubeconfigs of many clusters into one file
//! with distinct, readable contexts.

mod doc;
mod merge;

pub use doc::{parse, Credentials, Doc, ExecPlugin, ReadError};
pub use merge::{from_json, merge, write_atomic, Input, MergeError};
