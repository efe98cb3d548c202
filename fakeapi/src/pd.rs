//! A small fake of one TiDB cluster's PD, shared by the fake API servers of
//! every region of a site, so lifecycle tests can be honest about what a
//! real PD would accept. It is reached the way geowp reaches a real one:
//! the fake API server's Job controller runs a Job whose container is
//! `/pd-ctl` by answering that pd-ctl command from this model (its output,
//! as pd-ctl prints it, becomes the Job pod's log); PD and TiKV
//! StatefulSets become ready only if this model lets their arguments start.
//!
//! Written from PD's documented HTTP API and pd-ctl's documentation and
//! source (tikv/pd `tools/pd-ctl`, `server/api`). What it models: members
//! with client and peer URLs, leader and leader priority, bootstrap by
//! `--initial-cluster` (a later `--initial-cluster` that is not the one the
//! cluster was bootstrapped with is refused, as etcd's "cluster ID
//! mismatch"), `--join` (refused for a name that is already a member, as
//! PD's "join a duplicated pd"), member delete, leader transfer, stores by
//! address with states Up, Offline and Tombstone, store delete refused when
//! fewer Up stores than max-replicas (3) would remain (PD's
//! ErrStoresNotEnough), PD's one evict-leader scheduler holding any number
//! of stores (pd-ctl's v8.5.7 answers), member and store versions (the
//! image tags they started from), leader counts, health.
//! What it does not: Raft, regions and their data (an Offline store
//! becomes Tombstone after a fixed delay, as if its regions had moved),
//! timestamps, TLS (the certificate flags are accepted and ignored), and
//! pd-ctl output beyond the fields geowp reads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long an Offline store takes to become Tombstone.
pub const DRAIN: Duration = Duration::from_millis(1500);
const MAX_REPLICAS: usize = 3;
/// PD's one evict-leader scheduler (tikv/pd@v8.5.7 pkg/schedule/types/type.go).
const EVICT: &str = "evict-leader-scheduler";
/// Leaders of the simulated regions, spread over the Up stores.
const REGIONS: u64 = 60;

#[derive(Clone, Debug)]
struct Member {
    id: u64,
    client_urls: String,
    peer_urls: String,
    priority: i64,
    down: bool,
    /// What `pd-ctl member` reports as `binary_version` (the image's tag).
    version: String,
}

#[derive(Clone, Debug)]
struct Store {
    address: String,
    zone: String,
    /// What `pd-ctl store` reports as the store's `version`.
    version: String,
    offline_since: Option<Instant>,
    down: bool,
}

impl Store {
    fn state(&self) -> &'static str {
        match self.offline_since {
            None => "Up",
            Some(t) if t.elapsed() < DRAIN => "Offline",
            Some(_) => "Tombstone",
        }
    }
}

#[derive(Default, Debug)]
struct State {
    /// The `--initial-cluster` the cluster was bootstrapped with.
    bootstrapped: Option<String>,
    members: BTreeMap<String, Member>,
    leader: Option<String>,
    stores: BTreeMap<u64, Store>,
    next_id: u64,
    /// The stores in PD's one evict-leader scheduler (`store-id-ranges`);
    /// the scheduler exists while this is not empty.
    evicting: BTreeSet<u64>,
    log: Vec<String>,
}

/// One site's PD cluster.
#[derive(Default, Debug)]
pub struct FakePd {
    s: Mutex<State>,
}

fn flag<'a>(args: &'a [String], f: &str) -> Option<&'a str> {
    args.iter().find_map(|a| a.strip_prefix(f))
}

/// The version a PD or TiKV container image runs, as PD reports it: the
/// image tag without its `v` (`pingcap/pd:v8.5.7` -> `8.5.7`); empty
/// without a tag.
pub fn version_of_image(image: &str) -> String {
    let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
    if tag.contains('/') {
        return String::new();
    }
    tag.strip_prefix('v').unwrap_or(tag).to_string()
}

fn host_port(url: &str) -> &str {
    url.split_once("://").map(|(_, r)| r).unwrap_or(url)
}

