//! geowp-syncthing: everything SyncThing. [`identity`]: device identities
//! (ECDSA P-384 certificate and key, CN `syncthing`) and device IDs;
//! [`config`]: config.xml, rendered and parsed; [`rest`]: the REST API, for
//! the live exchange and status; [`group`]: the replication group's writes
//! through the Kubernetes API, shared by `geowp_sync_group` and
//! `geowp-helper sync`.

pub mod config;
pub mod group;
pub mod identity;
pub mod rest;
