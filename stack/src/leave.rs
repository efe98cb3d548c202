//! The life of a site's one TiDB cluster as regions come and go.
//!
//! - **Leaving.** When a member disappears from `members`, the
//!   alphabetically first surviving member removes it from TiDB from its own
//!   cluster, with pd-ctl Jobs: PD leadership moved away if it holds it,
//!   `member delete name`, `store delete addr`, then waiting until the store
//!   is Tombstone. The departing stack's destroy waits for that before it
//!   deletes anything: the two meet on a [`Leaves`] board, which the
//!   provider owns (one per provider process: the departing stack's destroy
//!   and the survivor's apply are in one run).
//! - **Moving.** A member whose PD peer URL changes (the same member on a
//!   new cluster) has its old PD member deleted before its new PD joins,
//!   and its old TiKV store deleted once the new one has registered.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::pdctl::{PdCtl, PdError};
use crate::render::{Member, StackSpec};

/// Members in `prior` but not in `planned`, with their last addresses.
pub fn departed(prior: &StackSpec, planned: &StackSpec) -> BTreeMap<String, Member> {
    prior
        .members
        .iter()
        .filter(|(n, _)| !planned.members.contains_key(*n))
        .map(|(n, m)| (n.clone(), m.clone()))
        .collect()
}

/// Whether this member is the one that removes departed members (the
/// alphabetically first survivor).
pub fn removes_departed(spec: &StackSpec) -> bool {
    spec.members.keys().next() == Some(&spec.member)
}

