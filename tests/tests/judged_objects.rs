//! What a three-region site installs, judged by tools we did not write:
//! real Terraform applies the geo-wordpress module to three fake API
//! servers; kubectl reads back every object each stack's inventory names;
//! `kubernetes-validate --strict` checks them against the real OpenAPI
//! schemas of Kubernetes 1.29 and 1.33, and checkov runs its Kubernetes
//! policies over them. Both come from PyPI (`scripts/tools.sh judges`).
//!
//! Server-written fields (status, managedFields) are dropped first: the
//! tools judge what we wrote, not what the fake server reports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fakeapi::Options;
use geowp_tests::regions::Regions;
use geowp_tests::{repo_root, run_with_timeout, MirroredProvider, Terraform, Tf};
use serde_json::Value;

/// checkov findings we accept, each for the objects it names and with its
/// reason. A finding not covered here fails the test; so does an entry
/// that no longer matches anything (the list must stay short and true).
const ACCEPTED: &[(&str, &[&str], &str)] = &[
    (
        "CKV_K8S_11",
        &["*"],
        "no CPU limits, on purpose: a limit throttles TiKV's and PHP's bursts through CFS quotas \
         even on idle nodes; CPU requests (set on every container) are what the scheduler and \
         fair sharing use",
    ),
    (
        "CKV_K8S_15",
        &["*"],
        "imagePullPolicy IfNotPresent with pinned tags: Always would make every restart in a \
         region depend on reaching the registry, which is what a region that lost its peers \
         may not have",
    ),
    (
        "CKV_K8S_43",
        &["*"],
        "images by tag, not digest: the tags are attributes the user sets (a digest works there \
         too, `image@sha256:...`); geowp does not resolve digests without a registry",
    ),
    (
        "CKV_K8S_22",
        &["Deployment.geowp.wordpress", "StatefulSet.geowp.nfs"],
        "writable root filesystem: the WordPress image copies WordPress into its document root \
         at start and Apache writes its pid, lock and PHP session files beside it; the NFS \
         server keeps its state under /var/lib/nfs. PD, TiKV, TiDB, SyncThing and the Jobs run \
         read-only with a small /tmp",
    ),
    (
        "CKV_K8S_23",
        &["StatefulSet.geowp.nfs"],
        "root: the NFS server must be root to export. Every other pod runs as a user (WordPress \
         as www-data, binding port 80 through the safe sysctl net.ipv4.ip_unprivileged_port_start)",
    ),
    (
        "CKV_K8S_40",
        &[
            "Deployment.geowp.wordpress",
            "Deployment.geowp.syncthing",
            "StatefulSet.geowp.nfs",
            "CronJob.geowp.wordpress-cron",
            "CronJob.geowp.geowp-backup",
            "CronJob.geowp.geowp-restore",
        ],
        "UIDs below 10000: WordPress, its cron runner, SyncThing and the backup and restore pods share \
         wp-content as www-data (33), the owner every region's copies keep; the NFS server runs as \
         root. TiDB's parts and the Jobs run as 10001",
    ),
    (
        "CKV_K8S_25",
        &["StatefulSet.geowp.nfs"],
        "capabilities added back after drop ALL, each named with its reason where it is \
         rendered: only the NFS server's (Ganesha serves files on behalf of any user)",
    ),
    (
        "CKV_K8S_38",
        &["StatefulSet.geowp.nfs"],
        "the NFS provisioner watches claims and creates PersistentVolumes, so its service \
         account token is mounted (only there)",
    ),
];

fn tool(name: &str) -> PathBuf {
    let p = repo_root().join(".tools/venv/bin").join(name);
    assert!(
        p.exists(),
        "{} is missing: run `make test` (it installs it) or `scripts/tools.sh judges`",
        p.display()
    );
    p
}

/// Whether `s` matches `pat`, where `*` stands for any run of characters.
fn glob(pat: &str, s: &str) -> bool {
    let parts: Vec<&str> = pat.split('*').collect();
    if parts.len() == 1 {
        return pat == s;
    }
    let mut rest = s;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(p) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else if let Some(at) = rest.find(p) {
            rest = &rest[at + p.len()..];
        } else {
            return false;
        }
    }
    true
}

