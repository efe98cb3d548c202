//! tfplugin: the Terraform plugin protocol (version 6) for providers written
//! in Rust, on tonic and prost. It owns everything between Terraform and a
//! provider's resources: the go-plugin handshake and AutoMTLS ([`serve`],
//! [`tls`]), the gRPC services, the wire form of the model ([`wire`]) and
//! JSON-lines logging ([`log`]). The model itself (cty values, schemas,
//! diagnostics, validators, plan rules, `#[derive(Model)]`) is
//! tfplugin-model, re-exported here under the same paths.
//! A provider is a [`provider::ProviderDef`] of [`provider::Resource`]s;
//! most resources are [`typed::TypedResource`]s over a [`model::Model`]
//! struct (`#[derive(Model)]`) that declares each attribute once, with its
//! default and [`validate`]ors.

pub mod log;
pub mod provider;
pub mod serve;
pub mod tls;
pub mod typed;
pub mod wire;

pub use tfplugin_model::{diag, model, plan, schema, validate, value};

/// Generated from `proto/*.proto` at build time; never edited.
pub mod proto {
    pub mod tfplugin6 {
        tonic::include_proto!("tfplugin6");
    }
    pub mod plugin {
        tonic::include_proto!("plugin");
    }
    pub mod health {
        tonic::include_proto!("grpc.health.v1");
    }
}

pub use diag::{AttrPath, Diagnostics};
pub use model::{Field, Secret, Timeouts, Val};
pub use plan::{PlanRules, Private, TimeoutDefaults};
pub use provider::{Ctx, DataSource, ProviderDef, Resource};
pub use schema::{Attribute, Block, NestedBlock, Nesting, Schema};
pub use tfplugin_model::Model;
pub use tonic::async_trait;
pub use typed::{Typed, TypedResource};
pub use value::{Type, Value};
