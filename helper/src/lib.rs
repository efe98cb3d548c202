//! geowp-helper, the command line: what the provider does inside Terraform,
//! done outside it with the same libraries (`geowp-kube`,
//! `geowp-syncthing`, `geowp-kubeconfig`). [`cli`] parses and dispatches, one
//! function per subcommand; [`exit`] holds the exit codes. Every expected
//! error is printed once, at the top, and its kind picks the exit code.

pub mod backup;
pub mod cli;
pub mod exit;
pub mod site;
pub mod sync;

pub use cli::{run, Cli};
