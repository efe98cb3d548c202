//! Reads argv, config files, pd-ctl commands and SQL `SET` statements the
//! way pd-server, tikv-server, tidb-server and pd-ctl do, driven by the
//! tables `tests/standins/tidbsrc.py` wrote from their source
//! (`tests/standins/tidb-tables.json`, every entry cited).
//!
//! Each parser refuses what the real one refuses, with the real message:
//! Go's flag package (tidb-server), cobra/pflag (pd-server, pd-ctl), clap 2
//! (tikv-server), TiDB's `SysVar.Validate` (system variables). The TOML
//! check is stricter than the programs: PD only warns about an unknown key,
//! TiKV ignores one unless `--config-check`, tidb-server prints a warning
//! unless `-config-strict` (which geowp passes), but a key the program does
//! not know is a setting geowp believes it made and did not; the problem
//! says what the program itself does. Likewise a system variable value outside its range is not
//! refused by TiDB (it sets the bound and warns), but it is a problem here.
//!
//! # Caveats
//! Value checks of config keys stop at the TOML kind (string, integer,
//! duration, ...): a duration's or size's grammar and enum members are not
//! checked. System variables are checked by name, scope and type (enum
//! members, bool words, number ranges, Go durations); the variable's own
//! `Validation` function, when it has one, is not modelled (the outcome
//! says so), nor are `noop.go`'s MySQL no-op variables (unknown here) or
//! the executor's legacy handling of `SET SESSION` on INSTANCE variables.

use std::collections::BTreeMap;

use serde_json::Value;

/// The generated tables, embedded at build time.
const TABLES: &str = include_str!("../../tests/standins/tidb-tables.json");

/// The generated tables.
pub struct Tables(pub Value);

impl Tables {
    /// `tests/standins/tidb-tables.json`, as this build embeds it.
    pub fn load() -> Tables {
        Tables(serde_json::from_str(TABLES).expect("tidb-tables.json parses"))
    }

    /// The tables, read once per process.
    pub fn shared() -> &'static Tables {
        static T: std::sync::OnceLock<Tables> = std::sync::OnceLock::new();
        T.get_or_init(Tables::load)
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
    tidb_server_flags(t, args).map(|_| ())
}

/// [`tidb_server_args`], with the flags it set in order: each name and
/// the value it was given (None for a bool given alone, which is true).
pub fn tidb_server_flags(
    t: &Tables,
    args: &[String],
) -> Result<Vec<(String, Option<String>)>, Refusal> {
    let mut set = Vec::new();
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
            return Ok(set);
        }
        let dashes = if a.starts_with("--") { 2 } else { 1 };
        if dashes == 2 && a.len() == 2 {
            return Ok(set);
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
            set.push((name.to_string(), value.map(String::from)));
        } else if let Some(v) = value {
            set.push((name.to_string(), Some(v.to_string())));
        } else {
            if i >= args.len() {
                return Err(refuse(format!("flag needs an argument: -{name}")));
            }
            set.push((name.to_string(), Some(args[i].clone())));
            i += 1;
        }
    }
    Ok(set)
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
    config_problems_at(t, of, "the config file", text)
}

/// [`config_problems`] of the file at `file` (tidb-server's message names it).
pub fn config_problems_at(t: &Tables, of: ConfigOf, file: &str, text: &str) -> Vec<String> {
    let doc: toml::Table = match text.parse() {
        Ok(d) => d,
        Err(e) => return vec![format!("not TOML: {e}")],
    };
    let keys = t.list(of.section(), "keys");
    if keys.is_empty() {
        return vec![format!("the tables have no {} keys", of.section())];
    }
    let mut unknown = t.0[of.section()]["unknown_key"].clone();
    if let Some(m) = unknown["message"].as_str() {
        unknown["message"] = Value::from(m.replace("{file}", file));
    }
    let mut out = Vec::new();
    walk(&doc, "", &keys, of, &unknown, &mut out);
    out
}

