//! Strict stand-ins for the programs that cannot run here (pd-server,
//! tikv-server, tidb-server): before such a container "starts", its command
//! line and the config file it names are read the way the real program
//! reads them ([`crate::tidbcheck`], tables generated from the programs'
//! source), and what the real program would refuse makes the container
//! exit with the program's message and status, restarting with back-off
//! as a crash-looping container does. A wrong flag or config key then fails
//! the demo and the tests with the real message instead of a simulated
//! ready pod.
//!
//! The config check is stricter than PD, which only warns about a key it
//! does not know (tidbcheck's caveat): such a key is a setting geowp
//! believes it made and did not. tidb-server, given `-config-strict` as
//! geowp gives it, stops at such a key itself, and is answered with its own
//! fatal line.

use serde_json::Value;

use crate::pods::Mounts;
use crate::tidbcheck::{self, ConfigOf, Refusal, Tables};

/// The TiDB-tier program an image runs, if it is one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    Pd,
    Tikv,
    Tidb,
}

impl Program {
    pub fn of_image(image: &str) -> Option<Program> {
        let repo = image.split(['@', ':']).next().unwrap_or(image);
        match repo.trim_start_matches("docker.io/") {
            "pingcap/pd" => Some(Program::Pd),
            "pingcap/tikv" => Some(Program::Tikv),
            "pingcap/tidb" => Some(Program::Tidb),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Program::Pd => "pd-server",
            Program::Tikv => "tikv-server",
            Program::Tidb => "tidb-server",
        }
    }

    fn config_of(self) -> ConfigOf {
        match self {
            Program::Pd => ConfigOf::Pd,
            Program::Tikv => ConfigOf::Tikv,
            Program::Tidb => ConfigOf::Tidb,
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(String::from))
        .collect()
}

/// The file a command line names with `--config`/`-config` (either form).
fn config_path(args: &[String]) -> Option<String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let flag = a.trim_start_matches('-');
        if a.starts_with('-') {
            if let Some(v) = flag.strip_prefix("config=") {
                return Some(v.to_string());
            }
            if flag == "config" {
                return it.next().cloned();
            }
        }
    }
    None
}

/// Whether tidb-server's flags leave bool flag `name` true (given alone,
/// or with a word strconv.ParseBool takes as true; the last one wins).
fn go_bool_flag(t: &Tables, args: &[String], name: &str) -> bool {
    let flags = tidbcheck::tidb_server_flags(t, args).unwrap_or_default();
    flags
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .is_some_and(|(_, v)| {
            matches!(
                v.as_deref(),
                None | Some("1" | "t" | "T" | "true" | "TRUE" | "True")
            )
        })
}

/// How many open files tikv-server insists on at start for config file
/// `text`: 1000 reserved, plus RocksDB's `max-open-files` (twice when Titan
/// is on), plus Raft DB's (tikv/tikv@v8.5.7 components/server/src/common.rs:
/// 444-458). Both default to 40960 (src/config/mod.rs:1359, 1900). Titan
/// is on for a store made without it unless the file turns it off
/// (src/config/mod.rs:4138-4145; geowp leaves it on): 123880 by default.
pub fn tikv_open_files_needed(text: &str) -> u64 {
    let doc: toml::Table = text.parse().unwrap_or_default();
    let int = |section: &str, key: &str| {
        doc.get(section)
            .and_then(|s| s.get(key))
            .and_then(toml::Value::as_integer)
            .map_or(40960, |v| v.max(0) as u64)
    };
    let titan = doc
        .get("rocksdb")
        .and_then(|r| r.get("titan"))
        .and_then(|t| t.get("enabled"))
        .and_then(toml::Value::as_bool)
        .unwrap_or(true);
    let rocks = int("rocksdb", "max-open-files") * if titan { 2 } else { 1 };
    1000 + rocks + int("raftdb", "max-open-files")
}

/// tikv-server's open-files check (tikv/tikv@v8.5.7
/// components/tikv_util/src/config.rs:837-869) as it turns out in geowp's
/// pod: TiKV raises its soft limit to `needed` itself, and raises the hard
/// limit too when it may; the pod drops every capability and runs as
/// non-root, so it may not. Below that it stops with its `fatal!` line and
/// exit 1 (components/server/src/setup.rs:26-36; the log line's time and
/// caller are left out).
pub fn tikv_open_files_refusal(needed: u64, soft: u64, hard: u64) -> Option<Refusal> {
    (soft < needed && hard < needed).then(|| Refusal {
        message: format!(
            "[FATAL] [\"the maximum number of open file descriptors is too small, got {soft}, expect greater or equal to {needed}\"]"
        ),
        exit_code: 1,
    })
}

