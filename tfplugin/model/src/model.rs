//! Typed models: a Rust struct that is a schema.
//!
//! `#[derive(Model)]` (from `tfplugin-derive`) on a struct declares each
//! attribute once: its name (the field's), type (the field's Rust type, see
//! [`Field`]), description (the field's doc comment), default, validators,
//! sensitivity and whether a change replaces the resource. From that one
//! declaration come the schema Terraform sees, the docs, decoding of config,
//! plan and state into the struct, encoding back, and a `{Name}Partial`
//! twin whose fields are `Option`s, `None` while unknown, for checks that
//! span attributes at plan time.
//!
//! ```ignore
//! #[derive(Model)]
//! struct Thing {
//!     /// The thing's name, a DNS label.
//!     #[tf(replace, validate = dns_label())]
//!     name: String,
//!     /// How many. Optional, so it has a default.
//!     #[tf(default = 2, validate = int_between(1, 9))]
//!     count: i64,
//!     /// Set by the provider.
//!     id: Val<String>,
//! }
//! ```
//!
//! Field kinds follow the type unless the attribute says otherwise:
//! `Option<T>` is optional, `Val<T>` computed, a field with `default`
//! optional and computed, anything else required. `#[tf(block)]` makes a
//! nested block of a `Model` field, `#[tf(flatten)]` merges another model's
//! attributes into this one, `#[tf(timeouts = DEFAULTS)]` adds the
//! `timeouts` block.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::diag::AttrPath;
use crate::plan::{TimeoutDefaults, TIMEOUTS};
use crate::schema::{AttrType, Attribute, Block, NestedBlock, NestedObject, Nesting};
use crate::value::{Number, Type, Value};

/// Why a value does not decode into its Rust type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A value the type needs is not known yet (at plan time).
    #[error("{0} is not known yet")]
    Unknown(AttrPath),
    /// The value does not have the shape of the type: a bug in the provider,
    /// or state written by another version.
    #[error("{path}: {message}")]
    Invalid { path: AttrPath, message: String },
}

impl DecodeError {
    pub fn invalid(path: &AttrPath, message: impl Into<String>) -> DecodeError {
        DecodeError::Invalid {
            path: path.clone(),
            message: message.into(),
        }
    }
}

/// A Rust type that stands for a Terraform attribute's type.
pub trait Field: Sized {
    /// The attribute's type: plain, or nested attributes for models.
    fn attr_type() -> AttrType;
    /// Decodes a value that is known and not null.
    fn decode_known(v: &Value, at: &AttrPath) -> Result<Self, DecodeError>;
    fn encode(&self) -> Value;
    /// What null decodes to; an error unless the type allows it.
    fn from_null(at: &AttrPath) -> Result<Self, DecodeError> {
        Err(DecodeError::invalid(at, "is null but is required"))
    }
    /// What an unknown decodes to; [`DecodeError::Unknown`] unless the type
    /// can hold it ([`Val`]).
    fn from_unknown(at: &AttrPath) -> Result<Self, DecodeError> {
        Err(DecodeError::Unknown(at.clone()))
    }
}

/// Decodes `v` at `at` into `T`.
pub fn decode<T: Field>(v: &Value, at: &AttrPath) -> Result<T, DecodeError> {
    match v {
        Value::Unknown => T::from_unknown(at),
        Value::Null => T::from_null(at),
        Value::Dynamic(_, inner) => decode(inner, at),
        _ => T::decode_known(v, at),
    }
}

/// Decodes `v`, or `default()` when `v` is null.
pub fn decode_or<T: Field>(
    v: &Value,
    at: &AttrPath,
    default: impl FnOnce() -> Value,
) -> Result<T, DecodeError> {
    if v.is_null() {
        decode(&default(), at)
    } else {
        decode(v, at)
    }
}

/// A struct whose fields are a schema's attributes and blocks.
pub trait Model: Sized {
    /// The same fields, each `Option` (`None` while unknown or invalid).
    type Partial;
    fn attributes() -> Vec<Attribute>;
    fn blocks() -> Vec<NestedBlock>;
    /// Decodes an object value (the attributes of this model within it).
    fn decode_object(v: &Value, at: &AttrPath) -> Result<Self, DecodeError>;
    /// Writes this model's attributes into an object's map.
    fn encode_into(&self, out: &mut BTreeMap<String, Value>);
    /// Decodes whatever is known of an object value.
    fn partial(v: &Value, at: &AttrPath) -> Self::Partial;

