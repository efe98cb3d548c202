//! The provider service in-process: a real tonic server on 127.0.0.1:0 and
//! the generated client, speaking protocol 6 messages as Terraform would.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tfplugin::diag::{AttrPath, Diagnostics};
use tfplugin::proto::tfplugin6 as pb;
use tfplugin::proto::tfplugin6::provider_client::ProviderClient;
use tfplugin::proto::tfplugin6::provider_server::ProviderServer as Svc;
use tfplugin::provider::{Ctx, ProviderServer, Resource};
use tfplugin::value::{from_msgpack, to_msgpack};
use tfplugin::{Attribute, Block, PlanRules, ProviderDef, Schema, Type, Value};
use tonic::transport::Channel;

struct Slow;

#[tfplugin::async_trait]
impl Resource for Slow {
    fn type_name(&self) -> &'static str {
        "t_slow"
    }
    fn schema(&self) -> Schema {
        Schema::new(
            3,
            Block::new("slow thing")
                .attr(Attribute::computed("id", Type::String, "id"))
                .attr(Attribute::required("name", Type::String, "name"))
                .attr(Attribute::optional(
                    "labels",
                    Type::map(Type::String),
                    "labels",
                ))
                .attr(Attribute::optional("token", Type::String, "token").sensitive()),
        )
    }
    fn plan_rules(&self) -> PlanRules {
        PlanRules {
            requires_replace: vec!["name"],
            keep_state_when_unknown: vec!["id"],
        }
    }
    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        if config.get("name").as_str() == Some("") {
            diags.error_at(AttrPath::root("name"), "Empty name", "set a name");
        }
        if let Some(m) = config.get("labels").as_map() {
            for (k, v) in m {
                if v.as_str() == Some("") {
                    diags.error_at(
                        AttrPath::root("labels").key(k),
                        "Empty label",
                        "give it a value",
                    );
                }
            }
        }
    }
    async fn create(&self, ctx: &mut Ctx, planned: &Value, diags: &mut Diagnostics) -> Value {
        if ctx
            .run(tokio::time::sleep(Duration::from_secs(60)))
            .await
            .is_err()
        {
            diags.error("Interrupted", "stopped");
            return Value::Null;
        }
        planned.clone()
    }
    async fn read(&self, _ctx: &mut Ctx, state: &Value, _d: &mut Diagnostics) -> Value {
        state.clone()
    }
    async fn update(
        &self,
        _ctx: &mut Ctx,
        _p: &Value,
        planned: &Value,
        _d: &mut Diagnostics,
    ) -> Value {
        planned.clone()
    }
    async fn delete(&self, _ctx: &mut Ctx, _p: &Value, _d: &mut Diagnostics) {}
}

fn ty() -> Type {
    Slow.schema().cty_type()
}

fn dv(v: &Value) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: to_msgpack(v, &ty()).unwrap(),
        json: vec![],
    })
}

