//! SyncThing's `config.xml` for one member of a geowp site: one shared
//! folder, every peer with its static address, discovery, relays, NAT
//! traversal, usage reporting, crash reporting and auto-upgrade off, the
//! GUI/REST API on localhost with a generated key.
//!
//! Written at config version 36, which SyncThing 1.19 (Debian) reads as is
//! and newer releases migrate forward. Every folder attribute is written:
//! SyncThing 1.19 reads a missing one as zero, not as its default (a zero
//! rescan interval with the watcher off means nothing ever syncs).

use std::fmt::Write as _;

pub const CONFIG_VERSION: u32 = 36;

/// Where a member keeps the versions of files that another member deleted
/// or overwrote (SyncThing's "staggered" versioning acts on changes that
/// arrive from peers): relative to the folder, so beside it, in the config
/// directory, outside wp-content and out of the web server's reach (the
/// default, `.stversions` inside the folder, would serve deleted uploads).
/// SyncThing 1.19 joins a relative `fsPath` to the folder's path
/// (lib/versioner/util.go `versionerFsFromFolderCfg`).
pub const VERSIONS_PATH: &str = "../config/versions";

/// How long versions are kept: 30 days. Staggered versioning keeps one
/// version per 30 s for the first hour, one per hour for the first day, one
/// per day for 30 days, then one per week until this age.
pub const VERSIONS_MAX_AGE_S: u32 = 30 * 24 * 3600;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub name: String,
    /// `tcp://host:port` addresses, or empty for `dynamic` (this device itself).
    pub addresses: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This member's own device ID.
    pub self_id: String,
    pub self_name: String,
    /// The other members.
    pub peers: Vec<Device>,
    pub folder_id: String,
    pub folder_label: String,
    pub folder_path: String,
    /// `tcp://0.0.0.0:22000`
    pub listen_address: String,
    /// `127.0.0.1:8384`
    pub gui_address: String,
    pub api_key: String,
    /// Periodic full rescan: catches writes made through other NFS clients,
    /// which inotify does not see.
    pub rescan_interval_s: u32,
    /// Delay after a filesystem-watcher event before syncing.
    pub watcher_delay_s: u32,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn device_xml(out: &mut String, d: &Device) {
    let _ = writeln!(
        out,
        "    <device id=\"{}\" name=\"{}\" compression=\"metadata\" introducer=\"false\" skipIntroductionRemovals=\"false\" introducedBy=\"\">",
        esc(&d.id),
        esc(&d.name)
    );
    if d.addresses.is_empty() {
        out.push_str("        <address>dynamic</address>\n");
    }
    for a in &d.addresses {
        let _ = writeln!(out, "        <address>{}</address>", esc(a));
    }
    out.push_str(
        "        <paused>false</paused>\n        <autoAcceptFolders>false</autoAcceptFolders>\n        <maxSendKbps>0</maxSendKbps>\n        <maxRecvKbps>0</maxRecvKbps>\n        <maxRequestKiB>0</maxRequestKiB>\n        <untrusted>false</untrusted>\n        <remoteGUIPort>0</remoteGUIPort>\n    </device>\n",
    );
}