/// The keys of `text` the program does not know, as dotted paths (what
/// BurntSushi/toml's `Undecoded` lists for PD and TiDB). Empty when the
/// text is not TOML: [`config_problems`] says that.
pub fn unknown_keys(t: &Tables, of: ConfigOf, text: &str) -> Vec<String> {
    fn go(table: &toml::Table, prefix: &str, keys: &[Value], of: ConfigOf, out: &mut Vec<String>) {
        for (k, v) in table {
            let path = format!("{prefix}{k}");
            match lookup(keys, &path, of) {
                None => out.push(path),
                Some(e) if e["type"] == "table" && e["followed"] != false => {
                    if let toml::Value::Table(t) = v {
                        go(t, &format!("{path}."), keys, of, out);
                    }
                }
                Some(_) => {}
            }
        }
    }
    let Ok(doc) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    go(&doc, "", &t.list(of.section(), "keys"), of, &mut out);
    out
}

/// tidb-server's own words for a file with keys it does not know (the
/// table's `unknown_key` message), for `file` and `keys`.
pub fn tidb_unknown_keys_message(t: &Tables, file: &str, keys: &[String]) -> String {
    t.0["tidb_config"]["unknown_key"]["message"]
        .as_str()
        .unwrap_or("config file {file} contained invalid configuration options: {keys}")
        .replace("{file}", file)
        .replace("{keys}", &keys.join(", "))
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
        // a Go type with UnmarshalText: BurntSushi/toml hands it the text of a scalar
        "text" => matches!(
            v,
            V::String(_) | V::Boolean(_) | V::Integer(_) | V::Float(_)
        ),
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

// ------------------------------------------------------------ system variables

/// The scope a `SET` names (`SET GLOBAL x`, `@@global.x`; otherwise SESSION).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetScope {
    Global,
    Session,
}

/// One `name = value` of a `SET` statement that names a system variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub scope: SetScope,
    pub name: String,
    /// The value as TiDB validates it: a quoted string unquoted, a number as written.
    pub value: String,
    /// The value is another system variable's (`= @@GLOBAL.name`, unquoted):
    /// its scope and name; `value` is then the reference as written.
    pub of_variable: Option<(SetScope, String)>,
}

/// What tidb-server makes of a `SET` it accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The value TiDB stores (normalized: `ON`, the enum's spelling, a Go duration's `String()`).
    pub value: String,
    /// TiDB sets the bound instead of the value and warns (ErrTruncatedWrongValue).
    pub clamped: bool,
    /// The variable has a `Validation` function of its own, which is not modelled.
    pub custom_validation: bool,
}

