//! Fuzzing for panics: random input of every shape the provider can be
//! handed, through everything that reads it. Each target runs for
//! `GEOWP_FUZZ_SECONDS` (default 3: `make test`); `make fuzz` runs them for
//! minutes. A panic fails the test and prints the input (proptest shrinks it).
//!
//! - configs: random values of each resource's own schema type (unknowns,
//!   nulls, hostile strings) through validation, partial decoding, decoding,
//!   planning and, when it decodes, rendering;
//! - wire: random bytes through the msgpack decoder under each schema type;
//! - kubeconfig: mutated kubeconfigs through the reader, the cluster
//!   settings' checks and `connect` (which builds a client, but sends nothing).

use std::time::{Duration, Instant};

use geowp_provider::resources::cluster::ClusterModel;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tfplugin::diag::{AttrPath, Diagnostics};
use tfplugin::provider::Resource;
use tfplugin::{Model, Type, Value};

fn budget() -> Duration {
    let s = std::env::var("GEOWP_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    Duration::from_secs_f64(s)
}

/// Runs `test` on values from `strategy` until the time budget is spent.
fn fuzz<S: Strategy>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let end = Instant::now() + budget();
    let mut runs = 0u64;
    while Instant::now() < end {
        let mut runner = TestRunner::new(Config {
            cases: 64,
            failure_persistence: None,
            ..Config::default()
        });
        if let Err(e) = runner.run(&strategy, &test) {
            panic!("{name}: {e}");
        }
        runs += 64;
    }
    eprintln!("{name}: {runs} inputs in {:?}", budget());
}

