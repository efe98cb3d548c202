//! cty types and values, and their two wire encodings: msgpack (every
//! DynamicValue Terraform sends or receives) and JSON (raw state handed to
//! UpgradeResourceState, and type constraints).
//!
//! Values are untyped trees decoded *against* a type, as cty does: the same
//! bytes mean different things under different types. Unknown values may
//! appear anywhere in a tree and survive a round trip.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value as Json;

/// A cty type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Type {
    String,
    Number,
    Bool,
    /// The dynamic pseudo-type: the concrete type travels with the value.
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    /// Object attributes, and the set of attributes that are optional (only
    /// meaningful in type constraints).
    Object(BTreeMap<String, Type>, BTreeSet<String>),
    Tuple(Vec<Type>),
}

impl Type {
    pub fn list(t: Type) -> Type {
        Type::List(Box::new(t))
    }
    pub fn set(t: Type) -> Type {
        Type::Set(Box::new(t))
    }
    pub fn map(t: Type) -> Type {
        Type::Map(Box::new(t))
    }
    pub fn object<I: IntoIterator<Item = (S, Type)>, S: Into<String>>(attrs: I) -> Type {
        Type::Object(
            attrs.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            BTreeSet::new(),
        )
    }

    /// The JSON form Terraform uses for types (`"string"`, `["list","string"]`, ...).
    pub fn to_json(&self) -> Json {
        use serde_json::json;
        match self {
            Type::String => json!("string"),
            Type::Number => json!("number"),
            Type::Bool => json!("bool"),
            Type::Dynamic => json!("dynamic"),
            Type::List(t) => json!(["list", t.to_json()]),
            Type::Set(t) => json!(["set", t.to_json()]),
            Type::Map(t) => json!(["map", t.to_json()]),
            Type::Object(attrs, optional) => {
                let m: serde_json::Map<String, Json> = attrs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect();
                if optional.is_empty() {
                    json!(["object", m])
                } else {
                    json!(["object", m, optional.iter().collect::<Vec<_>>()])
                }
            }
            Type::Tuple(ts) => json!(["tuple", ts.iter().map(Type::to_json).collect::<Vec<_>>()]),
        }
    }

    pub fn to_json_bytes(&self) -> Vec<u8> {
        // serialising a serde_json::Value (string keys only) cannot fail
        serde_json::to_vec(&self.to_json()).expect("a JSON value serialises")
    }

    pub fn from_json(j: &Json) -> Result<Type, CodecError> {
        let bad = || CodecError::BadType(j.to_string());
        match j {
            Json::String(s) => match s.as_str() {
                "string" => Ok(Type::String),
                "number" => Ok(Type::Number),
                "bool" => Ok(Type::Bool),
                "dynamic" => Ok(Type::Dynamic),
                _ => Err(bad()),
            },
            Json::Array(a) => {
                let kind = a.first().and_then(Json::as_str).ok_or_else(bad)?;
                let arg = a.get(1).ok_or_else(bad)?;
                match kind {
                    "list" => Ok(Type::list(Type::from_json(arg)?)),
                    "set" => Ok(Type::set(Type::from_json(arg)?)),
                    "map" => Ok(Type::map(Type::from_json(arg)?)),
                    "object" => {
                        let m = arg.as_object().ok_or_else(bad)?;
                        let mut attrs = BTreeMap::new();
                        for (k, v) in m {
                            attrs.insert(k.clone(), Type::from_json(v)?);
                        }
                        let mut optional = BTreeSet::new();
                        if let Some(opt) = a.get(2) {
                            for o in opt.as_array().ok_or_else(bad)? {
                                optional.insert(o.as_str().ok_or_else(bad)?.to_string());
                            }
                        }
                        Ok(Type::Object(attrs, optional))
                    }
                    "tuple" => Ok(Type::Tuple(
                        arg.as_array()
                            .ok_or_else(bad)?
                            .iter()
                            .map(Type::from_json)
                            .collect::<Result<_, _>>()?,
                    )),
                    _ => Err(bad()),
                }
            }
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

/// A cty number. Integers that fit 64 bits stay exact; others are floats or,
/// when neither is exact, the decimal text cty sent.
#[derive(Clone, Debug)]
pub enum Number {
    Int(i64),
    Float(f64),
    Big(String),
}

impl Number {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(*i),
            Number::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            Number::Float(_) => None,
            Number::Big(s) => s.parse().ok(),
        }
    }
    pub fn as_f64(&self) -> f64 {
        match self {
            Number::Int(i) => *i as f64,
            Number::Float(f) => *f,
            Number::Big(s) => s.parse().unwrap_or(f64::NAN),
        }
    }
    fn from_f64(f: f64) -> Number {
        if f.fract() == 0.0 && f.abs() < 9.0e15 {
            Number::Int(f as i64)
        } else {
            Number::Float(f)
        }
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a == b,
            (Number::Big(a), Number::Big(b)) => a == b,
            (a, b) => a.as_f64() == b.as_f64(),
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x}"),
            Number::Big(s) => write!(f, "{s}"),
        }
    }
}

