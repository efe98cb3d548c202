//! The protocol crate end to end: real Terraform 1.0.3 drives real provider
//! binaries (the tfcheck test provider and geowp) through init, validate,
//! plan, apply, no-change plan, import, refresh, state upgrade, destroy,
//! StopProvider, timeouts, debug mode and 50 plans without leaks.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use geowp_tests::{KillOnDrop, MirroredProvider, Tf};

fn tfcheck() -> MirroredProvider {
    MirroredProvider::new(
        "geowp/tfcheck",
        "0.1.0",
        env!("CARGO_BIN_EXE_terraform-provider-tfcheck").into(),
    )
}

fn header() -> &'static str {
    "terraform {\n  required_providers {\n    tfcheck = { source = \"geowp/tfcheck\" }\n  }\n}\n"
}

fn things_config(dir: &Path, a_value: &str) -> String {
    format!(
        r#"{h}
resource "tfcheck_thing" "a" {{
  dir    = "{d}"
  name   = "a"
  value  = "{a_value}"
  secret = "hunter2-very-secret"
  tags   = {{ team = "web" }}
  endpoints = [{{ host = "db.example", port = 4000 }}]
  rule {{
    port = 80
  }}
  timeouts {{
    create = "2m"
  }}
}}

resource "tfcheck_thing" "b" {{
  dir   = "{d}"
  name  = "b"
  value = tfcheck_thing.a.etag
}}

output "b_value" {{
  value = tfcheck_thing.b.value
}}
"#,
        h = header(),
        d = dir.display()
    )
}

fn read_obj(dir: &Path, name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).expect("object file"))
        .expect("json")
}