/// Deletes the store at `address` and waits until PD has moved its data
/// away (Tombstone), bounded by the cluster's deadline.
async fn drain_store(pd: PdCtl<'_>, address: &str) -> Result<(), PdError> {
    let out = pd.run(&["store", "delete", "addr", address]).await?;
    if out.contains("ErrStoresNotEnough") {
        return Err(PdError::StoresNotEnough {
            address: address.into(),
            said: out.trim().into(),
        });
    }
    if !crate::pdctl::succeeded(&out) && !out.contains("address not found") {
        return Err(PdError::Refused {
            command: format!("store delete addr {address}"),
            said: crate::pdctl::printed(&out),
        });
    }
    loop {
        match pd.store_at(address).await? {
            None => return Ok(()),
            Some(s) if s.state == "Tombstone" => return Ok(()),
            Some(s) => {
                if pd.cluster().remaining() < Duration::from_secs(3) {
                    return Err(PdError::StillDraining {
                        id: s.id,
                        address: address.into(),
                        state: s.state,
                    });
                }
                tracing::info!(%address, state = %s.state, "waiting for the store to become Tombstone");
                // PD's state, asked again: nothing here waits on a clock
                // but the operation's deadline
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// Removes a departed member from TiDB, from a survivor's cluster; what was
/// done, step by step.
pub async fn remove_member(
    pd: PdCtl<'_>,
    me: &str,
    name: &str,
    gone: &Member,
) -> Result<Vec<String>, PdError> {
    let started = Instant::now();
    let mut done = Vec::new();
    if pd.leader().await?.as_deref() == Some(name) {
        pd.expect_success(&["member", "leader", "transfer", me], &[])
            .await?;
        done.push(format!("PD leadership moved to {me}"));
    }
    pd.expect_success(&["member", "delete", "name", name], &["not found"])
        .await?;
    done.push("its PD member deleted".into());
    drain_store(pd, &gone.tikv_address).await?;
    done.push(format!(
        "its TiKV store at {} Tombstone after {} s",
        gone.tikv_address,
        started.elapsed().as_secs()
    ));
    Ok(done)
}

/// Before a moved member's new PD joins: its old PD member deleted, through
/// another member's PD (`pd` runs through it: this cluster has no PD of the
/// site yet).
pub async fn forget_old_pd(pd: PdCtl<'_>, me: &str) -> Result<(), PdError> {
    pd.expect_success(&["member", "delete", "name", me], &["not found"])
        .await
}

/// After a moved member's new TiKV registered: its old store deleted.
pub async fn forget_old_store(pd: PdCtl<'_>, old_address: &str) -> Result<(), PdError> {
    drain_store(pd, old_address).await
}

// ---------------------------------------------------------------- the board

#[derive(Clone, Debug, PartialEq)]
enum Leave {
    Running(String),
    Done,
    Failed(String),
}

#[derive(Default)]
struct Board {
    /// Departed member => how its removal from TiDB goes.
    leaves: HashMap<String, Leave>,
    /// Members whose stacks are being destroyed in this run.
    destroying: BTreeSet<String>,
}

/// Where a departing stack's destroy and the survivor's apply meet, per
/// site. The provider owns one for its process.
pub struct Leaves {
    boards: Mutex<HashMap<String, Board>>,
    changed: tokio::sync::watch::Sender<u64>,
}

impl Default for Leaves {
    fn default() -> Self {
        Leaves {
            boards: Mutex::default(),
            changed: tokio::sync::watch::channel(0).0,
        }
    }
}

/// How long a departing stack waits for a survivor to start removing it.
pub const LEAVE_GRACE: Duration = Duration::from_secs(10);

/// What a departing stack's destroy may do.
pub enum MayDelete {
    /// A survivor removed it from TiDB in this run.
    Removed,
    /// No survivor took it up: the whole site goes, or the survivors are
    /// not applied in this run (the message says what that means).
    NoSurvivor(Option<String>),
    /// The survivors tried and failed: keep the region.
    Refused(String),
}

impl Leaves {
    fn with_board<T>(&self, site: &str, f: impl FnOnce(&mut Board) -> T) -> T {
        let mut b = self.boards.lock().unwrap_or_else(|e| e.into_inner());
        let r = f(b.entry(site.to_string()).or_default());
        drop(b);
        self.changed.send_modify(|n| *n += 1);
        r
    }

    fn peek<T>(&self, site: &str, f: impl FnOnce(&Board) -> T) -> T {
        let mut b = self.boards.lock().unwrap_or_else(|e| e.into_inner());
        f(b.entry(site.to_string()).or_default())
    }

    /// Announces that `by` removes `name` from TiDB now.
    pub fn started(&self, site: &str, name: &str, by: &str) {
        self.with_board(site, |b| {
            b.leaves
                .insert(name.to_string(), Leave::Running(by.to_string()))
        });
    }

    /// How the removal of `name` ended (the error's text, for the region's
    /// destroy to say).
    pub fn finished<T, E: std::fmt::Display>(&self, site: &str, name: &str, r: &Result<T, E>) {
        self.with_board(site, |b| {
            b.leaves.insert(
                name.to_string(),
                match r {
                    Ok(_) => Leave::Done,
                    Err(e) => Leave::Failed(e.to_string()),
                },
            )
        });
    }

    /// Waits, bounded by `deadline`, for the survivors to remove `member`
    /// from TiDB before its objects are deleted.
    pub async fn wait_for_leave(
        &self,
        site: &str,
        member: &str,
        others: &[String],
        deadline: Instant,
    ) -> MayDelete {
        self.with_board(site, |b| b.destroying.insert(member.to_string()));
        let grace = Instant::now() + LEAVE_GRACE;
        loop {
            let mut rx = self.changed.subscribe();
            let (state, all_going) = self.peek(site, |b| {
                (
                    b.leaves.get(member).cloned(),
                    others.iter().all(|o| b.destroying.contains(o)),
                )
            });
            match state {
                Some(Leave::Done) => return MayDelete::Removed,
                Some(Leave::Failed(e)) => return MayDelete::Refused(e),
                Some(Leave::Running(_)) if Instant::now() < deadline => {}
                Some(Leave::Running(by)) => {
                    return MayDelete::Refused(format!("member {by} was still removing it from TiDB when the delete timeout passed"))
                }
                None if all_going => return MayDelete::NoSurvivor(None),
                None if Instant::now() >= grace => {
                    return MayDelete::NoSurvivor(Some(format!("no surviving member removed {member} from TiDB in this run (the alphabetically first remaining member does, when its `members` loses {member} in the same apply). If other members remain, its PD member and TiKV store are still registered: apply the survivors' new `members` (the next apply of the first survivor removes them).")))
                }
                None => {}
            }
            // woken by the board's next change, or at the nearer of the
            // grace's and the deadline's ends (the clocks this waits on)
            let until = if state.is_some() { deadline } else { grace };
            let _ = tokio::time::timeout_at(until, rx.changed()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_destroy_waits_for_the_survivor_and_hears_its_failure() {
        let board = std::sync::Arc::new(Leaves::default());
        let others = vec!["a".to_string(), "b".to_string()];
        let far = Instant::now() + Duration::from_secs(30);
        board.started("t-site", "c", "a");
        let w = tokio::spawn({
            let (others, board) = (others.clone(), board.clone());
            async move { board.wait_for_leave("t-site", "c", &others, far).await }
        });
        // the waiter has registered the destroy once the board says so
        while !board.peek("t-site", |b| b.destroying.contains("c")) {
            tokio::task::yield_now().await;
        }
        assert!(!w.is_finished(), "it waits while the survivor works");
        board.finished("t-site", "c", &Ok::<(), String>(()));
        assert!(matches!(w.await.unwrap(), MayDelete::Removed));
        board.finished::<(), _>("t-site", "d", &Err("PD refused"));
        match board.wait_for_leave("t-site", "d", &others, far).await {
            MayDelete::Refused(e) => assert_eq!(e, "PD refused"),
            _ => panic!("a failed removal keeps the region"),
        }
        // the whole site going: nobody waits for survivors
        let all = ["x".to_string()];
        board.wait_for_leave("t-site-2", "x", &[], far).await;
        assert!(matches!(
            board.wait_for_leave("t-site-2", "y", &all, far).await,
            MayDelete::NoSurvivor(None)
        ));
    }

    #[tokio::test]
    async fn boards_of_two_providers_do_not_meet() {
        let (one, two) = (Leaves::default(), Leaves::default());
        one.finished::<(), _>("s", "c", &Err("refused in one"));
        let far = Instant::now() + Duration::from_secs(30);
        // the other process's board knows nothing of it: all others are going
        assert!(matches!(
            two.wait_for_leave("s", "c", &[], far).await,
            MayDelete::NoSurvivor(None)
        ));
    }
}
