//! Benchmarks of the fake API server (issue: it must not be the bottleneck)
//! and of geowp_cluster_stack's apply against a sequential one-object-at-a-
//! time apply of the same objects, with a simulated cross-region latency.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fakeapi::Options;
use geowp_stack::render::{self, Obj};
use geowp_tests::regions::Regions;
use geowp_tests::{MirroredProvider, Tf};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

fn api(c: &kube::Client, o: &Obj) -> Api<DynamicObject> {
    let (g, v) =
        o.id.api_version
            .split_once('/')
            .unwrap_or(("", &o.id.api_version));
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(g, v, &o.id.kind));
    if o.id.namespace.is_empty() {
        Api::all_with(c.clone(), &ar)
    } else {
        Api::namespaced_with(c.clone(), &o.id.namespace, &ar)
    }
}

async fn client_for(kubeconfig_yaml: &str) -> kube::Client {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig_yaml).expect("kubeconfig");
    kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("config"),
    )
    .expect("client")
}

fn site_objects(members: usize, member: usize, namespace: &str) -> Vec<Obj> {
    let names: Vec<String> = (0..members).map(|i| format!("m{i}")).collect();
    // the schema's defaults fill everything a minimal config leaves out
    let members = tfplugin::Value::Map(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    n.clone(),
                    tfplugin::Value::object([
                        (
                            "pd_client_url",
                            tfplugin::Value::str(format!("http://10.{i}.0.1:2379")),
                        ),
                        (
                            "pd_peer_url",
                            tfplugin::Value::str(format!("http://10.{i}.0.1:2380")),
                        ),
                        (
                            "tikv_address",
                            tfplugin::Value::str(format!("10.{i}.0.2:20160")),
                        ),
                        (
                            "syncthing_address",
                            tfplugin::Value::str(format!("tcp://10.{i}.0.3:22000")),
                        ),
                    ]),
                )
            })
            .collect(),
    );
    let config = tfplugin::Value::object([
        ("site_name", tfplugin::Value::str("bench")),
        ("member", tfplugin::Value::str(&names[member])),
        ("namespace", tfplugin::Value::str(namespace)),
        ("site_url", tfplugin::Value::str("https://bench.example")),
        ("members", members),
    ]);
    let spec = <render::StackSpec as tfplugin::Model>::from_value(&config).expect("a valid spec");
    let secrets = render::Secrets {
        tidb_root_password: "x".repeat(32),
        wordpress_db_password: "y".repeat(32),
        salts: geowp_common::names::SALT_NAMES
            .iter()
            .map(|n| (n.to_string(), "z".repeat(64)))
            .collect(),
        backup_password: String::new(),
        backup_credentials: Default::default(),
    };
    let id = geowp_syncthing::identity::generate().expect("identity");
    let st = render::SyncthingSecrets {
        cert_pem: id.cert_pem,
        key_pem: id.key_pem,
        device_id: id.device_id,
        api_key: "k".repeat(32),
    };
    let ca = geowp_stack::pki::new_ca("bench").expect("CA");
    let tls = render::TlsMaterial {
        cert_pem: ca.cert_pem.clone(),
        key_pem: ca.key_pem,
        ca_pem: ca.cert_pem,
    };
    render::render(
        &spec,
        &render::Inputs {
            secrets,
            syncthing: st,
            tls,
            wp_content_uid: Some("bench".into()),
            pd: None,
        },
    )
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .map(|v| v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

/// Requests per second of applies and gets on loopback, and the server's
/// memory holding the objects of 30 stacks (the release binary `make demo` runs).
pub fn fakeapi(root: &Path) -> String {
    eprintln!("[bench] fake API server: loading 30 stacks, then applies and gets");
    let dir = tempfile::tempdir().expect("tmp");
    let bin = root.join("target/release/geowp-fake-apiserver");
    let mut child = Command::new(&bin)
        .args(["--name", "bench"])
        .arg("--kubeconfig")
        .arg(dir.path().join("kc"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the release fake API server (make bench builds it)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("listening line");
    let pid = child.id();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let kc = std::fs::read_to_string(dir.path().join("kc")).expect("kubeconfig");
    let idle_kb = rss_kb(pid, "VmRSS:");
    let (objects, applies_rps, gets_rps) = rt.block_on(async {
        let c = client_for(&kc).await;
        let pp = PatchParams::apply("bench");
        let mut count = 0;
        for n in 0..30 {
            let objs = site_objects(3, n % 3, &format!("geowp-{n}"));
            for wave in geowp_kube::Wave::ALL {
                let futs = objs.iter().filter(|o| o.wave() == wave).map(|o| {
                    let a = api(&c, o);
                    let pp = pp.clone();
                    async move { a.patch(&o.id.name, &pp, &Patch::Apply(&o.body)).await.expect("apply") }
                });
                count += futures_util::future::join_all(futs).await.len();
            }
        }
        let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(c.clone(), "geowp-0");
        let n_apply = 2000usize;
        let t = Instant::now();
        let sem = Arc::new(tokio::sync::Semaphore::new(16));
        let futs = (0..n_apply).map(|i| {
            let cms = cms.clone();
            let pp = pp.clone();
            let sem = sem.clone();
            async move {
                let _p = sem.acquire().await.expect("sem");
                let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("bench-{}", i % 200), "namespace": "geowp-0"}, "data": {"i": i.to_string()}});
                cms.patch(&format!("bench-{}", i % 200), &pp, &Patch::Apply(body)).await.expect("apply");
            }
        });
        futures_util::future::join_all(futs).await;
        let applies = n_apply as f64 / t.elapsed().as_secs_f64();
        let n_get = 5000usize;
        let t = Instant::now();
        let futs = (0..n_get).map(|i| {
            let cms = cms.clone();
            let sem = sem.clone();
            async move {
                let _p = sem.acquire().await.expect("sem");
                cms.get(&format!("bench-{}", i % 200)).await.expect("get");
            }
        });
        futures_util::future::join_all(futs).await;
        let gets = n_get as f64 / t.elapsed().as_secs_f64();
        (count, applies, gets)
    });
    let rss = rss_kb(pid, "VmRSS:");
    let hwm = rss_kb(pid, "VmHWM:");
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let _ = child.wait();
    format!(
        "| fake API server (release binary, loopback, no injected delay, 16 concurrent) | value |\n|---|---|\n| server-side applies per second (ConfigMaps) | {applies_rps:.0} |\n| gets per second | {gets_rps:.0} |\n| objects of 30 stacks loaded | {objects} |\n| RSS idle (MB) | {:.1} |\n| RSS holding 30 stacks + 200 ConfigMaps (MB) | {:.1} |\n| peak RSS (MB) | {:.1} |\n",
        idle_kb as f64 / 1024.0,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    )
}

