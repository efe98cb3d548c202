//! Pure: the pods a cluster's workloads want, how each container's image
//! runs on this machine, and the translation of container paths and
//! Service names into this machine's paths and addresses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// A pod some workload wants.
#[derive(Clone, Debug, PartialEq)]
pub struct Want {
    pub namespace: String,
    pub name: String,
    /// `Deployment`, `StatefulSet` or `Job`, and its name.
    pub owner_kind: String,
    pub owner: String,
    /// Hash of the pod template: a new one replaces the pod.
    pub hash: String,
    pub labels: BTreeMap<String, String>,
    /// The pod spec.
    pub spec: Value,
    /// A StatefulSet pod's ordinal.
    pub ordinal: Option<u32>,
    /// A Deployment with the Recreate strategy: old pods go before new ones start.
    pub recreate: bool,
}

impl Want {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// FNV-1a of `s`, 8 hex digits.
pub fn hash(s: &str) -> String {
    let h = s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    format!("{:08x}", h & 0xffff_ffff)
}

fn labels_of(tpl: &Value) -> BTreeMap<String, String> {
    tpl["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The pods of one workload (`kind` Deployment, StatefulSet or Job).
pub fn wanted(kind: &str, obj: &Value) -> Vec<Want> {
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    if !obj["metadata"]["deletionTimestamp"].is_null() {
        return vec![];
    }
    let tpl = &obj["spec"]["template"];
    let h = hash(&tpl.to_string());
    let replicas = obj["spec"]["replicas"].as_u64().unwrap_or(1) as u32;
    let want = |pod: String, ordinal: Option<u32>| Want {
        namespace: ns.to_string(),
        name: pod,
        owner_kind: kind.to_string(),
        owner: name.to_string(),
        hash: h.clone(),
        labels: labels_of(tpl),
        spec: tpl["spec"].clone(),
        ordinal,
        recreate: obj["spec"]["strategy"]["type"] == "Recreate",
    };
    match kind {
        "Deployment" => (0..replicas)
            .map(|i| want(format!("{name}-{h}-{i}"), None))
            .collect(),
        "StatefulSet" => (0..replicas)
            .map(|i| want(format!("{name}-{i}"), Some(i)))
            .collect(),
        "Job" => vec![want(format!("{name}-run"), None)],
        _ => vec![],
    }
}

/// How a container's image runs here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Adapter {
    /// `wordpress:*`: Debian's WordPress under PHP's web server.
    WordPress,
    /// `syncthing/syncthing:*`: Debian's syncthing.
    SyncThing,
    /// Images of a shell and clients (`busybox`, `mysql`, `alpine`,
    /// `debian`, `restic/restic`): the container's command, run here
    /// unchanged with the machine's `sh`, Debian's `mariadb-client` and
    /// Debian's `restic`.
    Shell,
    /// `varnish:*`: Debian's varnishd with the container's arguments and
    /// VCL, its backend's Service name made this machine's address.
    Varnish,
    /// `pingcap/tidb:*`: no TiDB binary can be installed here; its command
    /// line and config are read as tidb-server reads them (`strict`), and
    /// the pod's SQL port leads to the one MariaDB server every region
    /// shares.
    TidbStandIn,
    /// Not run: said why.
    Simulated(String),
}

pub fn adapter(image: &str) -> Adapter {
    let repo = image.split(['@', ':']).next().unwrap_or(image);
    let repo = repo
        .trim_start_matches("docker.io/")
        .trim_start_matches("library/");
    match repo {
        "wordpress" => Adapter::WordPress,
        "syncthing/syncthing" => Adapter::SyncThing,
        "varnish" => Adapter::Varnish,
        "busybox" | "mysql" | "alpine" | "debian" | "mariadb" | "restic/restic" => Adapter::Shell,
        "pingcap/tidb" => Adapter::TidbStandIn,
        "pingcap/pd" => Adapter::Simulated(
            "PD cannot run here (no TiDB binaries): its command line and config are read as pd-server reads them (strict.rs), then simulated ready".into(),
        ),
        "pingcap/tikv" => Adapter::Simulated(
            "TiKV cannot run here (no TiDB binaries): its command line and config are read as tikv-server reads them (strict.rs), then simulated ready".into(),
        ),
        r if r.contains("nfs") => Adapter::Simulated(
            "no NFS in this kernel: simulated ready; its volumes are directories of this machine"
                .into(),
        ),
        r => Adapter::Simulated(format!("no local stand-in for image {r}: simulated ready")),
    }
}

/// Container path -> path on this machine, for one container.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mounts(pub Vec<(String, PathBuf)>);

impl Mounts {
    /// The host path of `p` when it is at or under a mount (the longest wins).
    pub fn host(&self, p: &str) -> Option<PathBuf> {
        self.0
            .iter()
            .filter(|(c, _)| p == c || p.starts_with(&format!("{}/", c.trim_end_matches('/'))))
            .max_by_key(|(c, _)| c.len())
            .map(|(c, h)| {
                let rest = p[c.len()..].trim_start_matches('/');
                if rest.is_empty() {
                    h.clone()
                } else {
                    h.join(rest)
                }
            })
    }

    /// `p` translated when under a mount, else as it is.
    pub fn path(&self, p: &str) -> String {
        self.host(p)
            .map(|h| h.display().to_string())
            .unwrap_or_else(|| p.to_string())
    }

    /// Every mount path in a script replaced by its host path (where it
    /// stands as a path: after a space, quote, `=`, `;` or a redirection,
    /// and followed by `/`, a quote, space or the end).
    pub fn script(&self, s: &str) -> String {
        let mut mounts: Vec<&(String, PathBuf)> = self.0.iter().collect();
        mounts.sort_by_key(|(c, _)| std::cmp::Reverse(c.len()));
        let mut out = String::new();
        let mut i = 0;
        let b = s.as_bytes();
        'outer: while i < s.len() {
            let before_ok = i == 0
                || matches!(
                    b[i - 1],
                    b' ' | b'"' | b'\'' | b'\n' | b'=' | b'\t' | b';' | b'>' | b'<'
                );
            if before_ok && b[i] == b'/' {
                for (c, h) in &mounts {
                    if s[i..].starts_with(c.as_str()) {
                        let end = i + c.len();
                        let after_ok = end == s.len()
                            || matches!(b[end], b'/' | b' ' | b'"' | b'\'' | b'\n' | b';' | b'\t');
                        if after_ok {
                            out.push_str(&h.display().to_string());
                            i = end;
                            continue 'outer;
                        }
                    }
                }
            }
            let ch = s[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
        out
    }
}

/// `SERVICE[.NAMESPACE[.svc[.cluster.local]]][:PORT]` with its cluster IP
/// when the Service exists (`services`: (namespace, name) -> cluster IP);
/// anything else as it is.
pub fn service_address(
    value: &str,
    namespace: &str,
    services: &BTreeMap<(String, String), String>,
) -> String {
    let (host, port) = match value.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) => (h, Some(p)),
        _ => (value, None),
    };
    let parts: Vec<&str> = host.split('.').collect();
    let (svc, ns) = match parts.as_slice() {
        [s] => (*s, namespace),
        [s, n] | [s, n, "svc"] | [s, n, "svc", "cluster", "local"] => (*s, *n),
        _ => return value.to_string(),
    };
    match services.get(&(ns.to_string(), svc.to_string())) {
        Some(ip) if ip != "None" => match port {
            Some(p) => format!("{ip}:{p}"),
            None => ip.clone(),
        },
        _ => value.to_string(),
    }
}

/// A VCL with each backend's `.host` and `.port` (a Service name and its
/// port) made the Service's address here, as cluster DNS would resolve it
/// when varnishd loads the VCL.
pub fn vcl_backends(
    vcl: &str,
    namespace: &str,
    services: &BTreeMap<(String, String), String>,
) -> String {
    let mut host = None;
    let mut out = Vec::new();
    for line in vcl.lines() {
        let t = line.trim_start();
        let quoted = |l: &str| l.split('"').nth(1).map(String::from);
        if t.starts_with(".host") {
            host = quoted(t);
            continue;
        }
        if t.starts_with(".port") {
            if let (Some(h), Some(p)) = (host.take(), quoted(t)) {
                let addr = service_address(&format!("{h}:{p}"), namespace, services);
                let (h, p) = addr.rsplit_once(':').unwrap_or((&addr, &p));
                let indent = &line[..line.len() - t.len()];
                out.push(format!("{indent}.host = \"{h}\";"));
                out.push(format!("{indent}.port = \"{p}\";"));
                continue;
            }
        }
        out.push(line.to_string());
    }
    out.join("\n") + "\n"
}

/// varnishd's arguments here from the container's: the VCL at `vcl` (its
/// backends translated), listeners on the pod's address `ip`, the work
/// directory through `path` (container path -> this machine's), and no
/// jail, as varnishd runs when not started as root (as in the pod).
pub fn varnish_args(
    given: &[String],
    vcl: &Path,
    ip: std::net::Ipv4Addr,
    path: impl Fn(&str) -> String,
) -> Vec<String> {
    let mut args: Vec<String> = vec!["-j".into(), "none".into()];
    let mut i = 0;
    while i < given.len() {
        let flag = given[i].as_str();
        let value = given.get(i + 1).cloned().unwrap_or_default();
        match flag {
            "-F" => {
                args.push("-F".into());
                i += 1;
                continue;
            }
            "-f" => args.extend(["-f".into(), vcl.display().to_string()]),
            "-n" => args.extend(["-n".into(), path(&value)]),
            "-a" => {
                let local = match value.split_once("=:") {
                    Some((name, rest)) => format!("{name}={ip}:{rest}"),
                    None => format!("{ip}{value}"),
                };
                args.extend(["-a".into(), local]);
            }
            _ => args.extend([flag.to_string(), value]),
        }
        i += 2;
    }
    args
}

/// Whether an environment value names a host, so that a Service name in
/// it is resolved as cluster DNS would: `NAME:PORT`, a name under `.svc`,
/// or any value of a variable whose name ends in `HOST`. (Without DNS the
/// runtime must guess where a program will look a name up; a database
/// called `wordpress` must stay `wordpress` beside a Service called so.)
pub fn names_a_host(var: &str, value: &str) -> bool {
    let port = value
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
    port || value.contains(".svc") || var.ends_with("HOST")
}

/// A container's port by name (for probes and Service target ports).
pub fn named_port(spec: &Value, name: &str) -> Option<u16> {
    for c in spec["containers"].as_array().into_iter().flatten() {
        for p in c["ports"].as_array().into_iter().flatten() {
            if p["name"] == name {
                return p["containerPort"].as_u64().map(|n| n as u16);
            }
        }
    }
    None
}

/// An IntOrString port of a probe or Service.
pub fn port_of(v: &Value, spec: &Value) -> Option<u16> {
    match v {
        Value::Number(n) => n.as_u64().map(|n| n as u16),
        Value::String(s) => s.parse().ok().or_else(|| named_port(spec, s)),
        _ => None,
    }
}

/// Whether `labels` match a selector map.
pub fn selects(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    match selector.as_object() {
        Some(m) if !m.is_empty() => m
            .iter()
            .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str()),
        _ => false,
    }
}

