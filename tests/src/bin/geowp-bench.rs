//! `make bench`: our provider next to hashicorp/null 2.1.2 (Go), in one run:
//! exec-to-handshake time with AutoMTLS (median of 30), peak RSS of a
//! provider process during `terraform plan`, and wall time of `terraform
//! plan` with 1 and 50 instances of a trivial resource. Prints a Markdown
//! table (also written to .bench/protocol.md).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use geowp_tests::{repo_root, run_with_timeout, MirroredProvider, Tf};

const RUNS_HANDSHAKE: usize = 30;
const RUNS_PLAN: usize = 5;

struct Subject {
    label: &'static str,
    provider: MirroredProvider,
    config: fn(usize) -> String,
}

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

fn client_cert_pem() -> String {
    // Terraform's go-plugin client makes a P-521 certificate; so do we.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).expect("P-521 key");
    rcgen::CertificateParams::new(vec!["localhost".into()])
        .expect("params")
        .self_signed(&key)
        .expect("cert")
        .pem()
}

/// Milliseconds from exec to the handshake line on stdout.
fn handshake_ms(bin: &Path, pem: &str, tmp: &Path) -> f64 {
    let t = Instant::now();
    let mut child = Command::new(bin)
        .env(
            "TF_PLUGIN_MAGIC_COOKIE",
            tfplugin::serve::MAGIC_COOKIE_VALUE,
        )
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_CLIENT_CERT", pem)
        .env("PLUGIN_MIN_PORT", "10000")
        .env("PLUGIN_MAX_PORT", "25000")
        .env("TMPDIR", tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn provider");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("handshake");
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    assert!(
        line.starts_with("1|"),
        "{} printed no handshake: {line:?}",
        bin.display()
    );
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let _ = child.wait();
    ms
}

/// Peak VmHWM (kB) over processes whose executable name starts with `prefix`,
/// sampled every 2 ms while `running` is set.
fn watch_peak_rss(prefix: String, running: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0u64;
        while running.load(Ordering::Relaxed) {
            if let Ok(rd) = std::fs::read_dir("/proc") {
                for e in rd.flatten() {
                    let p = e.path();
                    let Ok(comm) = std::fs::read_to_string(p.join("comm")) else {
                        continue;
                    };
                    // comm is cut to 15 characters
                    if !prefix.starts_with(comm.trim()) || comm.trim().len() < 10 {
                        continue;
                    }
                    if let Ok(status) = std::fs::read_to_string(p.join("status")) {
                        for l in status.lines() {
                            if let Some(v) = l.strip_prefix("VmHWM:") {
                                let kb: u64 =
                                    v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                                peak = peak.max(kb);
                            }
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        peak
    })
}

fn plan_ms(tf: &Tf) -> f64 {
    let t = Instant::now();
    let out = run_with_timeout(
        tf.command(&["plan", "-no-color", "-refresh=true"]),
        Duration::from_secs(300),
    );
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    assert!(
        out.status.success(),
        "plan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ms
}

#[path = "../bench/backupbench.rs"]
mod backupbench;
#[path = "../bench/demobench.rs"]
mod demobench;
#[path = "../bench/stackbench.rs"]
mod stackbench;
#[path = "../bench/syncbench.rs"]
mod syncbench;

fn main() {
    let which: Vec<String> = std::env::args().skip(1).collect();
    let all = which.is_empty();
    let root = repo_root();
    let out_dir = root.join(".bench");
    std::fs::create_dir_all(&out_dir).expect("mkdir .bench");
    if all || which.iter().any(|w| w == "protocol") {
        protocol(&root, &out_dir);
    }
    if all || which.iter().any(|w| w == "fakeapi") {
        let md = stackbench::fakeapi(&root);
        println!("{md}");
        let _ = std::fs::write(out_dir.join("fakeapi.md"), &md);
    }
    if all || which.iter().any(|w| w == "stack") {
        let md = stackbench::stack(&root);
        println!("{md}");
        let _ = std::fs::write(out_dir.join("stack.md"), &md);
    }
    if all || which.iter().any(|w| w == "plans") {
        let md = stackbench::plan_sizes(&root);
        println!("{md}");
        let _ = std::fs::write(out_dir.join("plans.md"), &md);
    }
    if all || which.iter().any(|w| w == "demo") {
        let md = demobench::demo();
        println!("{md}");
        let _ = std::fs::write(out_dir.join("demo.md"), &md);
    }
    if all || which.iter().any(|w| w == "latency") {
        let md = demobench::latency();
        println!("{md}");
        let _ = std::fs::write(out_dir.join("latency.md"), &md);
    }
    if all || which.iter().any(|w| w == "backup") {
        let md = backupbench::backup();
        println!("{md}");
        let _ = std::fs::write(out_dir.join("backup.md"), &md);
    }
    if all || which.iter().any(|w| w == "sync") {
        let md = syncbench::propagation(&root);
        println!("{md}");
        let md2 = syncbench::group_apply(&root);
        println!("{md2}");
        let _ = std::fs::write(out_dir.join("sync.md"), format!("{md}\n{md2}"));
    }
}

fn protocol(root: &std::path::Path, out_dir: &std::path::Path) {
    let tmp = tempfile::tempdir().expect("tmp");
    let release = root.join("target/release/terraform-provider-geowp");
    assert!(
        release.exists(),
        "build first: cargo build --release --workspace --bins (make bench does)"
    );
    let null_bin = root.join(".tools/null/terraform-provider-null_v2.1.2_x4");
    assert!(null_bin.exists(), "run make tools first (make bench does)");

    let subjects = [
        Subject {
            label: "geowp (Rust, this repo)",
            provider: MirroredProvider::new("geowp/geowp", "0.1.0", release.clone()),
            config: |n| {
                format!(
                    "terraform {{\n  required_providers {{\n    geowp = {{ source = \"geowp/geowp\" }}\n  }}\n}}\nresource \"geowp_site\" \"s\" {{\n  count = {n}\n  name  = \"site-${{count.index}}\"\n}}\n"
                )
            },
        },
        Subject {
            label: "hashicorp/null 2.1.2 (Go)",
            provider: MirroredProvider::new("hashicorp/null", "2.1.2", null_bin.clone()),
            config: |n| {
                format!(
                    "terraform {{\n  required_providers {{\n    null = {{ source = \"hashicorp/null\" }}\n  }}\n}}\nresource \"null_resource\" \"s\" {{\n  count = {n}\n  triggers = {{ i = count.index }}\n}}\n"
                )
            },
        },
    ];

    let pem = client_cert_pem();
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut col = |name: &str, vals: Vec<String>| rows.push((name.to_string(), vals));

    eprintln!(
        "[bench] exec-to-handshake, {RUNS_HANDSHAKE} runs each, PLUGIN_CLIENT_CERT set (AutoMTLS)"
    );
    let hs: Vec<Vec<f64>> = subjects
        .iter()
        .map(|s| {
            let _ = handshake_ms(&s.provider.binary, &pem, tmp.path()); // warm the page cache
                                                                        // interleave nothing: each provider measured in its own loop
            (0..RUNS_HANDSHAKE)
                .map(|_| handshake_ms(&s.provider.binary, &pem, tmp.path()))
                .collect()
        })
        .collect();
    col(
        "exec to handshake, median of 30 (ms)",
        hs.iter()
            .map(|v| format!("{:.1}", median(v.clone())))
            .collect(),
    );
    col(
        "exec to handshake, min / max (ms)",
        hs.iter()
            .map(|v| {
                format!(
                    "{:.1} / {:.1}",
                    v.iter().cloned().fold(f64::INFINITY, f64::min),
                    v.iter().cloned().fold(0.0, f64::max)
                )
            })
            .collect(),
    );

    let mut rss = Vec::new();
    let mut plan1 = Vec::new();
    let mut plan50 = Vec::new();
    let mut plan50_applied = Vec::new();
    for s in &subjects {
        for n in [1usize, 50] {
            eprintln!(
                "[bench] {}: terraform plan with {n} instance(s), median of {RUNS_PLAN}",
                s.label
            );
            let tf = Tf::new(std::slice::from_ref(&s.provider));
            tf.write("main.tf", &(s.config)(n));
            tf.ok(&["init"]);
            if n == 1 {
                let running = Arc::new(AtomicBool::new(true));
                let exe = s
                    .provider
                    .binary
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                // Terraform runs the mirror's link name, terraform-provider-<type>_v<version>
                let ty = s.provider.source.rsplit('/').next().unwrap_or("");
                let run_name = format!("terraform-provider-{ty}_v{}", s.provider.version);
                let _ = exe;
                let h = watch_peak_rss(run_name, running.clone());
                plan_ms(&tf);
                running.store(false, Ordering::Relaxed);
                rss.push(h.join().unwrap_or(0));
            }
            let v: Vec<f64> = (0..RUNS_PLAN).map(|_| plan_ms(&tf)).collect();
            if n == 1 {
                plan1.push(median(v));
            } else {
                plan50.push(median(v));
                tf.ok(&["apply", "-auto-approve"]);
                let v: Vec<f64> = (0..RUNS_PLAN).map(|_| plan_ms(&tf)).collect();
                plan50_applied.push(median(v));
                tf.ok(&["destroy", "-auto-approve"]);
            }
        }
    }
    col(
        "peak RSS of a provider process during `terraform plan` (MB)",
        rss.iter()
            .map(|k| format!("{:.1}", *k as f64 / 1024.0))
            .collect(),
    );
    col(
        "`terraform plan`, 1 instance, empty state (ms, median of 5)",
        plan1.iter().map(|m| format!("{m:.0}")).collect(),
    );
    col(
        "`terraform plan`, 50 instances, empty state (ms, median of 5)",
        plan50.iter().map(|m| format!("{m:.0}")).collect(),
    );
    col(
        "`terraform plan`, 50 instances applied, no changes (ms, median of 5)",
        plan50_applied.iter().map(|m| format!("{m:.0}")).collect(),
    );
    let size = |p: &PathBuf| {
        std::fs::metadata(p)
            .map(|m| m.len() as f64 / 1e6)
            .unwrap_or(0.0)
    };
    col(
        "binary size (MB)",
        vec![
            format!("{:.1}", size(&release)),
            format!("{:.1}", size(&null_bin)),
        ],
    );

    let mut md = String::new();
    md.push_str(&format!(
        "| measure | {} | {} |\n|---|---|---|\n",
        subjects[0].label, subjects[1].label
    ));
    for (name, vals) in &rows {
        md.push_str(&format!("| {name} | {} |\n", vals.join(" | ")));
    }
    println!("{md}");
    let _ = std::fs::write(out_dir.join("protocol.md"), &md);
    eprintln!("[bench] written to .bench/protocol.md");
}
