//! The one place where what the stack library reports becomes Terraform
//! diagnostics: each [`Subject`] is the attribute a person fixes (a path
//! into `members` is shown on `members`, with the whole path in the
//! detail, by tfplugin), and a cluster's error is explained by its kind.

use geowp_stack::report::{Cause, Problem, Report, Severity, Stop, Subject};
use tfplugin::diag::{AttrPath, Diagnostics};

use crate::resources::cluster::{diagnose, diagnose_refresh};

/// How a cluster's error reads: an apply fails on it; a refresh keeps the
/// state of a region that does not answer and warns.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    Refresh,
}

/// The attribute a subject is about (None: the resource as a whole).
fn path(subject: Subject, member: &str) -> Option<AttrPath> {
    Some(match subject {
        Subject::Stack => return None,
        Subject::Cluster => AttrPath::root("cluster"),
        Subject::Namespace => AttrPath::root("namespace"),
        Subject::Members => AttrPath::root("members"),
        Subject::OwnMember(field) => AttrPath::root("members").key(member).attr(field),
        Subject::CaCertificate => AttrPath::root("tls_ca_certificate"),
        Subject::CaKey => AttrPath::root("tls_ca_private_key"),
    })
}

fn one(p: Problem, member: &str, mode: Mode, d: &mut Diagnostics) {
    match p.cause {
        Cause::Cluster { error, who, doing } => {
            let settings = AttrPath::root("cluster");
            match mode {
                Mode::Apply => diagnose(&error, &settings, &who, &doing, d),
                Mode::Refresh => diagnose_refresh(&error, &settings, &who, &doing, d),
            }
        }
        Cause::Said { summary, detail } => match (p.severity, path(p.subject, member)) {
            (Severity::Error, Some(at)) => d.error_at(at, summary, detail),
            (Severity::Error, None) => d.error(summary, detail),
            (Severity::Warning, Some(at)) => d.warning_at(at, summary, detail),
            (Severity::Warning, None) => d.warning(summary, detail),
        },
    }
}

/// Every problem of `report`, in order, as diagnostics.
pub fn diagnose_report(report: Report, member: &str, mode: Mode, d: &mut Diagnostics) {
    tracing::debug!(steps = %report.steps.join(", "), "stack operation steps");
    for p in report.problems {
        one(p, member, mode, d);
    }
}

/// A stopped operation's report (its cause last) as diagnostics.
pub fn diagnose_stop(stop: Stop, member: &str, mode: Mode, d: &mut Diagnostics) {
    diagnose_report(stop.report, member, mode, d);
}
