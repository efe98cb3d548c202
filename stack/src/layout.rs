//! The stack's configuration as its Namespace records it (annotation
//! `geowp.dev/stack-config`), so that import can read it back.
//!
//! The record is versioned: `{"layout": 2, "config": ...}`, the config in
//! Terraform's JSON encoding of [`StackSpec`]'s schema. It is read back
//! through the same model that decodes a configuration: an attribute the
//! record lacks (written before the attribute existed) is null and takes
//! the schema's default, as it does when a configuration leaves it out.
//! One default mechanism, for configuration and records alike.
//!
//! Layout 1, written by releases before layouts were numbered, is the
//! spec's serde JSON: the same attribute names and values, unversioned.

use serde_json::{json, Value as Json};
use tfplugin_model::value::{from_json, to_json};
use tfplugin_model::Model;

use crate::render::StackSpec;

/// The layout this release writes.
pub const LAYOUT: u64 = 2;

/// Why a record cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RecallError {
    #[error("it is not JSON: {0}")]
    NotJson(String),
    #[error("it was written in layout {0} by a newer geowp (this one reads layouts 1 to {LAYOUT}); import with that version")]
    Newer(u64),
    #[error("it does not fit the stack's attributes: {0}")]
    Mismatch(String),
}

fn object_type() -> tfplugin_model::Type {
    StackSpec::block("").cty_type()
}

/// The record of `spec`.
pub fn record(spec: &StackSpec) -> String {
    let config = to_json(&spec.to_value(), &object_type())
        // a decoded spec is wholly known: it always encodes
        .expect("a StackSpec encodes under its own schema");
    json!({ "layout": LAYOUT, "config": config }).to_string()
}

/// The spec a record holds, whichever layout wrote it.
pub fn recall(text: &str) -> Result<StackSpec, RecallError> {
    let doc: Json = serde_json::from_str(text).map_err(|e| RecallError::NotJson(e.to_string()))?;
    let config = match doc.get("layout").and_then(Json::as_u64) {
        Some(n) if n > LAYOUT => return Err(RecallError::Newer(n)),
        Some(_) => doc.get("config").cloned().unwrap_or(Json::Null),
        None => doc,
    };
    let value =
        from_json(&config, &object_type()).map_err(|e| RecallError::Mismatch(e.to_string()))?;
    StackSpec::from_value(&value).map_err(|e| RecallError::Mismatch(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::spec;

    #[test]
    fn a_record_reads_back_as_the_spec_it_was_made_from() {
        let s = spec("us-east");
        let text = record(&s);
        assert!(text.starts_with("{\"config\":") && text.contains("\"layout\":2"));
        assert_eq!(recall(&text).unwrap(), s);
    }

    #[test]
    fn a_newer_layout_is_refused_with_what_to_do() {
        let e = recall(r#"{"layout": 3, "config": {}}"#).unwrap_err();
        assert!(e.to_string().contains("newer geowp"), "{e}");
        assert!(matches!(recall("{not json"), Err(RecallError::NotJson(_))));
        assert!(matches!(
            recall(r#"{"layout": 2, "config": {"no_such_attribute": 1}}"#),
            Err(RecallError::Mismatch(_))
        ));
    }
}