/// The complete config.xml.
pub fn render(c: &Config) -> String {
    let mut out = String::with_capacity(4096);
    let _ = writeln!(out, "<configuration version=\"{CONFIG_VERSION}\">");
    let _ = writeln!(
        out,
        "    <folder id=\"{}\" label=\"{}\" path=\"{}\" type=\"sendreceive\" rescanIntervalS=\"{}\" fsWatcherEnabled=\"true\" fsWatcherDelayS=\"{}\" ignorePerms=\"false\" autoNormalize=\"true\">",
        esc(&c.folder_id),
        esc(&c.folder_label),
        esc(&c.folder_path),
        c.rescan_interval_s,
        c.watcher_delay_s
    );
    out.push_str("        <filesystemType>basic</filesystemType>\n");
    let mut ids: Vec<&str> = vec![c.self_id.as_str()];
    ids.extend(c.peers.iter().map(|p| p.id.as_str()));
    for id in ids {
        let _ = writeln!(out, "        <device id=\"{}\" introducedBy=\"\">\n            <encryptionPassword></encryptionPassword>\n        </device>", esc(id));
    }
    for (k, v) in [
        ("copiers", "0"),
        ("pullerMaxPendingKiB", "0"),
        ("hashers", "0"),
        ("order", "random"),
        ("ignoreDelete", "false"),
        ("scanProgressIntervalS", "0"),
        ("pullerPauseS", "0"),
        ("maxConflicts", "10"),
        ("disableSparseFiles", "false"),
        ("disableTempIndexes", "false"),
        ("paused", "false"),
        ("weakHashThresholdPct", "25"),
        ("markerName", ".stfolder"),
        ("copyOwnershipFromParent", "false"),
        ("modTimeWindowS", "0"),
        ("maxConcurrentWrites", "2"),
        ("disableFsync", "false"),
        ("blockPullOrder", "standard"),
        ("copyRangeMethod", "standard"),
        ("caseSensitiveFS", "false"),
        ("junctionsAsDirs", "false"),
    ] {
        if k == "copiers" {
            let _ = writeln!(
                out,
                "        <minDiskFree unit=\"%\">1</minDiskFree>\n        <versioning type=\"staggered\">\n            <param key=\"maxAge\" val=\"{VERSIONS_MAX_AGE_S}\"></param>\n            <cleanupIntervalS>3600</cleanupIntervalS>\n            <fsPath>{VERSIONS_PATH}</fsPath>\n            <fsType>basic</fsType>\n        </versioning>"
            );
        }
        let _ = writeln!(out, "        <{k}>{v}</{k}>");
    }
    out.push_str("    </folder>\n");
    device_xml(
        &mut out,
        &Device {
            id: c.self_id.clone(),
            name: c.self_name.clone(),
            addresses: vec![],
        },
    );
    for p in &c.peers {
        device_xml(&mut out, p);
    }
    let _ = writeln!(
        out,
        "    <gui enabled=\"true\" tls=\"false\" debugging=\"false\">\n        <address>{}</address>\n        <apikey>{}</apikey>\n        <theme>default</theme>\n    </gui>\n    <ldap></ldap>\n    <options>",
        esc(&c.gui_address),
        esc(&c.api_key)
    );
    let _ = writeln!(
        out,
        "        <listenAddress>{}</listenAddress>",
        esc(&c.listen_address)
    );
    for (k, v) in [
        ("globalAnnounceServer", "default"),
        ("globalAnnounceEnabled", "false"),
        ("localAnnounceEnabled", "false"),
        ("localAnnouncePort", "21027"),
        ("localAnnounceMCAddr", "[ff12::8384]:21027"),
        ("maxSendKbps", "0"),
        ("maxRecvKbps", "0"),
        ("reconnectionIntervalS", "10"),
        ("relaysEnabled", "false"),
        ("relayReconnectIntervalM", "10"),
        ("startBrowser", "false"),
        ("natEnabled", "false"),
        ("natLeaseMinutes", "60"),
        ("natRenewalMinutes", "30"),
        ("natTimeoutSeconds", "10"),
        ("urAccepted", "-1"),
        ("urSeen", "3"),
        ("urUniqueID", ""),
        ("urURL", "https://data.syncthing.net/newdata"),
        ("urPostInsecurely", "false"),
        ("urInitialDelayS", "1800"),
        ("restartOnWakeup", "true"),
        ("autoUpgradeIntervalH", "0"),
        ("upgradeToPreReleases", "false"),
        ("keepTemporariesH", "24"),
        ("cacheIgnoredFiles", "false"),
        ("progressUpdateIntervalS", "5"),
        ("limitBandwidthInLan", "false"),
        ("releasesURL", "https://upgrades.syncthing.net/meta.json"),
        ("overwriteRemoteDeviceNamesOnConnect", "false"),
        ("tempIndexMinBlocks", "10"),
        ("trafficClass", "0"),
        ("setLowPriority", "true"),
        ("maxFolderConcurrency", "0"),
        ("crashReportingURL", "https://crash.syncthing.net/newcrash"),
        ("crashReportingEnabled", "false"),
        ("stunKeepaliveStartS", "180"),
        ("stunKeepaliveMinS", "20"),
        ("stunServer", "default"),
        ("databaseTuning", "auto"),
        ("maxConcurrentIncomingRequestKiB", "0"),
        ("announceLANAddresses", "false"),
        ("sendFullIndexOnUpgrade", "false"),
        ("connectionLimitEnough", "0"),
        ("connectionLimitMax", "0"),
        ("insecureAllowOldTLSVersions", "false"),
    ] {
        if k == "releasesURL" {
            out.push_str("        <minHomeDiskFree unit=\"%\">1</minHomeDiskFree>\n");
        }
        let _ = writeln!(out, "        <{k}>{v}</{k}>");
    }
    out.push_str("    </options>\n</configuration>\n");
    out
}

fn unesc(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let rest = &tag[tag.find(&key)? + key.len()..];
    Some(unesc(&rest[..rest.find('"')?]))
}

fn element<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let rest = &s[s.find(&open)? + open.len()..];
    Some(&rest[..rest.find(&close)?])
}

