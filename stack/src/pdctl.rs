//! pd-ctl as a typed handle. Each command runs as a Job in a member's
//! cluster with the region's certificate (no network path from Terraform to
//! PD is needed), and what it printed is read the way pd-ctl prints it:
//! JSON for queries, `Success!` lines for changes, anything else a refusal.
//! Callers get typed answers ([`Store`], [`PdMember`]) and typed errors
//! ([`PdError`]), never raw output.

use std::collections::BTreeSet;

use geowp_kube::{Cluster, ClusterError};
use kube::api::PatchParams;

use crate::render::{self, StackSpec};

/// Why a pd-ctl command did not give what was asked. The Display is the
/// whole message (a Job's failure with its causes), for people.
#[derive(Debug, thiserror::Error)]
pub enum PdError {
    /// The Job could not be made, or its pod failed.
    #[error("{}", geowp_common::error_chain(.0))]
    Job(#[from] ClusterError),
    /// pd-ctl printed something other than success.
    #[error("pd-ctl {command} said: {said}")]
    Refused { command: String, said: String },
    /// pd-ctl printed no JSON where the command prints some.
    #[error("pd-ctl {command} printed no {what}: {said}")]
    Unreadable {
        command: String,
        what: &'static str,
        said: String,
    },
    /// PD refuses to delete a store: fewer Up stores than replicas would remain.
    #[error("PD refuses to delete the TiKV store at {address}: {said} Three replicas need three Up stores; add (or finish moving) a region before removing this one.")]
    StoresNotEnough { address: String, said: String },
    /// The operation's time ran out while PD was still moving a store's data.
    #[error("the TiKV store {id} at {address} is still {state}: PD is still moving its data to the other stores. Apply again to keep waiting (raise the timeouts block for large stores).")]
    StillDraining {
        id: u64,
        address: String,
        state: String,
    },
    /// The operation's time ran out while a store still led Regions.
    #[error("store {id} still leads {leaders} Regions")]
    LeadersRemain { id: u64, leaders: u64 },
    /// The cluster is not whole: what PD reports unhealthy or down.
    #[error("{0}")]
    NotWhole(String),
}

/// A TiKV store as `pd-ctl store` lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct Store {
    pub id: u64,
    pub address: String,
    /// `Up`, `Offline`, `Down`, `Disconnected`, `Tombstone`, ...
    pub state: String,
    /// The TiKV version it reports (no `v`).
    pub version: String,
    pub leader_count: u64,
}

/// A PD member as `pd-ctl member` lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct PdMember {
    pub name: String,
    pub binary_version: String,
}

/// pd-ctl prints failures rather than exiting with a status: success is a
/// line that is `Success!` (most commands, e.g. tikv/pd@v8.5.7
/// tools/pd-ctl/pdctl/command/member_command.go:112, scheduler.go:555) or
/// `Success! ` followed by the server's message (commands that post JSON,
/// global.go:302: `scheduler add` prints "Success! The scheduler is
/// created."). A `Failed!` line is never success.
pub fn succeeded(out: &str) -> bool {
    out.lines().any(|l| {
        let l = l.trim();
        l == "Success!" || l.starts_with("Success! ")
    })
}

/// What pd-ctl printed, for an error message; an empty output is said as
/// such (a Job whose pod printed nothing: pd-ctl did not run, or its log
/// was lost), never as an empty quote.
pub fn printed(out: &str) -> String {
    let t = out.trim();
    if t.is_empty() {
        "nothing (its Job's pod printed no output: look at the Job's events and pod with kubectl)"
            .into()
    } else {
        t.to_string()
    }
}

/// The JSON document pd-ctl printed (after any log lines), if any.
pub fn json_of(out: &str) -> Option<serde_json::Value> {
    let start = out.find(['{', '['])?;
    serde_json::from_str(&out[start..]).ok()
}

/// The stores of a `pd-ctl store` answer.
fn stores_of(v: &serde_json::Value) -> Vec<Store> {
    v["stores"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| Store {
            id: s["store"]["id"].as_u64().unwrap_or(0),
            address: s["store"]["address"].as_str().unwrap_or("").to_string(),
            state: s["store"]["state_name"].as_str().unwrap_or("").to_string(),
            version: crate::rolling::version_of(s["store"]["version"].as_str().unwrap_or(""))
                .to_string(),
            leader_count: s["status"]["leader_count"].as_u64().unwrap_or(0),
        })
        .collect()
}

/// pd-ctl, run from one member's cluster against its PD or another's.
#[derive(Clone, Copy)]
pub struct PdCtl<'a> {
    cluster: &'a Cluster,
    spec: &'a StackSpec,
    params: &'a PatchParams,
    target: Option<&'a str>,
}

impl<'a> PdCtl<'a> {
    /// pd-ctl against this region's PD.
    pub fn new(cluster: &'a Cluster, spec: &'a StackSpec, params: &'a PatchParams) -> Self {
        PdCtl {
            cluster,
            spec,
            params,
            target: None,
        }
    }

    /// The same, against the PD at `client_url` (another member's).
    pub fn through(self, client_url: &'a str) -> Self {
        PdCtl {
            target: Some(client_url),
            ..self
        }
    }

