//! geowp's backup and restore steps (stack/src/render/geowp-backup.sh),
//! run as the pods run them, one step per process, against a real MariaDB
//! 10.11 prepared by geowp's own bootstrap script, with real mariadb-dump
//! and restic (Debian's 0.14; the pods pin 0.18.1, and every flag the
//! script uses is in both: docs/guides/backups.md). Three regions claim the
//! same scheduled run at once and exactly one takes it; a restore brings
//! back rows and files and holds maintenance meanwhile.

use std::process::Child;

use geowp_stack::render::backup::MAINTENANCE_FLAG;
use geowp_tests::backup::{text, Site, DB_PASSWORD, REPO_PASSWORD};

#[test]
fn one_region_takes_each_run_and_a_restore_brings_rows_and_files_back() {
    let dir = tempfile::Builder::new()
        .prefix("geowp-backup-")
        .tempdir()
        .unwrap();
    let s = Site::new(dir.path());
    s.wp("CREATE TABLE wp_posts (ID BIGINT PRIMARY KEY AUTO_INCREMENT, post_title TEXT, body LONGBLOB) DEFAULT CHARSET=utf8mb4; \
          INSERT INTO wp_posts (post_title, body) VALUES ('hello world', x'00ff10'), ('déjà vu ✓', NULL);");
    let upload = s.content.join("uploads/2026/12/photo.png");
    std::fs::write(&upload, b"\x89PNG the photo").unwrap();
    std::fs::create_dir_all(s.content.join("cache")).unwrap();
    std::fs::write(
        s.content.join("cache/CACHEDIR.TAG"),
        "Signature: 8a477f597d28d172789f06886806bc55\n",
    )
    .unwrap();
    std::fs::write(s.content.join("cache/page.html"), "cached").unwrap();

    // the three regions' CronJobs start the same scheduled run at once
    let claims: Vec<(&str, Child)> = ["us-east", "eu-west", "ap-south"]
        .into_iter()
        .map(|r| (r, s.step(r, r, "claim", &[])))
        .collect();
    let mut took = vec![];
    for (r, c) in claims {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{r}: {}", text(&o));
        if !dir.path().join(r).join("skip").exists() {
            took.push(r);
        } else {
            assert!(text(&o).contains("is taken"), "{r}: {}", text(&o));
        }
    }
    assert_eq!(took.len(), 1, "exactly one region takes the run: {took:?}");
    let winner = took[0];
    for r in ["us-east", "eu-west", "ap-south"] {
        let out = format!(
            "{}{}",
            s.run(r, r, "files", &[]),
            s.run(r, r, "record", &[])
        );
        if r == winner {
            assert!(out.contains("finished in region"), "{out}");
        } else {
            assert!(
                !out.contains("stored"),
                "{r} stored a backup it did not take: {out}"
            );
        }
    }
    let runs = s.wp("SELECT run, region, finished_at IS NOT NULL FROM geowp_backup_runs");
    let fields: Vec<&str> = runs.trim().split('\t').collect();
    assert_eq!(fields.len(), 3, "one run recorded: {runs}");
    assert_eq!(fields[1], winner);
    assert_eq!(fields[2], "1");
    let first = fields[0].to_string();

    // the same scheduled run again (a retry, or a region late): nothing new
    let again = s.run(
        "eu-west",
        "eu-west-again",
        "claim",
        &[("GEOWP_BACKUP_RUN", &first)],
    );
    assert!(again.contains("is taken (finished)"), "{again}");

    // the status a helper asks for
    let status = s.backup("ap-south", "status", &[("GEOWP_BACKUP_MODE", "status")]);
    assert!(
        status.contains(&format!("last-good-backup run={first} finished=")),
        "{status}"
    );

    // mistakes that replicate: rows gone, the upload deleted, more written
    s.wp("DELETE FROM wp_posts; INSERT INTO wp_posts (post_title) VALUES ('spam');");
    std::fs::remove_file(&upload).unwrap();

    // a restore of the latest backup, in another region than the one that
    // took it: maintenance from the plan until the load
    let out = s.run("ap-south", "restore", "plan", &[]);
    assert!(out.contains(&format!("restoring backup {first}")), "{out}");
    let out = s.run("ap-south", "restore", "fetch", &[]);
    assert!(out.contains("in maintenance in every region"), "{out}");
    assert!(
        s.content.join(MAINTENANCE_FLAG).exists(),
        "no maintenance during the restore"
    );
    let out = s.run("ap-south", "restore", "load", &[]);
    assert!(out.contains("maintenance over"), "{out}");
    assert!(!s.content.join(MAINTENANCE_FLAG).exists());
    assert_eq!(
        s.wp("SELECT post_title, HEX(body) FROM wp_posts ORDER BY ID"),
        "hello world\t00FF10\ndéjà vu ✓\tNULL\n"
    );
    assert_eq!(std::fs::read(&upload).unwrap(), b"\x89PNG the photo");
    // the record of backups is not part of a backup: restoring keeps it
    assert!(s.wp("SELECT run FROM geowp_backup_runs").contains(&first));

    // a named backup; and a name that could be SQL is refused
    s.wp("INSERT INTO wp_posts (post_title) VALUES ('second');");
    let out = s.backup("eu-west", "manual", &[("GEOWP_BACKUP_RUN", "manual-1")]);
    assert!(out.contains("backup manual-1 finished"), "{out}");
    s.wp("DELETE FROM wp_posts WHERE post_title = 'hello world';");
    for st in ["plan", "fetch", "load"] {
        s.run(
            "us-east",
            "restore-named",
            st,
            &[("GEOWP_RESTORE_RUN", &first)],
        );
    }
    assert!(!s.wp("SELECT post_title FROM wp_posts").contains("second"));
    assert!(s
        .wp("SELECT post_title FROM wp_posts")
        .contains("hello world"));
    let bad = s
        .step(
            "us-east",
            "bad",
            "plan",
            &[("GEOWP_RESTORE_RUN", "x'; DROP TABLE wp_posts; --")],
        )
        .wait_with_output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(text(&bad).contains("invalid run name"), "{}", text(&bad));
    let missing = s
        .step(
            "us-east",
            "missing",
            "plan",
            &[("GEOWP_RESTORE_RUN", "20200101T0000Z")],
        )
        .wait_with_output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(
        text(&missing).contains("no finished backup"),
        "{}",
        text(&missing)
    );

    // what restic holds: two snapshots per run, the cache left out
    let restic = |args: &[&str]| s.restic(args);
    let count = || {
        serde_json::from_str::<serde_json::Value>(&restic(&["snapshots", "--json"]))
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(), 4);
    let ls = restic(&["ls", "latest", "--tag", "files"]);
    assert!(ls.contains("/uploads/2026/12/photo.png"), "{ls}");
    assert!(
        !ls.contains("page.html"),
        "a cache directory was backed up: {ls}"
    );

    // retention: keeping one per hour keeps only the newest run here
    let out = s.backup(
        "us-east",
        "kept",
        &[("GEOWP_BACKUP_RUN", "manual-2"), ("GEOWP_KEEP_HOURLY", "1")],
    );
    assert!(out.contains("retention applied"), "{out}");
    assert_eq!(count(), 2);
    s.run(
        "us-east",
        "forgotten",
        "plan",
        &[("GEOWP_RESTORE_RUN", &first)],
    );
    let gone = s
        .step(
            "us-east",
            "forgotten",
            "fetch",
            &[("GEOWP_RESTORE_RUN", &first)],
        )
        .wait_with_output()
        .unwrap();
    assert!(!gone.status.success());
    assert!(
        text(&gone).contains("not in the repository"),
        "{}",
        text(&gone)
    );
    assert!(
        !s.content.join(MAINTENANCE_FLAG).exists(),
        "a refused restore held maintenance"
    );
    assert!(
        s.wp("SELECT post_title FROM wp_posts")
            .contains("hello world"),
        "a refused restore changed the database"
    );

    let printed = s.printed.borrow();
    assert!(printed.contains("geowp-backup: "));
    for secret in [DB_PASSWORD, REPO_PASSWORD] {
        assert!(!printed.contains(secret), "a step printed a password");
    }
    for w in ["us-east", "eu-west", "ap-south", "restore", "kept"] {
        for f in std::fs::read_dir(dir.path().join(w)).unwrap() {
            let p = f.unwrap().path();
            if p.file_name().unwrap() == "client.cnf" {
                let mode = std::os::unix::fs::PermissionsExt::mode(
                    &std::fs::metadata(&p).unwrap().permissions(),
                );
                assert_eq!(mode & 0o077, 0, "client.cnf readable by others");
            }
        }
    }
}
