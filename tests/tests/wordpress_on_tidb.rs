//! WordPress with geowp's must-use plugin on a MySQL-compatible server:
//! real WordPress 6.1 (Debian), real PHP 8.2 and MariaDB 10.11 with its
//! general query log on. TiDB cannot run here; MariaDB stands in for its SQL
//! layer, and the log shows what would reach TiDB: no SQL_CALC_FOUND_ROWS
//! (which TiDB refuses unless noop functions are on, and then counts
//! wrongly), yet every count is right: posts, users, comments, and the
//! pages WordPress draws from them (front page, Posts and Users screens).
//! The same script without the plugin sends SQL_CALC_FOUND_ROWS, so the
//! log check can fail. The health page answers 503 once the database is
//! gone. Behind a load balancer that ends TLS and adds no header (an NLB),
//! `wordpress_tls_at_load_balancer`'s config lets a real browser through
//! HAProxy log in, where the plain config loops.

use std::collections::BTreeSet;
use std::path::Path;

use geowp_stack::render::tidb::BOOTSTRAP_SH;
use geowp_stack::render::{config_extra, HEALTH_FILE, HEALTH_PHP, MU_PLUGINS};
use geowp_tests::wordpress::{
    docroot, docroot_with, free_port, geowp_drop_ins, php_with_wordpress, Env, MariaDb, PhpServer,
    Site,
};
use serde_json::Value;

const DB_PASSWORD: &str = "wp-db-pw-7c1f0e";
const ADMIN_PASSWORD: &str = "admin-pw-93be1";

/// The environment geowp renders into the WordPress Deployment (secrets as
/// files), pointed at this machine's server.
fn wordpress_env(dir: &Path, db_port: u16, extra: String) -> Env {
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("WORDPRESS_DB_PASSWORD"), DB_PASSWORD).unwrap();
    let mut env: Env = vec![
        ("WORDPRESS_DB_HOST".into(), format!("127.0.0.1:{db_port}")),
        ("WORDPRESS_DB_USER".into(), "wordpress".into()),
        ("WORDPRESS_DB_NAME".into(), "wordpress".into()),
        (
            "WORDPRESS_DB_PASSWORD_FILE".into(),
            secrets.join("WORDPRESS_DB_PASSWORD").display().to_string(),
        ),
        ("WORDPRESS_DB_CHARSET".into(), "utf8mb4".into()),
        ("WORDPRESS_DB_COLLATE".into(), "utf8mb4_general_ci".into()),
        ("WORDPRESS_CONFIG_EXTRA".into(), extra),
    ];
    for k in geowp_common::names::SALT_NAMES {
        let f = secrets.join(k);
        std::fs::write(&f, format!("salt-{k}-0123456789")).unwrap();
        env.push((
            format!("{}_FILE", geowp_stack::render::salt_env(k)),
            f.display().to_string(),
        ));
    }
    env
}

