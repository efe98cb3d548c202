//! What an operation tells its caller besides its result: the steps it
//! took, and the problems it met, each about a [`Subject`] (what a person
//! would change to fix it) with its cause. The provider turns a report
//! into Terraform diagnostics in one place; the library never names an
//! attribute path.

use geowp_kube::ClusterError;

/// What a problem is about: the part of the stack's configuration a person
/// looks at to fix it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// The stack as a whole.
    Stack,
    /// The cluster's settings (host, credentials, CA).
    Cluster,
    /// The stack's namespace.
    Namespace,
    /// The site's members.
    Members,
    /// A field of this region's own entry in the members.
    OwnMember(&'static str),
    /// The site CA's certificate.
    CaCertificate,
    /// The site CA's private key.
    CaKey,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// Why: said in words, or a cluster's error (which the caller explains by
/// its kind: unreachable, refused, timed out, interrupted).
#[derive(Debug)]
pub enum Cause {
    Said {
        summary: &'static str,
        detail: String,
    },
    Cluster {
        error: ClusterError,
        /// Whose operation it was (`member us-east (namespace geowp)`).
        who: String,
        /// What it was doing (`applying apps/v1/StatefulSet/geowp/pd`).
        doing: String,
    },
}

#[derive(Debug)]
pub struct Problem {
    pub severity: Severity,
    pub subject: Subject,
    pub cause: Cause,
}

/// The steps an operation took and the problems it met, in order.
#[derive(Debug, Default)]
pub struct Report {
    pub steps: Vec<&'static str>,
    pub problems: Vec<Problem>,
}

impl Report {
    /// Records that the operation reached `step` (logged as it happens).
    pub fn step(&mut self, step: &'static str) {
        tracing::debug!(step, "stack operation");
        self.steps.push(step);
    }

    pub fn error(&mut self, subject: Subject, summary: &'static str, detail: impl Into<String>) {
        self.said(Severity::Error, subject, summary, detail.into());
    }

    pub fn warning(&mut self, subject: Subject, summary: &'static str, detail: impl Into<String>) {
        self.said(Severity::Warning, subject, summary, detail.into());
    }

    fn said(
        &mut self,
        severity: Severity,
        subject: Subject,
        summary: &'static str,
        detail: String,
    ) {
        self.problems.push(Problem {
            severity,
            subject,
            cause: Cause::Said { summary, detail },
        });
    }

    /// The cluster failed `who`'s operation while `doing`: an error about
    /// the cluster's settings.
    pub fn cluster(&mut self, error: ClusterError, who: &str, doing: impl Into<String>) {
        self.problems.push(Problem {
            severity: Severity::Error,
            subject: Subject::Cluster,
            cause: Cause::Cluster {
                error,
                who: who.to_string(),
                doing: doing.into(),
            },
        });
    }

    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }

    /// Ends the operation here: nothing more is written. The report's last
    /// problem is the cause.
    pub fn stop(self) -> Stop {
        Stop { report: self }
    }
}

/// An operation that stopped before it could finish (its report's last
/// problem says why); whatever it wrote before is in the report's steps.
#[derive(Debug)]
pub struct Stop {
    pub report: Report,
}

impl Stop {
    /// Why it stopped.
    pub fn cause(&self) -> Option<&Problem> {
        self.report.problems.last()
    }
}