/// Every object region `i`'s stack applied, read back with kubectl, minus
/// what the server writes.
fn read_back(r: &Regions, i: usize, inventory: &Value) -> Vec<Value> {
    let mut by_ns: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for item in inventory.as_object().expect("inventory").values() {
        let api = item["api_version"].as_str().unwrap();
        let group = api.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        let kind = item["kind"].as_str().unwrap().to_lowercase();
        let ty = if group.is_empty() {
            kind
        } else {
            format!("{kind}.{group}")
        };
        by_ns
            .entry(item["namespace"].as_str().unwrap().to_string())
            .or_default()
            .push(format!("{ty}/{}", item["name"].as_str().unwrap()));
    }
    let mut out = Vec::new();
    for (ns, names) in by_ns {
        let mut args: Vec<&str> = vec!["get", "-o", "json"];
        if !ns.is_empty() {
            args.extend(["-n", ns.as_str()]);
        }
        args.extend(names.iter().map(String::as_str));
        let o = r.kubectl(i, &args);
        assert!(
            o.status.success(),
            "kubectl get: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let list: Value = serde_json::from_slice(&o.stdout).expect("kubectl json");
        let items = match list["kind"].as_str() {
            Some("List") => list["items"].as_array().unwrap().clone(),
            _ => vec![list],
        };
        assert_eq!(items.len(), names.len(), "kubectl returned fewer objects");
        for mut it in items {
            let obj = it.as_object_mut().unwrap();
            obj.remove("status");
            let meta = obj["metadata"].as_object_mut().unwrap();
            meta.remove("managedFields");
            out.push(it);
        }
    }
    out
}

fn write_objects(dir: &Path, objs: &[Value]) {
    std::fs::create_dir_all(dir).unwrap();
    for (n, o) in objs.iter().enumerate() {
        // JSON is YAML: one object per file, named for the reader
        let name = format!(
            "{n:02}-{}-{}.yaml",
            o["kind"].as_str().unwrap().to_lowercase(),
            o["metadata"]["name"].as_str().unwrap()
        );
        std::fs::write(dir.join(name), serde_json::to_string_pretty(o).unwrap()).unwrap();
    }
}

#[test]
fn a_three_region_site_passes_kubernetes_validate_and_checkov() {
    let kv = tool("kubernetes-validate");
    let checkov = tool("checkov");
    let names = ["us-east", "eu-west", "ap-south"];
    let r = Regions::start(
        &names,
        Options {
            ready_delay: Duration::from_millis(20),
            ..Default::default()
        },
    );
    let tf = Tf::with(&Terraform::pinned(), &[MirroredProvider::geowp()]);
    tf.write(
        "main.tf",
        &r.module_config(
            "blog",
            r#"  primary_member     = "us-east"
  peer_service_annotations = { "networking.gke.io/load-balancer-type" = "Internal" }
  storage_class_provisioner = "ebs.csi.aws.com"
  storage_class_parameters  = { type = "gp3", encrypted = "true" }
  wordpress_service_annotations = { for n in ["us-east", "eu-west", "ap-south"] : n => { "service.beta.kubernetes.io/aws-load-balancer-ssl-ports" = "https" } }
  wordpress_tls_at_load_balancer = true
  backup_repository = "s3:https://s3.amazonaws.com/blog-backups/geowp"
"#,
        ),
    );
    tf.ok(&["init"]);
    tf.ok(&["apply", "-auto-approve"]);
    let state: Value = serde_json::from_str(&tf.ok(&["show", "-json"])).unwrap();
    let stacks: Vec<&Value> = state["values"]["root_module"]["child_modules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["resources"].as_array().unwrap())
        .filter(|res| res["type"] == "geowp_cluster_stack")
        .collect();
    assert_eq!(stacks.len(), 3);

    // checkov skips directories whose names start with a dot
    let out = tempfile::Builder::new()
        .prefix("geowp-judged-")
        .tempdir()
        .unwrap();
    let mut kinds = BTreeSet::new();
    let mut total = 0;
    for (i, n) in r.names.iter().enumerate() {
        let stack = stacks
            .iter()
            .find(|s| s["values"]["member"] == n.as_str())
            .unwrap();
        let objs = read_back(&r, i, &stack["values"]["inventory"]);
        total += objs.len();
        kinds.extend(objs.iter().map(|o| o["kind"].as_str().unwrap().to_string()));
        // the stack's own block class, which every ReadWriteOnce claim names
        assert!(
            objs.iter().any(|o| o["kind"] == "StorageClass"
                && o["metadata"]["name"] == "geowp-geowp-block"
                && o["provisioner"] == "ebs.csi.aws.com"),
            "{n}: no block StorageClass"
        );
        write_objects(&out.path().join(n), &objs);
    }
    for k in [
        "Deployment",
        "StatefulSet",
        "Job",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Secret",
    ] {
        assert!(kinds.contains(k), "no {k} among {kinds:?}");
    }

    // the real OpenAPI schemas, rejecting fields they do not define
    let files: Vec<PathBuf> = names
        .iter()
        .flat_map(|n| {
            let mut v: Vec<PathBuf> = std::fs::read_dir(out.path().join(n))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            v.sort();
            v
        })
        .collect();
    assert_eq!(files.len(), total);
    for version in ["1.29.0", "1.33.0"] {
        let mut c = Command::new(&kv);
        c.args(["--strict", "--quiet", "-k", version]).args(&files);
        let o = run_with_timeout(c, Duration::from_secs(300));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            o.status.success(),
            "kubernetes-validate --strict -k {version} rejects what we render:\n{text}"
        );
    }

    // checkov's Kubernetes policies, offline
    let mut c = Command::new(&checkov);
    c.args(["-d"])
        .arg(out.path())
        .args([
            "--framework",
            "kubernetes",
            "-o",
            "json",
            "--quiet",
            "--skip-download",
        ])
        .env("HOME", out.path())
        .env("CKV_SKIP_PACKAGE_UPDATE_CHECK", "true")
        .env("BC_SKIP_MAPPING", "TRUE")
        .env("LOG_LEVEL", "ERROR");
    let o = run_with_timeout(c, Duration::from_secs(600));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "checkov printed no JSON report ({e}):\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    let summary = &report["summary"];
    let passed = summary["passed"].as_u64().unwrap_or(0);
    assert!(
        passed > 300,
        "checkov ran too few checks to mean anything: {summary}"
    );
    assert_eq!(
        summary["parsing_errors"].as_u64(),
        Some(0),
        "checkov could not parse some objects: {summary}"
    );
    let failed = report["results"]["failed_checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut used = BTreeSet::new();
    let mut unexplained = Vec::new();
    for f in &failed {
        let id = f["check_id"].as_str().unwrap_or("");
        let res = f["resource"].as_str().unwrap_or("");
        match ACCEPTED
            .iter()
            .position(|(c, objs, _)| *c == id && objs.iter().any(|p| glob(p, res)))
        {
            Some(k) => {
                used.insert(k);
            }
            None => unexplained.push(format!(
                "{id} {res}: {}",
                f["check_name"].as_str().unwrap_or("")
            )),
        }
    }
    assert!(
        unexplained.is_empty(),
        "checkov findings without an accepted reason:\n{}",
        unexplained.join("\n")
    );
    let stale: Vec<&str> = ACCEPTED
        .iter()
        .enumerate()
        .filter(|(k, _)| !used.contains(k))
        .map(|(_, (c, _, _))| *c)
        .collect();
    assert!(
        stale.is_empty(),
        "accepted findings checkov no longer reports (drop them): {stale:?}"
    );
    println!(
        "checkov: {passed} passed, {} accepted findings over {total} objects of 3 regions",
        failed.len()
    );
}