    /// Decodes a whole config, plan or state value.
    fn from_value(v: &Value) -> Result<Self, DecodeError> {
        Self::decode_object(v, &AttrPath::default())
    }
    /// The whole value (for state, or a plan).
    fn to_value(&self) -> Value {
        let mut m = BTreeMap::new();
        self.encode_into(&mut m);
        Value::Map(m)
    }
    /// This model as a (nested) block with a description.
    fn block(description: &str) -> Block {
        Block {
            description: description.into(),
            deprecated: false,
            attributes: Self::attributes(),
            blocks: Self::blocks(),
        }
    }
    /// The attribute type of this model as a single nested object.
    fn nested_type() -> AttrType {
        AttrType::Nested(NestedObject {
            nesting: Nesting::Single,
            attributes: Self::attributes(),
        })
    }
}

fn plain_type(t: Type) -> AttrType {
    AttrType::Plain(t)
}

/// An attribute type as a plain cty type: nested attributes become an
/// object type (`#[tf(plain)]`, for computed collections of objects).
pub fn plain(t: AttrType) -> AttrType {
    AttrType::Plain(cty(&t))
}

fn cty(t: &AttrType) -> Type {
    Attribute::typed("x", t.clone(), "").cty_type()
}

impl Field for String {
    fn attr_type() -> AttrType {
        plain_type(Type::String)
    }
    fn decode_known(v: &Value, at: &AttrPath) -> Result<Self, DecodeError> {
        v.as_str()
            .map(String::from)
            .ok_or_else(|| DecodeError::invalid(at, "is not a string"))
    }
    fn encode(&self) -> Value {
        Value::String(self.clone())
    }
}

impl Field for bool {
    fn attr_type() -> AttrType {
        plain_type(Type::Bool)
    }
    fn decode_known(v: &Value, at: &AttrPath) -> Result<Self, DecodeError> {
        v.as_bool()
            .ok_or_else(|| DecodeError::invalid(at, "is not a bool"))
    }
    fn encode(&self) -> Value {
        Value::Bool(*self)
    }
}

macro_rules! int_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            fn attr_type() -> AttrType {
                plain_type(Type::Number)
            }
            fn decode_known(v: &Value, at: &AttrPath) -> Result<Self, DecodeError> {
                let i = v
                    .as_i64()
                    .ok_or_else(|| DecodeError::invalid(at, "is not a whole number"))?;
                <$t>::try_from(i).map_err(|_| {
                    DecodeError::invalid(
                        at,
                        format!("{i} is out of range ({} to {})", <$t>::MIN, <$t>::MAX),
                    )
                })
            }
            fn encode(&self) -> Value {
                Value::Number(Number::Int(*self as i64))
            }
        }
    )*};
}
int_field!(i64, i32, u32, u16);

impl Field for f64 {
    fn attr_type() -> AttrType {
        plain_type(Type::Number)
    }
    fn decode_known(v: &Value, at: &AttrPath) -> Result<Self, DecodeError> {
        match v {
            Value::Number(n) => Ok(n.as_f64()),
            _ => Err(DecodeError::invalid(at, "is not a number")),
        }
    }
    fn encode(&self) -> Value {
        Value::Number(Number::Float(*self))
    }
}

impl<T: Field> Field for Option<T> {
    fn attr_type() -> AttrType {
        T::attr_type()
    }
    fn decode_known(v: &Value, at: &AttrPath) -> Result<Self, DecodeError> {
        T::decode_known(v, at).map(Some)
    }
    fn encode(&self) -> Value {
        self.as_ref().map(T::encode).unwrap_or(Value::Null)
    }
    fn from_null(_: &AttrPath) -> Result<Self, DecodeError> {
        Ok(None)
    }
}

fn nest(inner: AttrType, nesting: Nesting, wrap: fn(Type) -> Type) -> AttrType {
    match inner {
        AttrType::Nested(n) if n.nesting == Nesting::Single => AttrType::Nested(NestedObject {
            nesting,
            attributes: n.attributes,
        }),
        other => plain_type(wrap(cty(&other))),
    }
}

impl<T: Field> Field for Vec<T> {
    fn attr_type() -> AttrType {
        nest(T::attr_type(), Nesting::List, Type::list)
    }
    fn decode_known(v: &Value, at: &AttrPath) -> Result<Self, DecodeError> {
        v.as_list()
            .ok_or_else(|| DecodeError::invalid(at, "is not a list"))?
            .iter()
            .enumerate()
            .map(|(i, x)| decode(x, &at.clone().index(i)))
            .collect()
    }
    fn encode(&self) -> Value {
        Value::List(self.iter().map(T::encode).collect())
    }
}

impl<T: Field> Field for BTreeMap<String, T> {
    fn attr_type() -> AttrType {
        nest(T::attr_type(), Nesting::Map, Type::map)
    }
    fn decode_known(v: &Value, at: &AttrPath) -> Result<Self, DecodeError> {
        v.as_map()
            .ok_or_else(|| DecodeError::invalid(at, "is not a map"))?
            .iter()
            .map(|(k, x)| Ok((k.clone(), decode(x, &at.clone().key(k))?)))
            .collect()
    }
    fn encode(&self) -> Value {
        Value::Map(self.iter().map(|(k, v)| (k.clone(), v.encode())).collect())
    }
}

