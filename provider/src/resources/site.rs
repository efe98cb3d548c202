//! `geowp_site`: the secrets one site shares across all its regions, made
//! once and handed to every `geowp_cluster_stack`: the TiDB root password,
//! the WordPress database password, and the eight WordPress keys and salts
//! (identical everywhere, so a session survives a switch of region).
//!
//! Secrets are generated from the OS random source, never defaulted. They
//! live in Terraform state as sensitive values (like `random_password`):
//! the stacks need them to configure every region identically. Private keys
//! are not among them: those are made in and kept by each cluster.

use rand::rngs::OsRng;
use rand::TryRngCore;
use tfplugin::diag::{AttrPath, Diagnostics};
use tfplugin::provider::{Ctx, Resource};
use tfplugin::{Attribute, Block, PlanRules, Schema, Type, Value};

pub struct Site;

pub const SALT_NAMES: [&str; 8] = [
    "AUTH_KEY",
    "SECURE_AUTH_KEY",
    "LOGGED_IN_KEY",
    "NONCE_KEY",
    "AUTH_SALT",
    "SECURE_AUTH_SALT",
    "LOGGED_IN_SALT",
    "NONCE_SALT",
];

const DEFAULT_PASSWORD_LENGTH: i64 = 32;
const SALT_LENGTH: usize = 64;
const PASSWORD_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
// printable, and safe unquoted in env vars, YAML and PHP strings
const SALT_CHARS: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#%()*+,-./:;<=>?@[]^_{|}~";

/// `name` must be a DNS label: it becomes part of object names in every cluster.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
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
impl Resource for Site {
    fn type_name(&self) -> &'static str {
        "geowp_site"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new(
                "The secrets one geo-distributed WordPress site shares across all its regions: TiDB \
                 passwords and the WordPress keys and salts. Create one per site and pass its attributes \
                 to every `geowp_cluster_stack`. Values are generated once and kept in state (sensitive); \
                 changing `name`, `password_length` or `keepers` generates new ones.",
            )
            .attr(Attribute::computed("id", Type::String, "The site's name, as its identifier."))
            .attr(Attribute::required(
                "name",
                Type::String,
                "Name of the site: a DNS label (lowercase letters, digits and `-`, at most 40), used in object names in every cluster. Changing it makes a new site.",
            ))
            .attr(Attribute::optional(
                "password_length",
                Type::Number,
                "Length of the generated database passwords, 16 to 128. Default 32.",
            ))
            .attr(Attribute::optional(
                "keepers",
                Type::map(Type::String),
                "Arbitrary values that, when changed, make new secrets (for rotation).",
            ))
            .attr(Attribute::computed("tidb_root_password", Type::String, "Password of TiDB's `root` user.").sensitive())
            .attr(
                Attribute::computed(
                    "wordpress_db_password",
                    Type::String,
                    "Password of the least-privileged `wordpress` database user.",
                )
                .sensitive(),
            )
            .attr(
                Attribute::computed(
                    "wordpress_salts",
                    Type::map(Type::String),
                    "The eight WordPress keys and salts (`AUTH_KEY` ... `NONCE_SALT`), identical in every region.",
                )
                .sensitive(),
            ),
        )
    }

    fn plan_rules(&self) -> PlanRules {
        PlanRules {
            requires_replace: vec!["name", "password_length", "keepers"],
            keep_state_when_unknown: vec![
                "id",
                "tidb_root_password",
                "wordpress_db_password",
                "wordpress_salts",
            ],
        }
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        if let Some(name) = config.get("name").as_str() {
            if !valid_name(name) {
                diags.error_at(
                    AttrPath::root("name"),
                    "Invalid site name",
                    format!("{name:?} is not a DNS label. Use 1 to 40 lowercase letters, digits and '-', not starting or ending with '-', e.g. \"blog-prod\"."),
                );
            }
        }
        let len = config.get("password_length");
        if len.is_known() && !len.is_null() {
            match len.as_i64() {
                Some(n) if (16..=128).contains(&n) => {}
                _ => diags.error_at(
                    AttrPath::root("password_length"),
                    "Invalid password length",
                    "password_length must be a whole number from 16 to 128.",
                ),
            }
        }
    }

    async fn create(&self, _ctx: &mut Ctx, planned: &Value, diags: &mut Diagnostics) -> Value {
        let mut state = planned.clone();
        let len = planned
            .get("password_length")
            .as_i64()
            .unwrap_or(DEFAULT_PASSWORD_LENGTH) as usize;
        let (Some(root), Some(wp)) = (
            random_string(len, PASSWORD_CHARS, diags),
            random_string(len, PASSWORD_CHARS, diags),
        ) else {
            return Value::Null;
        };
        let mut salts = std::collections::BTreeMap::new();
        for n in SALT_NAMES {
            let Some(s) = random_string(SALT_LENGTH, SALT_CHARS, diags) else {
                return Value::Null;
            };
            salts.insert(n.to_string(), Value::String(s));
        }
        state.set("id", planned.get("name").clone());
        state.set("tidb_root_password", Value::String(root));
        state.set("wordpress_db_password", Value::String(wp));
        state.set("wordpress_salts", Value::Map(salts));
        tracing::info!(
            site = planned.get("name").as_str().unwrap_or(""),
            "generated site secrets"
        );
        state
    }

    async fn read(&self, _ctx: &mut Ctx, state: &Value, _diags: &mut Diagnostics) -> Value {
        // Nothing outside Terraform holds these values: state is the truth.
        state.clone()
    }

    async fn update(
        &self,
        _ctx: &mut Ctx,
        _prior: &Value,
        planned: &Value,
        _diags: &mut Diagnostics,
    ) -> Value {
        // Every configurable attribute forces replacement; nothing to do in place.
        planned.clone()
    }

    async fn delete(&self, _ctx: &mut Ctx, _prior: &Value, _diags: &mut Diagnostics) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_has_descriptions_everywhere() {
        assert_eq!(
            Site.schema().block.missing_descriptions(""),
            Vec::<String>::new()
        );
    }

    #[test]
    fn names_must_be_dns_labels() {
        assert!(valid_name("blog-prod"));
        for bad in ["", "Blog", "-a", "a-", "a_b", &"a".repeat(41)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn validation_collects_every_problem_with_paths() {
        let cfg = Value::object([
            ("name", Value::str("Bad Name")),
            ("password_length", Value::int(4)),
        ]);
        let mut d = Diagnostics::new();
        Site.validate(&cfg, &mut d);
        let paths: Vec<String> =
            d.0.iter()
                .map(|x| x.path.as_ref().unwrap().to_string())
                .collect();
        assert_eq!(paths, vec!["name", "password_length"]);
        // unknown values (known only at apply) are not errors
        let mut d = Diagnostics::new();
        Site.validate(
            &Value::object([
                ("name", Value::Unknown),
                ("password_length", Value::Unknown),
            ]),
            &mut d,
        );
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
        let a = Site.create(&mut ctx, &planned, &mut d).await;
        let b = Site.create(&mut ctx, &planned, &mut d).await;
        assert!(d.is_empty());
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
