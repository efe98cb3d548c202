//! geowp-stack: one region of a geowp site, and everything done to it.
//!
//! - [`render::StackSpec`] is the region's configuration (declared once:
//!   attributes, descriptions, defaults and validators, with
//!   tfplugin-model's Model derive, so Terraform's schema and the renderer
//!   read the same struct; the library links no plugin protocol); [`render`] makes its Kubernetes objects, purely.
//! - [`validators`] say what a value must be; [`pki`] and [`tls`] make the
//!   site's CA and the region's certificate.
//! - [`pdctl`] is pd-ctl as a typed handle; [`leave`] is regions leaving and
//!   moving; [`rolling`] is the site-wide rolling order, gated on PD.
//! - [`ops`] are the operations (converge, read, destroy, import): typed
//!   inputs (the spec, the secrets, the inventory of object references and
//!   uids), typed results ([`report::Report`] of what happened,
//!   [`report::Stop`] when nothing more could be done). They return no
//!   Terraform diagnostics and know no attribute paths: the provider maps
//!   [`report::Subject`]s to attributes, once.
//!
//! The provider (`terraform-provider-geowp`) decodes Terraform's values
//! into these types and maps results back into diagnostics and state; the
//! helper (`geowp-helper`) uses the same library for what it runs in a
//! cluster.

pub mod layout;
pub mod leave;
pub mod ops;
pub mod pdctl;
pub mod pki;
pub mod render;
pub mod report;
pub mod rolling;
pub mod tls;
pub mod validators;
