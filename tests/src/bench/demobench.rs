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

/// The round trips from each region to the data the latency benchmark
/// runs with, unless GEOWP_DEMO_RTT says otherwise.
const DEFAULT_RTT: &str = "us-east=0,eu-west=80,ap-south=150";

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let k = ((p / 100.0) * (v.len() as f64 - 1.0)).round() as usize;
    v[k.min(v.len() - 1)]
}

/// Milliseconds of one GET, and what the cache said.
fn timed(site: &Site, path: &str, cookies: &str) -> (f64, String) {
    let t = Instant::now();
    let r = site.get(path, cookies).expect("GET");
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    (ms, r.header("x-geowp-cache").unwrap_or("none").to_string())
}

struct Row {
    region: String,
    rtt: String,
    cells: Vec<String>,
}

/// One demo with `GEOWP_DEMO_RTT` and the page cache on or off: per region,
/// p50 and p95 of a visitor's front page and single post (cache cold and
/// warm), a logged-in dashboard, the warm hit ratio, and how long an edit
/// at us-east takes to show at each region's URL.
fn latency_run(rtt: &str, cached: bool) -> Vec<Row> {
    let mut d = Demo::new(&Terraform::pinned(), 90);
    d.env.push(("GEOWP_DEMO_RTT".into(), rtt.into()));
    if !cached {
        d.env.push(("TF_VAR_page_cache".into(), "false".into()));
        d.env.push(("TF_VAR_stale_read_seconds".into(), "0".into()));
    }
    eprintln!(
        "[bench] latency: demo up, GEOWP_DEMO_RTT={rtt}, page cache and stale reads {}",
        if cached { "on" } else { "off" }
    );
    d.up();
    let regions = d.regions();
    let us = regions
        .iter()
        .find(|r| r.name == "us-east")
        .expect("us-east");
    let (user, pw) = d.admin();
    let cookies = us.site.log_in(&user, &pw).expect("log in");
    let nonce = us
        .site
        .get("/wp-admin/admin-ajax.php?action=rest-nonce", &cookies)
        .expect("nonce")
        .text()
        .trim()
        .to_string();
    let rest = |method: &'static str, path: &str, body: &str| {
        let r = us
            .site
            .send(&Request {
                method,
                path,
                headers: vec![
                    ("Cookie", cookies.clone()),
                    ("X-WP-Nonce", nonce.clone()),
                    ("Content-Type", "application/json".into()),
                ],
                body: body.as_bytes(),
            })
            .expect("REST");
        assert!(r.status < 300, "{path}: {} {}", r.status, r.text());
        serde_json::from_slice::<serde_json::Value>(&r.bytes).expect("JSON")
    };
    let post = rest(
        "POST",
        "/?rest_route=/wp/v2/posts",
        r#"{"title":"bench post one","content":"bench body","status":"publish"}"#,
    );
    let id = post["id"].as_u64().expect("post id");
    // the steady state: past the seconds after a change when visitors read fresh
    std::thread::sleep(Duration::from_secs(8));
    let (cold_n, warm_n, dash_n) = if cached { (10, 30, 3) } else { (5, 0, 3) };
    let mut rows = Vec::new();
    let order = ["us-east", "eu-west", "ap-south"];
    for name in order {
        let r = regions.iter().find(|r| r.name == name).expect("region");
        eprintln!("[bench] latency: {name}");
        let mut cells = Vec::new();
        for (what, path) in [("front", "/".to_string()), ("post", format!("/?p={id}"))] {
            // cold: a URL no one asked for (a query the page ignores)
            let sep = if path.contains('?') { '&' } else { '?' };
            let cold: Vec<f64> = (0..cold_n)
                .map(|i| timed(&r.site, &format!("{path}{sep}bench-cold={what}-{i}"), "").0)
                .collect();
            cells.push(format!(
                "{:.0} / {:.0}",
                percentile(&cold, 50.0),
                percentile(&cold, 95.0)
            ));
            if cached {
                timed(&r.site, &path, "");
                let warm: Vec<(f64, String)> =
                    (0..warm_n).map(|_| timed(&r.site, &path, "")).collect();
                let ms: Vec<f64> = warm.iter().map(|w| w.0).collect();
                let hits = warm.iter().filter(|w| w.1 == "hit").count();
                cells.push(format!(
                    "{:.1} / {:.1}",
                    percentile(&ms, 50.0),
                    percentile(&ms, 95.0)
                ));
                cells.push(format!("{hits}/{warm_n}"));
            } else {
                cells.push("(no cache)".into());
                cells.push("-".into());
            }
        }
        let dash: Vec<f64> = (0..dash_n)
            .map(|_| timed(&r.site, "/wp-admin/", &cookies).0)
            .collect();
        cells.push(format!(
            "{:.0} / {:.0}",
            percentile(&dash, 50.0),
            percentile(&dash, 95.0)
        ));
        rows.push(Row {
            region: name.to_string(),
            rtt: rtt
                .split(',')
                .find_map(|p| p.strip_prefix(&format!("{name}=")))
                .unwrap_or("0")
                .to_string(),
            cells,
        });
    }
    // an edit at us-east, until every region's URL shows it
    for r in &regions {
        timed(&r.site, &format!("/?p={id}"), "");
    }
    rest(
        "POST",
        &format!("/?rest_route=/wp/v2/posts/{id}"),
        r#"{"title":"bench post edited"}"#,
    );
    let t = Instant::now();
    let mut seen: std::collections::BTreeMap<String, f64> = Default::default();
    while seen.len() < regions.len() && t.elapsed() < Duration::from_secs(180) {
        for r in &regions {
            if seen.contains_key(&r.name) {
                continue;
            }
            let page = r.site.get(&format!("/?p={id}"), "").expect("GET");
            if page.text().contains("bench post edited") {
                seen.insert(r.name.clone(), t.elapsed().as_secs_f64());
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    for row in &mut rows {
        row.cells.push(
            seen.get(&row.region)
                .map(|s| format!("{s:.1}"))
                .unwrap_or_else(|| "not within 180".into()),
        );
    }
    let (ok, out) = d.run("down", None);
    assert!(ok, "{out}");
    rows
}

/// The latency benchmark: the demo without and with the page cache and
/// stale reads, with cross-region round trips to the data.
pub fn latency() -> String {
    let rtt = std::env::var("GEOWP_DEMO_RTT").unwrap_or_else(|_| DEFAULT_RTT.to_string());
    let mut md = format!(
        "Milliseconds, p50 / p95, through each region's own URL (HAProxy's per-region frontend), GEOWP_DEMO_RTT=\"{rtt}\" (every SQL statement a region's TiDB would send to the leaders waits that long per round trip: localrun/src/sqldelay.rs)\n\n\
| | region | RTT to data (ms) | front page, cold | front page, warm | warm hits | single post, cold | single post, warm | warm hits | logged-in dashboard | edit at us-east shown after (s) |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    for (label, cached) in [
        ("before: no cache, fresh reads", false),
        ("after: page cache, stale reads", true),
    ] {
        for row in latency_run(&rtt, cached) {
            md.push_str(&format!(
                "| {label} | {} | {} | {} |\n",
                row.region,
                row.rtt,
                row.cells.join(" | ")
            ));
        }
    }
    md
}
