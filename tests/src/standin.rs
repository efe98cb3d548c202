//! A stand-in for a cloud provider, built on tfplugin, for checking the
//! cloud examples with real Terraform where no cloud can be reached.
//!
//! It serves a schema read from the real provider's source
//! (`tests/standins/<provider>.json`, written by `tests/standins/goschema.py`;
//! every attribute's description cites the Go line it came from) for exactly
//! the resources and data sources the examples use: every argument and
//! attribute they set or read, with the real types, Required / Optional /
//! Computed flags and nesting, plus every Required argument of those blocks.
//! Plans leave computed values unknown as an SDKv2 provider does; applies
//! return plausible values.
//!
//! One difference from the real schema, forced by the protocol: SDKv2 plans
//! an Optional+Computed block the config leaves out (`node_pool`,
//! `master_auth`) as unknown as a whole, which Terraform accepts only from
//! protocol-5 providers that declare the legacy type system. tfplugin speaks
//! protocol 6, so the stand-in serves such blocks as Optional+Computed
//! attributes of type list(object): the same block syntax in configuration
//! (Terraform takes block syntax for list-of-object attributes), the same
//! `x[0].y` references, unknown at plan when left out.
//!
//! Two stand-ins are built on it: `hashicorp/google` for the GKE example
//! (schema from the provider's repository) and `hashicorp/aws` for the EKS
//! example (schema from lonegunmanb/terraform-provider-aws-index, which holds
//! the source of each function of one aws release: the provider's own
//! repository is too large to fetch here). Where the real provider computes
//! at plan in a CustomizeDiff (aws_acm_certificate fills
//! `domain_validation_options[*].domain_name` from the config), the stand-in
//! leaves the value unknown, which is stricter there. Value checks
//! (ValidateFunc, ConflictsWith, ExactlyOneOf) are not emulated: a value the
//! real provider refuses at plan can pass here. The `region` argument aws 6
//! adds to every resource is not served: the examples use provider aliases.
//!
//! What it checks is Terraform-level correctness only: names, types,
//! nesting, what is known at plan and what is not. It does not check what
//! the cloud would accept (API validation, quotas, IAM, regions) or do.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value as Json;
use tfplugin::diag::Diagnostics;
use tfplugin::schema::{AttrType, Attribute, Block, NestedBlock, Nesting, Schema};
use tfplugin::{Ctx, DataSource, ProviderDef, Resource, Type, Value};

/// One resource or data source type of the stand-in's schema.
struct Kind {
    name: &'static str,
    schema: Schema,
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn flag(j: &Json, k: &str) -> bool {
    j[k].as_bool().unwrap_or(false)
}

fn block_of(j: &Json, provider: &str) -> Block {
    let mut b = Block::new(&format!("Stand-in of {provider}."));
    for a in j["attributes"].as_array().into_iter().flatten() {
        let ty = Type::from_json(&a["type"]).expect("a cty type in the stand-in schema");
        let mut attr = Attribute::typed(
            a["name"].as_str().unwrap_or_default(),
            AttrType::Plain(ty),
            &format!("Stand-in; from {}", a["cite"].as_str().unwrap_or("?")),
        )
        .flags(
            flag(a, "required"),
            flag(a, "optional"),
            flag(a, "computed"),
        );
        attr.sensitive = flag(a, "sensitive");
        attr.requires_replace = flag(a, "force_new");
        b.attributes.push(attr);
    }
    for nb in j["blocks"].as_array().into_iter().flatten() {
        if flag(nb, "computed") {
            let attr = Attribute::typed(
                nb["name"].as_str().unwrap_or_default(),
                AttrType::Plain(Type::List(Box::new(object_type(&nb["block"])))),
                &format!(
                    "Stand-in (an Optional+Computed block, served as an attribute); from {}",
                    nb["cite"].as_str().unwrap_or("?")
                ),
            )
            .flags(false, true, true);
            b.attributes.push(attr);
            continue;
        }
        let nesting = match nb["nesting"].as_str() {
            Some("set") => Nesting::Set,
            _ => Nesting::List,
        };
        let mut inner = block_of(&nb["block"], provider);
        inner.description = format!("Stand-in; from {}", nb["cite"].as_str().unwrap_or("?"));
        let mut n = NestedBlock::new(nb["name"].as_str().unwrap_or_default(), nesting, inner);
        n.min_items = nb["min_items"].as_i64().unwrap_or(0);
        n.max_items = nb["max_items"].as_i64().unwrap_or(0);
        n.requires_replace = flag(nb, "force_new");
        b.blocks.push(n);
    }
    b
}

/// The object type of a block's items (nested blocks as lists of objects).
fn object_type(j: &Json) -> Type {
    let mut m = BTreeMap::new();
    for a in j["attributes"].as_array().into_iter().flatten() {
        if let Ok(t) = Type::from_json(&a["type"]) {
            m.insert(a["name"].as_str().unwrap_or_default().to_string(), t);
        }
    }
    for b in j["blocks"].as_array().into_iter().flatten() {
        let inner = object_type(&b["block"]);
        let t = if b["nesting"] == "set" {
            Type::Set(Box::new(inner))
        } else {
            Type::List(Box::new(inner))
        };
        m.insert(b["name"].as_str().unwrap_or_default().to_string(), t);
    }
    Type::Object(m, Default::default())
}

fn items<'a>(j: &'a Json, k: &str) -> impl Iterator<Item = &'a Json> {
    j[k].as_array().into_iter().flatten()
}