/// Strings that hit the validators' edges.
fn hostile_string() -> BoxedStrategy<String> {
    prop_oneof![
        Just(String::new()),
        Just("us-east".to_string()),
        Just("https://10.0.0.1:2379".to_string()),
        Just("tcp://10.0.0.1:22000".to_string()),
        Just("10.0.0.1:20160".to_string()),
        Just("http://[::1]:2379".to_string()),
        Just("10Gi".to_string()),
        Just("1e999".to_string()),
        Just("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_string()),
        Just("-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----".to_string()),
        Just("apiVersion: v1\nkind: Config\ncontexts: [{name: a}]\n".to_string()),
        Just("token\n".to_string()),
        Just("a\u{0}b\u{7f}\u{1b}[31m".to_string()),
        Just("ü€𝄞\u{202e}".repeat(20)),
        Just(":".repeat(300)),
        Just("a".repeat(5000)),
        "[ -~]{0,40}",
        "\\PC{0,30}",
        any::<String>(),
    ]
    .boxed()
}

fn number() -> BoxedStrategy<Value> {
    use tfplugin::value::Number;
    prop_oneof![
        any::<i64>().prop_map(Value::int),
        (-5i64..70000).prop_map(Value::int),
        any::<f64>().prop_map(|f| Value::Number(Number::Float(f))),
        Just(Value::Number(Number::Big("1e400".into()))),
    ]
    .boxed()
}

/// A value of type `ty`: sometimes null or unknown at any depth.
fn value_of(ty: Type, depth: u32) -> BoxedStrategy<Value> {
    let leaf: BoxedStrategy<Value> = match &ty {
        Type::String => hostile_string().prop_map(Value::String).boxed(),
        Type::Number => number(),
        Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Type::Dynamic => hostile_string().prop_map(Value::String).boxed(),
        Type::List(e) | Type::Set(e) => {
            if depth > 4 {
                Just(Value::List(vec![])).boxed()
            } else {
                prop::collection::vec(value_of((**e).clone(), depth + 1), 0..4)
                    .prop_map(Value::List)
                    .boxed()
            }
        }
        Type::Map(e) => {
            if depth > 4 {
                Just(Value::Map(Default::default())).boxed()
            } else {
                prop::collection::btree_map(
                    hostile_string(),
                    value_of((**e).clone(), depth + 1),
                    0..5,
                )
                .prop_map(Value::Map)
                .boxed()
            }
        }
        Type::Object(attrs, _) => {
            let parts: Vec<BoxedStrategy<(String, Value)>> = attrs
                .iter()
                .map(|(k, t)| {
                    let k = k.clone();
                    value_of(t.clone(), depth + 1)
                        .prop_map(move |v| (k.clone(), v))
                        .boxed()
                })
                .collect();
            parts
                .prop_map(|kv| Value::Map(kv.into_iter().collect()))
                .boxed()
        }
        Type::Tuple(ts) => {
            let parts: Vec<BoxedStrategy<Value>> =
                ts.iter().map(|t| value_of(t.clone(), depth + 1)).collect();
            parts.prop_map(Value::List).boxed()
        }
    };
    prop_oneof![
        1 => Just(Value::Null),
        1 => Just(Value::Unknown),
        8 => leaf,
    ]
    .boxed()
}

/// Everything the provider does with a config, plan or state value.
fn exercise(r: &dyn Resource, v: &Value) {
    let schema = r.schema();
    let mut d = Diagnostics::new();
    tfplugin::validate::validate_block(&schema.block, v, &mut d);
    r.validate(v, &mut d);
    let mut planned = v.clone();
    r.modify_plan(&Value::Null, v, &mut planned, &mut d);
    let mut planned = v.clone();
    r.modify_plan(v, v, &mut planned, &mut d);
    // whatever the provider plans must encode under its own schema
    let ty = schema.cty_type();
    if let Ok(bytes) = tfplugin::value::to_msgpack(&planned, &ty) {
        let _ = tfplugin::value::from_msgpack(&bytes, &ty);
    }
}

#[test]
fn configs_of_every_shape_never_panic() {
    let p = geowp_provider::provider();
    for r in &p.resources {
        let r = r.clone();
        let ty = r.schema().cty_type();
        fuzz(r.type_name(), value_of(ty, 0), |v| {
            exercise(r.as_ref(), &v);
            if let Ok(spec) = <geowp_stack::render::StackSpec as Model>::from_value(&v) {
                let objs =
                    geowp_stack::render::render(&spec, &geowp_stack::render::Inputs::placeholder());
                prop_assert!(!objs.is_empty());
            }
            Ok(())
        });
    }
}

#[test]
fn mostly_valid_stacks_render_or_are_refused_without_panicking() {
    // a valid config with one attribute replaced by a hostile value: the
    // mutants get past decoding far more often than random values do
    let base = |member: &str| {
        let m = |i: u8| {
            Value::object([
                (
                    "pd_client_url",
                    Value::str(format!("http://10.0.{i}.1:2379")),
                ),
                ("pd_peer_url", Value::str(format!("http://10.0.{i}.1:2380"))),
                ("tikv_address", Value::str(format!("10.0.{i}.2:20160"))),
                (
                    "syncthing_address",
                    Value::str(format!("tcp://10.0.{i}.3:22000")),
                ),
            ])
        };
        Value::object([
            ("member", Value::str(member)),
            ("site_name", Value::str("blog")),
            ("site_url", Value::str("https://blog.example.com")),
            (
                "members",
                Value::object([("us-east", m(0)), ("eu-west", m(1)), ("ap-south", m(2))]),
            ),
        ])
    };
    let attrs: Vec<String> = <geowp_stack::render::StackSpec as Model>::attributes()
        .into_iter()
        .map(|a| a.name)
        .collect();
    let stack = geowp_provider::provider()
        .resources
        .into_iter()
        .find(|r| r.type_name() == "geowp_cluster_stack")
        .expect("the stack resource");
    fuzz(
        "stack mutants",
        (prop::sample::select(attrs), hostile_string(), any::<bool>()),
        |(attr, s, as_number)| {
            let mut v = base("us-east");
            v.set(
                &attr,
                if as_number {
                    Value::int(s.len() as i64)
                } else {
                    Value::String(s)
                },
            );
            exercise(stack.as_ref(), &v);
            if let Ok(spec) = <geowp_stack::render::StackSpec as Model>::from_value(&v) {
                let _ =
                    geowp_stack::render::render(&spec, &geowp_stack::render::Inputs::placeholder());
            }
            Ok(())
        },
    );
}

#[test]
fn random_wire_bytes_never_panic_the_decoder() {
    let types: Vec<Type> = geowp_provider::provider()
        .resources
        .iter()
        .map(|r| r.schema().cty_type())
        .collect();
    fuzz("msgpack", prop::collection::vec(any::<u8>(), 0..512), |b| {
        for t in &types {
            let _ = tfplugin::value::from_msgpack(&b, t);
        }
        Ok(())
    });
}

const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority-data: Q0E=\nusers:\n- name: u\n  user:\n    token: tok\ncontexts:\n- name: east\n  context:\n    cluster: c\n    user: u\ncurrent-context: east\n";

#[test]
fn mutated_kubeconfigs_never_panic() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mutation = (0usize..KUBECONFIG.len(), hostile_string(), 0usize..8);
    fuzz("kubeconfig", mutation, |(at, insert, cut)| {
        let mut at = at;
        while !KUBECONFIG.is_char_boundary(at) {
            at -= 1;
        }
        let end = (at + cut).min(KUBECONFIG.len());
        let end = (end..=KUBECONFIG.len())
            .find(|i| KUBECONFIG.is_char_boundary(*i))
            .unwrap_or(KUBECONFIG.len());
        let text = format!("{}{}{}", &KUBECONFIG[..at], insert, &KUBECONFIG[end..]);
        if let Ok(doc) = geowp_kubeconfig::parse(&text, None) {
            let _ = doc.contexts();
            let _ = doc.credentials(None);
        }
        let _ = ClusterModel::from_kubeconfig(&text, "east");
        let settings = Value::object([("kubeconfig", Value::String(text.clone()))]);
        let mut d = Diagnostics::new();
        ClusterModel::partial(&settings, &AttrPath::default())
            .check(&AttrPath::root("cluster"), &mut d);
        let conn = geowp_kube::Connection {
            kubeconfig: Some(text),
            ..Default::default()
        };
        let _ = rt.block_on(geowp_kube::connect(
            &conn,
            tokio::time::Instant::now() + Duration::from_secs(1),
            Default::default(),
        ));
        Ok(())
    });
}