async fn start() -> ProviderClient<Channel> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let def = ProviderDef {
        name: "t",
        schema: Schema::new(0, Block::new("test provider")),
        resources: vec![Arc::new(Slow)],
        data_sources: vec![],
    };
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(Svc::new(ProviderServer::new(def)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    ProviderClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

#[tokio::test]
async fn schema_is_served_with_flags_and_version() {
    let mut c = start().await;
    let r = c
        .get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .unwrap()
        .into_inner();
    let s = &r.resource_schemas["t_slow"];
    assert_eq!(s.version, 3);
    let b = s.block.as_ref().unwrap();
    let token = b.attributes.iter().find(|a| a.name == "token").unwrap();
    assert!(token.sensitive && token.optional);
    assert_eq!(
        Type::from_json(
            &serde_json::from_slice(
                &b.attributes
                    .iter()
                    .find(|a| a.name == "labels")
                    .unwrap()
                    .r#type
            )
            .unwrap()
        )
        .unwrap(),
        Type::map(Type::String)
    );
}

#[tokio::test]
async fn validation_collects_all_problems_as_diagnostics_with_paths() {
    let mut c = start().await;
    let cfg = Value::object([
        ("name", Value::str("")),
        (
            "labels",
            Value::object([
                ("a", Value::str("")),
                ("b", Value::str("ok")),
                ("c", Value::str("")),
            ]),
        ),
    ]);
    let r = c
        .validate_resource_config(pb::validate_resource_config::Request {
            type_name: "t_slow".into(),
            config: dv(&cfg),
        })
        .await
        .expect("a user mistake must not be a gRPC error")
        .into_inner();
    let paths: Vec<String> = r
        .diagnostics
        .iter()
        .map(|d| AttrPath::from(d.attribute.as_ref().unwrap()).to_string())
        .collect();
    // a path into a map points at the map attribute (the line Terraform
    // can show); the key is in the detail
    assert_eq!(paths, vec!["name", "labels", "labels"]);
    assert!(
        r.diagnostics[1].detail.starts_with("labels[\"a\"]"),
        "{}",
        r.diagnostics[1].detail
    );
    assert!(
        r.diagnostics[2].detail.starts_with("labels[\"c\"]"),
        "{}",
        r.diagnostics[2].detail
    );
}

#[tokio::test]
async fn unknown_type_and_garbage_values_are_diagnostics() {
    let mut c = start().await;
    let r = c
        .validate_resource_config(pb::validate_resource_config::Request {
            type_name: "t_nope".into(),
            config: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        r.diagnostics[0].detail.contains("t_slow"),
        "{:?}",
        r.diagnostics
    );
    let r = c
        .plan_resource_change(pb::plan_resource_change::Request {
            type_name: "t_slow".into(),
            config: Some(pb::DynamicValue {
                msgpack: vec![0x81, 0xa2],
                json: vec![],
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.diagnostics[0].summary, "Invalid value from Terraform");
    assert!(r.planned_state.is_none());
}

#[tokio::test]
async fn plan_keeps_nested_unknowns_and_reports_replacement() {
    let mut c = start().await;
    let prior = Value::object([
        ("id", Value::str("x")),
        ("name", Value::str("a")),
        ("labels", Value::Null),
        ("token", Value::Null),
    ]);
    let proposed = Value::object([
        ("id", Value::str("x")),
        ("name", Value::str("b")),
        ("labels", Value::object([("k", Value::Unknown)])),
        ("token", Value::Null),
    ]);
    let config = Value::object([
        ("name", Value::str("b")),
        ("labels", Value::object([("k", Value::Unknown)])),
    ]);
    let r = c
        .plan_resource_change(pb::plan_resource_change::Request {
            type_name: "t_slow".into(),
            prior_state: dv(&prior),
            proposed_new_state: dv(&proposed),
            config: dv(&config),
            prior_private: b"{\"k\":\"v\"}".to_vec(),
            provider_meta: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    let planned = from_msgpack(&r.planned_state.unwrap().msgpack, &ty()).unwrap();
    assert_eq!(planned.get("labels").get("k"), &Value::Unknown);
    assert_eq!(planned.get("id"), &Value::str("x"), "id kept from state");
    assert_eq!(r.requires_replace.len(), 1);
    assert_eq!(AttrPath::from(&r.requires_replace[0]).to_string(), "name");
    assert_eq!(
        r.planned_private, b"{\"k\":\"v\"}",
        "private state carried through the plan"
    );
}

#[tokio::test]
async fn upgrade_reads_json_state_into_msgpack() {
    let mut c = start().await;
    let r = c
        .upgrade_resource_state(pb::upgrade_resource_state::Request {
            type_name: "t_slow".into(),
            version: 3,
            raw_state: Some(pb::RawState {
                json: br#"{"id":"x","name":"a","labels":{"k":"v"},"token":null}"#.to_vec(),
                flatmap: Default::default(),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let v = from_msgpack(&r.upgraded_state.unwrap().msgpack, &ty()).unwrap();
    assert_eq!(v.get("labels").get("k"), &Value::str("v"));
    // a version this provider does not know is refused clearly
    let r = c
        .upgrade_resource_state(pb::upgrade_resource_state::Request {
            type_name: "t_slow".into(),
            version: 9,
            raw_state: Some(pb::RawState {
                json: b"{}".to_vec(),
                flatmap: Default::default(),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.diagnostics[0].summary, "Unsupported state version");
}

#[tokio::test]
async fn stop_provider_cancels_an_apply_in_flight() {
    let mut c = start().await;
    let mut c2 = c.clone();
    let planned = Value::object([
        ("id", Value::str("x")),
        ("name", Value::str("a")),
        ("labels", Value::Null),
        ("token", Value::Null),
    ]);
    let t = Instant::now();
    let apply = tokio::spawn(async move {
        c2.apply_resource_change(pb::apply_resource_change::Request {
            type_name: "t_slow".into(),
            prior_state: dv(&Value::Null),
            planned_state: dv(&planned),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.stop_provider(pb::stop_provider::Request {})
        .await
        .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(5), apply)
        .await
        .expect("apply did not stop")
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(r.diagnostics[0].summary, "Interrupted");
    // the stop is permanent: work arriving later does not start either
    let r = c
        .apply_resource_change(pb::apply_resource_change::Request {
            type_name: "t_slow".into(),
            prior_state: dv(&Value::Null),
            planned_state: dv(&Value::object([("name", Value::str("late"))])),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.diagnostics[0].summary, "Interrupted");
}
