//! The TiDB objects geowp renders, read the way pd-server, tikv-server,
//! tidb-server and pd-ctl read them: every flag, config key, pd-ctl
//! command and system variable geowp sets against the tables
//! `tests/standins/tidbsrc.py` wrote from their source
//! (`tests/standins/tidb-tables.json`), and the refusals each program gives
//! for the faults found before (issue 19).

use std::collections::BTreeMap;

use geowp_stack::render::{self, tidb, Inputs, Obj, StackSpec};
use geowp_tests::tidbcheck::{self, ConfigOf, Refusal, Tables};
use serde_json::Value;

// ------------------------------------------------------------ citations

/// `owner/repo@ref path:line`, ref a tag (v8.5.7) or a commit.
fn well_formed(c: &str) -> bool {
    let Some((repo, rest)) = c.split_once('@') else {
        return false;
    };
    let mut parts = rest.splitn(2, ' ');
    let (Some(reference), Some(place)) = (parts.next(), parts.next()) else {
        return false;
    };
    repo.split('/').count() == 2
        && !reference.is_empty()
        && place
            .split_whitespace()
            .next()
            .and_then(|p| p.rsplit_once(':'))
            .is_some_and(|(path, line)| {
                !path.is_empty() && line.parse::<u32>().is_ok_and(|l| l > 0)
            })
}

fn walk_cites(v: &Value, at: &str, n: &mut usize) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "cite" || k.ends_with("_cite") || k == "also" {
                    for c in x.as_array().cloned().unwrap_or_else(|| vec![x.clone()]) {
                        let c = c.as_str().unwrap_or_default();
                        assert!(well_formed(c), "{at}.{k} is no citation: {c:?}");
                        *n += 1;
                    }
                } else {
                    walk_cites(x, &format!("{at}.{k}"), n);
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                walk_cites(x, &format!("{at}[{i}]"), n);
            }
        }
        _ => {}
    }
}

#[test]
fn every_table_entry_cites_the_line_it_was_read_from() {
    let t = Tables::load();
    let mut n = 0;
    walk_cites(&t.0, "", &mut n);
    // every flag, key and command is an entry with its own citation
    for (section, list) in [
        ("pd_server", "flags"),
        ("pd_config", "keys"),
        ("tikv_server", "flags"),
        ("tikv_config", "keys"),
        ("tidb_server", "flags"),
        ("tidb_config", "keys"),
        ("tidb_sysvars", "variables"),
        ("pd_ctl", "commands"),
        ("pd_ctl", "global_flags"),
    ] {
        let entries = t.0[section][list].as_array().cloned().unwrap_or_default();
        assert!(!entries.is_empty(), "{section}.{list} is empty");
        for e in entries {
            assert!(
                e["cite"].as_str().is_some_and(well_formed),
                "{section}.{list}: {e} has no citation"
            );
        }
    }
    assert!(n > 1000, "only {n} citations");
    assert!(!well_formed("tikv/pd@v8.5.7 server/config/config.go"));
    assert!(!well_formed("server/config/config.go:12"));
}

// ------------------------------------------------------------ the rendered objects

/// One region of the three-region site the demo runs (the library's
/// example stack, with TLS on or off).
fn spec(member: &str, tls: bool) -> StackSpec {
    let mut s = render::example::spec(member, render::example::members());
    s.tidb_tls = tls;
    s
}

fn inputs() -> Inputs {
    render::example::inputs()
}

