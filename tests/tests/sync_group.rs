//! geowp_sync_group with real SyncThing: Terraform applies three stacks and
//! a sync group against three fake API servers; from each cluster we take
//! exactly what SyncThing's pod mounts (the identity Secret and the group's
//! config Secret) and start a real `syncthing` on loopback from it. Files
//! must replicate, deletions propagate, a stopped member catch up, and a
//! fourth member added by a second apply receive what exists.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fakeapi::Options;
use geowp_tests::regions::Regions;
use geowp_tests::syncthing::{free_port, wait_for, Daemon};
use geowp_tests::{MirroredProvider, Tf};

fn b64d(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

/// Writes what the pod would mount from region `i` into `home`.
fn take_mounts(r: &Regions, i: usize, home: &Path) {
    let h = r.handle(i);
    let id = h
        .object("v1", "Secret", "geowp", "syncthing-identity")
        .expect("identity Secret");
    let group = h
        .object("v1", "Secret", "geowp", "syncthing-group")
        .expect("group Secret");
    std::fs::create_dir_all(home).unwrap();
    std::fs::write(
        home.join("cert.pem"),
        b64d(id["data"]["cert.pem"].as_str().unwrap()),
    )
    .unwrap();
    std::fs::write(
        home.join("key.pem"),
        b64d(id["data"]["key.pem"].as_str().unwrap()),
    )
    .unwrap();
    std::fs::write(
        home.join("config.xml"),
        b64d(group["data"]["config.xml"].as_str().unwrap()),
    )
    .unwrap();
}

fn config(r: &Regions, sync: &[(u16, u16, PathBuf)]) -> String {
    let mut members = String::new();
    for (i, n) in r.names.iter().enumerate() {
        let (port, gui, data) = &sync[i];
        members.push_str(&format!(
            "    \"{n}\" = {{\n      device_id      = geowp_cluster_stack.region[\"{n}\"].syncthing_device_id\n      address        = \"tcp://127.0.0.1:{port}\"\n      listen_address = \"tcp://127.0.0.1:{port}\"\n      gui_address    = \"127.0.0.1:{gui}\"\n      folder_path    = \"{}\"\n      namespace      = \"geowp\"\n      cluster        = local.clusters[\"{n}\"]\n    }}\n",
            data.display()
        ));
    }
    format!(
        r#"terraform {{
  required_providers {{
    geowp = {{ source = "geowp/geowp" }}
  }}
}}

{stacks}
resource "geowp_sync_group" "files" {{
  watcher_delay_seconds   = 1
  # the default hour: every change below must reach the peers through
  # SyncThing's watcher (inotify), not a rescan
  rescan_interval_seconds = 3600
  members = {{
{members}  }}
}}
"#,
        stacks = r.stacks_for_each_hcl()
    )
}

