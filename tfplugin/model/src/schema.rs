//! Schemas: attributes, nested blocks and (protocol 6) nested attributes,
//! with the flags Terraform needs and a mandatory description on each.
//! A schema is written once as data; its cty type, its wire form and its
//! documentation are all derived from it.

use crate::validate::Validator;
use crate::value::{Type, Value};

#[derive(Clone, Debug, PartialEq)]
pub struct Schema {
    pub version: i64,
    pub block: Block,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Block {
    pub description: String,
    pub deprecated: bool,
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AttrType {
    Plain(Type),
    /// A protocol-6 nested attribute: an object (or collection of objects)
    /// whose attributes carry their own flags.
    Nested(NestedObject),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nesting {
    Single,
    List,
    Set,
    Map,
    /// A block that is always present (absent in config = all nulls).
    Group,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NestedObject {
    pub nesting: Nesting,
    pub attributes: Vec<Attribute>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub ty: AttrType,
    pub description: String,
    pub required: bool,
    pub optional: bool,
    pub computed: bool,
    pub sensitive: bool,
    pub deprecated: bool,
    /// The value planned when the config leaves it out (optional + computed).
    pub default: Option<Value>,
    /// Checks of the value, run at validate and again before apply.
    pub validators: Vec<Validator>,
    /// A change of this attribute replaces the resource.
    pub requires_replace: bool,
    /// A computed value that keeps its state value on update instead of
    /// becoming "known after apply" (ids, values that never change).
    pub use_state_for_unknown: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NestedBlock {
    pub name: String,
    pub nesting: Nesting,
    pub block: Block,
    pub min_items: i64,
    pub max_items: i64,
    /// Checks of the whole block's value (cross-attribute checks inside it).
    pub validators: Vec<Validator>,
    /// A change inside this block replaces the resource.
    pub requires_replace: bool,
}

impl Attribute {
    fn new(name: &str, ty: Type, description: &str) -> Attribute {
        Attribute::typed(name, AttrType::Plain(ty), description)
    }
    /// An attribute of any type (plain or nested), no flags set yet.
    pub fn typed(name: &str, ty: AttrType, description: &str) -> Attribute {
        Attribute {
            name: name.into(),
            ty,
            description: description.into(),
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            deprecated: false,
            default: None,
            validators: Vec::new(),
            requires_replace: false,
            use_state_for_unknown: false,
        }
    }
    /// Sets how the attribute is given: required, optional, computed.
    pub fn flags(mut self, required: bool, optional: bool, computed: bool) -> Attribute {
        self.required = required;
        self.optional = optional;
        self.computed = computed;
        self
    }
    /// Planned when the config leaves it out; makes it optional + computed.
    pub fn default(mut self, v: Value) -> Attribute {
        self.default = Some(v);
        self.required = false;
        self.optional = true;
        self.computed = true;
        self
    }
    pub fn validate(mut self, v: Validator) -> Attribute {
        self.validators.push(v);
        self
    }
    pub fn requires_replace(mut self) -> Attribute {
        self.requires_replace = true;
        self
    }
    pub fn use_state_for_unknown(mut self) -> Attribute {
        self.use_state_for_unknown = true;
        self
    }
    /// The description with its default, as Terraform and the docs show it.
    pub fn full_description(&self) -> String {
        let mut d = self.description.trim().to_string();
        if let Some(v) = &self.default {
            let shown = match v {
                Value::List(l) if l.is_empty() => "none".to_string(),
                Value::Map(m) if m.is_empty() => "none".to_string(),
                other => format!("`{}`", hcl(other)),
            };
            if !d.is_empty() && !d.ends_with('.') {
                d.push('.');
            }
            d.push_str(&format!(" Default: {shown}."));
        }
        if self.requires_replace {
            d.push_str(" Changing it replaces the resource.");
        }
        d.trim().to_string()
    }
    pub fn required(name: &str, ty: Type, description: &str) -> Attribute {
        Attribute {
            required: true,
            ..Self::new(name, ty, description)
        }
    }
    pub fn optional(name: &str, ty: Type, description: &str) -> Attribute {
        Attribute {
            optional: true,
            ..Self::new(name, ty, description)
        }
    }
    /// Set by the provider only.
    pub fn computed(name: &str, ty: Type, description: &str) -> Attribute {
        Attribute {
            computed: true,
            ..Self::new(name, ty, description)
        }
    }
    /// Optional in config; the provider fills it when left out.
    pub fn optional_computed(name: &str, ty: Type, description: &str) -> Attribute {
        Attribute {
            optional: true,
            computed: true,
            ..Self::new(name, ty, description)
        }
    }
    pub fn nested(mut self, nesting: Nesting, attributes: Vec<Attribute>) -> Attribute {
        self.ty = AttrType::Nested(NestedObject {
            nesting,
            attributes,
        });
        self
    }
    pub fn sensitive(mut self) -> Attribute {
        self.sensitive = true;
        self
    }
    pub fn deprecated(mut self) -> Attribute {
        self.deprecated = true;
        self
    }

    pub fn cty_type(&self) -> Type {
        match &self.ty {
            AttrType::Plain(t) => t.clone(),
            AttrType::Nested(n) => {
                let obj = Type::object(n.attributes.iter().map(|a| (a.name.clone(), a.cty_type())));
                match n.nesting {
                    Nesting::Single | Nesting::Group => obj,
                    Nesting::List => Type::list(obj),
                    Nesting::Set => Type::set(obj),
                    Nesting::Map => Type::map(obj),
                }
            }
        }
    }
}

/// A value as HCL shows it, for defaults in descriptions.
fn hcl(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Unknown => "(known after apply)".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::List(l) => format!(
            "[{}]",
            l.iter()
                .map(|x| format!("{:?}", hcl(x)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Map(m) => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, x)| format!("{k} = {:?}", hcl(x)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Dynamic(_, x) => hcl(x),
    }
}

impl NestedBlock {
    pub fn new(name: &str, nesting: Nesting, block: Block) -> NestedBlock {
        NestedBlock {
            name: name.into(),
            nesting,
            block,
            min_items: 0,
            max_items: 0,
            validators: Vec::new(),
            requires_replace: false,
        }
    }
    pub fn validate(mut self, v: Validator) -> NestedBlock {
        self.validators.push(v);
        self
    }
    pub fn requires_replace(mut self) -> NestedBlock {
        self.requires_replace = true;
        self
    }
    pub fn items(mut self, min: i64, max: i64) -> NestedBlock {
        self.min_items = min;
        self.max_items = max;
        self
    }
}

impl Block {
    pub fn new(description: &str) -> Block {
        Block {
            description: description.into(),
            ..Default::default()
        }
    }
    pub fn attr(mut self, a: Attribute) -> Block {
        self.attributes.push(a);
        self
    }
    pub fn block(mut self, b: NestedBlock) -> Block {
        self.blocks.push(b);
        self
    }

    /// The cty object type of values of this block.
    pub fn cty_type(&self) -> Type {
        let mut attrs: Vec<(String, Type)> = self
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.cty_type()))
            .collect();
        for b in &self.blocks {
            let obj = b.block.cty_type();
            attrs.push((
                b.name.clone(),
                match b.nesting {
                    Nesting::Single | Nesting::Group => obj,
                    Nesting::List => Type::list(obj),
                    Nesting::Set => Type::set(obj),
                    Nesting::Map => Type::map(obj),
                },
            ));
        }
        Type::object(attrs)
    }

    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Every attribute or block (by dotted path) that lacks a description.
    pub fn missing_descriptions(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        fn attrs(list: &[Attribute], prefix: &str, out: &mut Vec<String>) {
            for a in list {
                let p = format!("{prefix}{}", a.name);
                if a.description.trim().is_empty() {
                    out.push(p.clone());
                }
                if let AttrType::Nested(n) = &a.ty {
                    attrs(&n.attributes, &format!("{p}."), out);
                }
            }
        }
        attrs(&self.attributes, prefix, &mut out);
        for b in &self.blocks {
            let p = format!("{prefix}{}", b.name);
            if b.block.description.trim().is_empty() {
                out.push(p.clone());
            }
            out.extend(b.block.missing_descriptions(&format!("{p}.")));
        }
        out
    }
}

impl Schema {
    pub fn new(version: i64, block: Block) -> Schema {
        Schema { version, block }
    }
    pub fn cty_type(&self) -> Type {
        self.block.cty_type()
    }
}

/// A small schema with each kind of attribute and block (computed,
/// required, sensitive, a map of nested attributes, a list block with an
/// item limit), for the model's tests and the protocol's.
pub fn example() -> Schema {
    Schema::new(
        2,
        Block::new("A thing.")
            .attr(Attribute::computed("id", Type::String, "Identifier."))
            .attr(Attribute::required("name", Type::String, "Name."))
            .attr(Attribute::optional("password", Type::String, "Secret.").sensitive())
            .attr(
                Attribute::optional("members", Type::String, "Members.").nested(
                    Nesting::Map,
                    vec![Attribute::required("address", Type::String, "")],
                ),
            )
            .block(
                NestedBlock::new(
                    "rule",
                    Nesting::List,
                    Block::new("A rule.").attr(Attribute::required("port", Type::Number, "Port.")),
                )
                .items(0, 3),
            ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implied_type_covers_attributes_blocks_and_nested_attributes() {
        let t = example().cty_type();
        let expected = Type::object([
            ("id", Type::String),
            ("name", Type::String),
            ("password", Type::String),
            (
                "members",
                Type::map(Type::object([("address", Type::String)])),
            ),
            ("rule", Type::list(Type::object([("port", Type::Number)]))),
        ]);
        assert_eq!(t, expected);
    }

    #[test]
    fn missing_descriptions_are_found_at_any_depth() {
        assert_eq!(
            example().block.missing_descriptions(""),
            vec!["members.address".to_string()]
        );
    }
}