impl FakePd {
    pub fn new() -> FakePd {
        FakePd::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.s.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What happened, a line per event (starts, refusals, pd-ctl commands).
    pub fn log(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    /// Member names, sorted.
    pub fn members(&self) -> Vec<String> {
        self.lock().members.keys().cloned().collect()
    }

    pub fn leader(&self) -> Option<String> {
        self.lock().leader.clone()
    }

    /// (address, state) of every store, Tombstones included.
    pub fn stores(&self) -> Vec<(String, String)> {
        self.lock()
            .stores
            .values()
            .map(|s| (s.address.clone(), s.state().to_string()))
            .collect()
    }

    /// A region lost: its PD and TiKV stop answering (they stay members).
    pub fn set_down(&self, member: &str, tikv_address: &str, down: bool) {
        let mut s = self.lock();
        if let Some(m) = s.members.get_mut(member) {
            m.down = down;
        }
        for st in s.stores.values_mut() {
            if st.address == tikv_address {
                st.down = down;
            }
        }
        if down && s.leader.as_deref() == Some(member) {
            s.elect();
        }
        s.log
            .push(format!("{member}: {}", if down { "down" } else { "up" }));
    }

    /// The process started with `args` (a PD's or a TiKV's) is gone: its
    /// pod was replaced by one that never starts. A PD member is down (and
    /// loses its leadership), a store stops answering; both stay registered.
    pub fn process_gone(&self, args: &[String]) {
        let mut s = self.lock();
        let what = if let Some(name) = flag(args, "--name=") {
            match s.members.get_mut(name) {
                Some(m) if !m.down => m.down = true,
                _ => return,
            }
            if s.leader.as_deref() == Some(name) {
                s.elect();
            }
            format!("pd {name}")
        } else if let Some(addr) = flag(args, "--advertise-addr=") {
            let mut changed = false;
            for st in s.stores.values_mut() {
                if st.address == addr && !st.down {
                    st.down = true;
                    changed = true;
                }
            }
            if !changed {
                return;
            }
            format!("tikv {addr}")
        } else {
            return;
        };
        s.log.push(format!("{what}: gone"));
    }

    /// A PD process of `image` starting with these arguments: Err(why) when
    /// a real PD would exit.
    pub fn start_pd(&self, args: &[String], image: &str) -> Result<(), String> {
        let mut s = self.lock();
        let r = s.start_pd(args, &version_of_image(image));
        let name = flag(args, "--name=").unwrap_or("?").to_string();
        s.log.push(match &r {
            Ok(()) => format!("pd {name}: started"),
            Err(e) => format!("pd {name}: refused: {e}"),
        });
        r
    }

    /// A TiKV process of `image` starting: registers (or revives) its store.
    pub fn start_tikv(&self, args: &[String], zone: &str, image: &str) -> Result<(), String> {
        let mut s = self.lock();
        let r = s.start_tikv(args, zone, &version_of_image(image));
        let addr = flag(args, "--advertise-addr=").unwrap_or("?").to_string();
        s.log.push(match &r {
            Ok(()) => format!("tikv {addr}: started"),
            Err(e) => format!("tikv {addr}: refused: {e}"),
        });
        r
    }

    /// Runs a pd-ctl command line (without the `/pd-ctl` itself): what it
    /// prints. Like pd-ctl, failures are printed, not an exit status.
    pub fn ctl(&self, args: &[String]) -> String {
        let mut s = self.lock();
        let mut words: Vec<&str> = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "-u" | "--pd" | "--cacert" | "--cert" | "--key" => {
                    it.next();
                }
                x if x.starts_with("--") => {}
                x => words.push(x),
            }
        }
        let out = s.ctl(&words);
        s.log.push(format!(
            "pd-ctl {}: {}",
            words.join(" "),
            out.lines().next().unwrap_or("")
        ));
        out
    }
}

impl State {
    fn alive(&self) -> impl Iterator<Item = (&String, &Member)> {
        self.members.iter().filter(|(_, m)| !m.down)
    }

