//! Reads argv, config files and pd-ctl commands the way pd-server,
//! tikv-server, tidb-server and pd-ctl do, driven by the tables
//! `tests/standins/tidbsrc.py` wrote from their source
//! (`tests/standins/tidb-tables.json`, every entry cited).
//!
//! Each parser refuses what the real one refuses, with the real message:
//! Go's flag package (tidb-server), cobra/pflag (pd-server, pd-ctl), clap 2
//! (tikv-server). The TOML check is stricter than the programs: PD only
//! warns about an unknown key and TiKV ignores one unless `--config-check`,
//! but a key the program does not know is a setting geowp believes it made
//! and did not; the problem says what the program itself does.
//!
//! # Caveats
//! Value checks stop at the TOML kind (string, integer, duration, ...): a
//! duration's or size's grammar and enum members are not checked.

use std::collections::BTreeMap;

use serde_json::Value;

/// The generated tables.
pub struct Tables(pub Value);

impl Tables {
    /// `tests/standins/tidb-tables.json` of this checkout.
    pub fn load() -> Tables {
        let path = crate::repo_root().join("tests/standins/tidb-tables.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Tables(serde_json::from_str(&text).expect("tidb-tables.json parses"))
    }

    fn list(&self, section: &str, what: &str) -> Vec<Value> {
        self.0[section][what]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn message(&self, section: &str, what: &str) -> String {
        self.0[section][what]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// A program's refusal: what it prints and the status it exits with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub exit_code: i32,
}

/// A Go flag's name and whether it is a bool (a bool takes no separate value).
struct GoFlag {
    is_bool: bool,
}

fn go_flags(t: &Tables, section: &str) -> BTreeMap<String, GoFlag> {
    t.list(section, "flags")
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap_or_default().to_string(),
                GoFlag {
                    is_bool: f["kind"] == "bool",
                },
            )
        })
        .collect()
}

/// tidb-server's command line through Go's `flag` package with
/// `ExitOnError`: `-name`/`--name`, `-name=value`, `-name value` for
/// non-bools; parsing stops at the first non-flag or at `--`.
pub fn tidb_server_args(t: &Tables, args: &[String]) -> Result<(), Refusal> {
    let flags = go_flags(t, "tidb_server");
    let unknown = t.message("tidb_server", "unknown_flag");
    let refuse = |m: String| Refusal {
        message: m,
        exit_code: 2,
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a.len() < 2 || !a.starts_with('-') {
            return Ok(());
        }
        let dashes = if a.starts_with("--") { 2 } else { 1 };
        if dashes == 2 && a.len() == 2 {
            return Ok(());
        }
        let body = &a[dashes..];
        if body.starts_with('-') || body.starts_with('=') {
            return Err(refuse(format!("bad flag syntax: {a}")));
        }
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(f) = flags.get(name) else {
            return Err(refuse(unknown.replace("{name}", name)));
        };
        if f.is_bool {
            if let Some(v) = value {
                if !matches!(
                    v,
                    "1" | "0"
                        | "t"
                        | "f"
                        | "T"
                        | "F"
                        | "true"
                        | "false"
                        | "TRUE"
                        | "FALSE"
                        | "True"
                        | "False"
                ) {
                    return Err(refuse(format!(
                        "invalid boolean value {v:?} for -{name}: parse error"
                    )));
                }
            }
        } else if value.is_none() {
            if i >= args.len() {
                return Err(refuse(format!("flag needs an argument: -{name}")));
            }
            i += 1;
        }
    }
    Ok(())
}

/// A cobra/pflag flag set: long names and shorthands, bool or not.
fn pflags(list: &[Value]) -> (BTreeMap<String, bool>, BTreeMap<char, String>) {
    let mut long = BTreeMap::new();
    let mut short = BTreeMap::new();
    for f in list {
        let name = f["name"].as_str().unwrap_or_default().to_string();
        long.insert(name.clone(), f["kind"] == "bool");
        if let Some(c) = f["shorthand"].as_str().and_then(|s| s.chars().next()) {
            short.insert(c, name);
        }
    }
    (long, short)
}

