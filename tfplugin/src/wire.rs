//! The model's types in protocol 6's wire form (tfplugin-model has no
//! protocol): attribute paths both ways, diagnostics, schemas.

use crate::proto::tfplugin6 as pb;
use tfplugin_model::diag::{AttrPath, Diagnostic, Diagnostics, Severity, Step};
use tfplugin_model::schema::{AttrType, Attribute, Block, Nesting, Schema};

impl From<&AttrPath> for pb::AttributePath {
    fn from(p: &AttrPath) -> Self {
        use pb::attribute_path::step::Selector;
        pb::AttributePath {
            steps: p
                .0
                .iter()
                .map(|s| pb::attribute_path::Step {
                    selector: Some(match s {
                        Step::Attr(a) => Selector::AttributeName(a.clone()),
                        Step::Key(k) => Selector::ElementKeyString(k.clone()),
                        Step::Index(i) => Selector::ElementKeyInt(*i),
                    }),
                })
                .collect(),
        }
    }
}

impl From<&pb::AttributePath> for AttrPath {
    fn from(p: &pb::AttributePath) -> Self {
        use pb::attribute_path::step::Selector;
        AttrPath(
            p.steps
                .iter()
                .filter_map(|s| {
                    Some(match s.selector.as_ref()? {
                        Selector::AttributeName(a) => Step::Attr(a.clone()),
                        Selector::ElementKeyString(k) => Step::Key(k.clone()),
                        Selector::ElementKeyInt(i) => Step::Index(*i),
                    })
                })
                .collect(),
        )
    }
}

impl From<&Diagnostic> for pb::Diagnostic {
    fn from(d: &Diagnostic) -> Self {
        pb::Diagnostic {
            severity: match d.severity {
                Severity::Error => pb::diagnostic::Severity::Error as i32,
                Severity::Warning => pb::diagnostic::Severity::Warning as i32,
            },
            summary: d.summary.clone(),
            detail: d.detail_with_path(),
            attribute: d.path.as_ref().map(|p| pb::AttributePath::from(&p.shown())),
        }
    }
}

/// Diagnostics as protocol 6 sends them.
pub trait ToProto {
    fn to_proto(&self) -> Vec<pb::Diagnostic>;
}

impl ToProto for Diagnostics {
    fn to_proto(&self) -> Vec<pb::Diagnostic> {
        self.0.iter().map(pb::Diagnostic::from).collect()
    }
}

impl From<&Attribute> for pb::schema::Attribute {
    fn from(a: &Attribute) -> Self {
        let (ty, nested_type) = match &a.ty {
            AttrType::Plain(t) => (t.to_json_bytes(), None),
            AttrType::Nested(n) => (
                Vec::new(),
                Some(pb::schema::Object {
                    attributes: n.attributes.iter().map(Into::into).collect(),
                    nesting: match n.nesting {
                        Nesting::Single | Nesting::Group => pb::schema::object::NestingMode::Single,
                        Nesting::List => pb::schema::object::NestingMode::List,
                        Nesting::Set => pb::schema::object::NestingMode::Set,
                        Nesting::Map => pb::schema::object::NestingMode::Map,
                    } as i32,
                    min_items: 0,
                    max_items: 0,
                }),
            ),
        };
        pb::schema::Attribute {
            name: a.name.clone(),
            r#type: ty,
            nested_type,
            description: a.full_description(),
            required: a.required,
            optional: a.optional,
            computed: a.computed,
            sensitive: a.sensitive,
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: a.deprecated,
        }
    }
}

/// A block as protocol 6 sends it, at the schema's `version`.
fn block_to_proto(b: &Block, version: i64) -> pb::schema::Block {
    use pb::schema::nested_block::NestingMode as M;
    pb::schema::Block {
        version,
        attributes: b.attributes.iter().map(Into::into).collect(),
        block_types: b
            .blocks
            .iter()
            .map(|n| pb::schema::NestedBlock {
                type_name: n.name.clone(),
                block: Some(block_to_proto(&n.block, version)),
                nesting: match n.nesting {
                    Nesting::Single => M::Single,
                    Nesting::List => M::List,
                    Nesting::Set => M::Set,
                    Nesting::Map => M::Map,
                    Nesting::Group => M::Group,
                } as i32,
                min_items: n.min_items,
                max_items: n.max_items,
            })
            .collect(),
        description: b.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: b.deprecated,
    }
}

impl From<&Schema> for pb::Schema {
    fn from(s: &Schema) -> Self {
        pb::Schema {
            version: s.version,
            block: Some(block_to_proto(&s.block, s.version)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::attribute_path::step::Selector;

    #[test]
    fn path_to_proto_and_back() {
        let p = AttrPath::root("members")
            .key("eu-west")
            .attr("address")
            .index(2);
        let wire = pb::AttributePath::from(&p);
        assert_eq!(wire.steps.len(), 4);
        assert_eq!(
            wire.steps[0].selector,
            Some(Selector::AttributeName("members".into()))
        );
        assert_eq!(
            wire.steps[1].selector,
            Some(Selector::ElementKeyString("eu-west".into()))
        );
        assert_eq!(wire.steps[3].selector, Some(Selector::ElementKeyInt(2)));
        assert_eq!(AttrPath::from(&wire), p);
        assert_eq!(p.to_string(), "members[\"eu-west\"].address[2]");
    }

    #[test]
    fn a_diagnostic_points_at_the_attribute_terraform_can_show() {
        let mut d = Diagnostics::new();
        d.warning("heads up", "nothing to do");
        d.error_at(
            AttrPath::root("members")
                .key("eu-west")
                .attr("pd_client_url"),
            "Invalid URL",
            "use https",
        );
        d.error_at(AttrPath::root("b"), "bad b", "fix b");
        let wire = d.to_proto();
        assert_eq!(wire.len(), 3);
        assert_eq!(wire[0].severity, pb::diagnostic::Severity::Warning as i32);
        assert_eq!(wire[1].severity, pb::diagnostic::Severity::Error as i32);
        // into a map: the map attribute is pointed at, the path is in the detail
        assert_eq!(wire[1].attribute.as_ref().unwrap().steps.len(), 1);
        assert_eq!(
            wire[1].detail,
            "members[\"eu-west\"].pd_client_url: use https"
        );
        assert_eq!(wire[2].detail, "fix b");
    }

    #[test]
    fn wire_form_carries_flags_and_nesting() {
        let w = pb::Schema::from(&tfplugin_model::schema::example());
        assert_eq!(w.version, 2);
        let b = w.block.unwrap();
        let pw = b.attributes.iter().find(|a| a.name == "password").unwrap();
        assert!(pw.sensitive && pw.optional && !pw.required);
        assert_eq!(pw.r#type, b"\"string\"");
        let members = b.attributes.iter().find(|a| a.name == "members").unwrap();
        assert!(members.r#type.is_empty());
        let nt = members.nested_type.as_ref().unwrap();
        assert_eq!(nt.nesting, pb::schema::object::NestingMode::Map as i32);
        assert_eq!(b.block_types[0].type_name, "rule");
        assert_eq!(b.block_types[0].max_items, 3);
        assert_eq!(b.description_kind, pb::StringKind::Markdown as i32);
    }
}
