//! The errors of the API, as the real server reports them: an [`ApiError`]
//! renders as a `Status` body (code, reason, message, details), and
//! [`invalid`] builds the 422 of a field that fails validation.

use serde_json::{json, Value};

use crate::registry::Resource;

/// An API error, rendered as a `Status` body.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: Value::Null,
        }
    }
    pub fn not_found(res: &Resource, name: &str) -> Self {
        let what = if res.group.is_empty() {
            res.plural.to_string()
        } else {
            format!("{}.{}", res.plural, res.group)
        };
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{what} \"{name}\" not found"),
            details: json!({"name": name, "group": res.group, "kind": res.plural}),
        }
    }
    pub fn status(&self) -> Value {
        let mut s = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code});
        if !self.details.is_null() {
            s["details"] = self.details.clone();
        }
        s
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A 422 as apimachinery's `errors.NewInvalid` builds it from one
/// `field.Error`: `Kind.group "name" is invalid: field: body` (the core
/// group prints no group), the cause's reason taken from the error's type.
pub(crate) fn invalid(res: &Resource, name: &str, field: &str, msg: &str) -> ApiError {
    let kind = if res.group.is_empty() {
        res.kind.to_string()
    } else {
        format!("{}.{}", res.kind, res.group)
    };
    let cause = if msg.starts_with("Forbidden") {
        "FieldValueForbidden"
    } else if msg.starts_with("Required value") {
        "FieldValueRequired"
    } else {
        "FieldValueInvalid"
    };
    ApiError {
        code: 422,
        reason: "Invalid",
        message: format!("{kind} \"{name}\" is invalid: {field}: {msg}"),
        details: json!({"name": name, "group": res.group, "kind": res.kind, "causes": [{"reason": cause, "message": msg, "field": field}]}),
    }
}