fn sysvar<'a>(t: &'a Tables, name: &str) -> Option<&'a Value> {
    t.0["tidb_sysvars"]["variables"]
        .as_array()?
        .iter()
        .find(|v| {
            v["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
}

fn sysvar_refusal(t: &Tables, what: &str, args: &[(&str, &str)]) -> String {
    let mut m = t.0["tidb_sysvars"][what]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for (k, v) in args {
        m = m.replace(&format!("{{{k}}}"), v);
    }
    m
}

fn scopes_of(v: &Value) -> Vec<&str> {
    v["scope"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// `SysVar.Validate`'s first check, of the scope (a read-only variable,
/// GLOBAL of a session-only one, SESSION of a global-only one).
fn scope_refusal(t: &Tables, v: &Value, vname: &str, scope: SetScope) -> Option<String> {
    let scopes = scopes_of(v);
    let has = |s: &str| scopes.contains(&s);
    if v["readOnly"] == true || has("NONE") {
        return Some(sysvar_refusal(
            t,
            "read_only",
            &[("name", vname), ("scope", "read only")],
        ));
    }
    match scope {
        SetScope::Global if !(has("GLOBAL") || has("INSTANCE")) => {
            Some(sysvar_refusal(t, "session_only", &[("name", vname)]))
        }
        SetScope::Session if !has("SESSION") => {
            Some(sysvar_refusal(t, "global_only", &[("name", vname)]))
        }
        _ => None,
    }
}

/// An assignment as tidb-server takes it. A literal goes through
/// [`sysvar_set`]. A system variable's value (`= @@GLOBAL.name`) is read
/// first and the string it holds validated (pingcap/tidb@v8.5.3
/// pkg/executor/set.go:306-330, `getVarValue`): modelled only for the
/// variable's own GLOBAL value, which is valid for it by construction, so
/// only the scope of the assignment is checked. (`= DEFAULT` is another
/// thing: set.go:307-313 gives the compiled-in default, not the GLOBAL
/// value.) Err is tidb-server's message, or says what is not modelled.
pub fn assignment_set(t: &Tables, a: &Assignment) -> Result<Accepted, String> {
    let Some((from_scope, from)) = &a.of_variable else {
        return sysvar_set(t, a.scope, &a.name, &a.value);
    };
    let Some(v) = sysvar(t, &a.name) else {
        return Err(sysvar_refusal(t, "unknown_variable", &[("name", &a.name)]));
    };
    let vname = v["name"].as_str().unwrap_or(&a.name);
    let global = scopes_of(v)
        .iter()
        .any(|s| *s == "GLOBAL" || *s == "INSTANCE");
    if !from.eq_ignore_ascii_case(vname) || *from_scope != SetScope::Global || !global {
        return Err(format!(
            "{} = {}: not modelled here (only a variable's own GLOBAL value is)",
            a.name, a.value
        ));
    }
    if let Some(refused) = scope_refusal(t, v, vname, a.scope) {
        return Err(refused);
    }
    Ok(Accepted {
        value: format!("@@GLOBAL.{vname}"),
        clamped: false,
        custom_validation: v["custom_validation"] == true,
    })
}

/// `SET [GLOBAL|SESSION] name = value` as tidb-server's `SysVar.Validate`
/// runs it (pkg/sessionctx/variable/variable.go, cited in the tables): the
/// name, the scope, then the check of the variable's type. Err is the
/// message tidb-server returns.
pub fn sysvar_set(
    t: &Tables,
    scope: SetScope,
    name: &str,
    value: &str,
) -> Result<Accepted, String> {
    let Some(v) = sysvar(t, name) else {
        return Err(sysvar_refusal(t, "unknown_variable", &[("name", name)]));
    };
    let vname = v["name"].as_str().unwrap_or(name);
    if let Some(refused) = scope_refusal(t, v, vname, scope) {
        return Err(refused);
    }
    let custom_validation = v["custom_validation"] == true;
    let ok = |value: String, clamped: bool| {
        Ok(Accepted {
            value,
            clamped,
            custom_validation,
        })
    };
    if value.is_empty()
        && ((v["allowEmpty"] == true && scope == SetScope::Session) || v["allowEmptyAll"] == true)
    {
        return ok(String::new(), false);
    }
    let wrong_value = || {
        Err(sysvar_refusal(
            t,
            "wrong_value",
            &[("name", vname), ("value", value)],
        ))
    };
    let wrong_type = || Err(sysvar_refusal(t, "wrong_type", &[("name", vname)]));
    let num = |k: &str| v[k].as_f64();
    match v["type"].as_str().unwrap_or("str") {
        "enum" => {
            let values: Vec<&str> = v["possible_values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            for (i, p) in values.iter().enumerate() {
                if value.eq_ignore_ascii_case(p) || value == i.to_string() {
                    return ok(p.to_string(), false);
                }
            }
            if v["possible_values_unresolved"].is_array() {
                return Err(format!(
                    "{vname}: its allowed values include some the tables could not resolve ({}); add them to tidbsrc.py",
                    v["possible_values_unresolved"]
                ));
            }
            wrong_value()
        }
        "bool" => {
            if value.eq_ignore_ascii_case("ON") || value == "1" {
                ok("ON".into(), false)
            } else if value.eq_ignore_ascii_case("OFF") || value == "0" {
                ok("OFF".into(), false)
            } else {
                wrong_value()
            }
        }
        "int" | "unsigned" => {
            if v["allowAutoValue"] == true && value == "-1" {
                return ok(value.into(), false);
            }
            let unsigned = v["type"] == "unsigned";
            let Ok(n) = value.parse::<i128>() else {
                return wrong_type();
            };
            if value.is_empty()
                || (unsigned && !value.starts_with('-') && value.parse::<u64>().is_err())
                || (!unsigned && value.parse::<i64>().is_err())
            {
                return wrong_type();
            }
            let min = v["min"].as_i64().map(i128::from).unwrap_or(if unsigned {
                0
            } else {
                i64::MIN as i128
            });
            let max = v["max"]
                .as_u64()
                .map(i128::from)
                .or_else(|| v["max"].as_i64().map(i128::from))
                .unwrap_or(if unsigned {
                    u64::MAX as i128
                } else {
                    i64::MAX as i128
                });
            if n < min {
                ok(min.to_string(), true)
            } else if n > max {
                ok(max.to_string(), true)
            } else {
                ok(value.into(), false)
            }
        }
        "float" => {
            let Ok(f) = value.parse::<f64>() else {
                return wrong_type();
            };
            match (num("min"), num("max")) {
                (Some(min), _) if f < min => ok(min.to_string(), true),
                (_, Some(max)) if f > max => ok(max.to_string(), true),
                _ => ok(value.into(), false),
            }
        }
        "duration" => {
            let Some(ns) = go_parse_duration(value) else {
                return wrong_type();
            };
            let min = v["min"].as_i64().map(i128::from).unwrap_or(i128::MIN);
            let max = v["max"].as_u64().map(i128::from).unwrap_or(i128::MAX);
            if ns < min {
                ok(go_duration_string(min), true)
            } else if ns > max {
                ok(go_duration_string(max), true)
            } else {
                ok(go_duration_string(ns), false)
            }
        }
        "time" => {
            if go_time_of_day(value) {
                ok(value.into(), false)
            } else {
                Err(format!(
                    "{vname}: {value:?} is no time of day tidb-server parses (layouts \"15:04\" and \"15:04 -0700\", {})",
                    t.0["tidb_sysvars"]["validate"]["time_cite"]
                        .as_str()
                        .unwrap_or_default()
                ))
            }
        }
        _ => ok(value.into(), false),
    }
}

/// Go's `time.ParseDuration` (nanoseconds), None where Go refuses.
pub fn go_parse_duration(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(n);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return None;
        }
        let u = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(u);
        let scale: f64 = match unit {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += num.parse::<f64>().ok()? * scale;
        rest = tail;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    Some(if neg { -(total as i128) } else { total as i128 })
}

/// Go's `time.Duration.String()` for whole nanoseconds.
pub fn go_duration_string(ns: i128) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    let frac = |v: u128, unit: u128| {
        let whole = v / unit;
        let rest = v % unit;
        if rest == 0 {
            whole.to_string()
        } else {
            let width = unit.to_string().len() - 1;
            let digits = format!("{rest:0width$}");
            format!("{whole}.{}", digits.trim_end_matches('0'))
        }
    };
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}\u{b5}s", frac(u, 1_000));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", frac(u, 1_000_000));
    }
    let s = u / 1_000_000_000;
    let sub = u % 1_000_000_000;
    let secs = frac(s % 60 * 1_000_000_000 + sub, 1_000_000_000);
    if s < 60 {
        return format!("{sign}{secs}s");
    }
    let m = s / 60;
    if m < 60 {
        return format!("{sign}{m}m{secs}s");
    }
    format!("{sign}{}h{}m{secs}s", m / 60, m % 60)
}