/// The claim a StatefulSet pod's volume template resolves to.
pub fn template_claim(template: &str, sts: &str, ordinal: u32) -> String {
    format!("{template}-{sts}-{ordinal}")
}

/// Why a claim cannot be mounted yet, if it cannot: it names a
/// StorageClass that does not exist yet, or one whose provisioner no
/// StatefulSet of this cluster serves yet. A real cluster leaves such a
/// claim Pending and the pods that mount it unstarted; starting them on a
/// directory of their own instead would split one volume in two (the pod
/// and the NFS server's export each with its own files).
pub fn claim_pending(
    namespace: &str,
    claim: &str,
    claims: &[Value],
    classes: &[Value],
    statefulsets: &[Value],
) -> Option<String> {
    let pvc = claims
        .iter()
        .find(|c| c["metadata"]["namespace"] == namespace && c["metadata"]["name"] == claim)?;
    let class = pvc["spec"]["storageClassName"].as_str()?;
    let Some(provisioner) = classes
        .iter()
        .find(|c| c["metadata"]["name"] == class)
        .and_then(|c| c["provisioner"].as_str())
    else {
        return Some(format!(
            "claim {namespace}/{claim} is Pending: its StorageClass {class} does not exist yet"
        ));
    };
    let flag = format!("-provisioner={provisioner}");
    let served = statefulsets.iter().any(|sts| {
        sts["spec"]["template"]["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| {
                c["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|a| a.as_str() == Some(flag.as_str()))
            })
    });
    (!served).then(|| {
        format!("claim {namespace}/{claim} is Pending: no provisioner here serves StorageClass {class} ({provisioner})")
    })
}