geowp_tests::for_each_terraform! {
    fn real_syncthing_daemons_replicate_from_what_the_provider_wrote(terraform) {
    let names = ["us-east", "eu-west", "ap-south"];
    let mut r = Regions::start(
        &names,
        Options {
            ready_delay: Duration::from_millis(50),
            ..Default::default()
        },
    );
    let root = tempfile::tempdir().unwrap();
    let mut sync: Vec<(u16, u16, PathBuf)> = names
        .iter()
        .map(|n| (free_port(), free_port(), root.path().join(n).join("data")))
        .collect();
    let tf = Tf::with(terraform, &[MirroredProvider::geowp()]);
    tf.write("main.tf", &config(&r, &sync));
    tf.ok(&["init"]);
    let out = tf.ok(&["apply", "-auto-approve"]);
    assert!(out.contains("Apply complete! Resources: 5 added"), "{out}");
    assert_eq!(
        tf.run(&["plan", "-detailed-exitcode"]).code(),
        0,
        "second plan not empty"
    );
    let (st, _) = geowp_tests::state_without_ca_key(&tf.ok(&["state", "pull"]));
    assert!(
        !st.contains("PRIVATE KEY") && !st.contains("<apikey>"),
        "secrets reached the state"
    );

    // the group stamped each SyncThing Deployment so its pod restarts on the new config
    for i in 0..3 {
        let d = r
            .handle(i)
            .object("apps/v1", "Deployment", "geowp", "syncthing")
            .unwrap();
        assert!(
            d["spec"]["template"]["metadata"]["annotations"]["geowp.dev/sync-group-config"]
                .is_string()
        );
    }

    let mut daemons: Vec<Daemon> = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let home = root.path().join(n).join("config");
        take_mounts(&r, i, &home);
        std::fs::create_dir_all(sync[i].2.join(".stfolder")).unwrap();
        let mut d = Daemon {
            child: None,
            home,
            data: sync[i].2.clone(),
        };
        d.start();
        daemons.push(d);
    }

    // a file written in A appears with the same content in B and C
    let content = "a media upload from us-east\n";
    std::fs::create_dir_all(daemons[0].data.join("uploads/2026")).unwrap();
    std::fs::write(daemons[0].data.join("uploads/2026/a.txt"), content).unwrap();
    for d in &daemons[1..] {
        assert!(
            wait_for(
                &d.data.join("uploads/2026/a.txt"),
                Some(content),
                Duration::from_secs(90)
            ),
            "not replicated to {}",
            d.data.display()
        );
    }
    // a deletion propagates
    std::fs::remove_file(daemons[1].data.join("uploads/2026/a.txt")).unwrap();
    for d in [&daemons[0], &daemons[2]] {
        assert!(
            wait_for(
                &d.data.join("uploads/2026/a.txt"),
                None,
                Duration::from_secs(60)
            ),
            "deletion not seen in {}",
            d.data.display()
        );
    }
    // ... and each member that received the deletion kept the file as a
    // version, beside the folder, out of the web server's reach (the
    // version is moved there as the deletion is applied)
    for d in [&daemons[0], &daemons[2]] {
        let dir = d.home.join("versions/uploads/2026");
        let kept: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("a~"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect();
        assert_eq!(kept, vec![content.to_string()], "{}", dir.display());
        assert!(!d.data.join(".stversions").exists());
    }
    // a member stopped while files are written catches up after restart
    daemons[2].stop();
    std::fs::write(
        daemons[0].data.join("uploads/while-down.txt"),
        "written while ap-south was down\n",
    )
    .unwrap();
    assert!(wait_for(
        &daemons[1].data.join("uploads/while-down.txt"),
        Some("written while ap-south was down\n"),
        Duration::from_secs(60)
    ));
    daemons[2].start();
    assert!(
        wait_for(
            &daemons[2].data.join("uploads/while-down.txt"),
            Some("written while ap-south was down\n"),
            Duration::from_secs(90)
        ),
        "stopped member did not catch up"
    );

    // drift: the group config edited behind Terraform's back shows in plan
    let o = r.kubectl(0, &["-n", "geowp", "delete", "secret", "syncthing-group"]);
    assert!(o.status.success());
    let p = tf.run(&["plan", "-detailed-exitcode"]);
    assert_eq!(p.code(), 2, "{}", p.all());
    assert!(
        p.stdout
            .contains("missing: the group config was deleted outside Terraform"),
        "{}",
        p.stdout
    );
    tf.ok(&["apply", "-auto-approve"]);

    // a fourth member joins with a second apply and receives the existing files
    drop(daemons);
    let names4 = ["us-east", "eu-west", "ap-south", "sa-east"];
    r.add("sa-east");
    sync.push((
        free_port(),
        free_port(),
        root.path().join("sa-east").join("data"),
    ));
    tf.write("main.tf", &config(&r, &sync));
    let out = tf.ok(&["apply", "-auto-approve"]);
    assert!(out.contains("1 added, 4 changed"), "{out}");
    let mut daemons: Vec<Daemon> = Vec::new();
    for (i, n) in names4.iter().enumerate() {
        let home = root.path().join(n).join("config");
        take_mounts(&r, i, &home);
        std::fs::create_dir_all(sync[i].2.join(".stfolder")).unwrap();
        let mut d = Daemon {
            child: None,
            home,
            data: sync[i].2.clone(),
        };
        d.start();
        daemons.push(d);
    }
    let x = std::fs::read_to_string(root.path().join("us-east/config/config.xml")).unwrap();
    assert!(
        x.contains(&format!("tcp://127.0.0.1:{}", sync[3].0)),
        "existing members were not told of the new one"
    );
    let got = wait_for(
        &daemons[3].data.join("uploads/while-down.txt"),
        Some("written while ap-south was down\n"),
        Duration::from_secs(120),
    );
    if !got {
        for n in names4 {
            let log = std::fs::read_to_string(root.path().join(n).join("config/syncthing.log"))
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(25).collect();
            eprintln!(
                "=== {n}\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
    assert!(got, "the new member did not receive the existing files");

    // destroy: each SyncThing is alone again, its data intact
    drop(daemons);
    tf.ok(&["destroy", "-auto-approve", "-target=geowp_sync_group.files"]);
    for i in 0..4 {
        assert!(r
            .handle(i)
            .object("v1", "Secret", "geowp", "syncthing-group")
            .is_none());
        let d = r
            .handle(i)
            .object("apps/v1", "Deployment", "geowp", "syncthing")
            .unwrap();
        assert!(
            d["spec"]["template"]["metadata"]["annotations"]["geowp.dev/sync-group-config"]
                .is_null(),
            "the group's stamp stayed"
        );
    }
    assert!(
        sync[0].2.join("uploads/while-down.txt").exists(),
        "destroying the group touched the data"
    );
    tf.ok(&["destroy", "-auto-approve"]);
    }
}