/// The open-files limit (soft, hard) a container runtime commonly gives a
/// container: containerd 2 leaves it to systemd's default for services
/// (1024 soft, 524288 hard); containerd 1's unit set it to the kernel's
/// maximum, 1048576. The lower one is the stand-ins' default.
pub const RUNTIME_NOFILE: (u64, u64) = (1024, 524288);

/// What the real program would refuse in container `spec` (its `args`,
/// and the config file they name, read through `mounts`), None when it
/// would start. `nofile` is the open-files limit (soft, hard) the
/// container runtime gives it (tikv-server checks it).
pub fn refusal(
    t: &Tables,
    program: Program,
    spec: &Value,
    mounts: &Mounts,
    nofile: (u64, u64),
) -> Option<Refusal> {
    // the image's other tools (pd-ctl in PD's image) are not the server
    let command = strings(&spec["command"]);
    if let Some(first) = command.first() {
        if first.rsplit('/').next() != Some(program.name()) {
            return None;
        }
    }
    let args = strings(&spec["args"]);
    let parsed = match program {
        Program::Pd => tidbcheck::pd_server_args(t, &args),
        Program::Tikv => tidbcheck::tikv_server_args(t, &args),
        Program::Tidb => tidbcheck::tidb_server_args(t, &args),
    };
    if let Err(r) = parsed {
        return Some(r);
    }
    let path = config_path(&args)?;
    let text = match mounts.host(&path).map(std::fs::read_to_string) {
        Some(Ok(text)) => text,
        _ => {
            return Some(Refusal {
                message: format!("{}: open {path}: no such file or directory", program.name()),
                exit_code: 1,
            })
        }
    };
    // with -config-strict tidb-server itself stops at a key it does not
    // know: the loader's error goes to terror.MustNil, which logs it as
    // fatal and exits 1 (pingcap/tidb@v8.5.3 pkg/config/config.go:1188,
    // 1206, the message at :632; pkg/parser/terror/terror.go:304-311,
    // MustNil; log.Fatal of pingcap/log exits 1). The log line's time and
    // caller are left out.
    if program == Program::Tidb && go_bool_flag(t, &args, "config-strict") {
        let unknown = tidbcheck::unknown_keys(t, ConfigOf::Tidb, &text);
        if !unknown.is_empty() {
            return Some(Refusal {
                message: format!(
                    "[FATAL] [\"unexpected error\"] [error=\"{}\"]",
                    tidbcheck::tidb_unknown_keys_message(t, &path, &unknown)
                ),
                exit_code: 1,
            });
        }
    }
    let problems = tidbcheck::config_problems_at(t, program.config_of(), &path, &text);
    if problems.is_empty() && program == Program::Tikv {
        let (soft, hard) = nofile;
        return tikv_open_files_refusal(tikv_open_files_needed(&text), soft, hard);
    }
    (!problems.is_empty()).then(|| Refusal {
        message: format!(
            "{}: the config file {path} holds what it does not take (geowp's stand-in is stricter than a warning): {}",
            program.name(),
            problems.join("; ")
        ),
        exit_code: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mounts_with(dir: &std::path::Path, file: &str, text: &str) -> Mounts {
        std::fs::write(dir.join(file), text).unwrap();
        Mounts(vec![("/etc/tidb".into(), dir.to_path_buf())])
    }

    #[test]
    fn a_flag_tidb_server_does_not_have_is_refused_as_go_flag_refuses_it() {
        let t = Tables::shared();
        let dir = tempfile::tempdir().unwrap();
        let m = mounts_with(dir.path(), "tidb.toml", "[log]\nlevel = \"info\"\n");
        let good = json!({"command": ["/tidb-server"], "args": ["--store=tikv", "--config=/etc/tidb/tidb.toml"]});
        assert_eq!(refusal(t, Program::Tidb, &good, &m, RUNTIME_NOFILE), None);
        // the start-up fault of issue 19: a config-file key given as a flag
        let bad = json!({"args": ["--store=tikv", "--tmp-storage-path=/var/lib/tidb/tmp"]});
        let r = refusal(t, Program::Tidb, &bad, &m, RUNTIME_NOFILE).expect("refused");
        assert_eq!(r.exit_code, 2);
        assert!(
            r.message
                .contains("flag provided but not defined: -tmp-storage-path"),
            "{}",
            r.message
        );
    }

    #[test]
    fn with_config_strict_tidb_server_stops_at_a_key_it_does_not_know_with_its_fatal_line() {
        let t = Tables::shared();
        let dir = tempfile::tempdir().unwrap();
        let m = mounts_with(
            dir.path(),
            "tidb.toml",
            "tmp-storage-paht = \"/x\"\n[log]\nlevel = \"info\"\nslow-treshold = 300\n",
        );
        let spec = |strict: &str| json!({"args": ["--store=tikv", "--config=/etc/tidb/tidb.toml", strict]});
        for on in ["--config-strict", "-config-strict=true", "-config-strict=1"] {
            let r = refusal(t, Program::Tidb, &spec(on), &m, RUNTIME_NOFILE).expect("refused");
            assert_eq!(r.exit_code, 1, "{on}");
            assert_eq!(
                r.message,
                "[FATAL] [\"unexpected error\"] [error=\"config file /etc/tidb/tidb.toml contained invalid configuration options: log.slow-treshold, tmp-storage-paht; check TiDB manual to make sure this option has not been deprecated and removed from your TiDB version if the option does not appear to be a typo\"]",
                "{on}"
            );
        }
        // without it tidb-server only warns; the stand-in still refuses, in its own words
        let r = refusal(
            t,
            Program::Tidb,
            &spec("-config-strict=false"),
            &m,
            RUNTIME_NOFILE,
        )
        .expect("refused");
        assert!(
            r.message.contains("stricter than a warning"),
            "{}",
            r.message
        );
        // a file it knows starts either way
        let ok = mounts_with(dir.path(), "tidb.toml", "[log]\nlevel = \"info\"\n");
        assert_eq!(
            refusal(
                t,
                Program::Tidb,
                &spec("--config-strict"),
                &ok,
                RUNTIME_NOFILE
            ),
            None
        );
    }

    #[test]
    fn tikv_stops_below_the_open_files_it_needs_with_its_fatal_line() {
        // Titan on by default: 1000 + 2 x 40960 + 40960
        assert_eq!(tikv_open_files_needed(""), 123880);
        assert_eq!(
            tikv_open_files_needed("[rocksdb.titan]\nenabled = false\n"),
            82920
        );
        assert_eq!(
            tikv_open_files_needed(
                "[rocksdb]\nmax-open-files = 1000\n[raftdb]\nmax-open-files = 500\n"
            ),
            3500
        );
        // a hard limit above what it needs: TiKV raises its own soft limit
        assert_eq!(tikv_open_files_refusal(123880, 1024, 524288), None);
        assert_eq!(tikv_open_files_refusal(123880, 123880, 123880), None);
        let r = tikv_open_files_refusal(123880, 1024, 65536).expect("refused");
        assert_eq!(r.exit_code, 1);
        assert_eq!(
            r.message,
            "[FATAL] [\"the maximum number of open file descriptors is too small, got 1024, expect greater or equal to 123880\"]"
        );
        // through the container's start: the runtime's limit decides
        let dir = tempfile::tempdir().unwrap();
        let m = Mounts(vec![("/etc/tikv".into(), dir.path().to_path_buf())]);
        std::fs::write(dir.path().join("tikv.toml"), "[log]\nlevel = \"info\"\n").unwrap();
        let spec = json!({"args": ["--pd=http://pd:2379", "--config=/etc/tikv/tikv.toml"]});
        let t = Tables::shared();
        assert_eq!(refusal(t, Program::Tikv, &spec, &m, RUNTIME_NOFILE), None);
        let r = refusal(t, Program::Tikv, &spec, &m, (1024, 65536)).expect("refused");
        assert!(
            r.message
                .contains("got 1024, expect greater or equal to 123880"),
            "{}",
            r.message
        );
    }

    #[test]
    fn a_config_key_the_program_does_not_know_is_refused_and_a_missing_file_too() {
        let t = Tables::shared();
        let dir = tempfile::tempdir().unwrap();
        let m = mounts_with(
            dir.path(),
            "pd.toml",
            "[replication]\nmax-replicas = 3\nno-such-key = 1\n",
        );
        let spec = json!({"args": ["--name=us-east", "--config=/etc/tidb/pd.toml"]});
        let r = refusal(t, Program::Pd, &spec, &m, RUNTIME_NOFILE).expect("refused");
        assert!(r.message.contains("no-such-key"), "{}", r.message);
        let gone = json!({"args": ["--name=us-east", "--config=/etc/tidb/none.toml"]});
        let r = refusal(t, Program::Pd, &gone, &m, RUNTIME_NOFILE).expect("refused");
        assert!(r.message.contains("no such file"), "{}", r.message);
        assert_eq!(
            Program::of_image("pingcap/tikv:v8.5.7"),
            Some(Program::Tikv)
        );
        // pd-ctl from PD's image is not pd-server
        let ctl = json!({"command": ["/pd-ctl", "-u", "http://pd:2379", "member"]});
        assert_eq!(refusal(t, Program::Pd, &ctl, &m, RUNTIME_NOFILE), None);
        assert_eq!(Program::of_image("wordpress:7.1.0"), None);
    }
}