    fn elect(&mut self) {
        let best = self
            .alive()
            .max_by_key(|(n, m)| (m.priority, std::cmp::Reverse((*n).clone())))
            .map(|(n, _)| n.clone());
        self.leader = best;
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn start_pd(&mut self, args: &[String], version: &str) -> Result<(), String> {
        let name = flag(args, "--name=").ok_or("no --name")?.to_string();
        let client = flag(args, "--advertise-client-urls=")
            .unwrap_or("")
            .to_string();
        let peer = flag(args, "--advertise-peer-urls=")
            .unwrap_or("")
            .to_string();
        if let Some(m) = self.members.get_mut(&name) {
            if m.peer_urls == peer {
                // a restart over its data directory: flags of the first start no longer matter
                m.down = false;
                m.client_urls = client;
                m.version = version.to_string();
                if self.leader.is_none() {
                    self.elect();
                }
                return Ok(());
            }
            if flag(args, "--join=").is_some() {
                return Err(format!("join a duplicated pd: a member named {name} already exists (at {}); delete it first (pd-ctl member delete name {name})", m.peer_urls));
            }
        }
        match (flag(args, "--initial-cluster="), flag(args, "--join=")) {
            (Some(_), Some(_)) => Err("--initial-cluster and --join are exclusive".into()),
            (Some(initial), None) => {
                if !initial.split(',').any(|e| e == format!("{name}={peer}")) {
                    return Err(format!(
                        "--initial-cluster {initial} does not list this member ({name}={peer})"
                    ));
                }
                match &self.bootstrapped {
                    Some(b) if b != initial => Err(format!(
                        "etcd cluster ID mismatch: the cluster was bootstrapped with --initial-cluster={b}; a member added later must start with --join"
                    )),
                    _ => {
                        self.bootstrapped = Some(initial.to_string());
                        let id = self.id();
                        self.members.insert(
                            name,
                            Member { id, client_urls: client, peer_urls: peer, priority: 0, down: false, version: version.to_string() },
                        );
                        if self.leader.is_none() {
                            self.elect();
                        }
                        Ok(())
                    }
                }
            }
            (None, Some(join)) => {
                if self.bootstrapped.is_none() {
                    return Err("join: there is no cluster to join yet".into());
                }
                let reachable = join.split(',').any(|u| {
                    self.alive()
                        .any(|(_, m)| host_port(&m.client_urls) == host_port(u))
                });
                if !reachable {
                    return Err(format!("join: no running member answers at {join}"));
                }
                let id = self.id();
                self.members.insert(
                    name,
                    Member {
                        id,
                        client_urls: client,
                        peer_urls: peer,
                        priority: 0,
                        down: false,
                        version: version.to_string(),
                    },
                );
                Ok(())
            }
            (None, None) => Err("neither --initial-cluster nor --join".into()),
        }
    }

    fn start_tikv(&mut self, args: &[String], zone: &str, version: &str) -> Result<(), String> {
        let addr = flag(args, "--advertise-addr=")
            .ok_or("no --advertise-addr")?
            .to_string();
        let pds = flag(args, "--pd=").unwrap_or("");
        let reachable = pds
            .split(',')
            .any(|p| self.alive().any(|(_, m)| host_port(&m.client_urls) == p));
        if !reachable {
            return Err(format!("no PD answers at {pds}"));
        }
        if let Some(st) = self
            .stores
            .values_mut()
            .find(|s| s.address == addr && s.state() != "Tombstone")
        {
            st.down = false;
            st.version = version.to_string();
            return Ok(());
        }
        let id = self.id();
        self.stores.insert(
            id,
            Store {
                address: addr,
                zone: zone.into(),
                version: version.to_string(),
                offline_since: None,
                down: false,
            },
        );
        Ok(())
    }

    fn up_stores(&self) -> Vec<u64> {
        self.stores
            .iter()
            .filter(|(_, s)| s.state() == "Up")
            .map(|(id, _)| *id)
            .collect()
    }

    fn leader_counts(&self) -> BTreeMap<u64, u64> {
        let takers: Vec<u64> = self
            .up_stores()
            .into_iter()
            .filter(|id| !self.stores[id].down && !self.evicting.contains(id))
            .collect();
        let mut out: BTreeMap<u64, u64> = self.stores.keys().map(|k| (*k, 0)).collect();
        for r in 0..REGIONS {
            if let Some(id) = takers.get((r as usize) % takers.len().max(1)) {
                *out.entry(*id).or_default() += 1;
            }
        }
        out
    }

    fn member_json(&self, name: &str, m: &Member) -> Value {
        json!({"name": name, "member_id": m.id, "client_urls": [m.client_urls], "peer_urls": [m.peer_urls],
            "leader_priority": m.priority, "binary_version": m.version})
    }

    fn ctl(&mut self, w: &[&str]) -> String {
        let pretty = |v: Value| serde_json::to_string_pretty(&v).unwrap_or_default();
        if self.alive().next().is_none() {
            return "Failed to get the leader: no PD answers".into();
        }
        match w {
            ["member"] | ["member", "show"] => {
                let members: Vec<Value> = self.members.iter().map(|(n, m)| self.member_json(n, m)).collect();
                let leader = self.leader.as_ref().and_then(|l| self.members.get(l).map(|m| self.member_json(l, m)));
                pretty(json!({"header": {"cluster_id": 1}, "members": members, "leader": leader}))
            }
            ["member", "leader", "show"] => match self.leader.as_ref().and_then(|l| self.members.get(l).map(|m| self.member_json(l, m))) {
                Some(v) => pretty(v),
                None => "Failed to get the leader: no leader".into(),
            },
            ["member", "leader", "transfer", to] => match self.members.get(*to) {
                Some(m) if !m.down => {
                    self.leader = Some(to.to_string());
                    "Success!".into()
                }
                _ => format!("Failed to transfer leader: member {to} is not a running member"),
            },
            ["member", "leader_priority", name, n] => match (self.members.get_mut(*name), n.parse::<i64>()) {
                (Some(m), Ok(p)) => {
                    m.priority = p;
                    "Success!".into()
                }
                _ => format!("Failed to set leader priority: member {name} not found"),
            },
            ["member", "delete", "name", name] => {
                if !self.members.contains_key(*name) {
                    return format!("Failed to delete member {name}: [404] member not found");
                }
                let remaining = self.alive().filter(|(n, _)| n.as_str() != *name).count();
                if remaining * 2 < self.members.len() {
                    return format!("Failed to delete member {name}: no quorum would remain");
                }
                self.members.remove(*name);
                if self.leader.as_deref() == Some(*name) {
                    self.elect();
                }
                "Success!".into()
            }
            ["health"] => pretty(Value::Array(
                self.members
                    .iter()
                    .map(|(n, m)| json!({"name": n, "member_id": m.id, "client_urls": [m.client_urls], "health": !m.down}))
                    .collect(),
            )),
            ["store"] => {
                let counts = self.leader_counts();
                let stores: Vec<Value> = self
                    .stores
                    .iter()
                    .filter(|(_, s)| s.state() != "Tombstone")
                    .map(|(id, s)| {
                        let state = if s.down && s.state() == "Up" { "Disconnected" } else { s.state() };
                        json!({"store": {"id": id, "address": s.address, "labels": [{"key": "zone", "value": s.zone}],
                            "version": s.version, "state_name": state},
                            "status": {"leader_count": counts.get(id).copied().unwrap_or(0), "region_count": REGIONS}})
                    })
                    .collect();
                pretty(json!({"count": stores.len(), "stores": stores}))
            }
            ["store", "delete", "addr", addr] => {
                let Some(id) = self
                    .stores
                    .iter()
                    .find(|(_, s)| s.address == *addr && s.state() != "Tombstone")
                    .map(|(id, _)| *id)
                else {
                    return format!("address not found: {addr}");
                };
                self.delete_store(id)
            }
            ["store", "delete", id] => match id.parse::<u64>() {
                Ok(id) if self.stores.contains_key(&id) => self.delete_store(id),
                _ => format!("Failed to delete store {id}: [404] store not found"),
            },
            // tikv/pd@v8.5.7 tools/pd-ctl/pdctl/command/scheduler.go: `scheduler
            // add evict-leader-scheduler` creates the one scheduler or, when it
            // exists, adds the store to its configuration (205-232, 731-753);
            // `scheduler remove evict-leader-scheduler-ID` deletes the store
            // from it (531-546, 865-887), the last one taking the scheduler
            // with it (pkg/schedule/schedulers/evict_leader.go:204-231); pd-ctl
            // prints `Success! ` and PD's answer (global.go:297-302)
            ["scheduler", "show"] => {
                let mut names = vec!["balance-leader-scheduler", "balance-region-scheduler"];
                if !self.evicting.is_empty() {
                    names.push(EVICT);
                }
                pretty(json!(names))
            }
            ["scheduler", "add", EVICT, id] => match id.parse::<u64>() {
                Ok(n) if self.stores.contains_key(&n) => {
                    let created = self.evicting.is_empty();
                    self.evicting.insert(n);
                    if created {
                        "Success! The scheduler is created.".into()
                    } else {
                        "Success! The scheduler has been applied to the store.".into()
                    }
                }
                Ok(n) => format!("Failed! [500] \"[PD:core:ErrStoreNotFound]store id {n} not found\""),
                Err(e) => format!("strconv.ParseUint: parsing {id:?}: {e}"),
            },
            ["scheduler", "config", EVICT] => {
                if self.evicting.is_empty() {
                    // scheduler.go:775-779
                    return "[404] scheduler not found".into();
                }
                let ranges: serde_json::Map<String, Value> = self
                    .evicting
                    .iter()
                    .map(|id| (id.to_string(), json!([{"start-key": "", "end-key": ""}])))
                    .collect();
                pretty(json!({"store-id-ranges": ranges, "batch": 3}))
            }
            ["scheduler", "remove", name] if name.starts_with(EVICT) && *name != EVICT => {
                if self.evicting.is_empty() {
                    return format!("Unable to update config: scheduler {EVICT} does not exist.");
                }
                let id = name.rsplit('-').next().unwrap_or("");
                match id.parse::<u64>() {
                    Ok(n) if self.evicting.remove(&n) => "Success!".into(),
                    Ok(_) => "[404] \"[PD:scheduler:ErrScheduleConfigNotExist]the config does not exist\"".into(),
                    Err(e) => format!("[400] \"strconv.ParseUint: parsing {id:?}: {e}\""),
                }
            }
            ["scheduler", "remove", EVICT] => {
                if self.evicting.is_empty() {
                    return "[404] \"[PD:scheduler:ErrSchedulerNotFound]scheduler not found\"".into();
                }
                self.evicting.clear();
                "Success!".into()
            }
            other => format!("unknown command: {}", other.join(" ")),
        }
    }

    fn delete_store(&mut self, id: u64) -> String {
        if self.stores[&id].state() != "Up" {
            return "Success!".into();
        }
        let would = self.up_stores().len() - 1;
        if would < MAX_REPLICAS {
            return format!("Failed to delete store {id}: [PD:core:ErrStoresNotEnough]can not remove store {id} since the number of up stores would be {would} while need {MAX_REPLICAS}");
        }
        if let Some(s) = self.stores.get_mut(&id) {
            s.offline_since = Some(Instant::now());
        }
        "Success!".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|x| x.to_string()).collect()
    }
    const INITIAL: &str = "a=http://a:2380,b=http://b:2380,c=http://c:2380";
    const IMAGE: &str = "pingcap/pd:v8.5.7";

