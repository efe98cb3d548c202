//! Diagnostics and attribute paths: how a provider tells Terraform (and so the
//! user) what is wrong and where. User mistakes always travel as
//! diagnostics, never as gRPC errors, and are collected rather than
//! returned at the first one.

use std::fmt;

/// One step into a value: an object attribute, a map key or a list index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    Attr(String),
    Key(String),
    Index(i64),
}

/// A path to an attribute, e.g. `members["eu"].address` or `member[2].name`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttrPath(pub Vec<Step>);

impl AttrPath {
    pub fn root(attr: &str) -> AttrPath {
        AttrPath(vec![Step::Attr(attr.to_string())])
    }
    pub fn attr(mut self, a: &str) -> AttrPath {
        self.0.push(Step::Attr(a.to_string()));
        self
    }
    pub fn key(mut self, k: &str) -> AttrPath {
        self.0.push(Step::Key(k.to_string()));
        self
    }
    pub fn index(mut self, i: usize) -> AttrPath {
        self.0.push(Step::Index(i as i64));
        self
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Step::Attr(a) if i == 0 => write!(f, "{a}")?,
                Step::Attr(a) => write!(f, ".{a}")?,
                Step::Key(k) => write!(f, "[{k:?}]")?,
                Step::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Short and stable: what went wrong.
    pub summary: String,
    /// What to do about it.
    pub detail: String,
    pub path: Option<AttrPath>,
}

/// Collected diagnostics of one operation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn error(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Error, summary, detail, None)
    }
    pub fn error_at(
        &mut self,
        path: AttrPath,
        summary: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.push(Severity::Error, summary, detail, Some(path))
    }
    pub fn warning(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Warning, summary, detail, None)
    }
    pub fn warning_at(
        &mut self,
        path: AttrPath,
        summary: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.push(Severity::Warning, summary, detail, Some(path))
    }
    fn push(
        &mut self,
        severity: Severity,
        summary: impl Into<String>,
        detail: impl Into<String>,
        path: Option<AttrPath>,
    ) {
        self.0.push(Diagnostic {
            severity,
            summary: summary.into(),
            detail: detail.into(),
            path,
        })
    }
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0)
    }
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl AttrPath {
    /// The part of the path Terraform can point at in the configuration: up
    /// to the first map key. Terraform narrows a diagnostic into nested
    /// blocks, not into an attribute's value, so a path inside a map
    /// (`members["eu-west"].pd_client_url`) would show only the resource's
    /// first line; the attribute holding it (`members`) shows its own line.
    /// The whole path goes into the detail ([`Diagnostic::detail_with_path`]).
    pub fn shown(&self) -> AttrPath {
        AttrPath(
            self.0
                .iter()
                .take_while(|s| !matches!(s, Step::Key(_)))
                .cloned()
                .collect(),
        )
    }
}

impl Diagnostic {
    /// The detail as sent: for a path inside a nested value (a map key, a
    /// nested attribute), prefixed with the path when it does not already
    /// name it, because Terraform can point only at the top-level
    /// attribute's line.
    pub fn detail_with_path(&self) -> String {
        match &self.path {
            Some(p) if p.0.len() > 1 => {
                let at = p.to_string();
                if self.detail.contains(&at) {
                    self.detail.clone()
                } else {
                    format!("{at}: {}", self.detail)
                }
            }
            _ => self.detail.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_reads_as_written_in_the_configuration() {
        let p = AttrPath::root("members")
            .key("eu-west")
            .attr("address")
            .index(2);
        assert_eq!(p.to_string(), "members[\"eu-west\"].address[2]");
    }

    #[test]
    fn a_path_into_a_map_points_at_the_attribute_and_keeps_the_rest_in_the_detail() {
        let p = AttrPath::root("members")
            .key("eu-west")
            .attr("pd_client_url");
        assert_eq!(p.shown(), AttrPath::root("members"));
        assert_eq!(
            AttrPath::root("cluster").attr("host").shown(),
            AttrPath::root("cluster").attr("host")
        );
        let mut d = Diagnostics::new();
        d.error_at(p, "Invalid URL", "use https");
        assert_eq!(
            d.0[0].detail_with_path(),
            "members[\"eu-west\"].pd_client_url: use https"
        );
        d.error_at(AttrPath::root("b"), "bad b", "fix b");
        assert_eq!(
            d.0[1].detail_with_path(),
            "fix b",
            "a top-level path is not repeated"
        );
    }

    #[test]
    fn diagnostics_collect_and_report_errors() {
        let mut d = Diagnostics::new();
        d.warning("heads up", "nothing to do");
        assert!(!d.has_errors());
        d.error_at(AttrPath::root("a"), "bad a", "fix a");
        assert!(d.has_errors());
        assert_eq!(d.0.len(), 2);
        assert_eq!(d.0[1].severity, Severity::Error);
    }
}
