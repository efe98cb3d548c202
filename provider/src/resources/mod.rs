//! One module per Terraform resource type, each with the same skeleton:
//! model (attributes, declared once), validate, plan, apply, read, destroy,
//! import. [`cluster`] holds the cluster settings they share.

pub mod cluster;
pub mod cluster_stack;
pub mod site;
pub mod sync_group;