/// The directory of a claim: `volumes/NS/CLAIM`, except a claim of a
/// StorageClass whose provisioner a StatefulSet of this cluster serves
/// (`-provisioner=NAME`): that server keeps it in its export claim's
/// `pvc-UID` directory, as an NFS provisioner does on a real node.
pub fn claim_dir(
    root: &Path,
    namespace: &str,
    claim: &str,
    claims: &[Value],
    classes: &[Value],
    statefulsets: &[Value],
) -> PathBuf {
    let plain = root.join("volumes").join(namespace).join(claim);
    let Some(pvc) = claims
        .iter()
        .find(|c| c["metadata"]["namespace"] == namespace && c["metadata"]["name"] == claim)
    else {
        return plain;
    };
    let (Some(class), Some(uid)) = (
        pvc["spec"]["storageClassName"].as_str(),
        pvc["metadata"]["uid"].as_str(),
    ) else {
        return plain;
    };
    let Some(provisioner) = classes
        .iter()
        .find(|c| c["metadata"]["name"] == class)
        .and_then(|c| c["provisioner"].as_str())
    else {
        return plain;
    };
    let flag = format!("-provisioner={provisioner}");
    for sts in statefulsets {
        let spec = &sts["spec"]["template"]["spec"];
        let serves = spec["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| {
                c["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|a| a.as_str() == Some(flag.as_str()))
            });
        let template = sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"].as_str();
        if let (true, Some(t)) = (serves, template) {
            let sts_ns = sts["metadata"]["namespace"].as_str().unwrap_or("default");
            let sts_name = sts["metadata"]["name"].as_str().unwrap_or("");
            return root
                .join("volumes")
                .join(sts_ns)
                .join(template_claim(t, sts_name, 0))
                .join(format!("pvc-{uid}"));
        }
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_claim_waits_for_its_class_and_the_server_that_provisions_it() {
        let claims = vec![
            json!({"metadata": {"namespace": "geowp", "name": "wp-content", "uid": "u1"},
            "spec": {"storageClassName": "geowp-geowp-nfs"}}),
            json!({"metadata": {"namespace": "geowp", "name": "plain"}, "spec": {}}),
        ];
        let class =
            json!({"metadata": {"name": "geowp-geowp-nfs"}, "provisioner": "geowp.dev/nfs-geowp"});
        let sts = json!({"metadata": {"namespace": "geowp", "name": "nfs"}, "spec": {
            "template": {"spec": {"containers": [{"args": ["-provisioner=geowp.dev/nfs-geowp"]}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "export"}}]}});
        // no class yet, then no server yet: Pending, as on a real cluster
        let why = claim_pending("geowp", "wp-content", &claims, &[], &[]).unwrap();
        assert!(why.contains("does not exist yet"), "{why}");
        let why = claim_pending(
            "geowp",
            "wp-content",
            &claims,
            std::slice::from_ref(&class),
            &[],
        )
        .unwrap();
        assert!(why.contains("no provisioner here serves"), "{why}");
        // both there: mountable, in the server's export
        assert_eq!(
            claim_pending(
                "geowp",
                "wp-content",
                &claims,
                std::slice::from_ref(&class),
                std::slice::from_ref(&sts)
            ),
            None
        );
        let dir = claim_dir(
            Path::new("/r"),
            "geowp",
            "wp-content",
            &claims,
            &[class],
            &[sts],
        );
        assert_eq!(dir, Path::new("/r/volumes/geowp/export-nfs-0/pvc-u1"));
        // a claim of the default class, or none known, is a directory at once
        assert_eq!(claim_pending("geowp", "plain", &claims, &[], &[]), None);
        assert_eq!(claim_pending("geowp", "absent", &claims, &[], &[]), None);
    }

    #[test]
    fn workloads_want_pods_named_as_kubernetes_names_them() {
        let d = json!({"metadata": {"name": "wordpress", "namespace": "geowp"},
            "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "wp"}}, "spec": {"containers": []}}}});
        let w = wanted("Deployment", &d);
        assert_eq!(w.len(), 2);
        assert!(w[0].name.starts_with("wordpress-") && w[0].name.ends_with("-0"));
        assert_eq!(w[0].labels["app"], "wp");
        let mut d2 = d.clone();
        d2["spec"]["template"]["spec"]["containers"] = json!([{"name": "x"}]);
        assert_ne!(
            wanted("Deployment", &d2)[0].hash,
            w[0].hash,
            "a new template is a new pod"
        );
        let s = json!({"metadata": {"name": "pd", "namespace": "geowp"}, "spec": {"template": {}}});
        assert_eq!(wanted("StatefulSet", &s)[0].name, "pd-0");
        assert_eq!(wanted("Job", &s)[0].name, "pd-run");
    }

    #[test]
    fn images_have_adapters_or_say_why_not() {
        assert_eq!(adapter("wordpress:6.6-apache"), Adapter::WordPress);
        assert_eq!(adapter("docker.io/library/busybox:1.36.1"), Adapter::Shell);
        assert_eq!(adapter("syncthing/syncthing:1.27"), Adapter::SyncThing);
        assert_eq!(adapter("pingcap/tidb:v8.5.1"), Adapter::TidbStandIn);
        assert_eq!(adapter("varnish:8.0.0"), Adapter::Varnish);
        let given: Vec<String> = [
            "-F",
            "-n",
            "/var/lib/varnish/geowp",
            "-f",
            "/etc/varnish/geowp/geowp.vcl",
            "-a",
            "http=:8080,HTTP",
            "-a",
            ":9000",
            "-s",
            "malloc,512M",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            varnish_args(
                &given,
                Path::new("/pod/varnish.vcl"),
                "127.11.3.9".parse().unwrap(),
                |p| p.replace("/var/lib/varnish", "/pod/work")
            ),
            [
                "-j",
                "none",
                "-F",
                "-n",
                "/pod/work/geowp",
                "-f",
                "/pod/varnish.vcl",
                "-a",
                "http=127.11.3.9:8080,HTTP",
                "-a",
                "127.11.3.9:9000",
                "-s",
                "malloc,512M"
            ]
        );
        assert!(matches!(adapter("pingcap/pd:v8.5.1"), Adapter::Simulated(w) if w.contains("PD")));
        assert!(
            matches!(adapter("registry.k8s.io/sig-storage/nfs-provisioner:v4"), Adapter::Simulated(w) if w.contains("NFS"))
        );
    }

    #[test]
    fn paths_and_service_names_are_translated() {
        let m = Mounts(vec![
            ("/run/secrets/geowp".into(), "/d/pod/site".into()),
            ("/var/syncthing/config".into(), "/d/export/.cfg".into()),
            ("/var/syncthing".into(), "/d/other".into()),
        ]);
        assert_eq!(m.path("/run/secrets/geowp/PW"), "/d/pod/site/PW");
        assert_eq!(m.path("/run/secrets/geowpX"), "/run/secrets/geowpX");
        assert_eq!(
            m.path("/var/syncthing/config/config.xml"),
            "/d/export/.cfg/config.xml"
        );
        assert_eq!(m.path("/etc/passwd"), "/etc/passwd");
        assert_eq!(
            m.script("cp /group/x /var/syncthing/config/config.xml\nchown 33 /var/syncthing/config /var/syncthing/data"),
            "cp /group/x /d/export/.cfg/config.xml\nchown 33 /d/export/.cfg /d/other/data"
        );
        // a redirection's target is a path too
        assert_eq!(
            m.script("printf x >/var/syncthing/config/.stignore <input"),
            "printf x >/d/export/.cfg/.stignore <input"
        );
        let svcs = BTreeMap::from([(
            ("geowp".to_string(), "tidb".to_string()),
            "127.11.1.5".to_string(),
        )]);
        assert_eq!(
            service_address("tidb:4000", "geowp", &svcs),
            "127.11.1.5:4000"
        );
        assert_eq!(service_address("tidb", "geowp", &svcs), "127.11.1.5");
        assert_eq!(
            service_address("tidb.geowp.svc.cluster.local:4000", "x", &svcs),
            "127.11.1.5:4000"
        );
        assert_eq!(service_address("tidb:4000", "other", &svcs), "tidb:4000");
        assert_eq!(service_address("utf8mb4", "geowp", &svcs), "utf8mb4");
        let vcl = "backend b {\n    .host = \"tidb\";\n    .port = \"4000\";\n    .probe = { .interval = 5s; }\n}\n";
        assert_eq!(
            vcl_backends(vcl, "geowp", &svcs),
            "backend b {\n    .host = \"127.11.1.5\";\n    .port = \"4000\";\n    .probe = { .interval = 5s; }\n}\n"
        );
        assert!(
            names_a_host("WORDPRESS_DB_HOST", "tidb:4000") && names_a_host("TIDB_HOST", "tidb")
        );
        assert!(!names_a_host("WORDPRESS_DB_NAME", "wordpress"));
    }

    #[test]
    fn a_claim_an_nfs_provisioner_serves_lives_in_its_export_claim() {
        let claims = vec![
            json!({"metadata": {"namespace": "geowp", "name": "wp-content", "uid": "u1"},
            "spec": {"storageClassName": "geowp-nfs"}}),
        ];
        let classes =
            vec![json!({"metadata": {"name": "geowp-nfs"}, "provisioner": "geowp.dev/nfs"})];
        let sts = vec![
            json!({"metadata": {"namespace": "geowp", "name": "nfs"}, "spec": {
            "volumeClaimTemplates": [{"metadata": {"name": "export"}}],
            "template": {"spec": {"containers": [{"args": ["-provisioner=geowp.dev/nfs"]}]}}}}),
        ];
        let root = Path::new("/d");
        assert_eq!(
            claim_dir(root, "geowp", "wp-content", &claims, &classes, &sts),
            Path::new("/d/volumes/geowp/export-nfs-0/pvc-u1")
        );
        assert_eq!(
            claim_dir(root, "geowp", "export-nfs-0", &claims, &classes, &sts),
            Path::new("/d/volumes/geowp/export-nfs-0")
        );
    }
}
