//! Logging for a plugin process: `tracing` events as JSON lines on stderr
//! with `@level`, `@message`, `@timestamp` (and the event's fields), which
//! Terraform's plugin client re-logs at that level. The level comes from
//! `TF_LOG_PROVIDER`, else `TF_LOG`, as Terraform itself reads them; with
//! neither set only warnings and errors are written.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value as Json};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// Level from a Terraform log setting (`TRACE`, `DEBUG`, `INFO`, `WARN`,
/// `ERROR`, `JSON`, `OFF`); None means off.
pub fn level_from_env(tf_log_provider: Option<&str>, tf_log: Option<&str>) -> Option<Level> {
    let v = tf_log_provider
        .filter(|s| !s.is_empty())
        .or(tf_log.filter(|s| !s.is_empty()));
    match v.map(|s| s.trim().to_ascii_uppercase()) {
        None => Some(Level::WARN),
        Some(s) => match s.as_str() {
            "TRACE" | "JSON" | "1" | "TRUE" => Some(Level::TRACE),
            "DEBUG" => Some(Level::DEBUG),
            "INFO" => Some(Level::INFO),
            "WARN" => Some(Level::WARN),
            "ERROR" => Some(Level::ERROR),
            "OFF" => None,
            _ => Some(Level::TRACE),
        },
    }
}

/// Installs the JSON-lines stderr logger for `module` (e.g. `provider.geowp`).
pub fn init(module: &'static str) {
    let lp = std::env::var("TF_LOG_PROVIDER").ok();
    let l = std::env::var("TF_LOG").ok();
    let Some(level) = level_from_env(lp.as_deref(), l.as_deref()) else {
        return;
    };
    let _ = tracing_subscriber::registry()
        .with(JsonLines { module, max: level })
        .try_init();
}

struct JsonLines {
    module: &'static str,
    max: Level,
}

impl<S: Subscriber> Layer<S> for JsonLines {
    fn enabled(&self, meta: &tracing::Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        *meta.level() <= self.max && (*meta.level() <= Level::WARN || !is_transport(meta.target()))
    }
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut line = render(event.metadata().level(), self.module, event);
        line.push('\n');
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// Crates under us whose debug/trace chatter (HTTP/2 frames, TLS records)
/// would drown the provider's own lines; their warnings still pass.
fn is_transport(target: &str) -> bool {
    [
        "h2",
        "hyper",
        "hyper_util",
        "tower",
        "tonic",
        "rustls",
        "tokio_rustls",
        "mio",
    ]
    .iter()
    .any(|c| target == *c || target.starts_with(&format!("{c}::")))
}

struct Fields(Map<String, Json>, String);

impl Visit for Fields {
    fn record_str(&mut self, f: &Field, v: &str) {
        self.put(f, Json::String(v.to_string()))
    }
    fn record_i64(&mut self, f: &Field, v: i64) {
        self.put(f, v.into())
    }
    fn record_u64(&mut self, f: &Field, v: u64) {
        self.put(f, v.into())
    }
    fn record_bool(&mut self, f: &Field, v: bool) {
        self.put(f, v.into())
    }
    fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
        self.put(f, Json::String(format!("{v:?}")))
    }
}

impl Fields {
    fn put(&mut self, f: &Field, v: Json) {
        if f.name() == "message" {
            self.1 = match v {
                Json::String(s) => s,
                other => other.to_string(),
            };
        } else {
            self.0.insert(f.name().to_string(), v);
        }
    }
}

fn render(level: &Level, module: &str, event: &Event<'_>) -> String {
    let mut f = Fields(Map::new(), String::new());
    event.record(&mut f);
    let mut m = f.0;
    m.insert(
        "@level".into(),
        Json::String(level.as_str().to_ascii_lowercase()),
    );
    m.insert("@message".into(), Json::String(f.1));
    m.insert("@module".into(), Json::String(module.into()));
    m.insert(
        "@timestamp".into(),
        Json::String(timestamp(SystemTime::now())),
    );
    Json::Object(m).to_string()
}

/// RFC 3339 UTC with microseconds, as go-hclog writes it.
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (year, month, day) = geowp_common::time::civil(days);
    let mut s = String::with_capacity(32);
    let _ = write!(
        s,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_micros()
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn levels_follow_terraform_settings() {
        assert_eq!(
            level_from_env(Some("debug"), Some("ERROR")),
            Some(Level::DEBUG)
        );
        assert_eq!(level_from_env(None, Some("TRACE")), Some(Level::TRACE));
        assert_eq!(level_from_env(Some(""), Some("info")), Some(Level::INFO));
        assert_eq!(level_from_env(None, None), Some(Level::WARN));
        assert_eq!(level_from_env(Some("off"), None), None);
    }

    #[test]
    fn transport_crates_are_filtered_below_warn() {
        assert!(is_transport("h2::codec"));
        assert!(is_transport("rustls"));
        assert!(!is_transport("tfplugin::provider"));
        assert!(!is_transport("h2o"));
    }

    #[test]
    fn timestamp_is_rfc3339() {
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        assert_eq!(timestamp(t), "2023-11-14T22:13:20.123456Z");
        assert_eq!(
            timestamp(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000000Z"
        );
    }

    #[test]
    fn events_render_as_json_lines_with_fields() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Capture(Arc<Mutex<Vec<String>>>);
        impl<S: Subscriber> Layer<S> for Capture {
            fn on_event(&self, e: &Event<'_>, _c: Context<'_, S>) {
                self.0
                    .lock()
                    .unwrap()
                    .push(render(e.metadata().level(), "provider.test", e));
            }
        }
        let cap = Capture::default();
        let sub = tracing_subscriber::registry().with(cap.clone());
        tracing::subscriber::with_default(sub, || {
            tracing::debug!(resource = "geowp_site", count = 3, "applied {} objects", 3);
        });
        let lines = cap.0.lock().unwrap();
        let j: Json = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(j["@level"], "debug");
        assert_eq!(j["@message"], "applied 3 objects");
        assert_eq!(j["resource"], "geowp_site");
        assert_eq!(j["count"], 3);
        assert!(j["@timestamp"].as_str().unwrap().ends_with('Z'));
    }
}
