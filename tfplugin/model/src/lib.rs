//! tfplugin-model: what a Terraform provider's resources are made of,
//! without the protocol that carries them: cty types and values and their
//! msgpack/JSON encodings ([`value`]), schemas ([`schema`]), diagnostics with
//! attribute paths ([`diag`]), validators ([`validate`]), plan rules
//! ([`plan`]) and [`model::Model`] structs (`#[derive(Model)]`) that declare
//! each attribute once, with its default and validators.
//!
//! A library can declare its configuration as a model (geowp-stack's
//! `StackSpec`) and link none of gRPC; `tfplugin` carries these types over
//! protocol 6 and re-exports them.

// the derive macro names this crate `::tfplugin_model`, here too
extern crate self as tfplugin_model;

pub mod diag;
pub mod model;
pub mod plan;
pub mod schema;
pub mod validate;
pub mod value;

pub use diag::{AttrPath, Diagnostics};
pub use model::{Field, Model, Secret, Timeouts, Val};
pub use plan::{PlanRules, Private, TimeoutDefaults};
pub use schema::{Attribute, Block, NestedBlock, Nesting, Schema};
pub use tfplugin_derive::Model;
pub use value::{Type, Value};
