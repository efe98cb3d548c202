//! Backup and restore of a site of realistic size with geowp's own steps
//! (stack/src/render/geowp-backup.sh), as the pods run them, on this
//! machine: MariaDB 10.11 and mariadb-dump standing in for TiDB and the
//! MySQL client image, Debian's restic 0.14, a local directory as the
//! repository. What a restore costs per gigabyte before SyncThing carries
//! the files to the other regions (README's RTO).

use std::time::Instant;

use geowp_tests::backup::Site;

/// Posts of about 1 KB of text each, and uploads of 256 KiB of random
/// bytes each (images do not compress).
const POSTS: usize = 100_000;
const UPLOADS: usize = 1_600;
const UPLOAD_BYTES: usize = 256 * 1024;

fn du(p: &std::path::Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        let m = e.metadata().unwrap();
        n += if m.is_dir() { du(&e.path()) } else { m.len() };
    }
    n
}

fn mb(b: u64) -> String {
    format!("{:.1}", b as f64 / 1e6)
}

pub fn backup() -> String {
    eprintln!("[bench] backup: {POSTS} posts and {UPLOADS} uploads through geowp's backup and restore steps");
    let dir = tempfile::Builder::new()
        .prefix("geowp-bench-backup-")
        .tempdir()
        .expect("tmp");
    let s = Site::new(dir.path());
    s.wp("CREATE TABLE wp_posts (ID BIGINT PRIMARY KEY AUTO_INCREMENT, post_title TEXT, post_content LONGTEXT) DEFAULT CHARSET=utf8mb4");
    s.wp(&format!(
        "INSERT INTO wp_posts (post_title, post_content) SELECT CONCAT('post ', seq), \
         CONCAT(SHA2(seq, 512), SHA2(seq + 1, 512), SHA2(seq + 2, 512), SHA2(seq + 3, 512), \
         SHA2(seq + 4, 512), SHA2(seq + 5, 512), SHA2(seq + 6, 512), SHA2(seq + 7, 512)) \
         FROM seq_1_to_{POSTS}"
    ));
    let uploads = s.content.join("uploads/2026/12");
    let mut state = 0x9e3779b97f4a7c15u64;
    for i in 0..UPLOADS {
        let mut buf = vec![0u8; UPLOAD_BYTES];
        for chunk in buf.chunks_mut(8) {
            // xorshift: incompressible bytes, no rand dependency
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        std::fs::write(uploads.join(format!("photo-{i:04}.jpg")), buf).unwrap();
    }
    let files = du(&s.content);

    let time = |f: &dyn Fn()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    };
    let dump = time(&|| {
        s.run(
            "us-east",
            "first",
            "claim",
            &[("GEOWP_BACKUP_RUN", "first")],
        );
    });
    let dump_bytes = std::fs::metadata(dir.path().join("first/database.sql"))
        .map(|m| m.len())
        .unwrap_or(0);
    let store = time(&|| {
        s.run(
            "us-east",
            "first",
            "files",
            &[("GEOWP_BACKUP_RUN", "first")],
        );
        s.run(
            "us-east",
            "first",
            "record",
            &[("GEOWP_BACKUP_RUN", "first")],
        );
    });
    let repo_first = du(&dir.path().join("repository"));
    let again = time(&|| {
        s.backup("us-east", "second", &[("GEOWP_BACKUP_RUN", "second")]);
    });
    let repo_second = du(&dir.path().join("repository"));
    // everything lost, then the restore of the first backup
    s.wp("DROP TABLE wp_posts");
    std::fs::remove_dir_all(&uploads).unwrap();
    let restore: Vec<f64> = ["plan", "fetch", "load"]
        .iter()
        .map(|st| {
            time(&|| {
                s.run("us-east", "restore", st, &[("GEOWP_RESTORE_RUN", "first")]);
            })
        })
        .collect();
    assert_eq!(
        s.wp("SELECT COUNT(*) FROM wp_posts").trim(),
        POSTS.to_string()
    );
    assert_eq!(du(&s.content), files, "the files came back whole");
    let total_restore: f64 = restore.iter().sum();
    format!(
        "| geowp's backup steps on one machine: MariaDB 10.11, mariadb-dump, restic 0.14, a local repository | value |\n|---|---|\n\
| database dump (mysqldump --single-transaction), {POSTS} posts (MB) | {} |\n\
| wp-content, {UPLOADS} uploads of 256 KiB (MB) | {} |\n\
| claim and dump (s) | {dump:.1} |\n\
| store both in restic and record (s) | {store:.1} |\n\
| repository after the first backup (MB) | {} |\n\
| a second backup, nothing changed (s) | {again:.1} |\n\
| repository growth from it (MB) | {} |\n\
| restore: plan, fetch (dump out, files back), load (s) | {:.1}, {:.1}, {:.1} |\n\
| restore in all (s) | {total_restore:.1} |\n",
        mb(dump_bytes),
        mb(files),
        mb(repo_first),
        mb(repo_second.saturating_sub(repo_first)),
        restore[0],
        restore[1],
        restore[2],
    )
}
