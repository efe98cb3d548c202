//! `geowp_site`: the secrets one site shares across all its regions, made
//! once and handed to every `geowp_cluster_stack`: the TiDB root password,
//! the WordPress database password, and the eight WordPress keys and salts
//! (identical everywhere, so a session survives a switch of region).
//!
//! Secrets are generated from the OS random source, never defaulted. They
//! live in Terraform state as sensitive values (like `random_password`):
//! the stacks need them to configure every region identically. Private keys
//! are not among them: those are made in and kept by each cluster.

use std::collections::BTreeMap;

use rand::rngs::OsRng;
use rand::TryRngCore;
use tfplugin::diag::Diagnostics;
use tfplugin::provider::Ctx;
use tfplugin::validate::int_between;
use tfplugin::{Model, Secret, TypedResource, Val};

use crate::validators::dns_label;

pub use geowp_common::names::SALT_NAMES;

pub struct Site;

const DEFAULT_PASSWORD_LENGTH: i64 = 32;
const SALT_LENGTH: usize = 64;
const PASSWORD_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
// printable, and safe unquoted in env vars, YAML and PHP strings
const SALT_CHARS: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#%()*+,-./:;<=>?@[]^_{|}~";

/// `geowp_site`'s attributes.
#[derive(Model, Clone, Debug, PartialEq)]
pub struct SiteModel {
    /// The site's name, as its identifier.
    #[tf(keep)]
    pub id: Val<String>,
    /// Name of the site: a DNS label (lowercase letters, digits and `-`, at most 40), used in object names in every cluster.
    #[tf(replace, validate = dns_label("site name", 40, "blog-prod"))]
    pub name: String,
    /// Length of the generated database passwords, 16 to 128. Default 32.
    #[tf(replace, validate = int_between(16, 128))]
    pub password_length: Option<i64>,
    /// Arbitrary values that, when changed, make new secrets (for rotation).
    #[tf(replace)]
    pub keepers: Option<BTreeMap<String, String>>,
    /// Every member of the site by name, each with its PD peer URL (`members[NAME].pd_peer_url` of the stacks). Only the members given when the site is created matter: they become `founders`. Add `lifecycle { ignore_changes = [members] }`: a change here updates the site, and Terraform then destroys a departing region's stack before the surviving stacks are applied, so they could not remove it from TiDB first.
    pub members: Option<BTreeMap<String, String>>,
    /// The members that bootstrapped TiDB, with their PD peer URLs: `members` as it was when the site was created, never changed after. Pass it to every stack's `founders`: a founder starts PD with `--initial-cluster` of the founders, every later member (or a founder moved to a new address) joins the running cluster with `--join`. Null when `members` was not given.
    #[tf(keep)]
    pub founders: Val<BTreeMap<String, String>>,
    /// Password of TiDB's `root` user.
    #[tf(keep, sensitive)]
    pub tidb_root_password: Val<Secret<String>>,
    /// Password of the least-privileged `wordpress` database user.
    #[tf(keep, sensitive)]
    pub wordpress_db_password: Val<Secret<String>>,
    /// Password of the backup repository (restic encrypts every backup with a key it unlocks): pass it to each stack's `backup_password`. Keep a copy outside Terraform too (a password manager): without it no backup can be read, and a lost state would lose it. A site made before backups existed gets one at its next refresh.
    #[tf(keep, sensitive)]
    pub backup_password: Val<Secret<String>>,
    /// The eight WordPress keys and salts (`AUTH_KEY` ... `NONCE_SALT`), identical in every region.
    #[tf(keep, sensitive)]
    pub wordpress_salts: Val<Secret<BTreeMap<String, String>>>,
    /// The site's CA certificate (PEM, RSA-2048, ten years) for TLS among PD, TiKV and TiDB in every region: pass it to each stack's `tls_ca_certificate`.
    #[tf(keep)]
    pub tls_ca_certificate: Val<String>,
    /// The CA's private key (PEM). It stays in Terraform state (sensitive): stacks use it to issue their region's certificate and never write it to a cluster.
    #[tf(keep, sensitive)]
    pub tls_ca_private_key: Val<Secret<String>>,
}

/// The site CA, as the model holds it.
fn new_ca(name: &str, diags: &mut Diagnostics) -> Option<(Val<String>, Val<Secret<String>>)> {
    match crate::pki::new_ca(name) {
        Ok(ca) => Some((Val::Known(ca.cert_pem), Val::Known(Secret::new(ca.key_pem)))),
        Err(e) => {
            diags.error("Cannot make the site CA", geowp_common::error_chain(&e));
            None
        }
    }
}

fn random_string(len: usize, alphabet: &[u8], diags: &mut Diagnostics) -> Option<String> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    // rejection sampling: no modulo bias
    let limit = 256 - (256 % alphabet.len());
    while out.len() < len {
        if let Err(e) = OsRng.try_fill_bytes(&mut buf) {
            diags.error("No randomness available", format!("the operating system's random source failed: {e}. Retry; if it persists, check the machine running Terraform."));
            return None;
        }
        for &b in buf.iter().filter(|&&b| (b as usize) < limit) {
            if out.len() == len {
                break;
            }
            out.push(alphabet[b as usize % alphabet.len()] as char);
        }
    }
    Some(out)
}

