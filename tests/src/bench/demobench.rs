//! Benchmarks of the running demo (`scripts/demo.sh`, what `make demo`
//! runs, on the debug build it uses): time from `up` to a site that serves,
//! an image uploaded through WordPress's REST API at one region until the
//! other two serve it (median and max of 20), and failover through HAProxy
//! when a region stops (failed requests, slowest request, and when HAProxy
//! marks it down; 3 times).

use std::time::{Duration, Instant};

use geowp_localrun::http::Request;
use geowp_localrun::wordpress::Site;

use geowp_tests::demo::Demo;
use geowp_tests::Terraform;

const UPLOADS: usize = 20;
const FAILOVERS: usize = 3;
const PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

fn upload(site: &Site, cookies: &str, nonce: &str, name: &str, png: &[u8]) -> String {
    let path = "/?rest_route=/wp/v2/media";
    let r = site
        .send(&Request {
            method: "POST",
            path,
            headers: vec![
                ("Cookie", cookies.to_string()),
                ("X-WP-Nonce", nonce.to_string()),
                ("Content-Type", "image/png".into()),
                (
                    "Content-Disposition",
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            body: png,
        })
        .expect("upload");
    assert_eq!(r.status, 201, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.bytes).expect("media JSON");
    geowp_localrun::http::split_url(v["source_url"].as_str().expect("source_url"))
        .expect("url")
        .1
}

pub fn demo() -> String {
    let png = geowp_common::b64::decode(PNG_B64).expect("png");
    let d = Demo::new(&Terraform::pinned(), 90);
    eprintln!("[bench] demo: scripts/demo.sh up");
    let t = Instant::now();
    d.up();
    let up_s = t.elapsed().as_secs_f64();
    let site = d.site();
    assert_eq!(site.get("/", "").expect("front page").status, 200);
    let served_s = t.elapsed().as_secs_f64();

    let us = d.region("us-east");
    let others = [d.region("eu-west"), d.region("ap-south")];
    let (user, pw) = d.admin();
    let cookies = us.site.log_in(&user, &pw).expect("log in");
    let nonce = us
        .site
        .get("/wp-admin/admin-ajax.php?action=rest-nonce", &cookies)
        .expect("nonce")
        .text()
        .trim()
        .to_string();
    eprintln!("[bench] demo: {UPLOADS} uploads at us-east, served by eu-west and ap-south");
    let mut spread = Vec::new();
    for i in 0..UPLOADS {
        let path = upload(&us.site, &cookies, &nonce, &format!("bench-{i}.png"), &png);
        let t = Instant::now();
        let mut pending: Vec<&Site> = others.iter().map(|r| &r.site).collect();
        while !pending.is_empty() {
            pending.retain(|s| {
                !s.get(&path, "")
                    .is_ok_and(|r| r.status == 200 && r.bytes == png)
            });
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "{path} not replicated"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        spread.push(t.elapsed().as_secs_f64());
        std::thread::sleep(Duration::from_millis(300));
    }

    eprintln!("[bench] demo: {FAILOVERS} failovers of us-east");
    let mut rows = Vec::new();
    for _ in 0..FAILOVERS {
        let log = d.dir.join("haproxy.log");
        let downs_before = count_down(&std::fs::read_to_string(&log).unwrap_or_default());
        let poll = std::thread::spawn({
            let site = site.clone();
            move || {
                let t = Instant::now();
                let (mut failed, mut total, mut slowest) = (0, 0, 0f64);
                while t.elapsed() < Duration::from_secs(10) {
                    let r0 = Instant::now();
                    total += 1;
                    if !site.get("/", "").is_ok_and(|r| r.status == 200) {
                        failed += 1;
                    }
                    slowest = slowest.max(r0.elapsed().as_secs_f64());
                    std::thread::sleep(Duration::from_millis(50));
                }
                (failed, total, slowest)
            }
        });
        std::thread::sleep(Duration::from_secs(1));
        let stopped = Instant::now();
        d.region_down("us-east");
        let mut marked = None;
        while stopped.elapsed() < Duration::from_secs(9) {
            if count_down(&std::fs::read_to_string(&log).unwrap_or_default()) > downs_before {
                marked = Some(stopped.elapsed().as_secs_f64());
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let (failed, total, slowest) = poll.join().expect("poller");
        rows.push((failed, total, slowest, marked));
        d.region_up("us-east");
        // back in the load balancer before the next round
        let t = Instant::now();
        while us.site.get("/", "").map(|r| r.status).unwrap_or(0) != 200
            && t.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(200));
        }
        std::thread::sleep(Duration::from_secs(6));
    }
    let mut md =
        String::from("| the demo (scripts/demo.sh, debug build, 2 cores) | value |\n|---|---|\n");
    md.push_str(&format!("| `demo.sh up` from a built tree to the site installed and serving (s, once) | {up_s:.1} |\n"));
    md.push_str(&format!(
        "| ... to the first front page through HAProxy (s) | {served_s:.1} |\n"
    ));
    md.push_str(&format!("| image uploaded at us-east (REST) until eu-west and ap-south both serve it: median of {UPLOADS} (s) | {:.2} |\n", median(spread.clone())));
    md.push_str(&format!(
        "| ... max of {UPLOADS} (s) | {:.2} |\n",
        max(&spread)
    ));
    for (i, (failed, total, slowest, marked)) in rows.iter().enumerate() {
        md.push_str(&format!(
            "| failover {}: requests failed through HAProxy while us-east stopped | {failed} of {total} |\n| failover {}: slowest request in those 10 s (s) | {slowest:.2} |\n| failover {}: us-east marked down by HAProxy's health check after (s) | {} |\n",
            i + 1,
            i + 1,
            i + 1,
            marked.map(|m| format!("{m:.1}")).unwrap_or_else(|| "not within 9 s".into())
        ));
    }
    md
}

fn count_down(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("regions/us-east is DOWN"))
        .count()
}
