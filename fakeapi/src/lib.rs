//! fakeapi: a Kubernetes API server of our own for tests and the local demo
//! (no kube-apiserver can be installed here). It follows the real server's
//! HTTP semantics for what geowp uses: discovery, get/list/watch, create,
//! replace, merge patch, server-side apply with managed fields and
//! conflicts, server defaults, immutable fields, deletion with finalizers,
//! propagation and namespace termination, Status bodies, simulated
//! controllers, and fault/latency injection. Pure parts (field sets, the
//! store, selectors, controllers' status) are separate from the HTTP server.

mod admission;
pub mod controllers;
mod defaults;
pub mod fields;
pub mod finalizers;
mod gc;
mod namespaces;
pub mod pd;
mod pdrun;
pub mod podspec;
pub mod registry;
pub mod rules;
pub mod select;
pub mod server;
pub mod statefulsets;
pub mod store;
pub mod tls;
pub mod volumes;

pub use controllers::Behavior;
pub use server::{start, Entry, Fault, FaultAction, Handle, Journal, Options};