/// Reads back a config.xml written by [`render`] (not SyncThing's own
/// files in general): the member it belongs to is the device with the
/// `dynamic` address. None when the text is not in that shape.
pub fn parse(xml: &str) -> Option<Config> {
    let folder_tag = &xml[xml.find("\n    <folder ")?..];
    let folder_tag = &folder_tag[..folder_tag.find('>')?];
    let mut devices = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find("\n    <device ") {
        let block = &rest[i..];
        let end = block.find("</device>")?;
        let (body, tag) = (&block[..end], &block[..block.find('>')?]);
        let mut addresses = Vec::new();
        let mut b = body;
        while let Some(a) = b.find("<address>") {
            let v = &b[a + 9..];
            let e = v.find("</address>")?;
            addresses.push(unesc(&v[..e]));
            b = &v[e..];
        }
        devices.push(Device {
            id: attr(tag, "id")?,
            name: attr(tag, "name")?,
            addresses,
        });
        rest = &block[end..];
    }
    let me = devices.iter().position(|d| d.addresses == ["dynamic"])?;
    let this = devices.remove(me);
    let gui = &xml[xml.find("\n    <gui ")?..];
    Some(Config {
        self_id: this.id,
        self_name: this.name,
        peers: devices,
        folder_id: attr(folder_tag, "id")?,
        folder_label: attr(folder_tag, "label")?,
        folder_path: attr(folder_tag, "path")?,
        listen_address: unesc(element(xml, "listenAddress")?),
        gui_address: unesc(element(gui, "address")?),
        api_key: unesc(element(gui, "apikey")?),
        rescan_interval_s: attr(folder_tag, "rescanIntervalS")?.parse().ok()?,
        watcher_delay_s: attr(folder_tag, "fsWatcherDelayS")?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_back_what_render_wrote() {
        let c = Config {
            self_id: "AAA".into(),
            self_name: "us & east".into(),
            peers: vec![
                Device {
                    id: "BBB".into(),
                    name: "eu".into(),
                    addresses: vec!["tcp://10.1.0.3:22000".into()],
                },
                Device {
                    id: "CCC".into(),
                    name: "ap".into(),
                    addresses: vec!["tcp://[::1]:22000".into(), "tcp://h:1".into()],
                },
            ],
            folder_id: "wp-content".into(),
            folder_label: "Site <files>".into(),
            folder_path: "/var/syncthing/data".into(),
            listen_address: "tcp://0.0.0.0:22000".into(),
            gui_address: "127.0.0.1:8384".into(),
            api_key: "k\"ey".into(),
            rescan_interval_s: 60,
            watcher_delay_s: 1,
        };
        assert_eq!(parse(&render(&c)), Some(c));
        assert_eq!(parse("<configuration/>"), None);
        assert_eq!(parse(""), None);
    }

    fn cfg() -> Config {
        Config {
            self_id: "AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA".into(),
            self_name: "us-east".into(),
            peers: vec![Device {
                id: "BBBBBBB-BBBBBBB-BBBBBBB-BBBBBBB-BBBBBBB-BBBBBBB-BBBBBBB-BBBBBBB".into(),
                name: "eu-west".into(),
                addresses: vec!["tcp://10.0.0.2:22000".into()],
            }],
            folder_id: "wp-content".into(),
            folder_label: "WordPress <content>".into(),
            folder_path: "/var/syncthing/data".into(),
            listen_address: "tcp://0.0.0.0:22000".into(),
            gui_address: "127.0.0.1:8384".into(),
            api_key: "k".into(),
            rescan_interval_s: 60,
            watcher_delay_s: 1,
        }
    }

    #[test]
    fn renders_version_folder_attributes_peers_and_private_options() {
        let x = render(&cfg());
        assert!(x.starts_with("<configuration version=\"36\">"));
        assert!(
            x.contains("rescanIntervalS=\"60\" fsWatcherEnabled=\"true\" fsWatcherDelayS=\"1\"")
        );
        assert!(x.contains("<address>tcp://10.0.0.2:22000</address>"));
        assert_eq!(
            x.matches("<device id=\"BBBBBBB").count(),
            2,
            "peer shares the folder and is a device"
        );
        for off in [
            "globalAnnounceEnabled",
            "localAnnounceEnabled",
            "relaysEnabled",
            "natEnabled",
            "crashReportingEnabled",
        ] {
            assert!(x.contains(&format!("<{off}>false</{off}>")), "{off}");
        }
        assert!(
            x.contains("<urAccepted>-1</urAccepted>")
                && x.contains("<autoUpgradeIntervalH>0</autoUpgradeIntervalH>")
        );
        assert!(x.contains("<address>127.0.0.1:8384</address>"));
        assert!(
            x.contains("label=\"WordPress &lt;content&gt;\""),
            "XML is escaped"
        );
    }
}