/// A cty value. `List`, `Set` and `Tuple` are all sequences; `Map` and
/// `Object` are both string-keyed. Which one a value is follows its type.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Unknown,
    String(String),
    Number(Number),
    Bool(bool),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
    /// A value at a dynamic-typed position that carries its concrete type.
    Dynamic(Type, Box<Value>),
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }
    pub fn int(i: i64) -> Value {
        Value::Number(Number::Int(i))
    }
    pub fn object<I: IntoIterator<Item = (S, Value)>, S: Into<String>>(attrs: I) -> Value {
        Value::Map(attrs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    pub fn is_known(&self) -> bool {
        !matches!(self, Value::Unknown)
    }
    /// True when no unknown appears anywhere inside.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::List(v) => v.iter().all(Value::is_wholly_known),
            Value::Map(m) => m.values().all(Value::is_wholly_known),
            Value::Dynamic(_, v) => v.is_wholly_known(),
            _ => true,
        }
    }
    /// An attribute of an object (or key of a map); `Null` when absent.
    pub fn get(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        match self {
            Value::Map(m) => m.get(name).unwrap_or(&NULL),
            Value::Dynamic(_, v) => v.get(name),
            _ => &NULL,
        }
    }
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        match self {
            Value::Map(m) => m.get_mut(name),
            _ => None,
        }
    }
    /// Sets an attribute; does nothing on a value that is not an object.
    pub fn set(&mut self, name: &str, v: Value) {
        if let Value::Map(m) = self {
            m.insert(name.to_string(), v);
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            Value::Dynamic(_, v) => v.as_str(),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) => Some(v),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CodecError {
    #[error("msgpack ended early")]
    Eof,
    #[error("unexpected msgpack marker 0x{marker:02x} for a value of type {ty}")]
    Unexpected { marker: u8, ty: String },
    #[error("invalid utf-8 in a string")]
    Utf8,
    #[error("bad type constraint {0}")]
    BadType(String),
    #[error("{trailing} trailing bytes after the value")]
    Trailing { trailing: usize },
    #[error("value {value} does not fit type {ty}")]
    Mismatch { value: String, ty: String },
    #[error("object has no attribute {0:?} in its type")]
    UnknownAttribute(String),
    #[error("invalid json: {0}")]
    Json(String),
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
}

const MAX_DEPTH: usize = 128;

// ---------------------------------------------------------------- msgpack

/// Encodes `v` as cty msgpack under type `ty`.
pub fn to_msgpack(v: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    enc(&mut out, v, ty)?;
    Ok(out)
}

/// Decodes cty msgpack under type `ty`. An empty input is a null value
/// (Terraform sends empty DynamicValues for absent states).
pub fn from_msgpack(b: &[u8], ty: &Type) -> Result<Value, CodecError> {
    if b.is_empty() {
        return Ok(Value::Null);
    }
    let mut r = Reader { b, pos: 0 };
    let v = r.value(ty, 0)?;
    if r.pos != b.len() {
        return Err(CodecError::Trailing {
            trailing: b.len() - r.pos,
        });
    }
    Ok(v)
}

fn mismatch(v: &Value, ty: &Type) -> CodecError {
    CodecError::Mismatch {
        value: truncate(format!("{v:?}")),
        ty: ty.to_string(),
    }
}

fn enc_len(out: &mut Vec<u8>, n: usize, fix: u8, fix_max: usize, m16: u8, m32: u8) {
    if n <= fix_max {
        out.push(fix | n as u8);
    } else if n <= u16::MAX as usize {
        out.push(m16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(m32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn enc_str(out: &mut Vec<u8>, s: &str) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n <= u8::MAX as usize {
        out.push(0xd9);
        out.push(n as u8);
    } else {
        enc_len(out, n, 0, 0, 0xda, 0xdb);
    }
    out.extend_from_slice(s.as_bytes());
}

fn enc_int(out: &mut Vec<u8>, i: i64) {
    if (0..128).contains(&i) {
        out.push(i as u8);
    } else if (-32..0).contains(&i) {
        out.push(i as i8 as u8);
    } else if i8::try_from(i).is_ok() {
        out.push(0xd0);
        out.push(i as i8 as u8);
    } else if i16::try_from(i).is_ok() {
        out.push(0xd1);
        out.extend_from_slice(&(i as i16).to_be_bytes());
    } else if i32::try_from(i).is_ok() {
        out.push(0xd2);
        out.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

fn enc(out: &mut Vec<u8>, v: &Value, ty: &Type) -> Result<(), CodecError> {
    match v {
        Value::Null => {
            out.push(0xc0);
            return Ok(());
        }
        Value::Unknown => {
            // fixext1, extension type 0, one zero byte: cty's "unknown".
            out.extend_from_slice(&[0xd4, 0, 0]);
            return Ok(());
        }
        _ => {}
    }
    match (ty, v) {
        (Type::Dynamic, Value::Dynamic(t, inner)) => {
            out.push(0x92);
            let tj = t.to_json_bytes();
            // the type travels as a msgpack string of its JSON
            enc_str(out, std::str::from_utf8(&tj).map_err(|_| CodecError::Utf8)?);
            enc(out, inner, t)
        }
        (Type::Dynamic, _) => Err(mismatch(v, ty)),
        (_, Value::Dynamic(_, inner)) => enc(out, inner, ty),
        (Type::String, Value::String(s)) => {
            enc_str(out, s);
            Ok(())
        }
        (Type::Bool, Value::Bool(b)) => {
            out.push(if *b { 0xc3 } else { 0xc2 });
            Ok(())
        }
        (Type::Number, Value::Number(n)) => {
            match n {
                Number::Int(i) => enc_int(out, *i),
                Number::Float(f) => {
                    out.push(0xcb);
                    out.extend_from_slice(&f.to_bits().to_be_bytes());
                }
                Number::Big(s) => enc_str(out, s),
            }
            Ok(())
        }
        (Type::List(et) | Type::Set(et), Value::List(items)) => {
            enc_len(out, items.len(), 0x90, 15, 0xdc, 0xdd);
            for it in items {
                enc(out, it, et)?;
            }
            Ok(())
        }
        (Type::Tuple(ets), Value::List(items)) if ets.len() == items.len() => {
            enc_len(out, items.len(), 0x90, 15, 0xdc, 0xdd);
            for (it, et) in items.iter().zip(ets) {
                enc(out, it, et)?;
            }
            Ok(())
        }
        (Type::Map(et), Value::Map(m)) => {
            enc_len(out, m.len(), 0x80, 15, 0xde, 0xdf);
            for (k, it) in m {
                enc_str(out, k);
                enc(out, it, et)?;
            }
            Ok(())
        }
        (Type::Object(attrs, _), Value::Map(m)) => {
            if let Some(k) = m.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(CodecError::UnknownAttribute(k.clone()));
            }
            // every attribute of the type is written, absent ones as null
            enc_len(out, attrs.len(), 0x80, 15, 0xde, 0xdf);
            for (k, at) in attrs {
                enc_str(out, k);
                enc(out, m.get(k).unwrap_or(&Value::Null), at)?;
            }
            Ok(())
        }
        _ => Err(mismatch(v, ty)),
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, CodecError> {
        let c = *self.b.get(self.pos).ok_or(CodecError::Eof)?;
        self.pos += 1;
        Ok(c)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).ok_or(CodecError::Eof)?;
        let s = self.b.get(self.pos..end).ok_or(CodecError::Eof)?;
        self.pos = end;
        Ok(s)
    }
    fn be(&mut self, n: usize) -> Result<u64, CodecError> {
        Ok(self.take(n)?.iter().fold(0u64, |a, &x| (a << 8) | x as u64))
    }
    fn peek(&self) -> Result<u8, CodecError> {
        self.b.get(self.pos).copied().ok_or(CodecError::Eof)
    }

    /// Reads an extension or nil if one is next: Some(Null) / Some(Unknown).
    fn null_or_unknown(&mut self) -> Result<Option<Value>, CodecError> {
        let m = self.peek()?;
        let ext_len = match m {
            0xc0 => {
                self.pos += 1;
                return Ok(Some(Value::Null));
            }
            0xd4 => Some(1),
            0xd5 => Some(2),
            0xd6 => Some(4),
            0xd7 => Some(8),
            0xd8 => Some(16),
            0xc7..=0xc9 => None,
            _ => return Ok(None),
        };
        self.pos += 1;
        let len = match (ext_len, m) {
            (Some(n), _) => n,
            (None, 0xc7) => self.be(1)? as usize,
            (None, 0xc8) => self.be(2)? as usize,
            _ => self.be(4)? as usize,
        };
        let _ext_type = self.byte()?;
        // type 0 is a plain unknown; 12 is an unknown with refinements (newer
        // cty). Refinements only narrow the range; we keep "unknown".
        self.take(len)?;
        Ok(Some(Value::Unknown))
    }

    fn str_len(&mut self, m: u8) -> Result<Option<usize>, CodecError> {
        Ok(match m {
            0xa0..=0xbf => Some((m & 0x1f) as usize),
            0xd9 => Some(self.be(1)? as usize),
            0xda => Some(self.be(2)? as usize),
            0xdb => Some(self.be(4)? as usize),
            0xc4 => Some(self.be(1)? as usize), // bin8/16/32 accepted as strings
            0xc5 => Some(self.be(2)? as usize),
            0xc6 => Some(self.be(4)? as usize),
            _ => None,
        })
    }

    fn string(&mut self, ty: &Type) -> Result<String, CodecError> {
        let m = self.byte()?;
        let n = self.str_len(m)?.ok_or_else(|| CodecError::Unexpected {
            marker: m,
            ty: ty.to_string(),
        })?;
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| CodecError::Utf8)
    }

    fn array_len(&mut self, ty: &Type) -> Result<usize, CodecError> {
        let m = self.byte()?;
        Ok(match m {
            0x90..=0x9f => (m & 0x0f) as usize,
            0xdc => self.be(2)? as usize,
            0xdd => self.be(4)? as usize,
            _ => {
                return Err(CodecError::Unexpected {
                    marker: m,
                    ty: ty.to_string(),
                })
            }
        })
    }

    fn map_len(&mut self, ty: &Type) -> Result<usize, CodecError> {
        let m = self.byte()?;
        Ok(match m {
            0x80..=0x8f => (m & 0x0f) as usize,
            0xde => self.be(2)? as usize,
            0xdf => self.be(4)? as usize,
            _ => {
                return Err(CodecError::Unexpected {
                    marker: m,
                    ty: ty.to_string(),
                })
            }
        })
    }

    fn number(&mut self, ty: &Type) -> Result<Number, CodecError> {
        let m = self.byte()?;
        Ok(match m {
            0x00..=0x7f => Number::Int(m as i64),
            0xe0..=0xff => Number::Int(m as i8 as i64),
            0xcc => Number::Int(self.be(1)? as i64),
            0xcd => Number::Int(self.be(2)? as i64),
            0xce => Number::Int(self.be(4)? as i64),
            0xcf => {
                let u = self.be(8)?;
                match i64::try_from(u) {
                    Ok(i) => Number::Int(i),
                    Err(_) => Number::Big(u.to_string()),
                }
            }
            0xd0 => Number::Int(self.be(1)? as u8 as i8 as i64),
            0xd1 => Number::Int(self.be(2)? as u16 as i16 as i64),
            0xd2 => Number::Int(self.be(4)? as u32 as i32 as i64),
            0xd3 => Number::Int(self.be(8)? as i64),
            0xca => Number::from_f64(f32::from_bits(self.be(4)? as u32) as f64),
            0xcb => Number::from_f64(f64::from_bits(self.be(8)?)),
            _ => {
                self.pos -= 1;
                let s = self.string(ty)?;
                match s.parse::<i64>() {
                    Ok(i) => Number::Int(i),
                    Err(_) => Number::Big(s),
                }
            }
        })
    }

    fn value(&mut self, ty: &Type, depth: usize) -> Result<Value, CodecError> {
        if depth > MAX_DEPTH {
            return Err(CodecError::TooDeep(MAX_DEPTH));
        }
        if let Some(v) = self.null_or_unknown()? {
            return Ok(v);
        }
        Ok(match ty {
            Type::String => Value::String(self.string(ty)?),
            Type::Number => Value::Number(self.number(ty)?),
            Type::Bool => match self.byte()? {
                0xc2 => Value::Bool(false),
                0xc3 => Value::Bool(true),
                m => {
                    return Err(CodecError::Unexpected {
                        marker: m,
                        ty: ty.to_string(),
                    })
                }
            },
            Type::Dynamic => {
                let n = self.array_len(ty)?;
                if n != 2 {
                    return Err(CodecError::BadType(format!("dynamic value array of {n}")));
                }
                let tj = self.string(&Type::String)?;
                let t = Type::from_json(
                    &serde_json::from_str(&tj).map_err(|e| CodecError::Json(e.to_string()))?,
                )?;
                let inner = self.value(&t, depth + 1)?;
                Value::Dynamic(t, Box::new(inner))
            }
            Type::List(et) | Type::Set(et) => {
                let n = self.array_len(ty)?;
                let mut v = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    v.push(self.value(et, depth + 1)?);
                }
                Value::List(v)
            }
            Type::Tuple(ets) => {
                let n = self.array_len(ty)?;
                if n != ets.len() {
                    return Err(CodecError::BadType(format!("tuple of {n} for {ty}")));
                }
                let mut v = Vec::with_capacity(n);
                for et in ets {
                    v.push(self.value(et, depth + 1)?);
                }
                Value::List(v)
            }
            Type::Map(et) => {
                let n = self.map_len(ty)?;
                let mut m = BTreeMap::new();
                for _ in 0..n {
                    let k = self.string(&Type::String)?;
                    m.insert(k, self.value(et, depth + 1)?);
                }
                Value::Map(m)
            }
            Type::Object(attrs, _) => {
                let n = self.map_len(ty)?;
                let mut m = BTreeMap::new();
                for _ in 0..n {
                    let k = self.string(&Type::String)?;
                    let at = attrs
                        .get(&k)
                        .ok_or_else(|| CodecError::UnknownAttribute(k.clone()))?;
                    m.insert(k, self.value(at, depth + 1)?);
                }
                for k in attrs.keys() {
                    m.entry(k.clone()).or_insert(Value::Null);
                }
                Value::Map(m)
            }
        })
    }
}

// ---------------------------------------------------------------- json

/// Decodes the JSON form of a value (as stored in state) under `ty`.
pub fn from_json(j: &Json, ty: &Type) -> Result<Value, CodecError> {
    from_json_depth(j, ty, 0)
}

fn from_json_depth(j: &Json, ty: &Type, depth: usize) -> Result<Value, CodecError> {
    if depth > MAX_DEPTH {
        return Err(CodecError::TooDeep(MAX_DEPTH));
    }
    let bad = || CodecError::Mismatch {
        value: truncate(j.to_string()),
        ty: ty.to_string(),
    };
    if j.is_null() {
        return Ok(Value::Null);
    }
    Ok(match ty {
        Type::String => match j {
            Json::String(s) => Value::String(s.clone()),
            Json::Bool(b) => Value::String(b.to_string()),
            Json::Number(n) => Value::String(n.to_string()),
            _ => return Err(bad()),
        },
        Type::Number => match j {
            Json::Number(n) => Value::Number(if let Some(i) = n.as_i64() {
                Number::Int(i)
            } else if let Some(f) = n.as_f64() {
                Number::from_f64(f)
            } else {
                Number::Big(n.to_string())
            }),
            Json::String(s) => match s.parse::<i64>() {
                Ok(i) => Value::int(i),
                Err(_) => Value::Number(Number::Float(s.parse().map_err(|_| bad())?)),
            },
            _ => return Err(bad()),
        },
        Type::Bool => match j {
            Json::Bool(b) => Value::Bool(*b),
            Json::String(s) if s == "true" || s == "false" => Value::Bool(s == "true"),
            _ => return Err(bad()),
        },
        Type::Dynamic => {
            let o = j.as_object().ok_or_else(bad)?;
            let t = Type::from_json(o.get("type").ok_or_else(bad)?)?;
            let v = from_json_depth(o.get("value").unwrap_or(&Json::Null), &t, depth + 1)?;
            Value::Dynamic(t, Box::new(v))
        }
        Type::List(et) | Type::Set(et) => Value::List(
            j.as_array()
                .ok_or_else(bad)?
                .iter()
                .map(|x| from_json_depth(x, et, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Type::Tuple(ets) => {
            let a = j.as_array().ok_or_else(bad)?;
            if a.len() != ets.len() {
                return Err(bad());
            }
            Value::List(
                a.iter()
                    .zip(ets)
                    .map(|(x, et)| from_json_depth(x, et, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Map(et) => Value::Map(
            j.as_object()
                .ok_or_else(bad)?
                .iter()
                .map(|(k, x)| Ok((k.clone(), from_json_depth(x, et, depth + 1)?)))
                .collect::<Result<_, CodecError>>()?,
        ),
        Type::Object(attrs, _) => {
            let o = j.as_object().ok_or_else(bad)?;
            let mut m = BTreeMap::new();
            for (k, x) in o {
                let at = attrs
                    .get(k)
                    .ok_or_else(|| CodecError::UnknownAttribute(k.clone()))?;
                m.insert(k.clone(), from_json_depth(x, at, depth + 1)?);
            }
            for k in attrs.keys() {
                m.entry(k.clone()).or_insert(Value::Null);
            }
            Value::Map(m)
        }
    })
}

/// Encodes a wholly known value as JSON under `ty` (the inverse of [`from_json`]).
pub fn to_json(v: &Value, ty: &Type) -> Result<Json, CodecError> {
    use serde_json::json;
    Ok(match (ty, v) {
        (_, Value::Null) => Json::Null,
        (_, Value::Unknown) => return Err(mismatch(v, ty)),
        (Type::Dynamic, Value::Dynamic(t, inner)) => {
            json!({"value": to_json(inner, t)?, "type": t.to_json()})
        }
        (_, Value::Dynamic(_, inner)) => to_json(inner, ty)?,
        (Type::String, Value::String(s)) => json!(s),
        (Type::Bool, Value::Bool(b)) => json!(b),
        (Type::Number, Value::Number(n)) => match n {
            Number::Int(i) => json!(i),
            Number::Float(f) => json!(f),
            Number::Big(s) => serde_json::from_str(s).map_err(|_| mismatch(v, ty))?,
        },
        (Type::List(et) | Type::Set(et), Value::List(items)) => Json::Array(
            items
                .iter()
                .map(|x| to_json(x, et))
                .collect::<Result<_, _>>()?,
        ),
        (Type::Tuple(ets), Value::List(items)) if ets.len() == items.len() => Json::Array(
            items
                .iter()
                .zip(ets)
                .map(|(x, et)| to_json(x, et))
                .collect::<Result<_, _>>()?,
        ),
        (Type::Map(et), Value::Map(m)) => Json::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), to_json(x, et)?)))
                .collect::<Result<_, CodecError>>()?,
        ),
        (Type::Object(attrs, _), Value::Map(m)) => {
            let mut o = serde_json::Map::new();
            for (k, at) in attrs {
                o.insert(k.clone(), to_json(m.get(k).unwrap_or(&Value::Null), at)?);
            }
            Json::Object(o)
        }
        _ => return Err(mismatch(v, ty)),
    })
}

fn truncate(mut s: String) -> String {
    if s.len() > 80 {
        let mut cut = 80;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn obj_ty() -> Type {
        Type::object([
            ("id", Type::String),
            ("n", Type::Number),
            ("tags", Type::map(Type::String)),
            ("items", Type::list(Type::object([("x", Type::Bool)]))),
            ("any", Type::Dynamic),
        ])
    }

    #[test]
    fn a_mismatch_error_never_cuts_a_character_in_half() {
        // found by the fuzzer: `String("` and 71 x make 79 bytes, so the
        // 2-byte é spans bytes 79 and 80 of the Debug text
        let v = Value::str(format!("{}é and more", "x".repeat(71)));
        assert!(!format!("{v:?}").is_char_boundary(80));
        let e = to_msgpack(&v, &Type::Number).unwrap_err();
        assert!(matches!(e, CodecError::Mismatch { .. }));
    }

    #[test]
    fn unknown_is_fixext_zero_and_survives_nested() {
        assert_eq!(
            to_msgpack(&Value::Unknown, &Type::String).unwrap(),
            vec![0xd4, 0, 0]
        );
        let v = Value::object([
            ("id", Value::Unknown),
            ("n", Value::int(3)),
            ("tags", Value::object([("a", Value::Unknown)])),
            (
                "items",
                Value::List(vec![Value::object([("x", Value::Unknown)])]),
            ),
            ("any", Value::Unknown),
        ]);
        let b = to_msgpack(&v, &obj_ty()).unwrap();
        assert_eq!(from_msgpack(&b, &obj_ty()).unwrap(), v);
    }

    #[test]
    fn refined_unknown_from_newer_terraform_decodes_as_unknown() {
        // ext8, length 3, type 12, refinement payload
        let b = [0xc7, 3, 12, 0x81, 0x01, 0xc2];
        assert_eq!(from_msgpack(&b, &Type::String).unwrap(), Value::Unknown);
    }

    #[test]
    fn dynamic_carries_type_json() {
        let v = Value::Dynamic(
            Type::list(Type::String),
            Box::new(Value::List(vec![Value::str("a")])),
        );
        let b = to_msgpack(&v, &Type::Dynamic).unwrap();
        // [ "[\"list\",\"string\"]", ["a"] ]
        assert_eq!(b[0], 0x92);
        assert_eq!(from_msgpack(&b, &Type::Dynamic).unwrap(), v);
        let j = to_json(&v, &Type::Dynamic).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"value": ["a"], "type": ["list", "string"]})
        );
        assert_eq!(from_json(&j, &Type::Dynamic).unwrap(), v);
    }

    #[test]
    fn numbers_int_float_and_big() {
        for (v, bytes) in [
            (Value::int(5), vec![5u8]),
            (Value::int(-1), vec![0xff]),
            (Value::int(300), vec![0xd1, 0x01, 0x2c]),
        ] {
            assert_eq!(to_msgpack(&v, &Type::Number).unwrap(), bytes);
            assert_eq!(from_msgpack(&bytes, &Type::Number).unwrap(), v);
        }
        let big = [0xa5, b'1', b'e', b'4', b'0', b'0'];
        assert_eq!(
            from_msgpack(&big, &Type::Number).unwrap(),
            Value::Number(Number::Big("1e400".into()))
        );
        let f = Value::Number(Number::Float(1.5));
        assert_eq!(
            from_msgpack(&to_msgpack(&f, &Type::Number).unwrap(), &Type::Number).unwrap(),
            f
        );
    }

    #[test]
    fn object_absent_attributes_are_null_and_extra_rejected() {
        let ty = Type::object([("a", Type::String), ("b", Type::String)]);
        let b = to_msgpack(&Value::object([("a", Value::str("x"))]), &ty).unwrap();
        assert_eq!(from_msgpack(&b, &ty).unwrap().get("b"), &Value::Null);
        assert_eq!(
            to_msgpack(&Value::object([("zz", Value::Null)]), &ty),
            Err(CodecError::UnknownAttribute("zz".into()))
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for b in [
            &[0x92u8][..],
            &[0xdd, 0xff, 0xff, 0xff, 0xff],
            &[0xd9],
            &[0xc1],
            &[0xa3, b'a'],
        ] {
            assert!(from_msgpack(b, &obj_ty()).is_err());
            assert!(from_msgpack(b, &Type::Dynamic).is_err());
        }
        assert!(matches!(
            from_msgpack(&[1, 2], &Type::Number),
            Err(CodecError::Trailing { .. })
        ));
    }

    #[test]
    fn type_json_round_trip() {
        let mut t = obj_ty();
        if let Type::Object(_, opt) = &mut t {
            opt.insert("n".into());
        }
        let t2 = Type::Tuple(vec![t.clone(), Type::set(Type::Number)]);
        assert_eq!(Type::from_json(&t2.to_json()).unwrap(), t2);
    }

    fn arb_type() -> impl Strategy<Value = Type> {
        let leaf = prop_oneof![
            Just(Type::String),
            Just(Type::Number),
            Just(Type::Bool),
            Just(Type::Dynamic)
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(Type::list),
                inner.clone().prop_map(Type::set),
                inner.clone().prop_map(Type::map),
                prop::collection::btree_map("[a-z_]{1,6}", inner.clone(), 0..4)
                    .prop_map(|m| Type::Object(m, BTreeSet::new())),
                prop::collection::vec(inner, 0..3).prop_map(Type::Tuple),
            ]
        })
    }

    fn arb_concrete_type() -> impl Strategy<Value = Type> {
        prop_oneof![
            Just(Type::String),
            Just(Type::Number),
            Just(Type::Bool),
            Just(Type::list(Type::String))
        ]
    }

    fn arb_value(ty: Type, with_unknown: bool) -> BoxedStrategy<Value> {
        let special = if with_unknown {
            prop_oneof![Just(Value::Null), Just(Value::Unknown)].boxed()
        } else {
            Just(Value::Null).boxed()
        };
        let concrete: BoxedStrategy<Value> = match ty {
            Type::String => ".{0,40}".prop_map(Value::String).boxed(),
            Type::Number => prop_oneof![
                any::<i64>().prop_map(Value::int),
                (-1e12f64..1e12).prop_map(|f| Value::Number(Number::from_f64(f))),
            ]
            .boxed(),
            Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
            Type::Dynamic => arb_concrete_type()
                .prop_flat_map(move |t| {
                    arb_value(t.clone(), with_unknown)
                        .prop_map(move |v| Value::Dynamic(t.clone(), Box::new(v)))
                })
                .boxed(),
            Type::List(et) | Type::Set(et) => {
                prop::collection::vec(arb_value(*et, with_unknown), 0..4)
                    .prop_map(Value::List)
                    .boxed()
            }
            Type::Map(et) => {
                prop::collection::btree_map("[a-z]{0,5}", arb_value(*et, with_unknown), 0..4)
                    .prop_map(Value::Map)
                    .boxed()
            }
            Type::Object(attrs, _) => {
                let strategies: Vec<_> = attrs
                    .into_iter()
                    .map(|(k, t)| arb_value(t, with_unknown).prop_map(move |v| (k.clone(), v)))
                    .collect();
                strategies
                    .prop_map(|kv| Value::Map(kv.into_iter().collect()))
                    .boxed()
            }
            Type::Tuple(ets) => {
                let strategies: Vec<_> = ets
                    .into_iter()
                    .map(|t| arb_value(t, with_unknown))
                    .collect();
                strategies.prop_map(Value::List).boxed()
            }
        };
        prop_oneof![1 => special, 4 => concrete].boxed()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn msgpack_round_trips_random_values((ty, v) in arb_type().prop_flat_map(|t| (Just(t.clone()), arb_value(t, true)))) {
            let b = to_msgpack(&v, &ty).unwrap();
            prop_assert_eq!(from_msgpack(&b, &ty).unwrap(), v);
        }

        #[test]
        fn json_round_trips_known_values((ty, v) in arb_type().prop_flat_map(|t| (Just(t.clone()), arb_value(t, false)))) {
            let j = to_json(&v, &ty).unwrap();
            let text = serde_json::to_string(&j).unwrap();
            let back: Json = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(from_json(&back, &ty).unwrap(), v);
        }

        #[test]
        fn decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64), ty in arb_type()) {
            let _ = from_msgpack(&bytes, &ty);
        }
    }
}