fn module_config(r: &Regions, extra: &str) -> String {
    r.module_config("bench", extra)
}

fn total_requests(r: &Regions) -> u64 {
    (0..r.names.len())
        .map(|i| r.handle(i).request_count())
        .sum()
}

fn reset(r: &Regions) {
    for i in 0..r.names.len() {
        r.handle(i).reset_counts();
    }
}

fn latency(r: &Regions, d: Duration) {
    for i in 0..r.names.len() {
        r.handle(i).set_latency(d);
    }
}

/// Apply of three stacks through Terraform (concurrent regions, waves) next
/// to a sequential one-object-at-a-time apply, 50 ms per request; and
/// no-change plans of 3 and 30 stacks.
pub fn stack(_root: &Path) -> String {
    let lat = Duration::from_millis(50);
    let opts = Options {
        ready_delay: Duration::from_millis(0),
        ..Default::default()
    };
    let names3 = ["us-east", "eu-west", "ap-south"];

    eprintln!("[bench] stack: terraform apply of 3 stacks, 50 ms per request");
    let r = Regions::start(&names3, opts.clone());
    let tf = Tf::new(&[MirroredProvider::geowp()]);
    tf.write("main.tf", &module_config(&r, ""));
    tf.ok(&["init"]);
    latency(&r, lat);
    reset(&r);
    let t = Instant::now();
    tf.ok(&["apply", "-auto-approve"]);
    let ours = t.elapsed();
    let ours_req = total_requests(&r);
    let objects_per_stack = r.handle(0).objects().len().saturating_sub(2);
    reset(&r);
    let t = Instant::now();
    tf.ok(&["plan"]);
    let plan3 = t.elapsed();
    let plan3_req = total_requests(&r);

    eprintln!("[bench] stack: sequential one-object-at-a-time apply of the same objects, 50 ms per request");
    let seq = Regions::start(&names3, opts.clone());
    latency(&seq, lat);
    let (seq_time, seq_req) = seq.rt.block_on(async {
        let mut clients = Vec::new();
        for i in 0..3 {
            clients.push(client_for(&seq.handle(i).kubeconfig()).await);
        }
        let t = Instant::now();
        for (i, c) in clients.iter().enumerate() {
            let objs = site_objects(3, i, "geowp");
            for o in &objs {
                api(c, o)
                    .patch(
                        &o.id.name,
                        &PatchParams::apply("kubectl").force(),
                        &Patch::Apply(&o.body),
                    )
                    .await
                    .expect("apply");
            }
            // then wait for each workload in turn, polling like a script
            for o in objs
                .iter()
                .filter(|o| geowp_kube::conditions::needs_wait(&o.id.kind, &o.body))
            {
                loop {
                    let live = api(c, o).get(&o.id.name).await.expect("get");
                    let v = serde_json::to_value(&live).unwrap_or_default();
                    if geowp_kube::conditions::readiness(&o.id.kind, &v)
                        == geowp_kube::conditions::Readiness::Ready
                    {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        (t.elapsed(), 0u64)
    });
    let seq_req = seq_req + total_requests(&seq);
    drop(seq);
    tf.ok(&["destroy", "-auto-approve"]);
    drop(r);

    eprintln!("[bench] stack: no-change plan of 30 stacks (30 clusters), 50 ms per request");
    let names30: Vec<String> = (0..30).map(|i| format!("r{i}")).collect();
    let refs: Vec<&str> = names30.iter().map(String::as_str).collect();
    let r30 = Regions::start(&refs, opts);
    let tf30 = Tf::new(&[MirroredProvider::geowp()]);
    tf30.write("main.tf", &module_config(&r30, ""));
    tf30.ok(&["init"]);
    tf30.ok(&["apply", "-auto-approve", "-parallelism=30"]);
    latency(&r30, lat);
    reset(&r30);
    let t = Instant::now();
    tf30.ok(&["plan", "-parallelism=30"]);
    let plan30 = t.elapsed();
    let plan30_req = total_requests(&r30);
    latency(&r30, Duration::ZERO);
    tf30.ok(&["destroy", "-auto-approve", "-parallelism=30"]);

    format!(
        "| 50 ms per request | wall time (s) | requests |\n|---|---|---|\n| `terraform apply` of 3 stacks (geowp: regions concurrently, waves, watch waits) | {:.2} | {ours_req} |\n| sequential apply of the same objects, one at a time, then polling each workload | {:.2} | {seq_req} |\n| speed-up | {:.1}x | |\n| `terraform plan`, 3 stacks, no changes | {:.2} | {plan3_req} |\n| `terraform plan -parallelism=30`, 30 stacks, no changes | {:.2} | {plan30_req} |\n\n({objects_per_stack} objects per stack; the sequential figure leaves out kubectl's own start-up and discovery, so it flatters the baseline.)\n",
        ours.as_secs_f64(),
        seq_time.as_secs_f64(),
        seq_time.as_secs_f64() / ours.as_secs_f64(),
        plan3.as_secs_f64(),
        plan30.as_secs_f64()
    )
}

/// Three stacks written out (not through the module), so one can change alone.
fn direct_config(r: &Regions, extra_for_first: &str) -> String {
    r.stacks_config(&|i| {
        if i == 0 {
            extra_for_first.to_string()
        } else {
            String::new()
        }
    })
}

/// Lines of `terraform plan` output (with `-no-color`, refresh lines
/// included) for everyday changes, with each Terraform.
pub fn plan_sizes(_root: &Path) -> String {
    let opts = Options {
        ready_delay: Duration::from_millis(20),
        ..Default::default()
    };
    let mut rows = String::new();
    for terraform in geowp_tests::Terraform::all() {
        eprintln!("[bench] plans: sizes with Terraform {}", terraform.version);
        let r = Regions::start(&["us-east", "eu-west", "ap-south"], opts.clone());
        let tf = geowp_tests::Tf::with(&terraform, &[MirroredProvider::geowp()]);
        tf.write("main.tf", &direct_config(&r, ""));
        tf.ok(&["init"]);
        tf.ok(&["apply", "-auto-approve"]);
        let lines = |cfg: &str| {
            tf.write("main.tf", cfg);
            tf.ok(&["plan"]).lines().count()
        };
        let replicas = lines(&direct_config(&r, "  wordpress_replicas = 3"));
        let image = lines(&direct_config(
            &r,
            "  wordpress_image = \"wordpress:6.7.2-php8.3-apache\"",
        ));
        tf.write("main.tf", &direct_config(&r, ""));
        tf.ok(&["destroy", "-auto-approve"]);
        drop(r);
        // the module over three clusters: a TiDB upgrade everywhere
        let r = Regions::start(&["us-east", "eu-west", "ap-south"], opts.clone());
        let tfm = geowp_tests::Tf::with(&terraform, &[MirroredProvider::geowp()]);
        tfm.write("main.tf", &module_config(&r, ""));
        tfm.ok(&["init"]);
        tfm.ok(&["apply", "-auto-approve"]);
        tfm.write("main.tf", &module_config(&r, "  tidb_version = \"v8.5.2\""));
        let upgrade = tfm.ok(&["plan"]).lines().count();
        tfm.write("main.tf", &module_config(&r, ""));
        tfm.ok(&["destroy", "-auto-approve"]);
        rows.push_str(&format!(
            "| {} | {replicas} | {image} | {upgrade} |\n",
            terraform.version
        ));
    }
    format!(
        "| Terraform | `wordpress_replicas` of one stack of three | `wordpress_image` of one stack of three | `tidb_version` of all three stacks (module) |\n|---|---|---|---|\n{rows}\n(lines of `terraform plan -no-color`, its refresh lines included)\n"
    )
}