    fn pd(name: &str, extra: &str) -> Vec<String> {
        v(&[
            &format!("--name={name}"),
            &format!("--advertise-client-urls=http://{name}:2379"),
            &format!("--advertise-peer-urls=http://{name}:2380"),
            extra,
        ])
    }

    fn founded() -> FakePd {
        let p = FakePd::new();
        for n in ["a", "b", "c"] {
            p.start_pd(&pd(n, &format!("--initial-cluster={INITIAL}")), IMAGE)
                .unwrap();
            p.start_tikv(
                &v(&[&format!("--advertise-addr={n}:20160"), "--pd=a:2379"]),
                n,
                "pingcap/tikv:v8.5.7",
            )
            .unwrap();
        }
        p
    }

    #[test]
    fn a_later_member_must_join_and_a_duplicate_cannot() {
        let p = founded();
        let four = "a=http://a:2380,b=http://b:2380,c=http://c:2380,d=http://d:2380";
        let e = p
            .start_pd(&pd("d", &format!("--initial-cluster={four}")), IMAGE)
            .unwrap_err();
        assert!(e.contains("cluster ID mismatch"), "{e}");
        p.start_pd(&pd("d", "--join=http://a:2379"), IMAGE).unwrap();
        assert_eq!(p.members(), ["a", "b", "c", "d"]);
        let mut moved = pd("b", "--join=http://a:2379");
        moved[2] = "--advertise-peer-urls=http://b2:2380".into();
        assert!(p
            .start_pd(&moved, IMAGE)
            .unwrap_err()
            .contains("duplicated"));
    }

