//! `make demo` as a person uses it, through real Terraform and the local
//! runtime (geowp-localrun runs the fake clusters' pods as processes): the
//! site installs through HAProxy, a session made in one region works in
//! the others, an image uploaded through WordPress's REST API at one region
//! is served by the others, 25 posts page as they should, a region stopped
//! behind the load balancer costs (next to) no requests, an upload made
//! while it is down reaches it when it is back, a real browser logs in and
//! uploads; and `make demo-down` leaves nothing running.
//!
//! Simulated: the Kubernetes API servers, NFS, TiDB's distribution (one
//! MariaDB serves every region; PD and TiKV do not run).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use geowp_localrun::http::Request;
use geowp_localrun::wordpress::Site;
use geowp_tests::demo::{Demo, ONE_AT_A_TIME};
use geowp_tests::Terraform;
use serde_json::{json, Value};

/// A 1x1 PNG.
const PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

/// How long a wait for something to happen may take before the test
/// fails: each wait polls for its condition and ends as soon as it holds;
/// the bound only turns a hang into a failure, and is generous so that a
/// machine busy with other work (both cores taken) still passes.
const PATIENCE: Duration = Duration::from_secs(180);

fn png() -> Vec<u8> {
    geowp_common::b64::decode(PNG_B64).unwrap()
}

/// A logged-in session at one region, with the REST API's nonce.
struct Session<'a> {
    site: &'a Site,
    cookies: String,
    nonce: String,
}