#[tfplugin::async_trait]
impl TypedResource for Site {
    type Model = SiteModel;
    const TYPE_NAME: &'static str = "geowp_site";
    const DESCRIPTION: &'static str = "The secrets one geo-distributed WordPress site shares across all its regions: TiDB passwords and the WordPress keys and salts. Create one per site and pass its attributes to every `geowp_cluster_stack`. Values are generated once and kept in state (sensitive); changing `name`, `password_length` or `keepers` generates new ones.";

    async fn create(
        &self,
        _ctx: &mut Ctx,
        planned: SiteModel,
        diags: &mut Diagnostics,
    ) -> Option<SiteModel> {
        let len = planned.password_length.unwrap_or(DEFAULT_PASSWORD_LENGTH) as usize;
        let root = random_string(len, PASSWORD_CHARS, diags)?;
        let wp = random_string(len, PASSWORD_CHARS, diags)?;
        let backup = random_string(len, PASSWORD_CHARS, diags)?;
        let mut salts = BTreeMap::new();
        for n in SALT_NAMES {
            salts.insert(
                n.to_string(),
                random_string(SALT_LENGTH, SALT_CHARS, diags)?,
            );
        }
        let (ca_cert, ca_key) = new_ca(&planned.name, diags)?;
        tracing::info!(site = %planned.name, "generated site secrets and CA");
        Some(SiteModel {
            id: Val::Known(planned.name.clone()),
            tidb_root_password: Val::Known(Secret::new(root)),
            wordpress_db_password: Val::Known(Secret::new(wp)),
            backup_password: Val::Known(Secret::new(backup)),
            wordpress_salts: Val::Known(Secret::new(salts)),
            tls_ca_certificate: ca_cert,
            tls_ca_private_key: ca_key,
            founders: Val::from_option(planned.members.clone()),
            ..planned
        })
    }

    async fn read(
        &self,
        _ctx: &mut Ctx,
        state: SiteModel,
        diags: &mut Diagnostics,
    ) -> Option<SiteModel> {
        // Nothing outside Terraform holds these values: state is the truth.
        // A site made before backups existed gets its backup password now.
        if matches!(state.backup_password, Val::Null | Val::Unknown) {
            let len = state.password_length.unwrap_or(DEFAULT_PASSWORD_LENGTH) as usize;
            let backup = random_string(len, PASSWORD_CHARS, diags)?;
            return Some(SiteModel {
                backup_password: Val::Known(Secret::new(backup)),
                ..state
            });
        }
        Some(state)
    }

    async fn update(
        &self,
        _ctx: &mut Ctx,
        prior: SiteModel,
        planned: SiteModel,
        _diags: &mut Diagnostics,
    ) -> SiteModel {
        // Every other configurable attribute forces replacement; `members`
        // changes in place and the founders stay what they were.
        SiteModel {
            founders: prior.founders,
            backup_password: prior.backup_password,
            ..planned
        }
    }

    async fn delete(&self, _ctx: &mut Ctx, _prior: SiteModel, _diags: &mut Diagnostics) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use tfplugin::provider::Resource;
    use tfplugin::{Typed, Value};

    #[test]
    fn schema_has_descriptions_everywhere() {
        assert_eq!(
            Site::schema().block.missing_descriptions(""),
            Vec::<String>::new()
        );
    }

    #[test]
    fn validation_collects_every_problem_with_paths() {
        let cfg = Value::object([
            ("name", Value::str("Bad Name")),
            ("password_length", Value::int(4)),
        ]);
        let mut d = Diagnostics::new();
        tfplugin::validate::validate_block(&Site::schema().block, &cfg, &mut d);
        let paths: Vec<String> =
            d.0.iter()
                .map(|x| x.path.as_ref().unwrap().to_string())
                .collect();
        assert_eq!(paths, vec!["name", "password_length"]);
        // unknown values (known only at apply) are not errors
        let mut d = Diagnostics::new();
        let unknown = Value::object([
            ("name", Value::Unknown),
            ("password_length", Value::Unknown),
        ]);
        tfplugin::validate::validate_block(&Site::schema().block, &unknown, &mut d);
        assert!(d.is_empty());
    }

    #[tokio::test]
    async fn create_generates_distinct_secrets_of_the_right_shape() {
        let planned = Value::object([
            ("name", Value::str("blog")),
            ("password_length", Value::int(20)),
        ]);
        let mut ctx = Ctx {
            cancel: Default::default(),
            private: Default::default(),
        };
        let mut d = Diagnostics::new();
        let site = Typed(Site);
        let a = site.create(&mut ctx, &planned, &mut d).await;
        let b = site.create(&mut ctx, &planned, &mut d).await;
        assert!(d.is_empty(), "{d:?}");
        let pw = a.get("tidb_root_password").as_str().unwrap();
        assert_eq!(pw.len(), 20);
        assert!(pw.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.get("tidb_root_password"), a.get("wordpress_db_password"));
        assert_ne!(a.get("tidb_root_password"), b.get("tidb_root_password"));
        let salts = a.get("wordpress_salts").as_map().unwrap();
        assert_eq!(salts.len(), 8);
        assert!(salts
            .values()
            .all(|s| s.as_str().unwrap().len() == SALT_LENGTH));
        assert!(salts
            .values()
            .all(|s| !s.as_str().unwrap().contains(['\'', '"', '\\', '$', '`'])));
        assert_eq!(a.get("id"), &Value::str("blog"));
    }
}
