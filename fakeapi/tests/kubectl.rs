//! The fake API server checked against an independent client: kubectl
//! (get, apply --server-side, rollout status, delete, get --watch, set image,
//! patch), with the messages a real cluster gives.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use fakeapi::{Handle, Options};

struct Kube {
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    bin: PathBuf,
}

impl Kube {
    fn new(h: &Handle, bin: &Path) -> Kube {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("config");
        std::fs::write(&kubeconfig, h.kubeconfig()).unwrap();
        Kube {
            _dir: dir,
            kubeconfig,
            bin: bin.to_path_buf(),
        }
    }
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut c = Command::new(&self.bin);
        c.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self._dir.path());
        c.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e} (kubectl must be installed)",
                self.bin.display()
            )
        });
        let mut si = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            si.write_all(s.as_bytes()).unwrap();
        }
        drop(si);
        child.wait_with_output().unwrap()
    }
    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let o = self.run(args, stdin);
        assert!(
            o.status.success(),
            "kubectl {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    fn fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let o = self.run(args, stdin);
        assert!(!o.status.success(), "kubectl {args:?} should have failed");
        String::from_utf8_lossy(&o.stderr).into_owned()
    }
}

const SITE: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: web
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: wp
  namespace: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: wp}
  template:
    metadata:
      labels: {app: wp}
    spec:
      containers:
      - name: wp
        image: wordpress:6.6
        ports: [{containerPort: 80}]
"#;

