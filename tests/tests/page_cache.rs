//! The page cache geowp renders, run for real: Debian's Varnish (7.1) with
//! the VCL from the rendered ConfigMap and the rendered container's
//! arguments (as the demo runs them), in front of real WordPress 6.1 with
//! geowp's must-use plugins on MariaDB (standing in for TiDB's SQL layer).
//!
//! - A visitor's page is stored and served again; a logged-in user's page,
//!   a comment author's, wp-admin and a POST go to WordPress every time,
//!   and what they get is never served to a visitor (also in real
//!   browsers: an editor logged in with Chromium, then a visitor).
//! - A response that sets a cookie is never stored.
//! - Editing a post bans the region's pages at once (the plugin's BAN on the
//!   purge listener); the public listener refuses bans.
//! - WordPress's health page is passed through, never stored.
//! - With the database stopped, a stored page is served stale (past its
//!   ttl), a page never stored is an error.
//! - Stale reads: the plugin sends TiDB's stale-read settings for a
//!   visitor's page and not for a logged-in user's (MariaDB's general
//!   log), and the settings are what tidb-server accepts (its sysvar
//!   definitions, cited).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use geowp_stack::render::tidb::BOOTSTRAP_SH;
use geowp_stack::render::{self, cache, config_extra, HEALTH_FILE, HEALTH_PHP, MU_PLUGINS};
use geowp_tests::tidbcheck;
use geowp_tests::wordpress::{
    docroot_with, free_port, geowp_drop_ins, http, php_with_wordpress, Env, Group, MariaDb,
    PhpServer, Request, Site,
};

const DB_PASSWORD: &str = "wp-db-pw-41aa0c";
const ADMIN_PASSWORD: &str = "admin-pw-c0ffee1";
const STALE_READ_SECONDS: u32 = 300;

/// A test-only plugin: `?geowp-cookie=1` sets a cookie on a visitor's page;
/// every render says which it was (a stored copy repeats the number).
const RENDER_ID_PHP: &str = r#"<?php
add_action('send_headers', function () {
    header('X-Geowp-Render: ' . uniqid('', true));
    if (isset($_GET['geowp-cookie'])) {
        setcookie('geowp_test', '1', 0, '/');
    }
    if (isset($_GET['geowp-write'])) {
        update_option('geowp_test_visits', (int) get_option('geowp_test_visits') + 1);
    }
});
"#;

fn wordpress_env(dir: &Path, db_port: u16, url: &str, purge: &str) -> Env {
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
        (
            "WORDPRESS_CONFIG_EXTRA".into(),
            config_extra(url, false, false),
        ),
        (cache::PURGE_ENV.into(), purge.into()),
        // long: "right after a change" below holds on a slow machine too
        (
            "GEOWP_STALE_READ_SECONDS".into(),
            STALE_READ_SECONDS.to_string(),
        ),
    ];
    for k in geowp_common::names::SALT_NAMES {
        let f = secrets.join(k);
        std::fs::write(&f, format!("salt-{k}-abcdef0123")).unwrap();
        env.push((
            format!("{}_FILE", render::salt_env(k)),
            f.display().to_string(),
        ));
    }
    env
}

fn php(root: &Path, env: &Env, install: bool, script: &str) -> String {
    let o = php_with_wordpress(root, env, install, script).unwrap_or_else(|e| panic!("{e}"));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "php: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out.lines().last().unwrap_or("").to_string()
}

/// Varnish as the rendered Deployment runs it, with `spec`'s VCL, in front
/// of WordPress at 127.0.0.1:`backend`.
struct Cache {
    _group: Group,
    http: SocketAddr,
}