geowp_tests::for_each_terraform! {
    fn lifecycle_init_validate_plan_apply_noop_refresh_import_update_destroy(terraform) {
    let tf = Tf::with(terraform, &[tfcheck()]);
    let store = tf.root.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    tf.write("main.tf", &things_config(&store, "one"));

    tf.ok(&["init"]);
    assert!(tf.ok(&["validate"]).contains("The configuration is valid"));

    // b.value depends on a.etag, unknown until apply: the plan must still work
    let plan = tf.ok(&["plan"]);
    assert!(
        plan.contains("Plan: 2 to add, 0 to change, 0 to destroy"),
        "{plan}"
    );
    assert!(plan.contains("(known after apply)"), "{plan}");
    assert!(plan.contains("(sensitive value)"), "{plan}");
    assert!(
        !plan.contains("hunter2"),
        "a sensitive value leaked into the plan:\n{plan}"
    );

    let apply = tf.ok(&["apply", "-auto-approve"]);
    assert!(
        apply.contains("Apply complete! Resources: 2 added"),
        "{apply}"
    );
    let a = read_obj(&store, "a");
    assert_eq!(a["value"], "one");
    assert_eq!(a["size"], 1);
    assert_eq!(a["endpoints"][0]["port"], 4000);
    assert_eq!(read_obj(&store, "b")["value"], a["etag"]);

    // a second plan must report no changes
    let r = tf.run(&["plan", "-detailed-exitcode"]);
    assert_eq!(r.code(), 0, "second plan is not empty:\n{}", r.all());
    assert!(r.stdout.contains("No changes."), "{}", r.stdout);

    // drift made behind Terraform's back: refresh sees it, plan shows it
    let mut a_file = read_obj(&store, "a");
    a_file["value"] = "changed-behind-our-back".into();
    std::fs::write(store.join("a.json"), a_file.to_string()).unwrap();
    tf.ok(&["refresh"]);
    let shown = tf.ok(&["state", "show", "tfcheck_thing.a"]);
    assert!(shown.contains("changed-behind-our-back"), "{shown}");
    let r = tf.run(&["plan", "-detailed-exitcode"]);
    assert_eq!(r.code(), 2, "{}", r.all());
    assert!(
        r.stdout.contains(r#"~ value"#)
            && r.stdout.contains(r#""changed-behind-our-back" -> "one""#),
        "{}",
        r.stdout
    );
    tf.ok(&["apply", "-auto-approve"]);
    assert_eq!(read_obj(&store, "a")["value"], "one");

    // an object deleted behind our back is planned for re-creation
    std::fs::remove_file(store.join("b.json")).unwrap();
    let r = tf.run(&["plan", "-detailed-exitcode"]);
    assert!(
        r.stdout.contains("tfcheck_thing.b will be created"),
        "{}",
        r.stdout
    );
    tf.ok(&["apply", "-auto-approve"]);

    // import: forget a, then adopt it again by id DIR/NAME
    tf.ok(&["state", "rm", "tfcheck_thing.a"]);
    let id = format!("{}/a", store.display());
    let imp = tf.ok(&["import", "tfcheck_thing.a", &id]);
    assert!(imp.contains("Import successful"), "{imp}");
    let shown = tf.ok(&["state", "show", "tfcheck_thing.a"]);
    assert!(
        shown.contains("\"web\""),
        "imported state misses tags:\n{shown}"
    );
    // settings that exist only in config (timeouts) are filled by the next apply
    tf.ok(&["apply", "-auto-approve"]);
    let r = tf.run(&["plan", "-detailed-exitcode"]);
    assert_eq!(r.code(), 0, "plan after import is not empty:\n{}", r.all());

    // a bad import id is a clear diagnostic
    tf.ok(&["state", "rm", "tfcheck_thing.a"]);
    let r = tf.run(&["import", "tfcheck_thing.a", "nonsense"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr.contains("Invalid import id") && r.stderr.contains("DIR/NAME"),
        "{}",
        r.stderr
    );
    tf.ok(&["import", "tfcheck_thing.a", &id]);

    // update in place vs replacement
    tf.write("main.tf", &things_config(&store, "two"));
    let plan = tf.ok(&["plan"]);
    assert!(
        plan.contains("Plan: 0 to add, 2 to change, 0 to destroy"),
        "{plan}"
    );
    tf.ok(&["apply", "-auto-approve"]);
    assert_eq!(read_obj(&store, "a")["value"], "two");
    tf.write(
        "main.tf",
        &things_config(&store, "two").replace("name   = \"a\"", "name   = \"a2\""),
    );
    let plan = tf.ok(&["plan"]);
    assert!(plan.contains("# forces replacement"), "{plan}");
    tf.ok(&["apply", "-auto-approve"]);
    assert!(!store.join("a.json").exists() && store.join("a2.json").exists());

    let destroy = tf.ok(&["destroy", "-auto-approve"]);
    assert!(
        destroy.contains("Destroy complete! Resources: 2 destroyed"),
        "{destroy}"
    );
    assert_eq!(
        std::fs::read_dir(&store).unwrap().count(),
        0,
        "destroy left objects behind"
    );
    assert!(
        tf.leftover_processes().is_empty(),
        "provider processes left running"
    );
    assert!(
        tf.leftover_sockets().is_empty(),
        "plugin sockets left behind: {:?}",
        tf.leftover_sockets()
    );
    }
}

geowp_tests::for_each_terraform! {
    fn config_errors_come_back_with_attribute_paths(terraform) {
    let tf = Tf::with(terraform, &[tfcheck()]);
    tf.write(
        "main.tf",
        &format!(
            r#"{}
resource "tfcheck_thing" "bad" {{
  dir  = "/tmp"
  name = "Not Valid"
  rule {{
    port = 80
  }}
  rule {{
    port = 70000
  }}
  timeouts {{
    delete = "soon"
  }}
}}
"#,
            header()
        ),
    );
    tf.ok(&["init"]);
    let r = tf.run(&["validate"]);
    assert_ne!(r.code(), 0);
    let e = &r.stderr;
    // all three problems, each pointing at the exact expression in main.tf
    assert!(
        e.contains("Error: Invalid name") && e.contains(r#"name = "Not Valid""#),
        "{e}"
    );
    assert!(
        e.contains("Error: Invalid port") && e.contains("port = 70000"),
        "{e}"
    );
    assert!(e.contains("70000 is not a TCP port"), "{e}");
    assert!(
        e.contains("Error: Invalid duration") && e.contains(r#"delete = "soon""#),
        "{e}"
    );
    assert!(
        e.contains("main.tf line 9")
            && e.contains("main.tf line 14")
            && e.contains("main.tf line 17"),
        "{e}"
    );
    assert!(
        !e.contains("rpc error"),
        "a user mistake became a transport error:\n{e}"
    );
    }
}

geowp_tests::for_each_terraform! {
    fn trace_logs_carry_our_json_lines_at_their_levels_and_no_secrets(terraform) {
    let tf = Tf::with(terraform, &[tfcheck()]);
    let store = tf.root.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    tf.write("main.tf", &things_config(&store, "one"));
    tf.ok(&["init"]);
    let r = tf.run_env(&["apply", "-auto-approve"], &[("TF_LOG", "trace")]);
    assert!(r.status.success(), "{}", r.all());
    let log = r.stderr;
    let ours: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("@module=provider.tfcheck"))
        .collect();
    assert!(
        ours.iter()
            .any(|l| l.contains("[INFO]") && l.contains("creating thing") && l.contains("name=a")),
        "no INFO line of ours:\n{}",
        ours.join("\n")
    );
    assert!(
        ours.iter()
            .any(|l| l.contains("[DEBUG]") && l.contains("thing written")),
        "no DEBUG line of ours"
    );
    assert!(
        !log.contains("hunter2-very-secret"),
        "a sensitive value reached the log"
    );
    // at TF_LOG_PROVIDER=info our debug lines are not emitted
    tf.ok(&["destroy", "-auto-approve"]);
    let r = tf.run_env(
        &["apply", "-auto-approve"],
        &[("TF_LOG", "trace"), ("TF_LOG_PROVIDER", "info")],
    );
    assert!(
        r.stderr.contains("creating thing") && !r.stderr.contains("thing written"),
        "level filter not applied"
    );
    tf.ok(&["destroy", "-auto-approve"]);
    }
}

geowp_tests::for_each_terraform! {
    fn state_written_by_schema_version_0_is_upgraded(terraform) {
    let tf = Tf::with(terraform, &[tfcheck()]);
    let store = tf.root.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    tf.write(
        "main.tf",
        &format!("{}\nresource \"tfcheck_thing\" \"old\" {{\n  dir   = \"{}\"\n  name  = \"old\"\n  value = \"v\"\n}}\n", header(), store.display()),
    );
    tf.ok(&["init"]);
    // the object exists, and the state was written by an older provider whose
    // schema version 0 called `value` `label`
    let obj = serde_json::json!({"id":"old","dir":store.display().to_string(),"name":"old","value":"v","secret":null,"size":1,"tags":null,
        "create_delay":null,"endpoints":null,"etag":"e0","rule":[],"timeouts":null});
    std::fs::write(store.join("old.json"), obj.to_string()).unwrap();
    let mut old = obj.clone();
    let o = old.as_object_mut().unwrap();
    o.remove("value");
    o.remove("etag");
    o.insert("label".into(), "v".into());
    let state = serde_json::json!({
        "version": 4, "terraform_version": "1.0.3", "serial": 1, "lineage": "0b6e2e0c-0000-4000-8000-000000000000",
        "outputs": {},
        "resources": [{"mode":"managed","type":"tfcheck_thing","name":"old",
            "provider":"provider[\"registry.terraform.io/geowp/tfcheck\"]",
            "instances":[{"schema_version":0,"attributes": old}]}]
    });
    std::fs::write(tf.work.join("terraform.tfstate"), state.to_string()).unwrap();
    let r = tf.run(&["plan", "-detailed-exitcode"]);
    assert_eq!(
        r.code(),
        0,
        "upgraded state should match the object:\n{}",
        r.all()
    );
    tf.ok(&["apply", "-auto-approve"]);
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tf.work.join("terraform.tfstate")).unwrap()).unwrap();
    assert_eq!(st["resources"][0]["instances"][0]["schema_version"], 1);
    assert_eq!(
        st["resources"][0]["instances"][0]["attributes"]["value"],
        "v"
    );
    }
}

geowp_tests::for_each_terraform! {
    fn create_timeout_is_a_clear_diagnostic(terraform) {
    let tf = Tf::with(terraform, &[tfcheck()]);
    let store = tf.root.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    tf.write(
        "main.tf",
        &format!(
            "{}\nresource \"tfcheck_thing\" \"slow\" {{\n  dir = \"{}\"\n  name = \"slow\"\n  create_delay = \"30s\"\n  timeouts {{\n    create = \"1s\"\n  }}\n}}\n",
            header(),
            store.display()
        ),
    );
    tf.ok(&["init"]);
    let t = Instant::now();
    let r = tf.run(&["apply", "-auto-approve"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr.contains("Timed out") && r.stderr.contains("raise timeouts.create"),
        "{}",
        r.stderr
    );
    assert!(
        t.elapsed() < Duration::from_secs(25),
        "the timeout did not bound the wait"
    );
    // nothing was recorded, so the next apply (with time) converges
    tf.write(
        "main.tf",
        &std::fs::read_to_string(tf.work.join("main.tf"))
            .unwrap()
            .replace("30s", "1s")
            .replace("\"1s\"\n  }", "\"1m\"\n  }"),
    );
    tf.ok(&["apply", "-auto-approve"]);
    assert!(store.join("slow.json").exists());
    tf.ok(&["destroy", "-auto-approve"]);
    }
}

geowp_tests::for_each_terraform! {
    fn interrupt_calls_stop_provider_which_cancels_work_in_flight(terraform) {
    let tf = Tf::with(terraform, &[tfcheck()]);
    let store = tf.root.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    tf.write(
        "main.tf",
        &format!("{}\nresource \"tfcheck_thing\" \"slow\" {{\n  dir = \"{}\"\n  name = \"slow\"\n  create_delay = \"5m\"\n}}\n", header(), store.display()),
    );
    tf.ok(&["init"]);
    // A terminal's Ctrl-C signals the whole foreground process group:
    // Terraform 1.0's panicwrap parent ignores SIGINT itself and relies on that.
    let mut child = tf
        .command(&["apply", "-no-color", "-auto-approve"])
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map(KillOnDrop)
        .unwrap();
    let pgid = child.0.id() as i32;
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    for l in lines.by_ref() {
        let l = l.unwrap();
        seen.push_str(&l);
        seen.push('\n');
        if l.contains("Creating...") {
            break;
        }
    }
    assert!(seen.contains("Creating..."), "{seen}");
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    unsafe {
        libc::kill(-pgid, libc::SIGINT);
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut err).unwrap();
    let status = child.0.wait().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "Terraform took {:?} to stop",
        t.elapsed()
    );
    assert!(!status.success());
    let all = format!("{seen}{}\n{err}", rest.join("\n"));
    assert!(
        all.contains("Interrupted") && all.contains("asked the provider to stop"),
        "{all}"
    );
    assert!(tf.leftover_processes().is_empty());
    }
}

geowp_tests::for_each_terraform! {
    fn fifty_plans_without_hang_or_leak(terraform) {
    let tf = Tf::with(terraform, &[tfcheck(), MirroredProvider::geowp()]);
    tf.write(
        "main.tf",
        "terraform {\n  required_providers {\n    geowp = { source = \"geowp/geowp\" }\n  }\n}\nresource \"geowp_site\" \"s\" {\n  name = \"blog\"\n}\n",
    );
    tf.ok(&["init"]);
    tf.ok(&["apply", "-auto-approve"]);
    for i in 0..50 {
        let r = tf.run(&["plan", "-detailed-exitcode"]);
        assert_eq!(r.code(), 0, "plan {i} failed:\n{}", r.all());
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        tf.leftover_processes().is_empty(),
        "provider processes left: {:?}",
        tf.leftover_processes()
    );
    assert!(
        tf.leftover_sockets().is_empty(),
        "sockets left: {:?}",
        tf.leftover_sockets()
    );
    tf.ok(&["destroy", "-auto-approve"]);
    }
}

#[test]
fn run_by_hand_it_explains_itself_and_writes_nothing_to_stdout() {
    let out = Command::new(env!("CARGO_BIN_EXE_terraform-provider-tfcheck"))
        .env_remove("TF_PLUGIN_MAGIC_COOKIE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("Terraform starts it") && e.contains("--debug"),
        "{e}"
    );
    let geowp = Command::new(geowp_tests::workspace_bin("terraform-provider-geowp"))
        .output()
        .unwrap();
    assert_eq!(geowp.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&geowp.stderr).contains("required_providers"));
    // an old Terraform offering only protocol 5 gets a clear refusal
    let old = Command::new(env!("CARGO_BIN_EXE_terraform-provider-tfcheck"))
        .env(
            "TF_PLUGIN_MAGIC_COOKIE",
            tfplugin::serve::MAGIC_COOKIE_VALUE,
        )
        .env("PLUGIN_PROTOCOL_VERSIONS", "5")
        .output()
        .unwrap();
    assert_eq!(old.status.code(), Some(1));
    assert!(old.stdout.is_empty());
    assert!(String::from_utf8_lossy(&old.stderr).contains("Upgrade Terraform"));
}

geowp_tests::for_each_terraform! {
    fn handshake_line_is_the_only_stdout_and_carries_the_tls_cert(terraform) {
    let tf = Tf::with(terraform, &[]);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_terraform-provider-tfcheck"))
        .env(
            "TF_PLUGIN_MAGIC_COOKIE",
            tfplugin::serve::MAGIC_COOKIE_VALUE,
        )
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_CLIENT_CERT", cert.pem())
        .env("TMPDIR", &tf.sockets)
        .stdout(Stdio::piped())
        .spawn()
        .map(KillOnDrop)
        .unwrap();
    let mut line = String::new();
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    let f: Vec<&str> = line.trim_end().split('|').collect();
    assert_eq!(&f[..3], &["1", "6", "unix"]);
    assert!(Path::new(f[3]).starts_with(&tf.sockets) && Path::new(f[3]).exists());
    assert_eq!(f[4], "grpc");
    use base64::Engine;
    assert!(!f[5].ends_with('='));
    let der = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(f[5])
        .expect("base64 DER without padding");
    assert!(der.len() > 200 && der[0] == 0x30, "not a DER certificate");
    unsafe {
        libc::kill(child.0.id() as i32, libc::SIGTERM);
    }
    child.0.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(rest, "", "something besides the handshake reached stdout");
    assert!(
        tf.leftover_sockets().is_empty(),
        "socket not removed on SIGTERM"
    );
    }
}

geowp_tests::for_each_terraform! {
    fn debug_mode_prints_reattach_line_that_terraform_can_use(terraform) {
    let tf = Tf::with(terraform, &[tfcheck()]);
    let store = tf.root.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    tf.write(
        "main.tf",
        &format!(
            "{}\nresource \"tfcheck_thing\" \"d\" {{\n  dir = \"{}\"\n  name = \"d\"\n}}\n",
            header(),
            store.display()
        ),
    );
    tf.ok(&["init"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_terraform-provider-tfcheck"))
        .arg("--debug")
        .env_remove("TF_PLUGIN_MAGIC_COOKIE")
        .env("TMPDIR", &tf.sockets)
        .stdout(Stdio::piped())
        .spawn()
        .map(KillOnDrop)
        .unwrap();
    let mut reattach = None;
    for l in BufReader::new(child.0.stdout.take().unwrap()).lines() {
        let l = l.unwrap();
        if let Some(v) = l.trim().strip_prefix("TF_REATTACH_PROVIDERS='") {
            reattach = Some(v.trim_end_matches('\'').to_string());
            break;
        }
    }
    let reattach = reattach.expect("no TF_REATTACH_PROVIDERS line");
    let j: serde_json::Value = serde_json::from_str(&reattach).unwrap();
    assert_eq!(
        j["registry.terraform.io/geowp/tfcheck"]["ProtocolVersion"],
        6
    );
    let r = tf.run_env(
        &["apply", "-auto-approve"],
        &[("TF_REATTACH_PROVIDERS", &reattach)],
    );
    assert!(r.status.success(), "{}", r.all());
    assert!(store.join("d.json").exists());
    // the debug server outlives the terraform run, until Ctrl-C
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "debug provider exited after one terraform run"
    );
    let r = tf.run_env(
        &["destroy", "-auto-approve"],
        &[("TF_REATTACH_PROVIDERS", &reattach)],
    );
    assert!(r.status.success(), "{}", r.all());
    unsafe {
        libc::kill(child.0.id() as i32, libc::SIGINT);
    }
    assert!(child.0.wait().unwrap().success());
    }
}