    /// The cluster the Jobs run in (its deadline bounds every wait).
    pub fn cluster(&self) -> &'a Cluster {
        self.cluster
    }

    /// The apply parameters its Jobs (and the step's objects) are applied with.
    pub fn params(&self) -> &'a PatchParams {
        self.params
    }

    /// Runs one command and returns what it printed.
    pub async fn run(&self, words: &[&str]) -> Result<String, PdError> {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        let nonce: [u8; 8] = rand::random();
        let job = render::tidb::pd_ctl_job(self.spec, self.target, &words, &format!("{nonce:?}"));
        Ok(self.cluster.run_job(&job, self.params).await?)
    }

    /// Runs a command that changes something: Ok when pd-ctl printed
    /// success, or one of `fine_if` (e.g. "not found" for a delete).
    pub async fn expect_success(&self, words: &[&str], fine_if: &[&str]) -> Result<(), PdError> {
        let out = self.run(words).await?;
        if succeeded(&out) || fine_if.iter().any(|f| out.contains(f)) {
            Ok(())
        } else {
            Err(PdError::Refused {
                command: words.join(" "),
                said: printed(&out),
            })
        }
    }

    /// Runs a query whose answer is JSON.
    async fn json(&self, words: &[&str], what: &'static str) -> Result<serde_json::Value, PdError> {
        let out = self.run(words).await?;
        json_of(&out).ok_or_else(|| PdError::Unreadable {
            command: words.join(" "),
            what,
            said: printed(&out),
        })
    }

    /// The current PD leader's name (None when pd-ctl names none).
    pub async fn leader(&self) -> Result<Option<String>, PdError> {
        let out = self.run(&["member", "leader", "show"]).await?;
        Ok(json_of(&out).and_then(|v| v["name"].as_str().map(String::from)))
    }

    /// Every store PD lists (Tombstones included when PD lists them).
    pub async fn stores(&self) -> Result<Vec<Store>, PdError> {
        Ok(stores_of(&self.json(&["store"], "store list").await?))
    }

    /// The store at `address`, None when PD has none there (or only a
    /// Tombstone, which PD does not list), or printed nothing at all.
    pub async fn store_at(&self, address: &str) -> Result<Option<Store>, PdError> {
        let out = self.run(&["store"]).await?;
        if out.trim().is_empty() {
            return Ok(None);
        }
        let v = json_of(&out).ok_or_else(|| PdError::Unreadable {
            command: "store".into(),
            what: "store list",
            said: out.clone(),
        })?;
        Ok(stores_of(&v).into_iter().find(|s| s.address == address))
    }

    /// PD's members with their versions.
    pub async fn members(&self) -> Result<Vec<PdMember>, PdError> {
        Ok(self.member_list().await?.0)
    }

    /// PD's members with their versions, and the leader's name if it has one.
    pub async fn member_list(&self) -> Result<(Vec<PdMember>, Option<String>), PdError> {
        let v = self.json(&["member"], "member list").await?;
        let leader = v["leader"]["name"].as_str().map(String::from);
        let members = v["members"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| PdMember {
                name: m["name"].as_str().unwrap_or("?").to_string(),
                binary_version: crate::rolling::version_of(
                    m["binary_version"].as_str().unwrap_or(""),
                )
                .to_string(),
            })
            .collect();
        Ok((members, leader))
    }

    /// Each PD member `pd-ctl health` lists, and whether it is healthy.
    pub async fn health(&self) -> Result<Vec<(String, bool)>, PdError> {
        let v = self.json(&["health"], "member list").await?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                (
                    m["name"].as_str().unwrap_or("?").to_string(),
                    m["health"].as_bool() == Some(true),
                )
            })
            .collect())
    }

    /// The names of PD members `pd-ctl health` does not call healthy.
    pub async fn unhealthy(&self) -> Result<Vec<String>, PdError> {
        Ok(self
            .health()
            .await?
            .into_iter()
            .filter(|(_, ok)| !ok)
            .map(|(n, _)| n)
            .collect())
    }

    /// The store ids in the evict-leader scheduler (empty when PD has no
    /// such scheduler).
    pub async fn evicting(&self, scheduler: &str) -> Result<BTreeSet<u64>, PdError> {
        let words = ["scheduler", "config", scheduler];
        let out = self.run(&words).await?;
        if out.contains("[404] scheduler not found") {
            return Ok(BTreeSet::new());
        }
        let v = json_of(&out).ok_or_else(|| PdError::Unreadable {
            command: words.join(" "),
            what: "configuration",
            said: printed(&out),
        })?;
        Ok(v["store-id-ranges"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, _)| k.parse().ok())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pd_ctl_output_is_read_as_pd_ctl_prints_it() {
        assert!(succeeded("Success!\n"));
        // what pd-ctl v8.5.7 prints for `scheduler add evict-leader-scheduler 1`
        // (global.go:302 with server/api/scheduler.go:241's message)
        assert!(succeeded("Success! The scheduler is created.\n"));
        assert!(!succeeded("Failed! [500] \"scheduler existed\"\n"));
        assert!(!succeeded("Success!ful? no\n"));
        assert_eq!(printed("  \n"), "nothing (its Job's pod printed no output: look at the Job's events and pod with kubectl)");
        assert!(!succeeded(
            "Failed to delete member x: [404] member not found\n"
        ));
        let v = json_of("{\n  \"name\": \"us-east\"\n}\n").unwrap();
        assert_eq!(v["name"], "us-east");
        assert!(json_of("Failed to get the leader").is_none());
    }

    #[test]
    fn a_store_list_is_read_into_stores() {
        let v = json_of(r#"{"count":1,"stores":[{"store":{"id":4,"address":"tikv.a:20160","state_name":"Up","version":"v8.5.7"},"status":{"leader_count":12}}]}"#).unwrap();
        assert_eq!(
            stores_of(&v),
            vec![Store {
                id: 4,
                address: "tikv.a:20160".into(),
                state: "Up".into(),
                version: "8.5.7".into(),
                leader_count: 12
            }]
        );
    }

    #[test]
    fn a_failed_job_reads_as_its_whole_cause() {
        let e = PdError::Job(ClusterError::Config("no such context".into()));
        assert_eq!(
            e.to_string(),
            geowp_common::error_chain(&ClusterError::Config("no such context".into()))
        );
    }
}