/// A value the provider computes: unknown until it is, and possibly null.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Val<T> {
    /// Known after apply.
    #[default]
    Unknown,
    Null,
    Known(T),
}

impl<T> Val<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Val::Known(t) => Some(t),
            _ => None,
        }
    }
    pub fn is_unknown(&self) -> bool {
        matches!(self, Val::Unknown)
    }
    /// Known and not null.
    pub fn is_known_value(&self) -> bool {
        matches!(self, Val::Known(_))
    }
    /// Known(t) for Some(t), Null for None.
    pub fn from_option(o: Option<T>) -> Val<T> {
        o.map(Val::Known).unwrap_or(Val::Null)
    }
}

impl<T: Field> Field for Val<T> {
    fn attr_type() -> AttrType {
        T::attr_type()
    }
    fn decode_known(v: &Value, at: &AttrPath) -> Result<Self, DecodeError> {
        T::decode_known(v, at).map(Val::Known)
    }
    fn encode(&self) -> Value {
        match self {
            Val::Unknown => Value::Unknown,
            Val::Null => Value::Null,
            Val::Known(t) => t.encode(),
        }
    }
    fn from_null(_: &AttrPath) -> Result<Self, DecodeError> {
        Ok(Val::Null)
    }
    fn from_unknown(_: &AttrPath) -> Result<Self, DecodeError> {
        Ok(Val::Unknown)
    }
}

/// A sensitive value: `Debug` never shows it, so it cannot reach a log line
/// by accident. Mark its attribute `sensitive` too.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(t: T) -> Secret<T> {
        Secret(t)
    }
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T: Field> Field for Secret<T> {
    fn attr_type() -> AttrType {
        T::attr_type()
    }
    fn decode_known(v: &Value, at: &AttrPath) -> Result<Self, DecodeError> {
        T::decode_known(v, at).map(Secret)
    }
    fn encode(&self) -> Value {
        self.0.encode()
    }
    fn from_null(at: &AttrPath) -> Result<Self, DecodeError> {
        T::from_null(at).map(Secret)
    }
}

/// The `timeouts` block's values with the resource's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeouts {
    raw: Value,
    defaults: TimeoutDefaults,
}

impl Timeouts {
    /// The block's schema, documented with `defaults`.
    pub fn block(defaults: TimeoutDefaults) -> NestedBlock {
        crate::plan::timeouts_block(defaults)
    }
    /// Decodes the block (null: every default).
    pub fn decode_with(
        v: &Value,
        at: &AttrPath,
        defaults: TimeoutDefaults,
    ) -> Result<Timeouts, DecodeError> {
        if !v.is_wholly_known() {
            return Err(DecodeError::Unknown(at.clone()));
        }
        Ok(Timeouts {
            raw: v.clone(),
            defaults,
        })
    }
    /// No block: every default.
    pub fn defaults(defaults: TimeoutDefaults) -> Timeouts {
        Timeouts {
            raw: Value::Null,
            defaults,
        }
    }
    fn get(&self, op: &str, d: Duration) -> Duration {
        self.raw
            .get(op)
            .as_str()
            .and_then(|s| crate::plan::parse_timeout(s).ok())
            .unwrap_or(d)
    }
    pub fn create(&self) -> Duration {
        self.get("create", self.defaults.create)
    }
    pub fn update(&self) -> Duration {
        self.get("update", self.defaults.update)
    }
    pub fn delete(&self) -> Duration {
        self.get("delete", self.defaults.delete)
    }
    pub fn encode(&self) -> Value {
        self.raw.clone()
    }
    pub const NAME: &'static str = TIMEOUTS;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::int_between;

    /// A member of the thing.
    #[derive(tfplugin_model::Model, Clone, Debug, PartialEq)]
    struct Member {
        /// Where it is.
        address: String,
        /// Its port.
        #[tf(default = 22000, validate = int_between(1, 65535))]
        port: i64,
    }

    /// Connection.
    #[derive(tfplugin_model::Model, Clone, Debug, PartialEq)]
    struct Conn {
        /// Host.
        host: Option<String>,
        /// Token.
        #[tf(sensitive)]
        token: Option<Secret<String>>,
    }

    #[derive(tfplugin_model::Model, Clone, Debug, PartialEq)]
    struct Common {
        /// The namespace.
        #[tf(default = "geowp", replace)]
        namespace: String,
    }

    const T: TimeoutDefaults = TimeoutDefaults {
        create: Duration::from_secs(60),
        update: Duration::from_secs(60),
        delete: Duration::from_secs(30),
    };