/// `15:04` or `15:04 -0700`, as checkTimeSystemVar parses a time of day.
fn go_time_of_day(s: &str) -> bool {
    let hm = |x: &str| {
        let Some((h, m)) = x.split_once(':') else {
            return false;
        };
        (1..=2).contains(&h.len())
            && h.parse::<u32>().is_ok_and(|h| h < 24)
            && m.len() == 2
            && m.parse::<u32>().is_ok_and(|m| m < 60)
    };
    if s.len() <= 5 {
        return hm(s);
    }
    match s.split_once(' ') {
        Some((a, z)) => {
            hm(a)
                && z.len() == 5
                && matches!(z.as_bytes()[0], b'+' | b'-')
                && z[1..].bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// The statements of `sql` (split at `;` outside quotes), TiDB's executable
/// comments `/*T! ... */` opened, other comments dropped.
pub fn sql_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let b: Vec<char> = sql.chars().collect();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            cur.push(c);
            if c == '\\' && i + 1 < b.len() {
                cur.push(b[i + 1]);
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        let rest: String = b[i..b.len().min(i + 4)].iter().collect();
        if rest.starts_with("/*T!") {
            i += 4;
            continue;
        }
        if rest.starts_with("/*") {
            let tail: String = b[i..].iter().collect();
            i += tail.find("*/").map_or(b.len() - i, |e| e + 2);
            continue;
        }
        if rest.starts_with("*/") {
            i += 2;
            continue;
        }
        match c {
            '\'' | '"' | '`' => {
                quote = Some(c);
                cur.push(c);
            }
            ';' => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
        i += 1;
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

/// The system variables a `SET` statement assigns (user variables `@x`
/// skipped). Each assignment carries its own scope keyword, as geowp
/// writes them; one without is SESSION. Err for a `SET` this reader cannot
/// split into assignments.
pub fn set_assignments(statement: &str) -> Result<Vec<Assignment>, String> {
    let s = statement.trim();
    let Some(body) = s
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SET "))
        .map(|_| &s[4..])
    else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for part in split_outside_quotes(body, ',') {
        let part = part.trim();
        let Some((lhs, rhs)) = part.split_once('=') else {
            return Err(format!("no `=` in {part:?} of {statement:?}"));
        };
        let lhs = lhs.trim();
        let words: Vec<&str> = lhs.split_whitespace().collect();
        let (scope, name) = match words.as_slice() {
            [kw, name] if kw.eq_ignore_ascii_case("GLOBAL") => (SetScope::Global, *name),
            [kw, name]
                if kw.eq_ignore_ascii_case("SESSION") || kw.eq_ignore_ascii_case("LOCAL") =>
            {
                (SetScope::Session, *name)
            }
            [name] => {
                let lower = name.to_ascii_lowercase();
                if let Some(n) = lower.strip_prefix("@@global.") {
                    (SetScope::Global, &name[name.len() - n.len()..])
                } else if let Some(n) = lower
                    .strip_prefix("@@session.")
                    .or_else(|| lower.strip_prefix("@@local."))
                    .or_else(|| lower.strip_prefix("@@"))
                {
                    (SetScope::Session, &name[name.len() - n.len()..])
                } else if name.starts_with('@') {
                    continue;
                } else {
                    (SetScope::Session, *name)
                }
            }
            _ => return Err(format!("cannot read {lhs:?} in {statement:?}")),
        };
        let rhs = rhs.trim();
        let of_variable = variable_reference(rhs);
        let value = match rhs.chars().next() {
            Some(q @ ('\'' | '"')) if rhs.len() >= 2 && rhs.ends_with(q) => {
                rhs[1..rhs.len() - 1].replace("\\'", "'").replace("''", "'")
            }
            _ => rhs.to_string(),
        };
        out.push(Assignment {
            scope,
            name: name.to_string(),
            value,
            of_variable,
        });
    }
    Ok(out)
}

/// `@@GLOBAL.name`, `@@SESSION.name`, `@@LOCAL.name` or `@@name`, unquoted:
/// a system variable's value as an expression.
fn variable_reference(rhs: &str) -> Option<(SetScope, String)> {
    let rest = rhs.strip_prefix("@@")?;
    let lower = rest.to_ascii_lowercase();
    let (scope, name) = if lower.starts_with("global.") {
        (SetScope::Global, &rest["global.".len()..])
    } else if lower.starts_with("session.") {
        (SetScope::Session, &rest["session.".len()..])
    } else if lower.starts_with("local.") {
        (SetScope::Session, &rest["local.".len()..])
    } else {
        (SetScope::Session, rest)
    };
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then(|| (scope, name.to_string()))
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == sep => {
                out.push(String::new());
                continue;
            }
            None => {}
        }
        out.last_mut().unwrap().push(c);
    }
    out
}

/// Every system variable the `SET` statements of `sql` assign, against the
/// tables: what tidb-server refuses (its message), clamps or cannot be
/// checked. Empty when tidb-server takes all as written.
pub fn sql_problems(t: &Tables, sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    for st in sql_statements(sql) {
        match set_assignments(&st) {
            Err(e) => out.push(e),
            Ok(list) => {
                for a in list {
                    match assignment_set(t, &a) {
                        Err(e) => out.push(format!("{st}: {e}")),
                        Ok(acc) if acc.clamped => out.push(format!(
                            "{st}: tidb-server sets {} to {} instead of {:?} and warns ({})",
                            a.name,
                            acc.value,
                            a.value,
                            t.0["tidb_sysvars"]["validate"]["out_of_range_cite"]
                                .as_str()
                                .unwrap_or_default()
                        )),
                        Ok(_) => {}
                    }
                }
            }
        }
    }
    out
}