/// Parses `args` as pflag does; returns the positional words.
fn pflag_parse(
    t: &Tables,
    long: &BTreeMap<String, bool>,
    short: &BTreeMap<char, String>,
    args: &[String],
) -> Result<Vec<String>, String> {
    let pflag = &t.0["pd_server"];
    let msg = |k: &str| pflag[k]["message"].as_str().unwrap_or_default().to_string();
    let mut words = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            words.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(body) = a.strip_prefix("--") {
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(is_bool) = long.get(name) else {
                return Err(msg("unknown_flag").replace("{name}", name));
            };
            if !is_bool && value.is_none() {
                if i >= args.len() {
                    return Err(msg("needs_argument").replace("{arg}", a));
                }
                i += 1;
            }
        } else if let Some(body) = a.strip_prefix('-').filter(|b| !b.is_empty()) {
            // shorthands: -abc is -a -b -c; a non-bool takes the rest or the next arg
            let chars: Vec<char> = body.chars().collect();
            let mut k = 0;
            while k < chars.len() {
                let c = chars[k];
                let Some(name) = short.get(&c) else {
                    return Err(msg("unknown_shorthand")
                        .replace("{char}", &c.to_string())
                        .replace("{shorthands}", body));
                };
                k += 1;
                if !long[name] {
                    if k < chars.len() {
                        break;
                    }
                    if i >= args.len() {
                        return Err(msg("needs_argument").replace("{arg}", a));
                    }
                    i += 1;
                }
            }
        } else {
            words.push(a.clone());
        }
    }
    Ok(words)
}

/// pd-server's command line (cobra v1.8.0 over pflag v1.0.5): cobra prints
/// `Error: <err>` and the usage, pd-server prints the error again, exit 1.
pub fn pd_server_args(t: &Tables, args: &[String]) -> Result<(), Refusal> {
    let (long, short) = pflags(&t.list("pd_server", "flags"));
    pflag_parse(t, &long, &short, args)
        .map(|_| ())
        .map_err(|e| Refusal {
            message: format!(
                "{} {e}",
                t.0["pd_server"]["error_prefix"]["message"]
                    .as_str()
                    .unwrap_or("Error:")
            ),
            exit_code: 1,
        })
}

/// tikv-server's command line as clap 2.33 reads it: `--long[=value]` by
/// long name or alias, `-s value`; an unknown argument exits 1.
pub fn tikv_server_args(t: &Tables, args: &[String]) -> Result<(), Refusal> {
    let flags = t.list("tikv_server", "flags");
    let msg = t.message("tikv_server", "unknown_flag");
    let refuse = |arg: String| Refusal {
        message: msg.replace("{arg}", &arg),
        exit_code: 1,
    };
    let by_long = |n: &str| {
        flags.iter().find(|f| {
            f["long"] == n
                || f["aliases"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == n))
        })
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        let (f, inline) = if let Some(body) = a.strip_prefix("--") {
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            (
                by_long(name).ok_or_else(|| refuse(format!("--{name}")))?,
                value.is_some(),
            )
        } else if let Some(body) = a.strip_prefix('-') {
            let c = body.chars().next().unwrap_or('-').to_string();
            (
                flags
                    .iter()
                    .find(|f| f["short"] == c.as_str())
                    .ok_or_else(|| refuse(format!("-{c}")))?,
                body.len() > 1,
            )
        } else {
            return Err(refuse(a.clone()));
        };
        if f["takes_value"] == true && !inline {
            if i >= args.len() {
                return Err(Refusal {
                    message: format!(
                        "error: The argument '{a}' requires a value but none was supplied"
                    ),
                    exit_code: 1,
                });
            }
            i += 1;
        }
    }
    Ok(())
}

/// Which program's config file: the key table and how it matches names.
#[derive(Clone, Copy, Debug)]
pub enum ConfigOf {
    /// BurntSushi/toml: a tag, else case-insensitively.
    Pd,
    /// serde: exact names (and aliases).
    Tikv,
    /// BurntSushi/toml, like PD.
    Tidb,
}

impl ConfigOf {
    fn section(self) -> &'static str {
        match self {
            ConfigOf::Pd => "pd_config",
            ConfigOf::Tikv => "tikv_config",
            ConfigOf::Tidb => "tidb_config",
        }
    }
}

/// Every key of `text` against the program's key table: unknown keys,
/// values of the wrong kind, and keys inside sections the tables list but
/// did not follow. Empty when the file is all known.
pub fn config_problems(t: &Tables, of: ConfigOf, text: &str) -> Vec<String> {
    let doc: toml::Table = match text.parse() {
        Ok(d) => d,
        Err(e) => return vec![format!("not TOML: {e}")],
    };
    let keys = t.list(of.section(), "keys");
    if keys.is_empty() {
        return vec![format!("the tables have no {} keys", of.section())];
    }
    let unknown = &t.0[of.section()]["unknown_key"];
    let mut out = Vec::new();
    walk(&doc, "", &keys, of, unknown, &mut out);
    out
}

