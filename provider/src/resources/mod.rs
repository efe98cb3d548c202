//! One module per Terraform resource type, each with the same skeleton:
//! schema next to model, then validate / plan / create / read / update /
//! delete / import.

pub mod cluster_stack;
pub mod site;
pub mod sync_group;