fn find<'a>(objs: &'a [Obj], kind: &str, name: &str) -> &'a Obj {
    objs.iter()
        .find(|o| o.id.kind == kind && o.id.name == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

fn strings(v: &Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// The named container's command and args.
fn container_spec<'a>(o: &'a Obj, name: &str) -> &'a Value {
    o.body["spec"]["template"]["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn container(o: &Obj, name: &str) -> (Vec<String>, Vec<String>) {
    let c = container_spec(o, name);
    (strings(&c["command"]), strings(&c["args"]))
}

fn every_region() -> Vec<(String, Vec<Obj>)> {
    let mut out = Vec::new();
    for tls in [true, false] {
        for m in ["us-east", "eu-west", "ap-south"] {
            out.push((
                format!("{m} (tls {tls})"),
                render::render(&spec(m, tls), &inputs()),
            ));
        }
    }
    out
}

/// What lifecycle.rs and rolling.rs ask pd-ctl (their words, with sample
/// values); tests/tests/lifecycle.rs checks every command its runs made too.
fn lifecycle_commands() -> Vec<Vec<String>> {
    [
        &["member", "leader", "show"][..],
        &["store"],
        &["member", "leader", "transfer", "eu-west"],
        &["member", "delete", "name", "eu-west"],
        &["store", "delete", "addr", "10.0.1.2:20160"],
        &["scheduler", "add", "evict-leader-scheduler", "4"],
        &["scheduler", "remove", "evict-leader-scheduler-4"],
        &["scheduler", "config", "evict-leader-scheduler"],
        &["member"],
        &["health"],
    ]
    .iter()
    .map(|w| w.iter().map(|s| s.to_string()).collect())
    .collect()
}

#[test]
fn every_flag_key_and_pd_ctl_command_rendered_is_one_the_programs_accept() {
    let t = Tables::load();
    let mut problems = Vec::new();
    let mut say = |at: &str, what: String| problems.push(format!("{at}: {what}"));
    for (at, objs) in every_region() {
        let (_, pd) = container(find(&objs, "StatefulSet", "pd"), "pd");
        if let Err(r) = tidbcheck::pd_server_args(&t, &pd) {
            say(&at, format!("pd-server {pd:?}: {r:?}"));
        }
        let (_, tikv) = container(find(&objs, "StatefulSet", "tikv"), "tikv");
        if let Err(r) = tidbcheck::tikv_server_args(&t, &tikv) {
            say(&at, format!("tikv-server {tikv:?}: {r:?}"));
        }
        let (_, tidb_args) = container(find(&objs, "StatefulSet", "tidb"), "tidb");
        if let Err(r) = tidbcheck::tidb_server_args(&t, &tidb_args) {
            say(&at, format!("tidb-server {tidb_args:?}: {r:?}"));
        }
        let tidb_conf = tidb_args
            .iter()
            .find_map(|a| a.strip_prefix("--config="))
            .unwrap_or_else(|| panic!("{at}: tidb-server has no --config"))
            .to_string();
        let text = find(&objs, "ConfigMap", "tidb-config").body["data"]["tidb.toml"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        for p in tidbcheck::config_problems_at(&t, ConfigOf::Tidb, &tidb_conf, &text) {
            say(&at, format!("tidb.toml: {p}"));
        }
        for (cm, file, of) in [
            ("pd-config", "pd.toml", ConfigOf::Pd),
            ("tikv-config", "tikv.toml", ConfigOf::Tikv),
        ] {
            let text = find(&objs, "ConfigMap", cm).body["data"][file]
                .as_str()
                .unwrap_or_default()
                .to_string();
            for p in tidbcheck::config_problems(&t, of, &text) {
                say(&at, format!("{file}: {p}"));
            }
        }
        // the pd-ctl Jobs it renders, and the commands its lifecycle runs
        let s = spec(
            at.split(' ').next().unwrap_or_default(),
            at.contains("true"),
        );
        let mut runs: Vec<Vec<String>> = objs
            .iter()
            .filter(|o| o.id.kind == "Job")
            .filter_map(|o| {
                let (cmd, _) = container_of_job(o);
                (cmd.first().map(String::as_str) == Some("/pd-ctl")).then(|| cmd[1..].to_vec())
            })
            .collect();
        for words in lifecycle_commands() {
            let job = tidb::pd_ctl_job(&s, None, &words, "n");
            runs.push(container_of_job(&job).0[1..].to_vec());
        }
        assert!(runs.len() >= 8, "{at}: pd-ctl Jobs not found");
        for argv in runs {
            if let Err(e) = tidbcheck::pd_ctl_command(&t, &argv) {
                say(&at, format!("pd-ctl {argv:?}: {e}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "what the real programs refuse or ignore:\n{}",
        problems.join("\n")
    );
}

fn container_of_job(o: &Obj) -> (Vec<String>, Vec<String>) {
    let c = &o.body["spec"]["template"]["spec"]["containers"][0];
    (strings(&c["command"]), strings(&c["args"]))
}

/// tidb.toml of one region, and the file tidb-server reads it as.
fn tidb_toml(objs: &[Obj]) -> (String, String) {
    let (_, args) = container(find(objs, "StatefulSet", "tidb"), "tidb");
    let file = args
        .iter()
        .find_map(|a| a.strip_prefix("--config="))
        .expect("tidb-server --config")
        .to_string();
    let text = find(objs, "ConfigMap", "tidb-config").body["data"]["tidb.toml"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (file, text)
}

#[test]
fn every_tidb_toml_key_is_one_tidb_server_knows() {
    let t = Tables::load();
    let keys: Vec<String> = t.0["tidb_config"]["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k["path"].as_str().map(str::to_string))
        .collect();
    for m in ["us-east", "eu-west", "ap-south"] {
        for tls in [true, false] {
            let objs = render::render(&spec(m, tls), &inputs());
            let (file, text) = tidb_toml(&objs);
            let p = tidbcheck::config_problems_at(&t, ConfigOf::Tidb, &file, &text);
            assert!(p.is_empty(), "{m} (tls {tls}): {p:?}");
            // what the file sets, each a key of the table (not a vacuous pass)
            let doc: toml::Table = text.parse().unwrap();
            let mut set = vec![];
            for (k, v) in &doc {
                match v {
                    toml::Value::Table(sub) if k != "labels" => {
                        set.extend(sub.keys().map(|s| format!("{k}.{s}")))
                    }
                    _ => set.push(k.clone()),
                }
            }
            assert!(set.contains(&"tmp-storage-path".to_string()), "{set:?}");
            assert_eq!(
                set.iter().any(|k| k == "security.cluster-verify-cn"),
                tls,
                "{set:?}"
            );
            for k in set {
                assert!(keys.contains(&k), "{k} is not in the tidb_config table");
            }
        }
    }
}

#[test]
fn tidb_server_warns_about_a_key_it_does_not_know_with_its_message() {
    let t = Tables::load();
    let objs = render::render(&spec("us-east", true), &inputs());
    let (file, text) = tidb_toml(&objs);
    assert_eq!(file, "/etc/tidb/tidb.toml");
    // a misspelt top-level key, then a misspelt key of a section geowp writes
    let planted = format!("tmp-storage-paht = \"/x\"\n{text}");
    let p = tidbcheck::config_problems_at(&t, ConfigOf::Tidb, &file, &planted);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with(
            "config file /etc/tidb/tidb.toml contained invalid configuration options: tmp-storage-paht; check TiDB manual to make sure this option has not been deprecated and removed from your TiDB version if the option does not appear to be a typo (tidb-server prints the message to stderr and starts, unless -config-strict"
        ),
        "{p:?}"
    );
    let planted = text.replace("cluster-ssl-cert", "cluster-ssl-certificate");
    let p = tidbcheck::config_problems_at(&t, ConfigOf::Tidb, &file, &planted);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("invalid configuration options: security.cluster-ssl-certificate;"),
        "{p:?}"
    );
    // a known key with a value of the wrong kind: cluster-verify-cn is a list
    let planted = text.replace("cluster-verify-cn = [\"", "cluster-verify-cn = \"");
    let planted = planted.replace("\"]\n", "\"\n");
    let p = tidbcheck::config_problems_at(&t, ConfigOf::Tidb, &file, &planted);
    assert!(
        p.len() == 1
            && p[0].starts_with(
                "security.cluster-verify-cn: a string where the program reads string-array"
            ),
        "{p:?}"
    );
    // a section of a package the tables do not follow
    let p = tidbcheck::config_problems(
        &t,
        ConfigOf::Tidb,
        "[tikv-client]\ngrpc-connection-count = 4\n",
    );
    assert!(
        p[0].contains("a section the tables list but do not follow"),
        "{p:?}"
    );
    // a Go type with UnmarshalText takes a scalar (log.enable-timestamp is nullableBool)
    assert!(
        tidbcheck::config_problems(&t, ConfigOf::Tidb, "[log]\nenable-timestamp = true\n")
            .is_empty()
    );
}

// ------------------------------------------------------------ system variables

/// Runs the bootstrap script against a recording `mysql` that answers as
/// TiDB; the statements it sent, in order.
fn bootstrap_sql(primary_zone: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.path().join("sql.log");
    std::fs::write(
        bin.join("mysql"),
        format!(
            "#!/bin/sh\nsql=''\nwhile [ $# -gt 0 ]; do case \"$1\" in -e) sql=\"$2\"; shift;; esac; shift; done\n[ -n \"$sql\" ] || sql=$(cat)\nprintf '%s;\\n' \"$sql\" >> '{}'\ncase \"$sql\" in *'SELECT VERSION()'*) echo 8.0.11-TiDB-v8.5.7;; *information_schema.tables*) printf 'wp_posts\\nwp_options\\n';; esac\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("mysql"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("TIDB_ROOT_PASSWORD"), "r00t").unwrap();
    std::fs::write(secrets.join("WORDPRESS_DB_PASSWORD"), "wp").unwrap();
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(tidb::BOOTSTRAP_SH)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("SECRETS_DIR", &secrets)
        .env("TIDB_HOST", "tidb")
        .env("TIDB_PORT", "4000")
        .env("TMPDIR", dir.path())
        .env("PRIMARY_ZONE", primary_zone)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    std::fs::read_to_string(&log)
        .unwrap()
        .split(';')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

/// The statements the stale-reads must-use plugin sends (on and off), as
/// the rendered plugin builds them with the rendered staleness.
fn stale_read_sql(objs: &[Obj]) -> Vec<String> {
    let php = find(objs, "ConfigMap", "wordpress-mu-plugins").body["data"]["geowp-stale-reads.php"]
        .as_str()
        .expect("the stale-reads plugin is rendered")
        .to_string();
    let seconds = find(objs, "Deployment", "wordpress").body["spec"]["template"]["spec"]
        ["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["env"].as_array().cloned().unwrap_or_default())
        .find(|e| e["name"] == "GEOWP_STALE_READ_SECONDS")
        .and_then(|e| e["value"].as_str().map(str::to_string))
        .expect("GEOWP_STALE_READ_SECONDS");
    let out: Vec<String> = php
        .lines()
        .filter_map(|l| l.trim().strip_prefix("return \"SET "))
        .map(|l| format!("SET {}", l.trim_end_matches("\";")).replace("$seconds", &seconds))
        .collect();
    assert_eq!(out.len(), 2, "{php}");
    out
}

#[test]
fn every_system_variable_geowp_sets_is_one_tidb_server_takes_as_written() {
    let t = Tables::load();
    let objs = render::render(&spec("us-east", true), &inputs());
    let mut sql = bootstrap_sql("zone-us-east");
    sql.extend(stale_read_sql(&objs));
    let mut set = vec![];
    for st in &sql {
        for s in tidbcheck::sql_statements(st) {
            for a in tidbcheck::set_assignments(&s).unwrap() {
                let acc = tidbcheck::assignment_set(&t, &a)
                    .unwrap_or_else(|e| panic!("tidb-server refuses {s}: {e}"));
                assert!(!acc.clamped, "{s}: tidb-server would store {}", acc.value);
                assert!(!acc.custom_validation, "{s}: not checked in full");
                set.push(format!("{:?} {} = {}", a.scope, a.name, acc.value));
            }
        }
        assert!(tidbcheck::sql_problems(&t, st).is_empty(), "{st}");
    }
    set.sort();
    set.dedup();
    assert_eq!(
        set,
        [
            "Global tidb_gc_life_time = 24h0m0s",
            "Global tidb_replica_read = closest-adaptive",
            "Session tidb_placement_mode = STRICT",
            "Session tidb_read_staleness = ",
            "Session tidb_read_staleness = -5",
            "Session tidb_replica_read = @@GLOBAL.tidb_replica_read",
            "Session tidb_replica_read = closest-replicas",
        ],
        "the SETs geowp sends changed: {sql:#?}"
    );
    // the scope and type of each, as the tables read them
    let v = |n: &str| {
        t.0["tidb_sysvars"]["variables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(
        v("tidb_gc_life_time")["scope"],
        serde_json::json!(["GLOBAL"])
    );
    assert_eq!(v("tidb_gc_life_time")["type"], "duration");
    assert_eq!(
        v("tidb_read_staleness")["scope"],
        serde_json::json!(["SESSION"])
    );
    assert_eq!(v("tidb_read_staleness")["max"], 0);
    assert_eq!(
        v("tidb_replica_read")["scope"],
        serde_json::json!(["GLOBAL", "SESSION"])
    );
    assert_eq!(
        v("tidb_placement_mode")["possible_values"],
        serde_json::json!(["STRICT", "IGNORE"])
    );
}

#[test]
fn tidb_server_refuses_a_wrong_system_variable_with_its_message() {
    let t = Tables::load();
    let refused = |sql: &str| {
        let p = tidbcheck::sql_problems(&t, sql);
        assert_eq!(p.len(), 1, "{sql}: {p:?}");
        p[0].split_once(": ").map(|(_, m)| m.to_string()).unwrap()
    };
    // the bootstrap's own statements, each made wrong
    let sql = bootstrap_sql("zone-us-east").join(";\n");
    assert!(tidbcheck::sql_problems(&t, &sql).is_empty());
    for (wrong, message) in [
        (
            sql.replace("tidb_gc_life_time", "tidb_gc_lifetime"),
            "Unknown system variable 'tidb_gc_lifetime'",
        ),
        (
            sql.replace("SET GLOBAL tidb_replica_read", "SET GLOBAL tidb_read_staleness"),
            "Variable 'tidb_read_staleness' is a SESSION variable and can't be used with SET GLOBAL",
        ),
        (
            sql.replace("'closest-adaptive'", "'closest_adaptive'"),
            "Variable 'tidb_replica_read' can't be set to the value of 'closest_adaptive'",
        ),
        (
            sql.replace("SET GLOBAL tidb_gc_life_time", "SET SESSION tidb_gc_life_time"),
            "Variable 'tidb_gc_life_time' is a GLOBAL variable and should be set with SET GLOBAL",
        ),
        (
            sql.replace("'24h'", "'1 day'"),
            "Incorrect argument type to variable 'tidb_gc_life_time'",
        ),
        (
            sql.replace("'STRICT'", "'STRICTLY'"),
            "Variable 'tidb_placement_mode' can't be set to the value of 'STRICTLY'",
        ),
    ] {
        let p = tidbcheck::sql_problems(&t, &wrong);
        assert!(!p.is_empty(), "{wrong}");
        assert!(p.iter().all(|p| p.ends_with(message)), "{p:?}");
    }
    // SET GLOBAL of the session-only staleness is refused before its value
    assert_eq!(
        refused("SET GLOBAL tidb_read_staleness = -5"),
        "Variable 'tidb_read_staleness' is a SESSION variable and can't be used with SET GLOBAL"
    );
    assert_eq!(
        refused("SET @@global.version = '5.7'"),
        "Variable 'version' is a read only variable"
    );
    // the stale-reads plugin's statements, made wrong
    let objs = render::render(&spec("us-east", true), &inputs());
    let on = stale_read_sql(&objs)
        .into_iter()
        .find(|s| s.contains("closest-replicas"))
        .unwrap();
    assert!(tidbcheck::sql_problems(&t, &on).is_empty(), "{on}");
    assert_eq!(
        refused(&on.replace("SESSION tidb_read_staleness", "GLOBAL tidb_read_staleness")),
        "Variable 'tidb_read_staleness' is a SESSION variable and can't be used with SET GLOBAL"
    );
    assert_eq!(
        refused(&on.replace("= -5", "= 'five'")),
        "Incorrect argument type to variable 'tidb_read_staleness'"
    );
    assert_eq!(
        refused(&on.replace("'closest-replicas'", "'closest'")),
        "Variable 'tidb_replica_read' can't be set to the value of 'closest'"
    );
    // a value outside the range is not refused: tidb-server sets the bound
    let p = tidbcheck::sql_problems(&t, &on.replace("= -5", "= 5"));
    assert!(
        p.len() == 1 && p[0].contains("sets tidb_read_staleness to 0 instead of \"5\""),
        "{p:?}"
    );
    let p = tidbcheck::sql_problems(&t, "SET GLOBAL tidb_gc_life_time = '5m'");
    assert!(
        p.len() == 1 && p[0].contains("to 10m0s instead of \"5m\""),
        "{p:?}"
    );
    // an empty staleness is taken in SESSION only (AllowEmpty), an empty replica read never
    assert!(tidbcheck::sql_problems(&t, "SET SESSION tidb_read_staleness = ''").is_empty());
    assert_eq!(
        refused("SET SESSION tidb_replica_read = ''"),
        "Variable 'tidb_replica_read' can't be set to the value of ''"
    );
    // names and enum values match case-insensitively; a user variable is no sysvar
    assert!(tidbcheck::sql_problems(
        &t,
        "SET @x = 1, SESSION TiDB_Replica_Read = 'CLOSEST-REPLICAS'"
    )
    .is_empty());
    assert_eq!(
        tidbcheck::go_duration_string(tidbcheck::go_parse_duration("1h30m").unwrap()),
        "1h30m0s"
    );
    assert_eq!(tidbcheck::go_parse_duration("1 day"), None);
}

// ------------------------------------------------------------ faults, with the real messages

#[test]
fn the_rendered_tidb_server_stops_at_a_key_it_does_not_know_with_its_fatal_line() {
    use geowp_localrun::{
        pods::Mounts,
        strict::{refusal, Program, RUNTIME_NOFILE},
    };
    let t = Tables::load();
    let objs = render::render(&spec("us-east", true), &inputs());
    let c = container_spec(find(&objs, "StatefulSet", "tidb"), "tidb").clone();
    let (file, text) = tidb_toml(&objs);
    let dir = tempfile::tempdir().unwrap();
    let mounts = Mounts(vec![("/etc/tidb".into(), dir.path().to_path_buf())]);
    let write = |text: &str| std::fs::write(dir.path().join("tidb.toml"), text).unwrap();
    write(&text);
    assert_eq!(
        refusal(&t, Program::Tidb, &c, &mounts, RUNTIME_NOFILE),
        None
    );
    write(&text.replace("cluster-ssl-cert", "cluster-ssl-certificate"));
    let r = refusal(&t, Program::Tidb, &c, &mounts, RUNTIME_NOFILE).expect("refused");
    assert_eq!(r.exit_code, 1);
    assert!(
        r.message.starts_with(&format!(
            "[FATAL] [\"unexpected error\"] [error=\"config file {file} contained invalid configuration options: security.cluster-ssl-certificate; check TiDB manual"
        )),
        "{}",
        r.message
    );
}

#[test]
fn the_rendered_tikv_server_needs_the_open_files_its_config_asks_for() {
    use geowp_localrun::{
        pods::Mounts,
        strict::{refusal, tikv_open_files_needed, Program, RUNTIME_NOFILE},
    };
    let t = Tables::load();
    let objs = render::render(&spec("us-east", true), &inputs());
    let c = container_spec(find(&objs, "StatefulSet", "tikv"), "tikv").clone();
    let text = find(&objs, "ConfigMap", "tikv-config").body["data"]["tikv.toml"]
        .as_str()
        .expect("tikv.toml")
        .to_string();
    // geowp leaves RocksDB's and Raft DB's open files and Titan at TiKV's defaults
    assert_eq!(tikv_open_files_needed(&text), 123880);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tikv.toml"), &text).unwrap();
    let mounts = Mounts(vec![("/etc/tikv".into(), dir.path().to_path_buf())]);
    assert_eq!(
        refusal(&t, Program::Tikv, &c, &mounts, RUNTIME_NOFILE),
        None
    );
    let r = refusal(&t, Program::Tikv, &c, &mounts, (1024, 100_000)).expect("refused");
    assert_eq!(r.exit_code, 1);
    assert!(
        r.message
            .contains("the maximum number of open file descriptors is too small, got 1024, expect greater or equal to 123880"),
        "{}",
        r.message
    );
}

#[test]
fn tidb_server_refuses_the_tmp_storage_path_flag_as_go_flag_does() {
    let t = Tables::load();
    let objs = render::render(&spec("us-east", true), &inputs());
    let (_, mut args) = container(find(&objs, "StatefulSet", "tidb"), "tidb");
    assert_eq!(tidbcheck::tidb_server_args(&t, &args), Ok(()));
    args.insert(args.len() - 1, "--tmp-storage-path=/x".into());
    assert_eq!(
        tidbcheck::tidb_server_args(&t, &args),
        Err(Refusal {
            message: "flag provided but not defined: -tmp-storage-path".into(),
            exit_code: 2,
        })
    );
    // Go's flag package: one or two dashes, a value after a non-bool
    let ok = |a: &[&str]| {
        tidbcheck::tidb_server_args(&t, &a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    };
    assert_eq!(
        ok(&["-P", "4000", "-temp-dir=/t", "--config-check"]),
        Ok(())
    );
    assert_eq!(
        ok(&["-P"]).unwrap_err().message,
        "flag needs an argument: -P"
    );
}

#[test]
fn pd_refuses_an_unknown_key_and_flag_with_its_messages() {
    let t = Tables::load();
    let objs = render::render(&spec("us-east", true), &inputs());
    let text = find(&objs, "ConfigMap", "pd-config").body["data"]["pd.toml"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(tidbcheck::config_problems(&t, ConfigOf::Pd, &text).is_empty());
    let planted = format!("lease-seconds = 5\n{text}");
    let p = tidbcheck::config_problems(&t, ConfigOf::Pd, &planted);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("Config contains undefined item: lease-seconds"),
        "{p:?}"
    );
    // a known key with a value of the wrong kind
    let p = tidbcheck::config_problems(&t, ConfigOf::Pd, "[replication]\nmax-replicas = \"3\"\n");
    assert!(p[0].contains("replication.max-replicas"), "{p:?}");
    // pd-server's flags are cobra's: a single-dash long name is shorthands
    let (_, mut args) = container(find(&objs, "StatefulSet", "pd"), "pd");
    args.push("--no-such".into());
    assert_eq!(
        tidbcheck::pd_server_args(&t, &args),
        Err(Refusal {
            message: "Error: unknown flag: --no-such".into(),
            exit_code: 1,
        })
    );
    assert_eq!(
        tidbcheck::pd_server_args(&t, &["-name=x".to_string()])
            .unwrap_err()
            .message,
        "Error: unknown shorthand flag: 'n' in -name=x"
    );
}

#[test]
fn tikv_refuses_an_unknown_argument_as_clap_2_prints_it() {
    let t = Tables::load();
    let r = tidbcheck::tikv_server_args(&t, &["--pd=a:2379".into(), "--no-such=1".into()]);
    assert_eq!(
        r.unwrap_err().message,
        "error: Found argument '--no-such' which wasn't expected, or isn't valid in this context"
    );
    assert!(
        tidbcheck::config_problems(&t, ConfigOf::Tikv, "[server]\nno-such = 1\n")[0]
            .starts_with("unknown configuration options: server.no-such")
    );
}

#[test]
fn pd_ctl_refuses_an_unknown_subcommand_and_reads_success_lines_from_the_tables() {
    let t = Tables::load();
    let argv = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let e = tidbcheck::pd_ctl_command(&t, &argv(&["-u", "http://pd:2379", "members", "show"]))
        .unwrap_err();
    assert_eq!(e, "unknown command \"members\" for \"pd-ctl\"");
    let e = tidbcheck::pd_ctl_command(
        &t,
        &argv(&[
            "-u",
            "http://pd:2379",
            "scheduler",
            "add",
            "evict-leader",
            "4",
        ]),
    )
    .unwrap_err();
    assert_eq!(
        e,
        "unknown command \"evict-leader\" for \"pd-ctl scheduler add\""
    );
    let ok = tidbcheck::pd_ctl_command(
        &t,
        &argv(&[
            "--cacert=/c",
            "scheduler",
            "add",
            "evict-leader-scheduler",
            "4",
        ]),
    )
    .unwrap();
    let lines: Vec<&str> = ok["success"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["line"].as_str())
        .collect();
    assert!(
        lines.contains(&"Success! The scheduler is created."),
        "{lines:?}"
    );
    assert!(tidbcheck::pd_ctl_command(&t, &argv(&["member", "delete", "name"])).is_err());
}

// ------------------------------------------------- placement policy SQL

/// What tidb-server refuses in `CREATE`/`ALTER PLACEMENT POLICY`, from its
/// source at pingcap/tidb@v8.5.3: `pkg/parser/parser.y:15345-15364`
/// (`CreatePolicyStmt`, `AlterPolicyStmt`) and `:2005-2059`
/// (`DirectPlacementOption`: the option names, a quoted string for each but
/// a bare number for FOLLOWERS, VOTERS and LEARNERS, `FOLLOWERS must be
/// positive` at :2018); `pkg/ddl/executor.go:6178-6179` (`OR REPLACE` with
/// `IF NOT EXISTS` is wrong usage); `pkg/ddl/placement/bundle.go:249-271`
/// (`newBundleFromOptions`: at most 8 followers, then any constraint option
/// or LEARNERS takes the constraints path), `:49-56` (which refuses
/// PRIMARY_REGION, REGIONS or SCHEDULE beside it), `:82-84` (LEADER_CONSTRAINTS
/// a YAML list, `constraints.go:76-83`), `constraint.go:25-56` (each
/// constraint `{+|-}key=value`, trimmed, at least 4 characters, one `=`;
/// `+engine=tiflash` unsupported); the error texts of
/// `pkg/ddl/placement/errors.go:23,25,31,47`. The messages are TiDB's; a
/// YAML list is split at its commas, which holds for the plain constraints
/// geowp writes, and `=` between an option and its value is required here
/// though TiDB's grammar lets it out (`EqOpt`).
fn placement_refusal(stmt: &str) -> Option<String> {
    const OPTIONS: [&str; 12] = [
        "PRIMARY_REGION",
        "REGIONS",
        "SCHEDULE",
        "CONSTRAINTS",
        "LEADER_CONSTRAINTS",
        "FOLLOWER_CONSTRAINTS",
        "VOTER_CONSTRAINTS",
        "LEARNER_CONSTRAINTS",
        "SURVIVAL_PREFERENCES",
        "FOLLOWERS",
        "VOTERS",
        "LEARNERS",
    ];
    let words: Vec<&str> = stmt.split_whitespace().collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let (mut i, create) = match upper.first().map(String::as_str) {
        Some("CREATE") => (1, true),
        Some("ALTER") => (1, false),
        _ => return Some("not a placement policy statement".into()),
    };
    let or_replace = create && upper.get(1).map(String::as_str) == Some("OR");
    if or_replace {
        i += 2;
    }
    if upper.get(i).map(String::as_str) != Some("PLACEMENT")
        || upper.get(i + 1).map(String::as_str) != Some("POLICY")
    {
        return Some("You have an error in your SQL syntax".into());
    }
    i += 2;
    if upper.get(i).map(String::as_str) == Some("IF") {
        if or_replace {
            return Some("Incorrect usage of OR REPLACE and IF NOT EXISTS".into());
        }
        i += if create { 3 } else { 2 };
    }
    i += 1; // the policy's name
    let mut opts: BTreeMap<String, String> = BTreeMap::new();
    for w in &words[i.min(words.len())..] {
        let Some((k, v)) = w.split_once('=') else {
            return Some(format!("You have an error in your SQL syntax near '{w}'"));
        };
        let k = k.to_ascii_uppercase();
        if !OPTIONS.contains(&k.as_str()) {
            return Some(format!("You have an error in your SQL syntax near '{w}'"));
        }
        let number = matches!(k.as_str(), "FOLLOWERS" | "VOTERS" | "LEARNERS");
        let quoted = v.len() >= 2
            && ((v.starts_with('\'') && v.ends_with('\''))
                || (v.starts_with('"') && v.ends_with('"')));
        let value = if number {
            v.bytes().all(|b| b.is_ascii_digit()).then(|| v.to_string())
        } else {
            quoted.then(|| v[1..v.len() - 1].to_string())
        };
        let Some(value) = value.filter(|x| !x.is_empty() || !number) else {
            return Some(format!("You have an error in your SQL syntax near '{w}'"));
        };
        opts.insert(k, value);
    }
    if let Some(f) = opts.get("FOLLOWERS") {
        match f.parse::<u64>() {
            Ok(0) => return Some("FOLLOWERS must be positive".into()),
            Err(_) => return Some(format!("You have an error in your SQL syntax near '{f}'")),
            Ok(n) if n > 8 => {
                return Some(format!(
                    "invalid placement option: followers should be less than or equal to 8: {n}"
                ))
            }
            _ => {}
        }
    }
    let constraint_mode = [
        "LEADER_CONSTRAINTS",
        "FOLLOWER_CONSTRAINTS",
        "LEARNER_CONSTRAINTS",
        "CONSTRAINTS",
        "LEARNERS",
    ]
    .iter()
    .any(|k| opts.contains_key(*k));
    let sugar = ["PRIMARY_REGION", "REGIONS", "SCHEDULE"]
        .iter()
        .any(|k| opts.contains_key(*k));
    if constraint_mode && sugar {
        // TiDB ends it with the policy's options as it prints them
        return Some("invalid placement option: should be [LEADER/VOTER/LEARNER/FOLLOWER]_CONSTRAINTS=.. [VOTERS/FOLLOWERS/LEARNERS]=.., mixed other sugar options".into());
    }
    if let Some(l) = opts.get("LEADER_CONSTRAINTS") {
        const AS_LIST: &str = "'LeaderConstraints' should be [constraint1, ...] or any yaml compatible array representation";
        let Some(list) = l.trim().strip_prefix('[').and_then(|x| x.strip_suffix(']')) else {
            return Some(format!("invalid label constraints format: {AS_LIST}"));
        };
        for c in list.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            let kv: Vec<&str> = c.get(1..).unwrap_or("").split('=').collect();
            let ok = c.len() >= 4
                && c.starts_with(['+', '-'])
                && kv.len() == 2
                && !kv[0].trim().is_empty()
                && !kv[1].trim().is_empty();
            if !ok {
                return Some(format!(
                    "label constraint should be in format '{{+|-}}key=value': {c}: {AS_LIST}"
                ));
            }
            if c.starts_with('+')
                && kv[0].trim() == "engine"
                && kv[1].trim().eq_ignore_ascii_case("tiflash")
            {
                return Some(format!("unsupported label constraint: {c}: {AS_LIST}"));
            }
        }
    }
    None
}

#[test]
fn the_primary_regions_bootstrap_puts_the_leaders_in_its_zone_in_sql_tidb_accepts() {
    // the checker refuses what TiDB refuses
    for (bad, why) in [
        (
            "CREATE PLACEMENT POLICY p LEADER_CONSTRAINTS='[zone=a]'",
            "label constraint should be in format",
        ),
        (
            "CREATE PLACEMENT POLICY p LEADER_CONSTRAINTS='+zone=a'",
            "invalid label constraints format",
        ),
        (
            "CREATE PLACEMENT POLICY p LEADER_CONSTRAINTS='[+zone=a]' PRIMARY_REGION='a'",
            "mixed other sugar options",
        ),
        (
            "CREATE PLACEMENT POLICY p LEADER_CONSTRAINTS='[+zone=a=b]'",
            "label constraint should be in format",
        ),
        (
            "CREATE PLACEMENT POLICY p LEADER_CONSTRAINTS='[+engine=tiflash]'",
            "unsupported label constraint",
        ),
        (
            "CREATE PLACEMENT POLICY p LEADER_CONSTRAINTS=[+zone=a]",
            "syntax",
        ),
        (
            "CREATE PLACEMENT POLICY p LEADER_CONSTRAINTS='[+zone=a]' FOLLOWERS='2'",
            "syntax",
        ),
        (
            "CREATE PLACEMENT POLICY p LEADER_CONSTRAINTS='[+zone=a]' FOLLOWERS=9",
            "less than or equal to 8: 9",
        ),
        (
            "CREATE OR REPLACE PLACEMENT POLICY IF NOT EXISTS p FOLLOWERS=2",
            "OR REPLACE and IF NOT EXISTS",
        ),
        ("CREATE PLACEMENT POLICY p LEADERS=1", "syntax"),
    ] {
        let r = placement_refusal(bad);
        assert!(
            r.as_deref().is_some_and(|r| r.contains(why)),
            "{bad}: {r:?}"
        );
    }

    // the bootstrap script against a recording `mysql` that answers as TiDB
    let run = bootstrap_sql;
    let sent = run("us-east");
    let placement: Vec<&String> = sent
        .iter()
        .filter(|s| s.contains("geowp_writers LEADER_CONSTRAINTS"))
        .collect();
    assert_eq!(placement.len(), 2, "{sent:#?}");
    for s in &placement {
        assert_eq!(placement_refusal(s), None, "{s}");
        assert!(s.contains("LEADER_CONSTRAINTS='[+zone=us-east]'"), "{s}");
    }
    for t in ["wp_posts", "wp_options"] {
        assert!(
            sent.iter()
                .any(|s| s
                    == &format!("ALTER TABLE wordpress.`{t}` PLACEMENT POLICY = geowp_writers")),
            "{t}: {sent:#?}"
        );
    }
    assert!(sent
        .iter()
        .any(|s| s == "ALTER DATABASE wordpress PLACEMENT POLICY = geowp_writers"));
    let strict = sent
        .iter()
        .position(|s| s.contains("tidb_placement_mode = 'STRICT'"))
        .unwrap();
    let create = sent
        .iter()
        .position(|s| s.starts_with("CREATE PLACEMENT POLICY"))
        .unwrap();
    assert!(strict < create, "placement statements are not ignored");
    // any other region: no placement
    assert!(!run("").iter().any(|s| s.contains("PLACEMENT")));

    // the env: the primary member's zone in its region, empty elsewhere
    let zone_of = |member: &str| {
        let objs = render::render(&spec(member, true), &inputs());
        let job = objs
            .iter()
            .find(|o| o.id.kind == "Job" && o.id.name.starts_with("tidb-bootstrap-"))
            .unwrap();
        job.body["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "PRIMARY_ZONE")
            .map(|e| e["value"].as_str().unwrap_or("").to_string())
            .unwrap()
    };
    assert_eq!(
        spec("us-east", true).primary_member.as_deref(),
        Some("us-east")
    );
    assert_eq!(
        zone_of("us-east"),
        "zone-us-east",
        "its zone label, not its name"
    );
    assert_eq!(zone_of("eu-west"), "");
}

#[test]
fn a_variable_set_to_its_own_global_value_is_read_as_tidb_reads_it() {
    let t = Tables::load();
    let one = |sql: &str| {
        let mut a = tidbcheck::set_assignments(sql).unwrap();
        assert_eq!(a.len(), 1, "{sql}");
        a.remove(0)
    };
    // unquoted: the GLOBAL value, valid for the variable by construction
    let a = one("SET SESSION tidb_replica_read = @@GLOBAL.tidb_replica_read");
    assert_eq!(
        a.of_variable,
        Some((tidbcheck::SetScope::Global, "tidb_replica_read".into()))
    );
    assert!(tidbcheck::assignment_set(&t, &a).is_ok());
    // the assignment's own scope still counts
    let a = one("SET SESSION tidb_gc_life_time = @@GLOBAL.tidb_gc_life_time");
    assert_eq!(
        tidbcheck::assignment_set(&t, &a),
        Err(
            "Variable 'tidb_gc_life_time' is a GLOBAL variable and should be set with SET GLOBAL"
                .into()
        )
    );
    // another variable's value is not modelled, so not passed
    let a = one("SET SESSION tidb_replica_read = @@GLOBAL.tidb_isolation_read_engines");
    assert!(tidbcheck::assignment_set(&t, &a)
        .unwrap_err()
        .contains("not modelled"));
    // quoted, it is a string like any other, and no value of the enum
    let a = one("SET SESSION tidb_replica_read = '@@GLOBAL.tidb_replica_read'");
    assert_eq!(a.of_variable, None);
    assert_eq!(
        tidbcheck::assignment_set(&t, &a),
        Err("Variable 'tidb_replica_read' can't be set to the value of '@@GLOBAL.tidb_replica_read'".into())
    );
}