    #[test]
    fn store_delete_is_refused_below_three_up_stores_and_drains_to_tombstone() {
        let p = founded();
        let out = p.ctl(&v(&[
            "-u",
            "http://a:2379",
            "store",
            "delete",
            "addr",
            "c:20160",
        ]));
        assert!(out.contains("ErrStoresNotEnough"), "{out}");
        p.start_tikv(&v(&["--advertise-addr=d:20160", "--pd=a:2379"]), "d", IMAGE)
            .unwrap();
        assert_eq!(
            p.ctl(&v(&["store", "delete", "addr", "c:20160"])),
            "Success!"
        );
        assert!(p.ctl(&v(&["store"])).contains("\"Offline\""));
        std::thread::sleep(DRAIN);
        assert!(!p.ctl(&v(&["store"])).contains("c:20160"));
        assert!(p.stores().contains(&("c:20160".into(), "Tombstone".into())));
    }

    #[test]
    fn leader_moves_on_delete_transfer_and_down() {
        let p = founded();
        let l = p.leader().unwrap();
        assert_eq!(p.ctl(&v(&["member", "delete", "name", &l])), "Success!");
        assert_ne!(p.leader().unwrap(), l);
        let other = p
            .members()
            .into_iter()
            .find(|m| Some(m) != p.leader().as_ref())
            .unwrap();
        assert_eq!(
            p.ctl(&v(&["member", "leader", "transfer", &other])),
            "Success!"
        );
        assert_eq!(p.leader().unwrap(), other);
        p.set_down(&other, "x", true);
        assert_ne!(p.leader().unwrap(), other);
        assert!(p
            .ctl(&v(&["member", "delete", "name", "zz"]))
            .starts_with("Failed"));
    }

