//! geowp-syncthing: everything SyncThing. [`identity`]: device identities
//! (ECDSA P-384 certificate and key, CN `syncthing`) and device IDs;
//! [`config`]: config.xml, rendered and parsed; [`rest`]: the REST API, for
//! the live exchange and status; [`group`]: the replication group's writes
//! through the Kubernetes API, shared by `geowp_sync_group` and
//! `geowp-helper sync`.

pub mod config;
pub mod group;
pub mod identity;
pub mod rest;

/// `tcp://host:port`, as SyncThing dials it.
pub fn valid_peer_address(a: &str) -> bool {
    a.strip_prefix("tcp://")
        .and_then(|r| r.rsplit_once(':'))
        .is_some_and(|(h, p)| {
            !h.is_empty()
                && !h.contains(|c: char| c.is_whitespace() || c == '/')
                && p.parse::<u16>().is_ok_and(|p| p > 0)
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn peer_addresses() {
        assert!(super::valid_peer_address("tcp://10.0.0.3:22000"));
        assert!(super::valid_peer_address("tcp://[::1]:22000"));
        for bad in [
            "10.0.0.3:22000",
            "tcp://:22000",
            "tcp://h:0",
            "tcp://h",
            "tcp://a b:1",
        ] {
            assert!(!super::valid_peer_address(bad), "{bad}");
        }
    }
}