/// Plan: computed attributes the config leaves unset are unknown on create,
/// at every depth; so is an Optional+Computed block the config leaves out.
fn plan_unknowns(j: &Json, config: &Value, planned: &mut Value) {
    if !matches!(planned, Value::Map(_)) {
        return;
    }
    for a in items(j, "attributes").filter(|a| flag(a, "computed")) {
        let name = a["name"].as_str().unwrap_or_default();
        if config.get(name).is_null() {
            planned.set(name, Value::Unknown);
        }
    }
    for nb in items(j, "blocks") {
        let name = nb["name"].as_str().unwrap_or_default();
        let cfg = config.get(name);
        if flag(nb, "computed") && cfg.is_null() {
            planned.set(name, Value::Unknown);
            continue;
        }
        let cl = cfg.as_list().unwrap_or(&[]).to_vec();
        if let Some(Value::List(list)) = planned.get_mut(name) {
            for (i, item) in list.iter_mut().enumerate() {
                plan_unknowns(&nb["block"], cl.get(i).unwrap_or(&Value::Null), item);
            }
        }
    }
}

/// What a cloud would return for an unknown value: deterministic, shaped
/// like the real thing where the examples read it.
fn plausible(kind: &str, name: &str, ty: &Type, obj: &Value, seq: &mut u32) -> Value {
    *seq += 1;
    let own = obj.get("name").as_str().unwrap_or("thing").to_string();
    let aws = kind.starts_with("aws_");
    match ty {
        Type::String => Value::str(match name {
            // AWS ids are a prefix and hex digits (vpc-0a1b..., subnet-...)
            "id" if aws => format!(
                "{}-{:017x}",
                kind.trim_start_matches("aws_").replace('_', ""),
                *seq
            ),
            "arn" => format!(
                "arn:aws:standin:us-east-1:123456789012:{kind}/{own}-{}",
                *seq
            ),
            "endpoint" if aws => format!("https://{:032X}.gr7.us-east-1.eks.amazonaws.com", *seq),
            "token" => "k8s-aws-v1.standin-token".into(),
            "fqdn" => obj
                .get("name")
                .as_str()
                .unwrap_or("standin.example")
                .to_string(),
            "id" => format!("projects/standin/{kind}/{own}"),
            "project" => "standin-project".into(),
            "address" | "ip_address" => format!("10.200.{}.{}", *seq / 250, *seq % 250 + 2),
            "endpoint" => format!("203.0.113.{}", *seq % 250 + 2),
            "cluster_ca_certificate" => {
                use base64::Engine;
                let ca = rcgen::generate_simple_self_signed(vec!["standin-ca".into()])
                    .expect("a self-signed certificate");
                base64::engine::general_purpose::STANDARD.encode(ca.cert.pem())
            }
            "access_token" => "standin-access-token".into(),
            _ => format!("standin-{name}-{}", *seq),
        }),
        Type::Number => Value::int(0),
        Type::Bool => Value::Bool(false),
        Type::List(_) | Type::Set(_) | Type::Tuple(_) => Value::List(vec![]),
        _ => Value::Map(BTreeMap::new()),
    }
}

/// Apply: every unknown becomes a plausible value; an unknown block becomes
/// one item (a node pool: one instance group per node location).
fn fill(kind: &str, j: &Json, v: &mut Value, root: &Value, seq: &mut u32) {
    let snapshot = v.clone();
    for a in items(j, "attributes") {
        let name = a["name"].as_str().unwrap_or_default();
        if !matches!(v.get(name), Value::Unknown) {
            continue;
        }
        let ty = Type::from_json(&a["type"]).unwrap_or(Type::String);
        let new = if name == "domain_validation_options" {
            // ACM asks for one CNAME per name of the certificate
            let domain = root
                .get("domain_name")
                .as_str()
                .unwrap_or("standin.example")
                .to_string();
            Value::List(vec![Value::Map(BTreeMap::from([
                ("domain_name".to_string(), Value::str(domain.clone())),
                (
                    "resource_record_name".to_string(),
                    Value::str(format!("_standin.{domain}.")),
                ),
                ("resource_record_type".to_string(), Value::str("CNAME")),
                (
                    "resource_record_value".to_string(),
                    Value::str("_standin.acm-validations.aws."),
                ),
            ]))])
        } else if name == "certificate_authority" {
            use base64::Engine;
            let ca = rcgen::generate_simple_self_signed(vec!["standin-eks-ca".into()])
                .expect("a self-signed certificate");
            Value::List(vec![Value::Map(BTreeMap::from([(
                "data".to_string(),
                Value::str(base64::engine::general_purpose::STANDARD.encode(ca.cert.pem())),
            )]))])
        } else if name == "managed_instance_group_urls" {
            let cluster = root.get("name").as_str().unwrap_or("cluster").to_string();
            let zones = root.get("node_locations").as_list().unwrap_or(&[]).to_vec();
            Value::List(
                zones
                    .iter()
                    .filter_map(|z| z.as_str())
                    .map(|z| Value::str(format!("https://www.googleapis.com/compute/v1/projects/standin-project/zones/{z}/instanceGroups/gke-{cluster}-default-pool-grp")))
                    .collect(),
            )
        } else {
            plausible(kind, name, &ty, &snapshot, seq)
        };
        v.set(name, new);
    }
    for nb in items(j, "blocks") {
        let name = nb["name"].as_str().unwrap_or_default();
        if matches!(v.get(name), Value::Unknown) {
            v.set(name, Value::List(vec![unknown_item(&nb["block"])]));
        }
        if let Some(Value::List(list)) = v.get_mut(name) {
            for item in list.iter_mut() {
                fill(kind, &nb["block"], item, root, seq);
            }
        }
    }
}