impl<'a> Session<'a> {
    fn new(site: &'a Site, user: &str, password: &str) -> Session<'a> {
        let cookies = site
            .log_in(user, password)
            .unwrap_or_else(|e| panic!("{e}"));
        let r = site
            .get("/wp-admin/admin-ajax.php?action=rest-nonce", &cookies)
            .expect("rest-nonce");
        assert_eq!(r.status, 200, "{}", r.text());
        Session {
            site,
            nonce: r.text().trim().to_string(),
            cookies,
        }
    }

    fn rest(
        &self,
        method: &str,
        route: &str,
        ct: &str,
        extra: &[(&'static str, String)],
        body: &[u8],
    ) -> (u16, Value) {
        let path = format!("/?rest_route={route}");
        let mut req = Request {
            method,
            path: &path,
            headers: vec![
                ("Cookie", self.cookies.clone()),
                ("X-WP-Nonce", self.nonce.clone()),
                ("Content-Type", ct.to_string()),
            ],
            body,
        };
        req.headers.extend(extra.iter().cloned());
        let r = self
            .site
            .send(&req)
            .unwrap_or_else(|e| panic!("{method} {route}: {e}"));
        (
            r.status,
            serde_json::from_slice(&r.bytes).unwrap_or(Value::Null),
        )
    }

    /// The same session at another region.
    fn via<'b>(&self, site: &'b Site) -> Session<'b> {
        Session {
            site,
            cookies: self.cookies.clone(),
            nonce: self.nonce.clone(),
        }
    }

    /// Uploads a PNG through the media endpoint; its path on the site.
    fn upload(&self, name: &str) -> String {
        let (code, media) = self.rest(
            "POST",
            "/wp/v2/media",
            "image/png",
            &[(
                "Content-Disposition",
                format!("attachment; filename=\"{name}\""),
            )],
            &png(),
        );
        assert_eq!(code, 201, "{media}");
        path_of(media["source_url"].as_str().unwrap())
    }
}

/// Waits until `path` serves `want` at `site`; how long it took.
fn served(site: &Site, path: &str, want: &[u8], limit: Duration) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if let Ok(r) = site.get(path, "") {
            if r.status == 200 && r.bytes == want {
                return Some(t.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// `/path` of `http://host/path`.
fn path_of(url: &str) -> String {
    geowp_localrun::http::split_url(url)
        .unwrap_or_else(|| panic!("{url}"))
        .1
}

fn titles(html: &str) -> BTreeSet<String> {
    html.match_indices("geowp post ")
        .map(|(i, _)| html[i..i + 13].to_string())
        .collect()
}

#[test]
fn the_site_runs_in_three_regions_behind_the_load_balancer() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let demo = Demo::new(&Terraform::pinned(), 60);
    let out = demo.up();
    for want in [
        "Apply complete! Resources: 5 added",
        "a second plan shows no changes",
        "the demo is running",
        "make demo-down",
        "TiDB binaries cannot be installed here",
    ] {
        assert!(
            out.contains(want),
            "missing {want:?} in the demo's output:\n{out}"
        );
    }
    let site = demo.site();
    assert_eq!(demo.regions().len(), 3);
    let regions: Vec<geowp_tests::demo::Region> = ["us-east", "eu-west", "ap-south"]
        .iter()
        .map(|n| demo.region(n))
        .collect();
    let (user, password) = demo.admin();

    // installed through the load balancer; every region serves it
    let front = site.get("/", "").unwrap();
    assert_eq!(front.status, 200);
    assert!(front.text().contains("geowp demo"), "{}", front.text());
    for r in &regions {
        let page = r.site.get("/", "").unwrap();
        assert_eq!(page.status, 200, "{}", r.name);
        // each region's page cache (Debian's Varnish with the rendered VCL)
        assert!(
            page.header("x-geowp-cache").is_some(),
            "{}: not through the page cache",
            r.name
        );
    }

    // a session made in us-east works in eu-west and ap-south (shared salts, one database)
    let us = Session::new(&regions[0].site, &user, &password);
    for r in &regions[1..] {
        let a = r.site.get("/wp-admin/", &us.cookies).unwrap();
        assert_eq!(
            a.status, 200,
            "{}: the session from {} was refused",
            r.name, regions[0].name
        );
        assert!(a.text().contains("Dashboard"), "{}", r.name);
    }

    // an image uploaded through the REST API in us-east is served by the others
    let path = us.upload("from-us-east.png");
    for r in &regions[1..] {
        let took = served(&r.site, &path, &png(), PATIENCE);
        assert!(
            took.is_some(),
            "{path} never served by {}:\n{}",
            r.name,
            demo.logs()
        );
        println!(
            "upload in us-east served by {} after {:?}",
            r.name,
            took.unwrap()
        );
    }

    // 25 posts at 10 a page: 3 pages, every post once
    let (code, _) = us.rest(
        "DELETE",
        "/wp/v2/posts/1&force=true",
        "application/json",
        &[],
        b"",
    );
    assert_eq!(code, 200, "the sample post");
    for i in 1..=25 {
        // written in every region in turn, with the session made in us-east
        let body =
            json!({"title": format!("geowp post {i:02}"), "status": "publish", "content": "body"})
                .to_string();
        let (code, v) = us.via(&regions[i % 3].site).rest(
            "POST",
            "/wp/v2/posts",
            "application/json",
            &[],
            body.as_bytes(),
        );
        assert_eq!(code, 201, "{v}");
    }
    let mut seen = BTreeSet::new();
    for (page, want) in [(1, 10), (2, 10), (3, 5)] {
        let r = site.get(&format!("/?paged={page}"), "").unwrap();
        assert_eq!(r.status, 200);
        let t = titles(&r.text());
        assert_eq!(t.len(), want, "page {page}: {t:?}");
        seen.extend(t);
    }
    assert_eq!(seen.len(), 25);
    assert_eq!(site.get("/?paged=4", "").unwrap().status, 404);

    // us-east stops: through the load balancer, requests keep succeeding.
    // The poller tells when it has its first answer; the region goes down
    // then; the poller goes on for 100 requests after that, whatever the
    // machine's speed (the pace between requests only spares the servers).
    let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (started_tx, started) = std::sync::mpsc::channel();
    let poll = std::thread::spawn({
        let site = site.clone();
        let down = down.clone();
        move || {
            let (mut failed, mut total, mut after, mut last_fail) = (0, 0, 0, None);
            while after < 100 {
                total += 1;
                if down.load(std::sync::atomic::Ordering::SeqCst) {
                    after += 1;
                }
                match site.get("/", "") {
                    Ok(r) if r.status == 200 => {}
                    _ => {
                        failed += 1;
                        last_fail = Some(total);
                    }
                }
                if total == 1 {
                    let _ = started_tx.send(());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            (failed, total, last_fail)
        }
    });
    started.recv().expect("the poller answered");
    demo.region_down("us-east");
    down.store(true, std::sync::atomic::Ordering::SeqCst);
    let (failed, total, last_fail) = poll.join().unwrap();
    println!("failover: {failed} of {total} requests failed (the last failure was request {last_fail:?}); us-east went down after the first");
    assert!(
        failed <= 3,
        "{failed} of {total} requests failed while us-east went down"
    );
    assert_eq!(site.get("/", "").unwrap().status, 200);

    // an upload while us-east is down reaches it once it is back
    let path =
        Session::new(&regions[1].site, &user, &password).upload("while-us-east-was-down.png");
    demo.region_up("us-east");
    let took = served(&regions[0].site, &path, &png(), PATIENCE);
    assert!(
        took.is_some(),
        "us-east did not catch up on {path}:\n{}",
        demo.logs()
    );
    println!(
        "us-east served the upload made while it was down {:?} after it came back",
        took.unwrap()
    );
    let file = regions[0]
        .wp_content
        .join(path.trim_start_matches("/wp-content/"));
    assert!(
        file.exists(),
        "{} is not in us-east's wp-content",
        file.display()
    );

    // a real browser: log in, upload in the media library, see it in another region
    browser_uploads_and_another_region_shows_it(&demo, &regions, &user, &password);

    let eu = Session::new(&regions[1].site, &user, &password);
    a_deleted_upload_comes_back_from_another_regions_versions(&demo, &regions, &eu);
    restore_drill(&demo, &regions, &eu);

    let (ok, down) = demo.run("down", None);
    assert!(
        ok && down.contains("destroyed") && down.contains("removed"),
        "{down}"
    );
    assert!(!demo.dir.exists(), "demo-down left its directory");
    assert_eq!(
        demo.processes(),
        Vec::<String>::new(),
        "demo-down left processes running"
    );
    assert!(
        std::net::TcpStream::connect(site.addr).is_err(),
        "the load balancer still listens"
    );
}

/// Waits until `check` holds at every region; how long that took.
fn everywhere(
    regions: &[geowp_tests::demo::Region],
    limit: Duration,
    check: impl Fn(&geowp_tests::demo::Region) -> bool,
) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if regions.iter().all(&check) {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// docs/guides/undo.md's recovery of a file, followed here: an upload
/// deleted in one region is copied back from another region's SyncThing
/// versions (the guide's `kubectl exec ... cp`, done on the demo's
/// directories, which are what that pod sees), and every region serves it
/// again.
fn a_deleted_upload_comes_back_from_another_regions_versions(
    demo: &Demo,
    regions: &[geowp_tests::demo::Region],
    s: &Session,
) {
    let (code, media) = s.rest(
        "POST",
        "/wp/v2/media",
        "image/png",
        &[(
            "Content-Disposition",
            "attachment; filename=\"versioned.png\"".to_string(),
        )],
        &png(),
    );
    assert_eq!(code, 201, "{media}");
    let path = path_of(media["source_url"].as_str().unwrap());
    let rel = path.trim_start_matches("/wp-content/").to_string();
    assert!(
        everywhere(regions, PATIENCE, |r| r.wp_content.join(&rel).exists()).is_some(),
        "the upload did not reach every region:\n{}",
        demo.logs()
    );
    // deleted in us-east (the media library's "delete permanently")
    let (code, v) = s.via(&regions[0].site).rest(
        "DELETE",
        &format!("/wp/v2/media/{}&force=true", media["id"]),
        "application/json",
        &[],
        b"",
    );
    assert_eq!(code, 200, "{v}");
    assert!(
        everywhere(regions, PATIENCE, |r| !r.wp_content.join(&rel).exists()).is_some(),
        "the deletion did not replicate:\n{}",
        demo.logs()
    );
    // eu-west kept a version of what us-east deleted, beside its folder
    let eu = &regions[1];
    let (dir, file) = rel.rsplit_once('/').unwrap();
    let stem = file.trim_end_matches(".png");
    let versions = eu.wp_content.join("../config/versions").join(dir);
    let kept = std::fs::read_dir(&versions)
        .unwrap_or_else(|e| panic!("{}: {e}", versions.display()))
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with(&format!("{stem}~")) && n.ends_with(".png")
        })
        .unwrap_or_else(|| panic!("no version of {file} in {}", versions.display()));
    std::fs::copy(&kept, eu.wp_content.join(&rel)).unwrap();
    let back = everywhere(regions, PATIENCE, |r| {
        r.site
            .get(&path, "")
            .map(|f| f.status == 200 && f.bytes == png())
            .unwrap_or(false)
    });
    assert!(
        back.is_some(),
        "the recovered file did not reach every region:\n{}",
        demo.logs()
    );
    println!(
        "a deleted upload, copied back from eu-west's versions, served everywhere after {:.1?}",
        back.unwrap()
    );
}

/// The restore drill (docs/guides/backups.md): a post and an upload, a
/// backup, both deleted (the deletions replicate everywhere), a restore,
/// and both are back at every region's URL. Prints the figures README's
/// RPO and RTO come from.
fn restore_drill(demo: &Demo, regions: &[geowp_tests::demo::Region], s: &Session) {
    let body =
        json!({"title": "geowp drill post", "status": "publish", "content": "kept by the backup"})
            .to_string();
    let (code, post) = s.rest(
        "POST",
        "/wp/v2/posts",
        "application/json",
        &[],
        body.as_bytes(),
    );
    assert_eq!(code, 201, "{post}");
    let id = post["id"].as_u64().unwrap();
    let (code, media) = s.rest(
        "POST",
        "/wp/v2/media",
        "image/png",
        &[(
            "Content-Disposition",
            "attachment; filename=\"drill.png\"".to_string(),
        )],
        &png(),
    );
    assert_eq!(code, 201, "{media}");
    let media_id = media["id"].as_u64().unwrap();
    let path = path_of(media["source_url"].as_str().unwrap());
    let file_of =
        |r: &geowp_tests::demo::Region| r.wp_content.join(path.trim_start_matches("/wp-content/"));
    assert!(
        everywhere(regions, PATIENCE, |r| file_of(r).exists()).is_some(),
        "the drill's upload did not reach every region:\n{}",
        demo.logs()
    );

    let t = Instant::now();
    let (ok, out) = demo.run("backup", None);
    let backup_took = t.elapsed();
    assert!(ok && out.contains("finished in region"), "{out}");
    let name = out
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(name.starts_with("manual-"), "{out}");

    // the mistake: both deleted, and the deletion replicates
    let (code, v) = s.rest(
        "DELETE",
        &format!("/wp/v2/posts/{id}&force=true"),
        "application/json",
        &[],
        b"",
    );
    assert_eq!(code, 200, "{v}");
    let (code, v) = s.rest(
        "DELETE",
        &format!("/wp/v2/media/{media_id}&force=true"),
        "application/json",
        &[],
        b"",
    );
    assert_eq!(code, 200, "{v}");
    assert!(
        everywhere(regions, PATIENCE, |r| !file_of(r).exists()).is_some(),
        "the deletion did not replicate:\n{}",
        demo.logs()
    );
    let post_at = |r: &geowp_tests::demo::Region| {
        r.site
            .get(&format!("/?p={id}"), &s.cookies)
            .map(|p| p.status == 200 && p.text().contains("geowp drill post"))
            .unwrap_or(false)
    };
    assert!(!post_at(&regions[0]), "the post was not deleted");

    // the restore, and every region serving both again
    let t = Instant::now();
    let (ok, out) = demo.run("restore", Some(&name));
    let restore_took = t.elapsed();
    assert!(ok && out.contains("maintenance over"), "{out}");
    let converged = everywhere(regions, PATIENCE, |r| {
        post_at(r)
            && r.site
                .get(&path, "")
                .map(|f| f.status == 200 && f.bytes == png())
                .unwrap_or(false)
    });
    assert!(
        converged.is_some(),
        "after the restore a region lacks the post or the upload:\n{}",
        demo.logs()
    );
    for r in regions {
        assert!(
            !r.wp_content.join("uploads/.geowp-maintenance").exists(),
            "{} is still in maintenance",
            r.name
        );
    }
    println!(
        "restore drill: backup {backup_took:.1?}; restore {restore_took:.1?}, every region serving the post and the upload {:.1?} after it ended",
        converged.unwrap()
    );
}

fn browser_uploads_and_another_region_shows_it(
    demo: &Demo,
    regions: &[geowp_tests::demo::Region],
    user: &str,
    password: &str,
) {
    use geowp_tests::browser::Browser;
    let site = demo.site();
    let host = site.host.split(':').next().unwrap().to_string();
    let url = format!("http://{}", site.host);
    let image = demo.dir.join("browser-upload.png");
    std::fs::write(&image, png()).unwrap();

    // eu-west's browser: the site's name leads to eu-west's frontend
    let eu = regions[1].site.addr.ip().to_string();
    let b = Browser::start(&demo.dir.join("chromium-eu"), &[(&host, &eu)]);
    b.go(&format!("{url}/"));
    assert!(b.wait_for_text("geowp demo", PATIENCE), "front page");
    let shot = b.screenshot();
    assert!(shot.starts_with(b"\x89PNG"), "not a PNG");
    let keep = std::env::var_os("GEOWP_SCREENSHOT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| demo.dir.join("front-page.png"));
    std::fs::write(&keep, &shot).unwrap();
    b.log_in(&url, user, password);
    b.go(&format!("{url}/wp-admin/media-new.php?browser-uploader"));
    b.attach("#async-upload", &image);
    b.click("#html-upload");
    // the upload lands in the library (whose list view the server renders)
    assert!(b.wait_for_text("upload.php", PATIENCE));
    b.go(&format!("{url}/wp-admin/upload.php?mode=list"));
    if !b.wait_for_text("browser-upload", PATIENCE) {
        let src = b.source();
        panic!(
            "the upload is not in eu-west's media library: {} {}",
            b.url(),
            &src[src.len().saturating_sub(3000)..]
        );
    }
    // wp-admin works as a new user finds it: each screen renders what its
    // scripts build (the grid of the Media Library is all JavaScript), and
    // the console has no error (every script and style WordPress asks for
    // is served)
    let mut problems = Vec::new();
    for (page, built_by_its_scripts) in [
        ("/wp-admin/", "#dashboard-widgets .postbox"),
        (
            "/wp-admin/upload.php?mode=grid",
            "li.attachment[aria-label=\"browser-upload\"]",
        ),
        (
            "/wp-admin/post-new.php",
            ".edit-post-layout .block-editor-writing-flow",
        ),
        ("/wp-admin/plugins.php", "#the-list tr"),
    ] {
        b.go(&format!("{url}{page}"));
        b.find(built_by_its_scripts);
        // This machine has no internet: what WordPress asks other hosts
        // for (avatars from Gravatar, the editor's welcome pictures from
        // s.w.org) cannot resolve here and loads wherever the browser has a
        // network. Every other error counts, the site's own above all.
        let elsewhere = |e: &str| {
            e.contains("net::ERR_NAME_NOT_RESOLVED")
                && e.split_whitespace().next().is_some_and(|u| {
                    u.starts_with("http") && !u.contains(&format!("//{}", site.host))
                })
        };
        let errors: Vec<String> = b
            .console_errors()
            .into_iter()
            .filter(|e| !elsewhere(e))
            .collect();
        if !errors.is_empty() {
            problems.push(format!("{page}: {}", errors.join("\n  ")));
        }
    }
    assert!(
        problems.is_empty(),
        "console errors in wp-admin:\n{}",
        problems.join("\n")
    );
    drop(b);

    // ap-south's browser sees it in its media library
    let ap = regions[2].site.addr.ip().to_string();
    let b = Browser::start(&demo.dir.join("chromium-ap"), &[(&host, &ap)]);
    b.log_in(&url, user, password);
    b.go(&format!("{url}/wp-admin/upload.php?mode=list"));
    assert!(
        b.wait_for_text("browser-upload", PATIENCE),
        "ap-south's media library does not list the upload"
    );
    let src = b.source();
    let at = src.find("browser-upload").unwrap();
    assert!(src[at..].contains(".png"));
}

geowp_tests::for_each_terraform! {
    fn make_demo_twice_in_a_row_works_and_demo_down_cleans_up(terraform) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let demo = Demo::new(terraform, if terraform.is_1_0() { 70 } else { 80 });
    let out = demo.up();
    assert!(out.contains("the demo is running"), "{out}");
    assert!(demo.dir.join("kubeconfig").exists(), "no merged kubeconfig");
    assert!(!demo.processes().is_empty());
    // running it again works (it takes the earlier one down first)
    let out2 = demo.up();
    assert!(out2.contains("an earlier demo is here") && out2.contains("the demo is running"), "{out2}");
    assert_eq!(demo.site().get("/", "").unwrap().status, 200);
    let (ok, down) = demo.run("down", None);
    assert!(ok && down.contains("destroyed") && down.contains("removed"), "{down}");
    assert!(!demo.dir.exists(), "demo-down left its directory");
    assert_eq!(demo.processes(), Vec::<String>::new(), "demo-down left processes running");
    }
}