fn lookup<'a>(keys: &'a [Value], path: &str, of: ConfigOf) -> Option<&'a Value> {
    let exact = keys.iter().find(|k| {
        k["path"] == path
            || (k["aliases"].as_array().is_some_and(|a| {
                let (parent, _) = path.rsplit_once('.').unwrap_or(("", path));
                a.iter().any(|x| {
                    let full = if parent.is_empty() {
                        x.as_str().unwrap_or_default().to_string()
                    } else {
                        format!("{parent}.{}", x.as_str().unwrap_or_default())
                    };
                    full == path
                })
            }))
    });
    match (exact, of) {
        (Some(k), _) => Some(k),
        (None, ConfigOf::Pd | ConfigOf::Tidb) => keys.iter().find(|k| {
            k["path"]
                .as_str()
                .is_some_and(|p| p.eq_ignore_ascii_case(path))
        }),
        (None, ConfigOf::Tikv) => None,
    }
}

fn kind_ok(kind: &str, v: &toml::Value) -> bool {
    use toml::Value as V;
    match kind {
        "string" | "duration" => matches!(v, V::String(_)),
        "bool" => matches!(v, V::Boolean(_)),
        "integer" => matches!(v, V::Integer(_)),
        "float" => matches!(v, V::Float(_) | V::Integer(_)),
        "bytesize" => matches!(v, V::String(_) | V::Integer(_)),
        "string-array" => {
            matches!(v, V::Array(a) if a.iter().all(|x| matches!(x, V::String(_))))
        }
        "string-map" => {
            matches!(v, V::Table(t) if t.values().all(|x| matches!(x, V::String(_))))
        }
        "table" => matches!(v, V::Table(_)),
        "array" => matches!(v, V::Array(_)),
        _ => true,
    }
}

fn walk(
    table: &toml::Table,
    prefix: &str,
    keys: &[Value],
    of: ConfigOf,
    unknown: &Value,
    out: &mut Vec<String>,
) {
    for (k, v) in table {
        let path = format!("{prefix}{k}");
        let Some(entry) = lookup(keys, &path, of) else {
            out.push(format!(
                "{} ({})",
                unknown["message"]
                    .as_str()
                    .unwrap_or("unknown key {keys}")
                    .replace("{keys}", &path),
                unknown["handling"]["what"].as_str().unwrap_or_default()
            ));
            continue;
        };
        let kind = entry["type"].as_str().unwrap_or("any");
        if !kind_ok(kind, v) {
            out.push(format!(
                "{path}: a {} where the program reads {kind} ({})",
                v.type_str(),
                entry["cite"].as_str().unwrap_or_default()
            ));
            continue;
        }
        if kind == "table" {
            if entry["followed"] == false {
                out.push(format!(
                    "{path}: a section the tables list but do not follow ({}); add it to tidbsrc.py",
                    entry["cite"].as_str().unwrap_or_default()
                ));
            } else if let toml::Value::Table(t) = v {
                walk(t, &format!("{path}."), keys, of, unknown, out);
            }
        }
    }
}

/// A pd-ctl command line (global flags, then the command words and their
/// arguments) against pd-ctl's command tree for the commands geowp runs.
/// Ok is the command's entry: its success and failure lines.
pub fn pd_ctl_command(t: &Tables, argv: &[String]) -> Result<Value, String> {
    let (long, short) = pflags(&t.list("pd_ctl", "global_flags"));
    let words = pflag_parse(t, &long, &short, argv)?;
    let commands = t.list("pd_ctl", "commands");
    let best = commands
        .iter()
        .filter(|c| {
            let w: Vec<&str> = c["words"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            words.len() >= w.len() && w.iter().zip(&words).all(|(a, b)| a == b)
        })
        .max_by_key(|c| c["words"].as_array().map_or(0, Vec::len));
    let Some(c) = best else {
        // the first word no command of the tree has at its place
        let known = commands
            .iter()
            .map(|c| {
                c["words"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .zip(&words)
                    .take_while(|(a, b)| a.as_str() == Some(b.as_str()))
                    .count()
            })
            .max()
            .unwrap_or(0);
        let word = words.get(known).cloned().unwrap_or_default();
        let path = std::iter::once("pd-ctl".to_string())
            .chain(words[..known].iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        return Err(t.0["pd_ctl"]["unknown_command"]["message"]
            .as_str()
            .unwrap_or_default()
            .replace("{word}", &word)
            .replace("{path}", &path));
    };
    let n = c["words"].as_array().map_or(0, Vec::len);
    let want = c["args"].as_array().map_or(0, Vec::len);
    let got = &words[n..];
    if got.len() != want {
        let path = words[..n].join(" ");
        return Err(match got.first() {
            Some(w) if want == 0 => format!(
                "{}; pd-ctl would run `{path}` with {w:?} as an argument or print its help",
                t.0["pd_ctl"]["unknown_command"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .replace("{word}", w)
                    .replace("{path}", &format!("pd-ctl {path}"))
            ),
            _ => format!(
                "pd-ctl {path} takes {want} argument(s) ({}), got {got:?} ({})",
                c["args"],
                c["cite"].as_str().unwrap_or_default()
            ),
        });
    }
    Ok(c.clone())
}