/// A block item before apply: computed attributes unknown, the rest null.
fn unknown_item(j: &Json) -> Value {
    let mut m = BTreeMap::new();
    for a in items(j, "attributes") {
        let v = if flag(a, "computed") {
            Value::Unknown
        } else {
            Value::Null
        };
        m.insert(a["name"].as_str().unwrap_or_default().to_string(), v);
    }
    for b in items(j, "blocks") {
        m.insert(
            b["name"].as_str().unwrap_or_default().to_string(),
            Value::List(vec![]),
        );
    }
    Value::Map(m)
}

struct StandinResource {
    kind: Kind,
    json: Json,
}

impl StandinResource {
    /// The state after a create or an update: the plan with its unknowns filled.
    fn applied(&self, planned: &Value) -> Value {
        let mut v = planned.clone();
        fill(self.kind.name, &self.json, &mut v, planned, &mut 0);
        v
    }
}

#[tfplugin::async_trait]
impl Resource for StandinResource {
    fn type_name(&self) -> &'static str {
        self.kind.name
    }
    fn schema(&self) -> Schema {
        self.kind.schema.clone()
    }
    fn modify_plan(
        &self,
        prior: &Value,
        config: &Value,
        planned: &mut Value,
        _d: &mut Diagnostics,
    ) {
        if prior.is_null() && !planned.is_null() {
            plan_unknowns(&self.json, config, planned);
        }
    }
    async fn create(&self, _ctx: &mut Ctx, planned: &Value, _d: &mut Diagnostics) -> Value {
        self.applied(planned)
    }
    async fn read(&self, _ctx: &mut Ctx, state: &Value, _d: &mut Diagnostics) -> Value {
        state.clone()
    }
    async fn update(
        &self,
        _ctx: &mut Ctx,
        _prior: &Value,
        planned: &Value,
        _d: &mut Diagnostics,
    ) -> Value {
        self.applied(planned)
    }
    async fn delete(&self, _ctx: &mut Ctx, _prior: &Value, _d: &mut Diagnostics) {}
}

struct StandinData {
    kind: Kind,
    json: Json,
}

#[tfplugin::async_trait]
impl DataSource for StandinData {
    fn type_name(&self) -> &'static str {
        self.kind.name
    }
    fn schema(&self) -> Schema {
        self.kind.schema.clone()
    }
    async fn read(&self, _ctx: &mut Ctx, config: &Value, _d: &mut Diagnostics) -> Value {
        let mut v = if config.is_null() {
            unknown_item(&self.json)
        } else {
            config.clone()
        };
        plan_unknowns(&self.json, config, &mut v);
        let root = v.clone();
        fill(self.kind.name, &self.json, &mut v, &root, &mut 0);
        v
    }
}

/// The provider a stand-in schema file describes.
pub fn provider(schema_json: &str) -> ProviderDef {
    let j: Json = serde_json::from_str(schema_json).expect("the stand-in schema is JSON");
    let provider = leak(j["provider"].as_str().unwrap_or("?"));
    let kinds = |k: &str| -> Vec<(Kind, Json)> {
        j[k].as_object()
            .into_iter()
            .flatten()
            .map(|(name, r)| {
                let mut block = block_of(&r["block"], provider);
                block.description = format!(
                    "Stand-in of {name}; schema from {}",
                    r["source"].as_str().unwrap_or("?")
                );
                (
                    Kind {
                        name: leak(name),
                        schema: Schema::new(0, block),
                    },
                    r["block"].clone(),
                )
            })
            .collect()
    };
    let resources = kinds("resources")
        .into_iter()
        .map(|(kind, json)| Arc::new(StandinResource { kind, json }) as Arc<dyn Resource>)
        .collect();
    let data_sources = kinds("data_sources")
        .into_iter()
        .map(|(kind, json)| Arc::new(StandinData { kind, json }) as Arc<dyn DataSource>)
        .collect();
    ProviderDef {
        name: provider.rsplit('/').next().unwrap_or(provider),
        schema: Schema::new(0, block_of(&j["provider_config"], provider)),
        resources,
        data_sources,
    }
}