fn kubectl() -> PathBuf {
    PathBuf::from("kubectl")
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_gets_applies_waits_watches_and_deletes() {
    let h = fakeapi::start(Options {
        ready_delay: Duration::from_millis(300),
        ..Default::default()
    })
    .await
    .unwrap();
    let k = Kube::new(&h, &kubectl());
    blocking(move || {
        let ns = k.ok(&["get", "ns", "-o", "name"], None);
        assert!(ns.contains("namespace/default"), "{ns}");
        let out = k.ok(&["apply", "--server-side", "-f", "-"], Some(SITE));
        assert!(out.contains("deployment.apps/wp serverside-applied"), "{out}");
        // the version the apply wrote, as its answer says (a later get could
        // already see the controller's status write on a busy machine)
        let rv1 = k.ok(&["apply", "--server-side", "-f", "-", "-o", "jsonpath={.metadata.resourceVersion}"], Some(SITE));
        // kubectl waits by watch using the rollout rules
        let out = k.ok(&["-n", "web", "rollout", "status", "deploy/wp", "--timeout=20s"], None);
        assert!(out.contains("successfully rolled out"), "{out}");
        // unchanged apply: nothing changes, not even the resourceVersion of the spec write
        let before = k.ok(&["-n", "web", "get", "deploy", "wp", "-o", "jsonpath={.metadata.resourceVersion}"], None);
        k.ok(&["apply", "--server-side", "-f", "-"], Some(SITE));
        let after = k.ok(&["-n", "web", "get", "deploy", "wp", "-o", "jsonpath={.metadata.resourceVersion}"], None);
        assert_eq!(before, after, "a no-op apply changed the object");
        assert_ne!(rv1, before, "the controller's status write should have bumped it");
        // server defaults are visible to kubectl
        let pol = k.ok(&["-n", "web", "get", "deploy", "wp", "-o", "jsonpath={.spec.template.spec.containers[0].imagePullPolicy} {.spec.strategy.type}"], None);
        assert_eq!(pol, "IfNotPresent RollingUpdate");

        // watch sees the deletion
        let mut w = Command::new(&k.bin)
            .args(["-n", "web", "get", "deploy", "--watch", "-o", "name", "--request-timeout=8s"])
            .env("KUBECONFIG", &k.kubeconfig)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(700));
        let out = k.ok(&["-n", "web", "delete", "deploy", "wp"], None);
        assert!(out.contains("deleted"), "{out}");
        std::thread::sleep(Duration::from_millis(500));
        let _ = w.kill();
        let o = w.wait_with_output().unwrap();
        let seen = String::from_utf8_lossy(&o.stdout);
        assert!(seen.matches("deployment.apps/wp").count() >= 2, "watch did not report the deletion: {seen}");
        let e = k.fails(&["-n", "web", "get", "deploy", "wp"], None);
        assert!(e.contains("NotFound") && e.contains("\"wp\" not found"), "{e}");
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_sees_conflicts_ownership_and_immutable_fields() {
    let h = fakeapi::start(Options::default()).await.unwrap();
    let k = Kube::new(&h, &kubectl());
    blocking(move || {
        k.ok(&["apply", "--server-side", "-f", "-"], Some(SITE));
        let out = k.ok(&["-n", "web", "set", "image", "deploy/wp", "wp=wordpress:6.7"], None);
        assert!(out.contains("image updated"), "{out}");
        // strategic merge kept the rest of the container
        let port = k.ok(&["-n", "web", "get", "deploy", "wp", "-o", "jsonpath={.spec.template.spec.containers[0].ports[0].containerPort}"], None);
        assert_eq!(port, "80");
        let e = k.fails(&["apply", "--server-side", "-f", "-"], Some(SITE));
        assert!(
            e.contains("Apply failed with 1 conflict: conflict with \"kubectl-set\" using apps/v1: .spec.template.spec.containers[name=\"wp\"].image"),
            "{e}"
        );
        k.ok(&["apply", "--server-side", "--force-conflicts", "-f", "-"], Some(SITE));
        let img = k.ok(&["-n", "web", "get", "deploy", "wp", "-o", "jsonpath={.spec.template.spec.containers[0].image}"], None);
        assert_eq!(img, "wordpress:6.6");
        let mf = k.ok(&["-n", "web", "get", "deploy", "wp", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].manager}"], None);
        assert!(mf.contains("kubectl"), "{mf}");
        // kubectl scale goes through the scale subresource
        let out = k.ok(&["-n", "web", "scale", "deploy/wp", "--replicas=4"], None);
        assert!(out.contains("scaled"), "{out}");
        let rep = k.ok(&["-n", "web", "get", "deploy", "wp", "-o", "jsonpath={.spec.replicas}"], None);
        assert_eq!(rep, "4");
        // immutable selector
        let changed = SITE.replace("{app: wp}", "{app: wp2}");
        let e = k.fails(&["apply", "--server-side", "--force-conflicts", "-f", "-"], Some(&changed));
        assert!(e.contains("is invalid") && e.contains("spec.selector") && e.contains("field is immutable"), "{e}");
        // bad token / read-only token
        let e = k.fails(&["--token", "nope", "get", "ns"], None);
        assert!(e.contains("Unauthorized"), "{e}");
        let e = k.fails(&["--token", "geowp-fake-readonly", "-n", "web", "delete", "deploy", "wp"], None);
        assert!(e.contains("Forbidden"), "{e}");
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_rollout_status_reports_a_failed_deployment() {
    let h = fakeapi::start(Options {
        behavior: fakeapi::Behavior::Fail,
        ready_delay: Duration::from_millis(100),
        ..Default::default()
    })
    .await
    .unwrap();
    let k = Kube::new(&h, &kubectl());
    blocking(move || {
        k.ok(&["apply", "--server-side", "-f", "-"], Some(SITE));
        let e = k.fails(
            &[
                "-n",
                "web",
                "rollout",
                "status",
                "deploy/wp",
                "--timeout=20s",
            ],
            None,
        );
        assert!(e.contains("exceeded its progress deadline"), "{e}");
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_namespace_termination_waits_for_finalizers() {
    let h = fakeapi::start(Options::default()).await.unwrap();
    let k = Kube::new(&h, &kubectl());
    blocking(move || {
        k.ok(&["apply", "--server-side", "-f", "-"], Some(SITE));
        let held = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n  namespace: web\n  finalizers: [example.com/hold]\ndata: {a: b}\n";
        k.ok(&["apply", "--server-side", "-f", "-"], Some(held));
        k.ok(&["delete", "ns", "web", "--wait=false"], None);
        std::thread::sleep(Duration::from_millis(400));
        let phase = k.ok(&["get", "ns", "web", "-o", "jsonpath={.status.phase}|{.status.conditions[0].message}"], None);
        assert!(phase.starts_with("Terminating|") && phase.contains("configmaps/keep"), "{phase}");
        let left = k.ok(&["-n", "web", "get", "deploy,cm", "-o", "name"], None);
        assert_eq!(left.trim(), "configmap/keep", "contents were not removed: {left}");
        let e = k.fails(&["apply", "--server-side", "-f", "-"], Some(SITE));
        assert!(e.contains("unable to create new content in namespace web because it is being terminated"), "{e}");
        k.ok(&["-n", "web", "patch", "cm", "keep", "--type", "merge", "-p", r#"{"metadata":{"finalizers":null}}"#], None);
        let out = k.ok(&["wait", "--for=delete", "ns/web", "--timeout=10s"], None);
        assert!(out.contains("deleted") || out.is_empty(), "{out}");
        let e = k.fails(&["get", "ns", "web"], None);
        assert!(e.contains("not found"), "{e}");
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_installed_kubectl_minor_version_works() {
    let dir = Path::new("/usr/lib/google-cloud-sdk/bin");
    let mut bins: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("kubectl.1."))
                })
                .collect()
        })
        .unwrap_or_default();
    bins.sort();
    bins.push(kubectl());
    let h = fakeapi::start(Options::default()).await.unwrap();
    for bin in bins {
        let k = Kube::new(&h, &bin);
        let b = bin.clone();
        blocking(move || {
            let out = k.ok(
                &["apply", "--server-side", "--force-conflicts", "-f", "-"],
                Some(SITE),
            );
            assert!(out.contains("serverside-applied"), "{}: {out}", b.display());
            let names = k.ok(&["-n", "web", "get", "deploy", "-o", "name"], None);
            assert_eq!(names.trim(), "deployment.apps/wp", "{}", b.display());
        })
        .await;
    }
    h.stop().await;
}

const CLAIM: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: web
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: fixed
provisioner: example.com/nfs
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
  namespace: web
spec:
  storageClassName: fixed
  accessModes: [ReadWriteMany]
  resources:
    requests:
      storage: SIZE
"#;

/// The rules in fakeapi/src/rules.rs, seen by kubectl with the real
/// server's messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_sees_the_real_servers_rules() {
    let h = fakeapi::start(Options::default()).await.unwrap();
    let k = Kube::new(&h, &kubectl());
    blocking(move || {
        // quantities come back canonical
        let sized = SITE.replace(
            "ports: [{containerPort: 80}]",
            "ports: [{containerPort: 80}]\n        resources: {requests: {cpu: \"0.5\", memory: 1024Mi}, limits: {memory: 1.5Gi}}",
        );
        k.ok(&["apply", "--server-side", "-f", "-"], Some(&sized));
        let r = k.ok(&["-n", "web", "get", "deploy", "wp", "-o", "jsonpath={.spec.template.spec.containers[0].resources}"], None);
        assert_eq!(r, r#"{"limits":{"memory":"1536Mi"},"requests":{"cpu":"500m","memory":"1Gi"}}"#);
        // a request above its limit
        let over = sized.replace("memory: 1024Mi", "memory: 2Gi");
        let e = k.fails(&["apply", "--server-side", "-f", "-"], Some(&over));
        // kubectl prints a 422 from its details: "The <kind> <name> is invalid"
        assert!(e.contains("The Deployment \"wp\" is invalid: spec.template.spec.containers[0].resources.requests: Invalid value: \"2Gi\": must be less than or equal to memory limit of 1536Mi"), "{e}");
        // a claim grows only where its class allows, and never shrinks
        k.ok(&["apply", "--server-side", "-f", "-"], Some(&CLAIM.replace("SIZE", "10Gi")));
        k.ok(&["-n", "web", "wait", "--for=jsonpath={.status.phase}=Bound", "pvc/data", "--timeout=60s"], None);
        let e = k.fails(&["apply", "--server-side", "-f", "-"], Some(&CLAIM.replace("SIZE", "20Gi")));
        assert!(e.contains("persistentvolumeclaims \"data\" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"), "{e}");
        let e = k.fails(&["apply", "--server-side", "-f", "-"], Some(&CLAIM.replace("SIZE", "5Gi")));
        assert!(e.contains("The PersistentVolumeClaim \"data\" is invalid: spec.resources.requests.storage: Forbidden: field can not be less than status.capacity"), "{e}");
        // the same size written another way is no change
        k.ok(&["apply", "--server-side", "-f", "-"], Some(&CLAIM.replace("SIZE", "10240Mi")));
        let growable = CLAIM.replace("provisioner: example.com/nfs", "provisioner: example.com/nfs\nallowVolumeExpansion: true");
        k.ok(&["apply", "--server-side", "-f", "-"], Some(&growable.replace("SIZE", "20Gi")));
        let size = k.ok(&["-n", "web", "get", "pvc", "data", "-o", "jsonpath={.spec.resources.requests.storage}"], None);
        assert_eq!(size, "20Gi");
        // the source-ranges annotation only on a LoadBalancer, node ports in range and free
        let svc = |ty: &str, name: &str, np: u32| format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: web\n  annotations: {{service.beta.kubernetes.io/load-balancer-source-ranges: 10.0.0.0/8}}\nspec:\n  type: {ty}\n  selector: {{app: wp}}\n  ports: [{{port: 80, nodePort: {np}}}]\n");
        let e = k.fails(&["apply", "--server-side", "-f", "-"], Some(&svc("NodePort", "a", 30080)));
        assert!(e.contains("The Service \"a\" is invalid: metadata.annotations[service.beta.kubernetes.io/load-balancer-source-ranges]: Forbidden: may only be used when `type` is 'LoadBalancer'"), "{e}");
        k.ok(&["apply", "--server-side", "-f", "-"], Some(&svc("LoadBalancer", "a", 30080)));
        let e = k.fails(&["apply", "--server-side", "-f", "-"], Some(&svc("LoadBalancer", "b", 30080)));
        assert!(e.contains("The Service \"b\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"), "{e}");
        let e = k.fails(&["apply", "--server-side", "-f", "-"], Some(&svc("LoadBalancer", "b", 8080)));
        assert!(e.contains("provided port is not in the valid range. The range of valid ports is 30000-32767"), "{e}");
        // StorageClass: a qualified provisioner name, and what an update may not change
        let class = |prov: &str, params: &str| format!("apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {{name: disks}}\nprovisioner: {prov}\nparameters: {{{params}}}\n");
        let e = k.fails(&["apply", "--server-side", "-f", "-"], Some(&class("example.com/not/qualified", "type: ssd")));
        assert!(e.contains("The StorageClass \"disks\" is invalid: provisioner: Invalid value: \"example.com/not/qualified\": a qualified name must consist of alphanumeric characters"), "{e}");
        k.ok(&["apply", "--server-side", "-f", "-"], Some(&class("example.com/disk", "type: ssd")));
        let e = k.fails(&["apply", "--server-side", "-f", "-"], Some(&class("example.com/disk", "type: hdd")));
        assert!(e.contains("The StorageClass \"disks\" is invalid: parameters: Forbidden: updates to parameters are forbidden."), "{e}");
        let e = k.fails(&["apply", "--server-side", "-f", "-"], Some(&class("example.com/other", "type: ssd")));
        assert!(e.contains("provisioner: Forbidden: updates to provisioner are forbidden."), "{e}");
        // Secret keys
        // (kubectl create secret checks keys itself; apply leaves it to the server)
        let bad = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: web}\nstringData: {\"bad key\": x}\n";
        let e = k.fails(&["apply", "--server-side", "-f", "-"], Some(bad));
        assert!(e.contains("data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters"), "{e}");
        // a pod template's containers: env names, probes, mounts
        let bad_pod = sized.replace(
            "ports: [{containerPort: 80}]",
            "ports: [{containerPort: 80}]\n        env: [{name: \"A=B\", value: x}]\n        livenessProbe: {periodSeconds: 5}",
        );
        let e = k.fails(&["apply", "--server-side", "-f", "-"], Some(&bad_pod));
        // kubectl lists the server's causes, one per line
        assert!(e.contains("The Deployment \"wp\" is invalid: \n* spec.template.spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='\n* spec.template.spec.containers[0].livenessProbe: Required value: must specify a handler type"), "{e}");
        assert!(e.contains("spec.template.spec.containers[0].livenessProbe: Required value: must specify a handler type"), "{e}");
        // finalizers: a claim is protected, and a load balancer's Service
        // waits for its cleanup; both go, as kubectl delete waits for
        let f = k.ok(&["-n", "web", "get", "pvc", "data", "-o", "jsonpath={.metadata.finalizers}"], None);
        assert_eq!(f, r#"["kubernetes.io/pvc-protection"]"#);
        k.ok(&["-n", "web", "wait", "--for=jsonpath={.metadata.finalizers[0]}=service.kubernetes.io/load-balancer-cleanup", "svc/a", "--timeout=60s"], None);
        k.ok(&["-n", "web", "delete", "svc/a", "pvc/data", "--timeout=60s"], None);
        let e = k.fails(&["-n", "web", "get", "pvc", "data"], None);
        assert!(e.contains("persistentvolumeclaims \"data\" not found"), "{e}");
    })
    .await;
    h.stop().await;
}