    #[test]
    fn one_evict_leader_scheduler_holds_many_stores_as_pd_v8_5_7_prints() {
        let p = founded();
        let ctl = |w: &[&str]| p.ctl(&v(w));
        assert_eq!(
            ctl(&["scheduler", "config", EVICT]),
            "[404] scheduler not found"
        );
        assert_eq!(
            ctl(&["scheduler", "add", EVICT, "4"]),
            "Success! The scheduler is created."
        );
        assert_eq!(
            ctl(&["scheduler", "add", EVICT, "6"]),
            "Success! The scheduler has been applied to the store."
        );
        let conf: Value = serde_json::from_str(&ctl(&["scheduler", "config", EVICT])).unwrap();
        let ids: Vec<&String> = conf["store-id-ranges"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(ids, ["4", "6"]);
        let stores: Value = serde_json::from_str(&ctl(&["store"])).unwrap();
        let leaders = |id: u64| {
            stores["stores"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["store"]["id"] == id)
                .unwrap()["status"]["leader_count"]
                .as_u64()
                .unwrap()
        };
        assert_eq!((leaders(4), leaders(6), leaders(2)), (0, 0, REGIONS));
        assert_eq!(stores["stores"][0]["store"]["version"], "8.5.7");
        assert!(ctl(&["scheduler", "remove", "evict-leader-scheduler-2"])
            .contains("ErrScheduleConfigNotExist"));
        assert_eq!(
            ctl(&["scheduler", "remove", "evict-leader-scheduler-4"]),
            "Success!"
        );
        assert_eq!(
            ctl(&["scheduler", "remove", "evict-leader-scheduler-6"]),
            "Success!"
        );
        assert_eq!(
            ctl(&["scheduler", "remove", "evict-leader-scheduler-6"]),
            "Unable to update config: scheduler evict-leader-scheduler does not exist."
        );
        let members: Value = serde_json::from_str(&ctl(&["member"])).unwrap();
        assert_eq!(members["members"][0]["binary_version"], "8.5.7");
        p.start_pd(
            &pd("a", &format!("--initial-cluster={INITIAL}")),
            "pingcap/pd:v8.5.8",
        )
        .unwrap();
        let members: Value = serde_json::from_str(&ctl(&["member"])).unwrap();
        assert_eq!(members["members"][0]["binary_version"], "8.5.8");
    }
}