    #[derive(tfplugin_model::Model, Clone, Debug, PartialEq)]
    struct Thing {
        /// The thing's name.
        #[tf(replace)]
        name: String,
        /// Members by name.
        members: BTreeMap<String, Member>,
        /// Labels.
        labels: Option<BTreeMap<String, String>>,
        /// Shared settings.
        #[tf(flatten)]
        common: Common,
        /// How to connect.
        #[tf(block)]
        cluster: Conn,
        /// Computed id.
        #[tf(keep)]
        id: Val<String>,
        /// Time limits.
        #[tf(timeouts = T)]
        timeouts: Timeouts,
    }

    fn value() -> Value {
        Value::object([
            ("name", Value::str("blog")),
            (
                "members",
                Value::object([(
                    "a",
                    Value::object([("address", Value::str("h")), ("port", Value::Null)]),
                )]),
            ),
            ("labels", Value::Null),
            ("namespace", Value::Null),
            (
                "cluster",
                Value::object([
                    ("host", Value::str("https://x")),
                    ("token", Value::str("s3cret")),
                ]),
            ),
            ("id", Value::Unknown),
            (
                "timeouts",
                Value::object([
                    ("create", Value::str("2m")),
                    ("update", Value::Null),
                    ("delete", Value::Null),
                ]),
            ),
        ])
    }

    #[test]
    fn the_schema_comes_from_the_struct() {
        let attrs = Thing::attributes();
        let names: Vec<&str> = attrs.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, vec!["name", "members", "labels", "namespace", "id"]);
        let name = &attrs[0];
        assert!(name.required && name.requires_replace);
        assert_eq!(name.description, "The thing's name.");
        let ns = &attrs[3];
        assert!(ns.optional && ns.computed && !ns.required);
        assert_eq!(ns.default, Some(Value::str("geowp")));
        assert!(ns.full_description().contains("Default: `geowp`."));
        let id = &attrs[4];
        assert!(id.computed && !id.optional && id.use_state_for_unknown);
        assert!(attrs[2].optional);
        match &attrs[1].ty {
            AttrType::Nested(n) => {
                assert_eq!(n.nesting, Nesting::Map);
                assert_eq!(n.attributes[1].name, "port");
                assert_eq!(n.attributes[1].validators.len(), 1);
            }
            t => panic!("members is {t:?}"),
        }
        let blocks = Thing::blocks();
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            (
                blocks[0].name.as_str(),
                blocks[0].min_items,
                blocks[0].max_items
            ),
            ("cluster", 1, 1)
        );
        assert!(blocks[0].block.attributes[1].sensitive);
        assert_eq!(blocks[1].name, "timeouts");
    }

    #[test]
    fn decode_applies_defaults_and_encode_gives_the_value_back() {
        let t = Thing::from_value(&value()).unwrap();
        assert_eq!(t.common.namespace, "geowp");
        assert_eq!(t.members["a"].port, 22000);
        assert_eq!(t.id, Val::Unknown);
        assert_eq!(t.timeouts.create(), Duration::from_secs(120));
        assert_eq!(t.timeouts.delete(), Duration::from_secs(30));
        assert_eq!(t.cluster.token.as_ref().unwrap().expose(), "s3cret");
        assert!(
            !format!("{t:?}").contains("s3cret"),
            "a secret reached Debug output"
        );
        let back = t.to_value();
        assert_eq!(back.get("namespace"), &Value::str("geowp"));
        assert_eq!(back.get("members").get("a").get("port"), &Value::int(22000));
        assert_eq!(back.get("id"), &Value::Unknown);
        assert_eq!(back.get("timeouts"), value().get("timeouts"));
    }

    #[test]
    fn unknowns_stop_decoding_but_partials_keep_what_is_known() {
        let mut v = value();
        v.set("name", Value::Unknown);
        assert_eq!(
            Thing::from_value(&v),
            Err(DecodeError::Unknown(AttrPath::root("name")))
        );
        let p = Thing::partial(&v, &AttrPath::default());
        assert_eq!(p.name, None);
        assert_eq!(p.common.namespace.as_deref(), Some("geowp"));
        assert!(p.members.is_some());
        let mut v = value();
        v.set(
            "members",
            Value::object([(
                "a",
                Value::object([("address", Value::Unknown), ("port", Value::Null)]),
            )]),
        );
        let e = Thing::from_value(&v).unwrap_err();
        assert_eq!(
            e,
            DecodeError::Unknown(AttrPath::root("members").key("a").attr("address"))
        );
    }

    #[test]
    fn numbers_out_of_range_are_invalid() {
        let e = decode::<u16>(&Value::int(70000), &AttrPath::root("port")).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
        let e =
            decode::<i64>(&Value::Number(Number::Float(1.5)), &AttrPath::root("n")).unwrap_err();
        assert!(e.to_string().contains("whole number"), "{e}");
    }
}