fn php_json(root: &Path, env: &Env, script: &str) -> Value {
    let o =
        php_with_wordpress(root, env, script == INSTALL, script).unwrap_or_else(|e| panic!("{e}"));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "php: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_str(out.lines().last().unwrap_or("")).unwrap_or_else(|e| {
        panic!(
            "php printed no JSON ({e}): {out}{}",
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

const INSTALL: &str = r#"
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
$r = wp_install('geowp test', 'admin', 'admin@example.com', true, '', getenv('GEOWP_ADMIN_PASSWORD'));
wp_delete_post(1, true); // the sample post: exactly 25 below
$posts = array();
for ($i = 1; $i <= 25; $i++) {
    $posts[] = wp_insert_post(array(
        'post_title' => sprintf('geowp post %02d', $i),
        'post_content' => 'body',
        'post_status' => 'publish',
        'post_date' => sprintf('2026-01-%02d 10:00:00', $i),
    ));
}
for ($i = 1; $i <= 24; $i++) {
    wp_insert_user(array('user_login' => sprintf('user%02d', $i), 'user_pass' => 'pw-' . $i,
        'user_email' => sprintf('user%02d@example.com', $i), 'role' => 'author'));
}
wp_delete_comment(1, true);
for ($i = 1; $i <= 15; $i++) {
    wp_insert_comment(array('comment_post_ID' => $posts[0], 'comment_content' => "comment $i",
        'comment_approved' => 1, 'comment_author' => "reader $i"));
}
echo json_encode(array('user_id' => $r['user_id'])), "\n";
"#;

/// WP_Query, WP_User_Query and WP_Comment_Query as WordPress's screens use
/// them (found rows asked for), page by page.
const COUNTS: &str = r#"
$pages = array();
for ($p = 1; $p <= 3; $p++) {
    $q = new WP_Query(array('post_type' => 'post', 'posts_per_page' => 10, 'paged' => $p));
    $pages[] = array('found' => (int) $q->found_posts, 'max' => (int) $q->max_num_pages, 'n' => count($q->posts));
}
$u = new WP_User_Query(array('number' => 10, 'paged' => 3, 'count_total' => true));
$c = new WP_Comment_Query(array('number' => 10, 'no_found_rows' => false, 'count' => false));
$comments = $c->get_comments();
echo json_encode(array('pages' => $pages, 'users_total' => (int) $u->get_total(),
    'users_on_page' => count($u->get_results()), 'comments_found' => (int) $c->found_comments,
    'comments_pages' => (int) $c->max_num_pages, 'comments_on_page' => count($comments))), "\n";
"#;

fn titles(html: &str) -> BTreeSet<String> {
    html.match_indices("geowp post ")
        .map(|(i, _)| html[i..i + 13].to_string())
        .collect()
}

#[test]
fn every_count_is_right_and_no_sql_calc_found_rows_reaches_the_server() {
    let dir = tempfile::Builder::new()
        .prefix("geowp-wp-")
        .tempdir()
        .unwrap();
    // the database and user come from geowp's own bootstrap script, run
    // twice (the Job may run again) on a server in TiDB's first state
    let mut db =
        MariaDb::start(&dir.path().join("db"), free_port()).unwrap_or_else(|e| panic!("{e}"));
    let secrets = dir.path().join("site-secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("TIDB_ROOT_PASSWORD"), "root-pw-5d2a9c71").unwrap();
    std::fs::write(secrets.join("WORDPRESS_DB_PASSWORD"), DB_PASSWORD).unwrap();
    for run in 1..=2 {
        let o = db.bootstrap(BOOTSTRAP_SH, &secrets).unwrap();
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            o.status.success() && out.contains("bootstrap done"),
            "bootstrap run {run}: {out}"
        );
    }
    assert!(
        !db.general_log().contains("tidb_enable_noop_functions"),
        "the bootstrap must never turn on TiDB's no-op functions"
    );
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let env = wordpress_env(dir.path(), db.port, config_extra(&url, false, false));
    let root = docroot_with(
        &dir.path().join("with-plugin"),
        &MU_PLUGINS,
        &geowp_drop_ins(),
    );
    std::fs::write(root.join(HEALTH_FILE), HEALTH_PHP).unwrap();
    let mut install_env = env.clone();
    install_env.push(("GEOWP_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()));
    let installed = php_json(&root, &install_env, INSTALL);
    assert_eq!(installed["user_id"], 1);
    // the tables whose IDs people see are created with TiDB's AUTO_ID_CACHE
    // 1 (in its feature comment, which MariaDB here ignores); the others keep
    // TiDB's fast per-server batches
    let log = db.general_log();
    let create = |table: &str| {
        let at = log
            .find(&format!("CREATE TABLE {table} ("))
            .unwrap_or_else(|| panic!("no CREATE TABLE {table} in the general log"));
        // the statement runs to the next entry of the log
        let rest = &log[at..];
        let end = rest.find(" Query\t").and_then(|q| rest[..q].rfind('\n'));
        rest[..end.unwrap_or(rest.len())].trim_end().to_string()
    };
    for t in ["wp_posts", "wp_comments", "wp_users", "wp_terms"] {
        assert!(
            create(t).ends_with("/*T![auto_id_cache] AUTO_ID_CACHE=1 */"),
            "{:?}",
            create(t)
        );
    }
    for t in ["wp_options", "wp_postmeta"] {
        assert!(!create(t).contains("AUTO_ID_CACHE"), "{}", create(t));
    }

    // the queries, from PHP
    let counts = php_json(&root, &env, COUNTS);
    let pages: Vec<(u64, u64, u64)> = counts["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["found"].as_u64().unwrap(),
                p["max"].as_u64().unwrap(),
                p["n"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        pages,
        vec![(25, 3, 10), (25, 3, 10), (25, 3, 5)],
        "{counts}"
    );
    assert_eq!(counts["users_total"], 25, "{counts}");
    assert_eq!(counts["users_on_page"], 5, "{counts}");
    assert_eq!(counts["comments_found"], 15, "{counts}");
    assert_eq!(counts["comments_pages"], 2, "{counts}");
    assert_eq!(counts["comments_on_page"], 10, "{counts}");

    // the pages WordPress serves
    let web = PhpServer::start(&root, &env, &dir.path().join("php.log"), port);
    let site = web.site();
    let http = |path: &str, cookies: &str| {
        let r = site
            .get(path, cookies)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        (r.status, r.text())
    };
    let mut seen = BTreeSet::new();
    for (page, want) in [(1, 10), (2, 10), (3, 5)] {
        let (status, body) = http(&format!("/?paged={page}"), "");
        assert_eq!(status, 200, "front page {page}");
        let t = titles(&body);
        assert_eq!(t.len(), want, "front page {page}: {t:?}");
        seen.extend(t);
    }
    assert_eq!(seen.len(), 25, "the three pages show every post once");
    assert_eq!(http("/?paged=4", "").0, 404);

    let cookies = site
        .log_in("admin", ADMIN_PASSWORD)
        .unwrap_or_else(|e| panic!("{e}"));
    let get = |path: &str| {
        let (status, body) = http(path, &cookies);
        assert_eq!(status, 200, "{path}: {}", &body[..body.len().min(500)]);
        body
    };
    let mut logins = BTreeSet::new();
    for page in [1, 2] {
        let body = get(&format!("/wp-admin/users.php?paged={page}"));
        assert!(
            body.contains("<span class=\"displaying-num\">25 items</span>"),
            "Users screen, page {page}, does not count 25 users"
        );
        assert!(!body.contains("No users found"));
        for (i, _) in body.match_indices("<tr id='user-") {
            let id: String = body[i + 13..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            logins.insert(id);
        }
    }
    assert_eq!(
        logins.len(),
        25,
        "the Users screen lists every user: {logins:?}"
    );
    let posts = get("/wp-admin/edit.php");
    assert!(posts.contains("<span class=\"displaying-num\">25 items</span>"));

    // what reached the server
    let log = db.general_log();
    let upper = log.to_uppercase();
    assert!(
        !upper.contains("SQL_CALC_FOUND_ROWS"),
        "SQL_CALC_FOUND_ROWS reached the server:\n{}",
        log.lines()
            .filter(|l| l.to_uppercase().contains("SQL_CALC_FOUND_ROWS"))
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
    // the plugin answers FOUND_ROWS() itself: `SELECT 25 AS `FOUND_ROWS()``
    let calls: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.to_uppercase()
                .replace("`FOUND_ROWS()`", "")
                .contains("FOUND_ROWS()")
        })
        .collect();
    assert!(
        calls.is_empty(),
        "FOUND_ROWS() reached the server: {calls:?}"
    );
    assert!(
        upper.contains("SELECT COUNT(*) FROM (SELECT"),
        "the plugin's counts are not in the log"
    );

    // the control: the same queries without the plugin do send it
    let bare = docroot(&dir.path().join("without-plugin"), &[]);
    let before = db.general_log().len();
    let control = php_json(&bare, &env, COUNTS);
    assert_eq!(control["users_total"], 25, "MariaDB counts right natively");
    let sent = db.general_log()[before..].to_uppercase();
    assert!(
        sent.contains("SQL_CALC_FOUND_ROWS") && sent.contains("FOUND_ROWS()"),
        "without the plugin WordPress should have sent SQL_CALC_FOUND_ROWS"
    );

    // the health page the global load balancer checks: 200 while the
    // database answers, 503 within its one-second connect timeout after
    let health = format!("/{HEALTH_FILE}");
    assert_eq!(http(&health, "").0, 200);
    db.stop();
    let t = std::time::Instant::now();
    let (status, body) = http(&health, "");
    assert_eq!(status, 503, "{body}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "the health page took {:?} to fail",
        t.elapsed()
    );
}

/// WordPress behind a load balancer that ends TLS and adds no
/// X-Forwarded-Proto (an NLB TLS listener) hears plain HTTP for an https
/// site. With the config geowp renders for `wordpress_tls_at_load_balancer`
/// the login page answers; with the plain config WordPress sends the visitor
/// to the https address they came from, which through the load balancer is
/// the same plain request again: the loop a browser gives up on. Shown
/// twice: to the backends directly, and through a real HAProxy TLS listener
/// in TCP mode (what an NLB is) with headless Chromium, which gives up with
/// ERR_TOO_MANY_REDIRECTS on the plain config and logs in to wp-admin over
/// https on geowp's.
#[test]
fn behind_a_tls_listener_wordpress_answers_instead_of_redirecting_to_itself() {
    let dir = tempfile::Builder::new()
        .prefix("geowp-wp-tls-")
        .tempdir()
        .unwrap();
    let db = MariaDb::start(&dir.path().join("db"), free_port()).unwrap_or_else(|e| panic!("{e}"));
    let secrets = dir.path().join("site-secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("TIDB_ROOT_PASSWORD"), "root-pw-5d2a9c71").unwrap();
    std::fs::write(secrets.join("WORDPRESS_DB_PASSWORD"), DB_PASSWORD).unwrap();
    let o = db.bootstrap(BOOTSTRAP_SH, &secrets).unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // the site's address is the load balancers' (below), on a port of our
    // own: an unprivileged one, so the test runs without root
    let lb_port = free_port();
    let host = format!("blog.example.test:{lb_port}");
    let url = format!("https://{host}");
    let url = url.as_str();
    let root = docroot(&dir.path().join("root"), &[]);
    let plain = wordpress_env(dir.path(), db.port, config_extra(url, false, false));
    let tls = wordpress_env(dir.path(), db.port, config_extra(url, true, false));
    let o = php_with_wordpress(
        &root,
        &plain,
        true,
        "require_once ABSPATH . 'wp-admin/includes/upgrade.php';\nwp_install('geowp tls', 'admin', 'admin@example.com', true, '', 'admin-pw-93be1');\necho \"installed\\n\";",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("installed"),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // each backend as the load balancer reaches it: plain HTTP, the site's Host
    let backend = |env: &Env, name: &str| {
        let port = free_port();
        let server = PhpServer::start(&root, env, &dir.path().join(format!("{name}.log")), port);
        let site = Site {
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            host: host.clone(),
        };
        (server, site)
    };

    let (_plain_server, plain_site) = backend(&plain, "plain");
    let r = plain_site.get("/wp-login.php", "").unwrap();
    assert_eq!(r.status, 302, "{:?} {}", r.headers, r.text());
    assert_eq!(
        r.header("location"),
        Some(format!("{url}/wp-login.php").as_str()),
        "WordPress sends the visitor to the https address: {:?}",
        r.headers
    );

    let (_tls_server, site) = backend(&tls, "tls");
    let r = site.get("/wp-login.php", "").unwrap();
    assert_eq!(r.status, 200, "{:?}", r.header("location"));
    assert!(
        r.text().contains(&format!("action=\"{url}/wp-login.php\"")),
        "the login form posts to the https address"
    );
    let r = site.get("/", "").unwrap();
    assert_eq!(r.status, 200, "{:?}", r.header("location"));
    assert!(r.text().contains(&format!("{url}/")));

    // the same two backends behind a real TLS listener, HAProxy in TCP mode
    // as an NLB is (TLS ends there, no header is added), on the site's port of two
    // loopback addresses, and a real browser
    let ck = rcgen::generate_simple_self_signed(vec!["blog.example.test".into()]).unwrap();
    let pem = dir.path().join("site.pem");
    std::fs::write(
        &pem,
        format!("{}{}", ck.cert.pem(), ck.signing_key.serialize_pem()),
    )
    .unwrap();
    let cfg = dir.path().join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n  log stderr format raw local0 notice\n\
defaults\n  mode tcp\n  log global\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n\
frontend plain\n  bind {PLAIN_LB}:{lb_port} ssl crt {0}\n  default_backend plain\n\
backend plain\n  server wp {1}\n\
frontend tls\n  bind {TLS_LB}:{lb_port} ssl crt {0}\n  default_backend tls\n\
backend tls\n  server wp {2}\n",
            pem.display(),
            plain_site.addr,
            site.addr,
        ),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(
        geowp_localrun::mariadb::program("haproxy", "haproxy").unwrap_or_else(|e| panic!("{e}")),
    );
    cmd.arg("-db").arg("-f").arg(&cfg);
    let log = std::fs::File::create(dir.path().join("haproxy.log")).unwrap();
    cmd.stdout(log.try_clone().unwrap()).stderr(log);
    let _haproxy = geowp_localrun::proc::Group::spawn(cmd).expect("start haproxy");
    for lb in [PLAIN_LB, TLS_LB] {
        let addr = std::net::SocketAddr::new(lb.parse().unwrap(), lb_port);
        assert!(
            geowp_localrun::mariadb::wait_port(addr, std::time::Duration::from_secs(20)),
            "haproxy did not listen on {addr}: {}",
            std::fs::read_to_string(dir.path().join("haproxy.log")).unwrap_or_default()
        );
    }
    let browser = |lb: &str, name: &str| {
        geowp_tests::browser::Browser::start_with(
            &dir.path().join(name),
            &[("blog.example.test", lb)],
            &["--ignore-certificate-errors"],
        )
    };
    {
        let b = browser(PLAIN_LB, "chromium-plain");
        let loaded = b.try_go(&format!("{url}/wp-login.php"));
        let page = if loaded.is_ok() {
            b.source()
        } else {
            String::new()
        };
        assert!(
            loaded
                .as_ref()
                .err()
                .is_some_and(|e| e.contains("ERR_TOO_MANY_REDIRECTS"))
                || page.contains("ERR_TOO_MANY_REDIRECTS"),
            "the plain config should loop behind TLS: {loaded:?} {}",
            &page[..page.len().min(300)]
        );
    }
    let b = browser(TLS_LB, "chromium-tls");
    b.log_in(url, "admin", "admin-pw-93be1");
    assert!(
        b.url().starts_with(&format!("{url}/wp-admin")),
        "{}",
        b.url()
    );
}

/// The load balancers of the browser test: the site's port on two loopback
/// addresses, in front of the plain and the TLS-aware config.
const PLAIN_LB: &str = "127.91.0.1";
const TLS_LB: &str = "127.91.0.2";

/// A must-use plugin for the cron test: the event records each run, then
/// waits until the test lets it finish (a file the test writes: the test
/// decides when, no clock does).
const HELD_EVENT: &str = r#"<?php
add_action('geowp_held_event', function () {
    $d = getenv('GEOWP_TEST_DIR');
    file_put_contents("$d/ran", getenv('GEOWP_REGION') . "\n", FILE_APPEND);
    touch("$d/started");
    while (!file_exists("$d/release")) {
        usleep(20000);
    }
});
"#;

/// Waits for `path` to exist while `child`, which makes it, still runs;
/// the bound only turns a hang into a failure.
fn wait_for_file(path: &Path, child: &mut std::process::Child) {
    let t = std::time::Instant::now();
    while !path.exists() {
        if let Ok(Some(s)) = child.try_wait() {
            panic!("the runner ended ({s}) before {} appeared", path.display());
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(120),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_due_event_runs_once_across_three_regions_and_once_more_with_the_runner_region_stopped() {
    use geowp_stack::render::{CRON_FILE, CRON_PHP};
    use std::process::{Command, Stdio};
    let dir = tempfile::Builder::new()
        .prefix("geowp-cron-")
        .tempdir()
        .unwrap();
    let db = MariaDb::start(&dir.path().join("db"), free_port()).unwrap_or_else(|e| panic!("{e}"));
    let secrets = dir.path().join("site-secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("TIDB_ROOT_PASSWORD"), "root-pw-5d2a9c71").unwrap();
    std::fs::write(secrets.join("WORDPRESS_DB_PASSWORD"), DB_PASSWORD).unwrap();
    let o = db.bootstrap(BOOTSTRAP_SH, &secrets).unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let url = format!("http://127.0.0.1:{}", free_port());
    // geowp's WordPress config: no cron from page loads
    let extra = config_extra(&url, false, false);
    assert!(extra.contains("DISABLE_WP_CRON"));
    let mut env = wordpress_env(dir.path(), db.port, extra);
    let mut plugins: Vec<(&str, &str)> = MU_PLUGINS.to_vec();
    plugins.push(("geowp-held-event.php", HELD_EVENT));
    let root = docroot_with(&dir.path().join("root"), &plugins, &geowp_drop_ins());
    let mut install_env = env.clone();
    install_env.push(("GEOWP_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()));
    php_json(&root, &install_env, INSTALL);
    let due = php_json(
        &root,
        &env,
        "_set_cron_array(array()); // only our event: core's own would call wordpress.org\nwp_schedule_single_event(time() - 60, 'geowp_held_event');\necho json_encode(array('due' => count(wp_get_ready_cron_jobs()))), \"\\n\";",
    );
    assert_eq!(due["due"], 1, "{due}");

    // the runner as the CronJob mounts it: outside the document root
    let runner = dir.path().join(CRON_FILE);
    std::fs::write(&runner, CRON_PHP).unwrap();
    let events = dir.path().join("events");
    std::fs::create_dir_all(&events).unwrap();
    env.push(("GEOWP_WORDPRESS_ROOT".into(), root.display().to_string()));
    env.push(("GEOWP_TEST_DIR".into(), events.display().to_string()));
    let php = geowp_localrun::mariadb::program("php", "php-cli").unwrap();
    // each region's CronJob runs the same runner against the one database
    let run = |region: &str| {
        let mut c = Command::new(&php);
        c.arg(&runner)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("GEOWP_REGION", region)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let ran = || {
        std::fs::read_to_string(events.join("ran"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let schedule = || {
        let due = php_json(
            &root,
            &env,
            "wp_schedule_single_event(time() - 60, 'geowp_held_event', array(uniqid()));\necho json_encode(array('due' => count(wp_get_ready_cron_jobs()))), \"\\n\";",
        );
        assert_eq!(due["due"], 1, "{due}");
    };

    // 1. the three regions' runs start together: one takes the lock and is
    // inside the event (held there until the test lets it go); the other
    // two end without running anything
    let regions = ["us-east", "eu-west", "ap-south"];
    let mut runs: Vec<(&str, std::process::Child)> = regions
        .iter()
        .map(|r| (*r, run(r).spawn().unwrap()))
        .collect();
    let first = loop {
        if events.join("started").exists() {
            break ran()[0].clone();
        }
        for (r, c) in runs.iter_mut() {
            if let Ok(Some(s)) = c.try_wait() {
                assert!(s.success(), "{r}'s run failed");
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let (holder, others): (Vec<_>, Vec<_>) = runs.into_iter().partition(|(r, _)| *r == first);
    for (r, c) in others {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{r}: {}", text(&o));
        assert!(
            text(&o).contains("another run holds the lock"),
            "{r}: {}",
            text(&o)
        );
    }
    std::fs::write(events.join("release"), "").unwrap();
    let (_, a) = holder.into_iter().next().unwrap();
    let a = a.wait_with_output().unwrap();
    assert!(a.status.success(), "{}", text(&a));
    assert!(
        text(&a).contains("lock held") && text(&a).contains("done"),
        "{}",
        text(&a)
    );
    assert_eq!(ran(), vec![first.clone()], "the event ran more than once");

    // 2. the region that ran it is stopped: the next due event runs exactly
    // once, from one of the other two
    schedule();
    let rest: Vec<&str> = regions.iter().copied().filter(|r| *r != first).collect();
    let outs: Vec<_> = rest
        .iter()
        .map(|r| run(r).spawn().unwrap())
        .collect::<Vec<_>>()
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outs {
        assert!(o.status.success(), "{}", text(o));
    }
    let after = ran();
    assert_eq!(
        after.len(),
        2,
        "the second event ran {} times: {after:?}",
        after.len() - 1
    );
    assert!(rest.contains(&after[1].as_str()), "{after:?}");

    // 3. a region lost in the middle of a run (its runner killed while it
    // holds the lock): the lock goes with its connection, and the next
    // region's run takes it
    std::fs::remove_file(events.join("release")).unwrap();
    std::fs::remove_file(events.join("started")).unwrap();
    schedule();
    let mut lost = run(rest[0]).spawn().unwrap();
    wait_for_file(&events.join("started"), &mut lost);
    lost.kill().unwrap();
    let _ = lost.wait();
    // (each attempt is what the next minute's CronJob does; the server
    // frees the lock once it sees the connection closed)
    let took = (0..30).find(|_| text(&run(rest[1]).output().unwrap()).contains("lock held"));
    assert!(took.is_some(), "the lost region's lock stayed");
    // WordPress takes an event off the schedule before it runs it: the
    // killed run's event is not run again (at most once)
    assert_eq!(ran().len(), 3, "{:?}", ran());
    let left = php_json(
        &root,
        &env,
        "echo json_encode(array('due' => count(wp_get_ready_cron_jobs()))), \"\\n\";",
    );
    assert_eq!(left["due"], 0, "{left}");
}