impl Cache {
    fn start(dir: &Path, spec: &render::StackSpec, backend: u16, ip: Ipv4Addr) -> Cache {
        std::fs::create_dir_all(dir).unwrap();
        let objs = render::render(spec, &render::Inputs::placeholder());
        let deployment = objs
            .iter()
            .find(|o| o.id.kind == "Deployment" && o.id.name == cache::PAGE_CACHE)
            .expect("a page-cache Deployment");
        let config = objs
            .iter()
            .find(|o| o.id.kind == "ConfigMap" && o.id.name == cache::PAGE_CACHE)
            .expect("its ConfigMap");
        // the rendered VCL, its backend made this machine's address as the
        // demo's runtime does
        let vcl = config.body["data"]["geowp.vcl"].as_str().unwrap().replace(
            &format!(
                ".host = \"{}\";\n    .port = \"80\";",
                cache::ORIGIN_SERVICE
            ),
            &format!(".host = \"127.0.0.1\";\n    .port = \"{backend}\";"),
        );
        assert!(vcl.contains(&format!(".port = \"{backend}\";")), "{vcl}");
        std::fs::write(dir.join("geowp.vcl"), &vcl).unwrap();
        let given: Vec<String> = serde_json::from_value(
            deployment.body["spec"]["template"]["spec"]["containers"][0]["args"].clone(),
        )
        .unwrap();
        // the pod's emptyDir at /var/lib/varnish
        let work = dir.join("work");
        std::fs::create_dir_all(&work).unwrap();
        let args = geowp_localrun::pods::varnish_args(&given, &dir.join("geowp.vcl"), ip, |p| {
            p.replacen("/var/lib/varnish", &work.display().to_string(), 1)
        });
        let varnishd = geowp_localrun::mariadb::program("varnishd", "varnish")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut cmd = std::process::Command::new(varnishd);
        cmd.args(&args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        let log = std::fs::File::create(dir.join("varnishd.log")).unwrap();
        cmd.stdout(log.try_clone().unwrap()).stderr(log);
        let mut group = Group::spawn(cmd).expect("start varnishd");
        let t = Instant::now();
        loop {
            let r = http::send(
                SocketAddr::from((ip, cache::PURGE_PORT as u16)),
                None,
                &Request::get("/ready"),
                Duration::from_secs(5),
            );
            if r.as_ref().is_ok_and(|r| r.status == 200) {
                break;
            }
            let log = || std::fs::read_to_string(dir.join("varnishd.log")).unwrap_or_default();
            if let Ok(Some(status)) = group.0.try_wait() {
                panic!("varnishd exited ({status}): {}", log());
            }
            assert!(
                t.elapsed() < Duration::from_secs(180),
                "varnishd did not get ready: {}",
                log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Cache {
            _group: group,
            http: SocketAddr::from((ip, cache::HTTP_PORT as u16)),
        }
    }
}

fn state(r: &http::Response) -> String {
    r.header("x-geowp-cache").unwrap_or("none").to_string()
}

fn render_id(r: &http::Response) -> String {
    r.header("x-geowp-render").unwrap_or("").to_string()
}

/// The system variables a statement sets in its TiDB comment (`/*T! ,
/// SESSION a = v, ... */`), each taken by tidb-server as written: its
/// `SysVar.Validate` over the generated tables (tests/standins/
/// tidb-tables.json, pingcap/tidb@v8.5.3; `tidb_read_staleness` is
/// session-scoped, an int from math.MinInt32 to 0, `tidb_replica_read` an
/// enum of seven values). (name, value as TiDB validates it).
fn check_tidb_part(statement: &str) -> Vec<(String, String)> {
    let t = tidbcheck::Tables::shared();
    let mut out = vec![];
    for s in tidbcheck::sql_statements(statement) {
        for a in tidbcheck::set_assignments(&s).unwrap() {
            let acc = tidbcheck::assignment_set(t, &a)
                .unwrap_or_else(|e| panic!("tidb-server refuses {statement}: {e}"));
            assert!(
                !acc.clamped,
                "{statement}: tidb-server would store {} instead",
                acc.value
            );
            out.push((a.name, a.value));
        }
    }
    assert!(!out.is_empty(), "no TiDB setting in {statement}");
    out
}

/// Occurrences of `needle` in the general log.
fn count(db: &MariaDb, needle: &str) -> usize {
    db.general_log().matches(needle).count()
}

/// Loopback addresses of this test's own (another test may run beside it).
fn address(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 93, (std::process::id() % 200) as u8 + 1, n)
}

#[test]
fn visitors_get_stored_pages_and_nobody_gets_anyone_elses() {
    let dir = tempfile::Builder::new()
        .prefix("geowp-cache-")
        .tempdir()
        .unwrap();
    let mut db =
        MariaDb::start(&dir.path().join("db"), free_port()).unwrap_or_else(|e| panic!("{e}"));
    let secrets = dir.path().join("site-secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("TIDB_ROOT_PASSWORD"), "root-pw-77aa").unwrap();
    std::fs::write(secrets.join("WORDPRESS_DB_PASSWORD"), DB_PASSWORD).unwrap();
    let o = db.bootstrap(BOOTSTRAP_SH, &secrets).unwrap();
    assert!(o.status.success(), "{o:?}");

    // the region's cache (ttl as rendered by default, 30 s) and a second
    // with a 2 s ttl for the database-down check
    let wp_port = free_port();
    let spec = render::example::spec("us-east", std::collections::BTreeMap::new());
    assert!(spec.page_cache);
    let (a, b) = (address(1), address(2));
    let url = format!("http://{a}:{}", cache::HTTP_PORT);
    let purge = format!("{a}:{}", cache::PURGE_PORT);
    let env = wordpress_env(dir.path(), db.port, &url, &purge);
    let mut plugins: Vec<(&str, &str)> = MU_PLUGINS.to_vec();
    plugins.push(("geowp-test-render-id.php", RENDER_ID_PHP));
    let root = docroot_with(&dir.path().join("site"), &plugins, &geowp_drop_ins());
    std::fs::write(root.join(HEALTH_FILE), HEALTH_PHP).unwrap();
    let mut install_env = env.clone();
    install_env.push(("GEOWP_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()));
    let post_id = php(
        &root,
        &install_env,
        true,
        r#"
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
wp_install('geowp cache test', 'admin', 'admin@example.com', true, '', getenv('GEOWP_ADMIN_PASSWORD'));
$id = wp_insert_post(array('post_title' => 'geowp first title', 'post_content' => 'cached body', 'post_status' => 'publish'));
echo $id, "\n";
"#,
    );
    // the install's change is long past (stale reads are off for a few
    // seconds after a change; see below)
    php(
        &root,
        &env,
        false,
        "update_option('geowp_content_changed_at', (string) (time() - 3600), false); echo \"ok\\n\";",
    );
    let wp = PhpServer::start(&root, &env, &dir.path().join("php.log"), wp_port);
    let _ = wp.site();
    let front = Cache::start(&dir.path().join("cache-a"), &spec, wp_port, a);
    let mut short = spec.clone();
    short.page_cache_ttl = 2;
    let second = Cache::start(&dir.path().join("cache-b"), &short, wp_port, b);
    let site = Site {
        addr: front.http,
        host: format!("{a}:{}", cache::HTTP_PORT),
    };
    let get = |path: &str, cookies: &str| site.get(path, cookies).unwrap();

    // a visitor's page: stored, then served from memory
    let stale_sets = format!("SET @geowp_stale_reads = {STALE_READ_SECONDS} /*T! , SESSION tidb_read_staleness = -{STALE_READ_SECONDS}, SESSION tidb_replica_read = 'closest-replicas' */");
    let stale_sets = stale_sets.as_str();
    let before = count(&db, stale_sets);
    let first = get("/", "");
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(state(&first), "miss");
    assert!(first.text().contains("geowp first title"));
    assert_eq!(
        count(&db, stale_sets),
        before + 1,
        "a visitor's page reads stale, once per request"
    );
    // from its connection's first statements on: before WordPress reads its
    // autoloaded options (the drop-in is loaded before WordPress connects;
    // a must-use plugin would come only after them)
    let on_its_connection = statements_of_thread_with(&db.general_log(), stale_sets);
    let set_at = on_its_connection
        .iter()
        .position(|q| q.contains(stale_sets))
        .unwrap();
    let autoload_at = on_its_connection
        .iter()
        .position(|q| q.contains("FROM wp_options WHERE autoload"))
        .expect("WordPress reads its autoloaded options");
    assert!(
        set_at < autoload_at,
        "the autoloaded options are read before the stale-read settings: {on_its_connection:#?}"
    );
    assert_eq!(
        check_tidb_part(stale_sets),
        [
            (
                "tidb_read_staleness".to_string(),
                format!("-{STALE_READ_SECONDS}")
            ),
            (
                "tidb_replica_read".to_string(),
                "closest-replicas".to_string()
            )
        ]
    );
    // the check is TiDB's: a staleness above 0 is not refused but stored as
    // 0 (fresh reads, with a warning no one reads), a replica-read mode it
    // does not have is refused with its message
    let t = tidbcheck::Tables::shared();
    let session = tidbcheck::SetScope::Session;
    let positive = tidbcheck::sysvar_set(t, session, "tidb_read_staleness", "5").unwrap();
    assert!(positive.clamped && positive.value == "0", "{positive:?}");
    assert_eq!(
        tidbcheck::sysvar_set(t, session, "tidb_replica_read", "closest"),
        Err("Variable 'tidb_replica_read' can't be set to the value of 'closest'".to_string())
    );
    // a visitor's request that writes reads fresh from its first write on
    let fresh = "SET @geowp_stale_reads = 0 /*T! , SESSION tidb_read_staleness = '', SESSION tidb_replica_read = @@GLOBAL.tidb_replica_read */";
    check_tidb_part(fresh);
    let fresh_before = count(&db, fresh);
    let w = get("/?geowp-write=1", "");
    assert_eq!(w.status, 200);
    assert_eq!(count(&db, fresh), fresh_before + 1);
    let log = db.general_log();
    let at = log.rfind(fresh).unwrap();
    assert!(
        log[at..].contains("geowp_test_visits"),
        "fresh reads are turned on before the write"
    );
    assert!(
        !log[..at]
            .rsplit(stale_sets)
            .next()
            .unwrap()
            .contains("INSERT INTO `wp_options`"),
        "no write before"
    );
    let again = get("/", "_ga=GA1.2.3; other=1");
    assert_eq!(state(&again), "hit", "other cookies share the stored page");
    assert_eq!(render_id(&again), render_id(&first));

    // a logged-in user: every request to WordPress, fresh reads, and the
    // page (with the admin bar) is never stored
    let cookies = site
        .log_in("admin", ADMIN_PASSWORD)
        .unwrap_or_else(|e| panic!("{e}"));
    let sets_before_login_page = count(&db, stale_sets);
    let mine = get("/", &cookies);
    assert_eq!(state(&mine), "pass");
    assert!(mine.text().contains("wpadminbar"), "logged in: admin bar");
    let mine_again = get("/", &cookies);
    assert_ne!(render_id(&mine), render_id(&mine_again));
    assert_eq!(
        count(&db, stale_sets),
        sets_before_login_page,
        "a logged-in user reads fresh"
    );
    let visitor = get("/", "");
    assert!(!visitor.text().contains("wpadminbar"));
    assert_eq!(state(&visitor), "hit");
    let admin = get("/wp-admin/", &cookies);
    assert_eq!((admin.status, state(&admin)), (200, "pass".to_string()));
    let comment_author = get("/", "comment_author_5f1e=Jo");
    assert_eq!(state(&comment_author), "pass");
    let post = site
        .send(&Request::post(
            "/",
            "application/x-www-form-urlencoded",
            b"a=1",
        ))
        .unwrap();
    assert_eq!(state(&post), "pass");

    // in real browsers: an editor's page is never what a visitor gets. The
    // region's pages are banned first, so the editor's request is the one
    // that would be stored if anything were.
    let ban = http::send(
        SocketAddr::from((a, cache::PURGE_PORT as u16)),
        None,
        &Request {
            method: "BAN",
            ..Request::get("/")
        },
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(ban.status, 200);
    {
        use geowp_tests::browser::Browser;
        let editor = Browser::start(&dir.path().join("chromium-editor"), &[]);
        editor.log_in(&url, "admin", ADMIN_PASSWORD);
        editor.go(&format!("{url}/"));
        assert!(
            editor.source().contains("wpadminbar"),
            "the editor sees the admin bar on the front page"
        );
        drop(editor);
        let visitor = Browser::start(&dir.path().join("chromium-visitor"), &[]);
        visitor.go(&format!("{url}/"));
        let page = visitor.source();
        assert!(page.contains("geowp first title"), "{page}");
        assert!(
            !page.contains("wpadminbar") && !page.contains("wp-admin-bar"),
            "a visitor got the editor's page"
        );
        assert!(!page.contains("_wpnonce"), "a visitor got a nonce");
    }
    assert_eq!(state(&get("/", "")), "hit", "the visitor's page was stored");

    // a response that sets a cookie is never stored
    let c1 = get("/?geowp-cookie=1", "");
    let c2 = get("/?geowp-cookie=1", "");
    assert!(
        c1.header("set-cookie").is_some(),
        "the test plugin's cookie"
    );
    assert_ne!(render_id(&c1), render_id(&c2), "rendered each time");
    assert_ne!(state(&c2), "hit");

    // a file not there yet (SyncThing brings it later) is asked for again
    let upload = "/wp-content/uploads/geowp-later.txt";
    // (WordPress answers a 404, or a 301 to a guess of its own)
    assert_ne!(get(upload, "").status, 200);
    let missing = get(upload, "");
    assert_ne!(missing.status, 200);
    assert_ne!(state(&missing), "hit", "a missing upload is not stored");
    std::fs::create_dir_all(root.join("wp-content/uploads")).unwrap();
    std::fs::write(root.join("wp-content/uploads/geowp-later.txt"), "arrived").unwrap();
    let arrived = get(upload, "");
    assert_eq!(
        (arrived.status, arrived.text()),
        (200, "arrived".to_string())
    );

    // the health page is WordPress's, every time
    let h = get(geowp_common::names::HEALTH_PATH, "");
    assert_eq!((h.status, state(&h)), (200, "pass".to_string()));

    // bans: refused on the public listener, taken on the purge listener
    let ban = site
        .send(&Request {
            method: "BAN",
            ..Request::get("/")
        })
        .unwrap();
    assert_eq!(ban.status, 405);
    assert_eq!(state(&get("/", "")), "hit", "still stored");

    // an edit bans the region's pages when the saving request ends
    php(
        &root,
        &env,
        false,
        &format!(
            "wp_update_post(array('ID' => {post_id}, 'post_title' => 'geowp second title')); echo \"ok\\n\";"
        ),
    );
    let sets_before_edit_page = count(&db, stale_sets);
    let edited = get("/", "");
    assert_eq!(state(&edited), "miss", "banned by the edit");
    assert!(edited.text().contains("geowp second title"));
    assert_eq!(
        count(&db, stale_sets),
        sets_before_edit_page,
        "right after a change a visitor's page reads fresh: a stale read could bring the old content back into the cache"
    );
    assert!(!edited.text().contains("geowp first title"));
    // a draft saved is not a change visitors see: no ban
    php(
        &root,
        &env,
        false,
        "wp_insert_post(array('post_title' => 'geowp draft', 'post_status' => 'draft')); echo \"ok\\n\";",
    );
    assert_eq!(state(&get("/", "")), "hit");

    // a restore holds WordPress in maintenance (geowp-maintenance.php, the
    // flag a restore writes into wp-content/uploads): WordPress answers
    // 503 with Retry-After to whoever reaches it, and visitors still get
    // the stored page
    let flag = root
        .join("wp-content")
        .join(render::backup::MAINTENANCE_FLAG);
    std::fs::create_dir_all(flag.parent().unwrap()).unwrap();
    std::fs::write(&flag, b"").unwrap();
    let held = get(&format!("/?p={post_id}&preview=true"), "");
    assert_eq!(held.status, 503, "{}", held.text());
    assert_eq!(held.header("retry-after"), Some("60"));
    assert!(
        held.text().contains("being restored from a backup"),
        "{}",
        held.text()
    );
    let visitor = get("/", "");
    assert_eq!((visitor.status, state(&visitor)), (200, "hit".to_string()));
    // the runner of scheduled events runs nothing meanwhile
    let cron = php_with_wordpress(&root, &env, false, "echo \"events ran\\n\";").unwrap();
    assert!(cron.status.success());
    assert!(!String::from_utf8_lossy(&cron.stdout).contains("events ran"));
    assert!(String::from_utf8_lossy(&cron.stderr).contains("being restored"));
    std::fs::remove_file(&flag).unwrap();
    // WordPress answers again (a visitor's preview goes to the post's address)
    assert_eq!(get(&format!("/?p={post_id}&preview=true"), "").status, 301);

    // the database stops: a stored page is still served, past its ttl
    let other = Site {
        addr: second.http,
        host: site.host.clone(),
    };
    let post_path = format!("/?p={post_id}");
    let stored = other.get(&post_path, "").unwrap();
    assert_eq!((stored.status, state(&stored)), (200, "miss".to_string()));
    assert_eq!(state(&other.get(&post_path, "").unwrap()), "hit");
    db.stop();
    let h = other.get(geowp_common::names::HEALTH_PATH, "").unwrap();
    assert_eq!(h.status, 503, "the health page tells the load balancer");
    // every answer is the stored page until one is past its 2 s ttl and
    // says so: served stale, not an error
    let t = Instant::now();
    loop {
        let r = other.get(&post_path, "").unwrap();
        assert_eq!(
            r.status,
            200,
            "a stored page while the database is down: {}",
            r.text()
        );
        assert!(r.text().contains("geowp second title"));
        if state(&r) == "stale" {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "never served past its ttl"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let never = other.get("/?p=999999", "").unwrap();
    assert!(
        never.status >= 500,
        "a page never stored cannot be made up: {}",
        never.status
    );
}

/// The statements (in order) of the last connection in MariaDB's general
/// log that sent one containing `needle`. An entry is `[TIME]\t  THREAD
/// Command\tArgument` (the time only on the first entry of its second); a
/// statement may run over several lines.
fn statements_of_thread_with(log: &str, needle: &str) -> Vec<String> {
    let entry = |line: &str| -> Option<(u64, String, String)> {
        // drop the time (it starts with a digit, before the first tab)
        let rest = match line.split_once('\t') {
            Some((time, rest))
                if time.is_empty() || time.starts_with(|c: char| c.is_ascii_digit()) =>
            {
                rest
            }
            _ => return None,
        };
        let rest = rest.trim_start_matches('\t').trim_start();
        let (id, rest) = rest.split_once(' ')?;
        let id = id.parse::<u64>().ok()?;
        let (command, arg) = rest
            .trim_start()
            .split_once('\t')
            .unwrap_or((rest.trim(), ""));
        Some((id, command.to_string(), arg.to_string()))
    };
    let mut by_thread: Vec<(u64, String)> = Vec::new();
    for line in log.lines() {
        match entry(line) {
            Some((thread, command, arg)) => by_thread.push((
                thread,
                if command == "Query" {
                    arg
                } else {
                    String::new()
                },
            )),
            None => {
                // a statement's next line
                if let Some(last) = by_thread.last_mut().filter(|l| !l.1.is_empty()) {
                    last.1.push('\n');
                    last.1.push_str(line);
                }
            }
        }
    }
    let thread = by_thread
        .iter()
        .rev()
        .find(|(_, q)| q.contains(needle))
        .map(|(t, _)| *t)
        .expect("a connection sent it");
    by_thread
        .into_iter()
        .filter(|(t, q)| *t == thread && !q.is_empty())
        .map(|(_, q)| q)
        .collect()
}
