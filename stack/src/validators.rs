//! What geowp's attribute values must be, each rule once. Every validator
//! says what is wrong and what to write instead; the schema walk adds the
//! attribute path. Rules follow what the consumer of the value accepts:
//! Kubernetes' name and label grammars (RFC 1123), its quantity grammar,
//! HTTP header rules for tokens, PHP string rules for the site URL.

use tfplugin_model::validate::Validator;

/// An RFC 1123 DNS label of at most `max` characters: lowercase letters,
/// digits and '-', starting and ending with a letter or digit.
pub fn is_dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// An RFC 1123 DNS subdomain: dot-separated DNS labels, at most 253.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(|l| is_dns_label(l, 63))
}

/// A DNS label for something that becomes part of object names and label
/// values in every cluster.
pub fn dns_label(what: &'static str, max: usize, example: &'static str) -> Validator {
    Validator::string(
        &format!("Invalid {what}"),
        &format!("a DNS label of at most {max} characters"),
        move |s| {
            if is_dns_label(s, max) {
                Ok(())
            } else {
                Err(format!("{s:?} is not a DNS label: use 1 to {max} lowercase letters, digits and '-', starting and ending with a letter or digit, e.g. {example:?}."))
            }
        },
    )
}

/// A Kubernetes label value: at most 63 of letters, digits, '-', '_' and
/// '.', starting and ending with a letter or digit.
pub fn label_value(what: &'static str) -> Validator {
    Validator::string(
        &format!("Invalid {what}"),
        "a Kubernetes label value",
        |s| {
            let ok = !s.is_empty()
                && s.len() <= 63
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                && s.starts_with(|c: char| c.is_ascii_alphanumeric())
                && s.ends_with(|c: char| c.is_ascii_alphanumeric());
            if ok {
                Ok(())
            } else {
                Err(format!("{s:?} is not a Kubernetes label value: at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit, e.g. \"us-east1-b\"."))
            }
        },
    )
}

/// The name of a StorageClass (a DNS subdomain).
pub fn storage_class() -> Validator {
    Validator::string("Invalid storage class", "a DNS subdomain", |s| {
        if is_dns_subdomain(s) {
            Ok(())
        } else {
            Err(format!("{s:?} is not a StorageClass name: lowercase letters, digits, '-' and '.', e.g. \"premium-rwo\" (see kubectl get storageclass)."))
        }
    })
}

/// Map keys that must not be empty (a StorageClass's parameters: the API
/// server answers an empty key with "field can not be empty.").
pub fn no_empty_keys(what: &'static str) -> Validator {
    Validator::new(
        &format!("Invalid {what}"),
        "keys that are not empty",
        move |v| {
            if v.as_map()
                .is_some_and(|m| m.iter().any(|(k, _)| k.is_empty()))
            {
                Err(format!("{what} has an empty key; every key must name a parameter of the StorageClass's driver."))
            } else {
                Ok(())
            }
        },
    )
}

/// Parses a Kubernetes quantity (`10Gi`, `500M`, `1.5`, `2e3`) into its
/// value in base units; None when it is not one (the API server's grammar:
/// [`geowp_common::quantity`]).
pub fn quantity(s: &str) -> Option<f64> {
    geowp_common::quantity::Quantity::parse(s).map(|q| q.as_f64())
}

/// A Kubernetes quantity greater than zero.
pub fn positive_quantity(example: &'static str) -> Validator {
    Validator::string(
        "Invalid quantity",
        "a Kubernetes quantity such as 10Gi",
        move |s| {
            match quantity(s) {
            Some(q) if q > 0.0 => Ok(()),
            Some(_) => Err(format!("{s:?} is zero: give a size greater than zero, e.g. {example:?}.")),
            None => Err(format!("{s:?} is not a Kubernetes quantity: a number with an optional suffix (Ki, Mi, Gi, Ti or k, M, G, T), no spaces, e.g. {example:?}.")),
        }
        },
    )
}

fn host_ok(h: &str) -> bool {
    if let Some(inner) = h.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !h.is_empty()
        && h.len() <= 253
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
}

/// `host:port` with a port from 1 to 65535 (IPv6 hosts in brackets).
pub fn split_host_port(hp: &str) -> Option<(&str, u16)> {
    let (h, p) = hp.rsplit_once(':')?;
    let port: u16 = p.parse().ok().filter(|p| *p > 0)?;
    host_ok(h).then_some((h, port))
}

/// `host:port`.
pub fn host_port(example: &'static str) -> Validator {
    Validator::string("Invalid address", "host:port", move |s| {
        if split_host_port(s).is_some() {
            Ok(())
        } else {
            Err(format!(
                "{s:?} is not host:port with a port from 1 to 65535, e.g. {example:?}."
            ))
        }
    })
}

/// A SyncThing peer address, `tcp://host:port` as SyncThing dials it (a
/// trailing `/` allowed): the one rule for members' addresses, the sync
/// group's, and the helper's `--address`.
pub fn is_syncthing_address(s: &str) -> bool {
    s.strip_prefix("tcp://")
        .and_then(|rest| split_host_port(rest.strip_suffix('/').unwrap_or(rest)))
        .is_some()
}

/// `SCHEME://host:port` with one of `schemes` and nothing after the port.
pub fn url_host_port(schemes: &'static [&'static str], example: &'static str) -> Validator {
    Validator::string(
        "Invalid address",
        &format!("{}://host:port", schemes.join("|")),
        move |s| {
            let ok = match s.split_once("://") {
                Some(("tcp", _)) if schemes.contains(&"tcp") => is_syncthing_address(s),
                Some((sch, rest)) if schemes.contains(&sch) => {
                    split_host_port(rest.strip_suffix('/').unwrap_or(rest)).is_some()
                }
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                Err(format!("{s:?} is not of the form {example} ({} with a host and a port, nothing after it).", schemes.join(" or ")))
            }
        },
    )
}

/// A public http(s) URL WordPress can use as WP_HOME: a host, no spaces,
/// quotes, backslashes or control characters.
pub fn site_url() -> Validator {
    Validator::string("Invalid site URL", "an http or https URL", |s| {
        let bad = s
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || "'\"\\`<>".contains(*c));
        if let Some(c) = bad {
            return Err(format!("{s:?} holds {c:?}, which a URL cannot: write the site's public URL, e.g. \"https://blog.example.com\"."));
        }
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"));
        let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
        let host_ok = host.is_some_and(|h| {
            let h = h
                .rsplit_once(':')
                .filter(|(_, p)| p.parse::<u16>().is_ok())
                .map(|(h, _)| h)
                .unwrap_or(h);
            host_ok(h)
        });
        if host_ok {
            Ok(())
        } else {
            Err(format!("{s:?} is not an http(s) URL with a host: write the site's public URL, e.g. \"https://blog.example.com\"."))
        }
    })
}

/// A container image with a tag or digest, no spaces.
pub fn image() -> Validator {
    Validator::string(
        "Invalid image",
        "an image reference with a tag or digest",
        |s| {
            let last = s.rsplit('/').next().unwrap_or("");
            let pinned = last.contains(':') || s.contains('@');
            match reference_error(s) {
            _ if !pinned => Err(format!("{s:?} must name an image with a tag or digest, e.g. \"repo/name:1.2.3\".")),
            Some(why) => Err(format!("{s:?} is not an image reference a kubelet can pull: {why}; e.g. \"registry.example.com/team/name:1.2.3\".")),
            None => Ok(()),
        }
        },
    )
}

/// What is wrong with `s` as an image reference, by the grammar of
/// distribution/reference (`reference.go`): `[host[:port]/]path[:tag][@digest]`,
/// path components of lowercase letters and digits joined by `.`, `_`, `__`
/// or dashes, a tag of at most 128 word characters, dots and dashes
/// starting with a word character, a digest `algorithm:hex`.
pub fn reference_error(s: &str) -> Option<String> {
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest {
        let ok = d.split_once(':').is_some_and(|(alg, hex)| {
            !alg.is_empty()
                && alg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
                && hex.len() >= 32
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
        });
        if !ok {
            return Some(format!("the digest {d:?} is not algorithm:hex"));
        }
    }
    // a tag is after the last ':' that follows the last '/'
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        let b = t.as_bytes();
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        if b.is_empty()
            || b.len() > 128
            || !word(b[0])
            || !b.iter().all(|&c| word(c) || c == b'.' || c == b'-')
        {
            return Some(format!("the tag {t:?} is not 1 to 128 letters, digits, '_', '.' and '-' starting with a letter, digit or '_'"));
        }
    }
    if name.is_empty() || name.len() > 255 {
        return Some("the name is empty or longer than 255 characters".into());
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    // the first part is a registry host when it looks like one
    if parts.len() > 1
        && (parts[0].contains(['.', ':'])
            || parts[0] == "localhost"
            || parts[0].bytes().any(|b| b.is_ascii_uppercase()))
    {
        let host = parts.remove(0);
        let (h, port) = match host.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host, None),
        };
        let label_ok = |l: &str| {
            let b = l.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        };
        if !h.split('.').all(label_ok)
            || port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Some(format!("the registry {host:?} is not host[:port]"));
        }
    }
    for part in parts {
        // lowercase letters and digits, joined by '.', '_', '__' or dashes
        let b = part.as_bytes();
        let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        let mut ok = !b.is_empty() && alnum(b[0]) && alnum(b[b.len() - 1]);
        let mut i = 0;
        while ok && i < b.len() {
            if alnum(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !alnum(b[i]) {
                i += 1;
            }
            let sep = &part[start..i];
            ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        }
        if !ok {
            return Some(format!("the path part {part:?} must be lowercase letters and digits joined by '.', '_', '__' or '-'"));
        }
    }
    None
}

/// A TiDB release tag such as `v8.5.1`.
pub fn tidb_version() -> Validator {
    Validator::string("Invalid TiDB version", "a tag such as v8.5.1", |s| {
        let core = s.strip_prefix('v').unwrap_or("");
        let core = core.split_once('-').map(|(c, _)| c).unwrap_or(core);
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            Ok(())
        } else {
            Err(format!(
                "{s:?} must be a TiDB image tag such as \"v8.5.1\" (PD, TiKV and TiDB share it)."
            ))
        }
    })
}

/// A database password the bootstrap script and WordPress can carry.
pub fn password() -> Validator {
    Validator::string(
        "Unusable password",
        "at least 12 characters, no quotes, backslashes, '$', '`' or spaces",
        |s| {
            if s.chars().count() < 12 {
                return Err("use at least 12 characters (geowp_site's passwords qualify).".into());
            }
            if s.chars()
                .any(|c| c.is_whitespace() || c.is_control() || "'\"\\$`".contains(c))
            {
                return Err("use no quotes, backslashes, '$', '`', spaces or control characters (geowp_site's passwords qualify).".into());
            }
            Ok(())
        },
    )
}

/// A bearer token: a trailing newline (as `file("token")` gives) is fine and
/// dropped before use; any other control character is refused.
pub fn token() -> Validator {
    Validator::string("Invalid token", "a bearer token", |s| {
        geowp_kube::clean_token(s)
            .map(|_| ())
            .map_err(|e| format!("{e}. Pass the token itself (trimspace(file(\"token\")) if you read it from a file)."))
    })
}

/// PEM text holding at least one X.509 certificate.
pub fn certificate() -> Validator {
    Validator::string("Invalid certificate", "PEM certificates", |s| {
        geowp_kube::pem::certificates(s)
            .map(|_| ())
            .map_err(|e| format!("{e}."))
    })
}

/// PEM text holding a private key.
pub fn private_key() -> Validator {
    Validator::string("Invalid private key", "a PEM private key", |s| {
        geowp_kube::pem::private_key(s).map_err(|e| format!("{e}."))
    })
}

/// A kubeconfig that parses.
pub fn kubeconfig() -> Validator {
    Validator::string("Invalid kubeconfig", "kubeconfig YAML", |s| {
        geowp_kubeconfig::parse(s, None)
            .map(|_| ())
            .map_err(|e| format!("{e}. Pass the file's contents, e.g. file(\"~/.kube/config\")."))
    })
}

/// An API server URL: `https://host[:port][/path]`, or `http://` (checked
/// against `insecure_skip_tls_verify` elsewhere).
pub fn api_server() -> Validator {
    Validator::string("Invalid host", "an https URL", |s| {
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"));
        let ok = rest.is_some_and(|r| {
            let hp = r.split('/').next().unwrap_or("");
            let h = hp
                .rsplit_once(':')
                .filter(|(_, p)| p.parse::<u16>().is_ok())
                .map(|(h, _)| h)
                .unwrap_or(hp);
            host_ok(h)
        }) && !s.contains(|c: char| c.is_whitespace() || c.is_control());
        if ok {
            Ok(())
        } else {
            Err(format!("{s:?} must be the API server's URL, e.g. \"https://203.0.113.10\" (with https://)."))
        }
    })
}

/// A SyncThing folder id: 1 to 64 letters, digits, '.', '_' and '-'.
pub fn folder_id() -> Validator {
    Validator::string(
        "Invalid folder id",
        "1 to 64 letters, digits, '.', '_' and '-'",
        |s| {
            if !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                Ok(())
            } else {
                Err(format!("{s:?} is not a folder id: use 1 to 64 letters, digits, '.', '_' and '-', the same in every member, e.g. \"wp-content\"."))
            }
        },
    )
}

/// Parses an IPv4 or IPv6 CIDR (`10.0.0.0/8`); None when it is not one or
/// has host bits set.
pub fn cidr(s: &str) -> Option<(std::net::IpAddr, u8)> {
    let (ip, len) = s.split_once('/')?;
    let ip: std::net::IpAddr = ip.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    if len > bits {
        return None;
    }
    let host_bits_clear = match ip {
        std::net::IpAddr::V4(v) => len == 32 || u32::from(v) & (u32::MAX >> len) == 0,
        std::net::IpAddr::V6(v) => len == 128 || u128::from(v) & (u128::MAX >> len) == 0,
    };
    host_bits_clear.then_some((ip, len))
}

/// A list of CIDR ranges.
pub fn cidrs() -> Validator {
    Validator::new("Invalid CIDR", "CIDR ranges such as 10.0.0.0/8", |v| {
        for (i, x) in v.as_list().unwrap_or(&[]).iter().enumerate() {
            if let Some(s) = x.as_str() {
                if cidr(s).is_none() {
                    return Err(format!("element {i}, {s:?}, is not a CIDR range with its host bits zero, e.g. \"10.128.0.0/9\"."));
                }
                if s == "0.0.0.0/0" || s == "::/0" {
                    return Err(format!("element {i}, {s:?}, admits everyone: leave peer_source_ranges empty to say so (a plan-time warning), or name the other regions' ranges."));
                }
            }
        }
        Ok(())
    })
}

/// Kubernetes annotation keys: an optional DNS-subdomain prefix and `/`,
/// then a name of at most 63 letters, digits, '-', '_' and '.'.
pub fn annotation_keys() -> Validator {
    Validator::new("Invalid annotation", "Kubernetes annotation keys", |v| {
        for k in v
            .as_map()
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            if let Some(e) = annotation_key_error(&k) {
                return Err(e);
            }
        }
        Ok(())
    })
}

/// A Kubernetes qualified name: an optional DNS-subdomain prefix and `/`,
/// then up to 63 letters, digits, '-', '_' and '.', starting and ending with
/// a letter or digit (annotation keys, CSI driver names).
pub fn is_qualified_name(k: &str) -> bool {
    let (prefix, name) = k
        .rsplit_once('/')
        .map(|(p, n)| (Some(p), n))
        .unwrap_or((None, k));
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    name_ok && prefix.is_none_or(is_dns_subdomain)
}

/// Why `k` is not a Kubernetes annotation key, if it is not one.
pub fn annotation_key_error(k: &str) -> Option<String> {
    (!is_qualified_name(k)).then(|| format!("{k:?} is not an annotation key: an optional DNS prefix and '/', then up to 63 letters, digits, '-', '_' and '.', e.g. \"networking.gke.io/load-balancer-type\"."))
}

/// A credential plugin's command: a program name or path, one word.
pub fn exec_command() -> Validator {
    Validator::string("Invalid command", "a program name or path", |s| {
        if s.is_empty() || s.trim() != s || s.chars().any(char::is_control) {
            Err(format!("{s:?} is not a program: give its name (\"aws\") or path, and its arguments in args."))
        } else if s.contains(' ') && !s.contains('/') {
            Err(format!("{s:?} has a space: put the program in command and each argument in args, e.g. command = \"aws\", args = [\"eks\", \"get-token\", ...]."))
        } else {
            Ok(())
        }
    })
}

/// A StorageClass provisioner: the name of a CSI driver (Kubernetes takes a
/// qualified name).
pub fn provisioner() -> Validator {
    Validator::string("Invalid provisioner", "a CSI driver name", |s| {
        if is_qualified_name(s) {
            Ok(())
        } else {
            Err(format!("{s:?} is not a CSI driver name: letters, digits, '-', '_' and '.', e.g. \"ebs.csi.eks.amazonaws.com\" (see kubectl get csidrivers)."))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tfplugin_model::Value;

    fn ok(v: &Validator, s: &str) -> bool {
        v.check(&Value::str(s)).is_ok()
    }

    #[test]
    fn cidrs_and_annotations() {
        assert!(
            cidr("10.0.0.0/8").is_some()
                && cidr("fd00::/8").is_some()
                && cidr("10.1.2.3/32").is_some()
        );
        assert!(
            cidr("10.0.0.1/8").is_none()
                && cidr("10.0.0.0/33").is_none()
                && cidr("10.0.0.0").is_none()
        );
        let c = cidrs();
        assert!(c
            .check(&Value::List(vec![Value::str("10.0.0.0/8")]))
            .is_ok());
        assert!(c
            .check(&Value::List(vec![Value::str("0.0.0.0/0")]))
            .unwrap_err()
            .contains("everyone"));
        let a = annotation_keys();
        assert!(a
            .check(&Value::object([(
                "networking.gke.io/load-balancer-type",
                Value::str("Internal")
            )]))
            .is_ok());
        assert!(a
            .check(&Value::object([("bad key", Value::str("x"))]))
            .is_err());
    }

    #[test]
    fn kubernetes_names() {
        assert!(
            is_dns_label("us-east-1", 63) && !is_dns_label("US", 63) && !is_dns_label("a_b", 63)
        );
        assert!(
            !is_dns_label("-a", 63) && !is_dns_label(&"a".repeat(41), 40) && !is_dns_label("", 9)
        );
        assert!(
            is_dns_subdomain("premium-rwo")
                && is_dns_subdomain("a.b")
                && !is_dns_subdomain("Bad Class")
        );
        let l = label_value("zone");
        assert!(
            ok(&l, "us-east1-b")
                && ok(&l, "Zone_1.a")
                && !ok(&l, "-x")
                && !ok(&l, "a b")
                && !ok(&l, "")
        );
    }

    #[test]
    fn quantities() {
        for (s, v) in [
            ("10Gi", 10.0 * 1024f64.powi(3)),
            ("500M", 5e8),
            ("1.5", 1.5),
            ("2e3", 2000.0),
            ("+1k", 1000.0),
        ] {
            assert_eq!(quantity(s), Some(v), "{s}");
        }
        for s in ["10 GB", "Gi", "", "1.2.3Gi", "10GB", "ten"] {
            assert_eq!(quantity(s), None, "{s}");
        }
        assert!(!ok(&positive_quantity("10Gi"), "0Gi"));
    }

    #[test]
    fn image_references_follow_the_distribution_grammar() {
        for good in [
            "wordpress:6.7.2-php8.3-apache",
            "registry.k8s.io/sig-storage/nfs-provisioner:v4.0.8",
            "localhost:5000/team/app:1",
            "pingcap/tikv:v8.5.7",
            "ghcr.io/a__b/c.d-e:latest",
            "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(reference_error(good), None, "{good}");
            assert!(ok(&image(), good), "{good}");
        }
        for bad in [
            "UPPER/Case:tag:x",
            "repo/Name:1",
            "repo/name:-1",
            "repo//name:1",
            "repo/name:",
            "re po/x:1",
            "host:x/name:1",
        ] {
            assert!(!ok(&image(), bad), "{bad}");
        }
        assert!(!ok(&image(), "wordpress"), "not pinned");
    }

    #[test]
    fn syncthing_addresses_follow_one_rule() {
        assert!(is_syncthing_address("tcp://10.0.0.3:22000"));
        assert!(is_syncthing_address("tcp://[::1]:22000"));
        assert!(is_syncthing_address("tcp://st.example.com:22000/"));
        for bad in [
            "10.0.0.3:22000",
            "tcp://:22000",
            "tcp://h:0",
            "tcp://h",
            "tcp://a b:1",
            "tcp://h:1/x",
            "http://h:22000",
        ] {
            assert!(!is_syncthing_address(bad), "{bad}");
        }
    }

    #[test]
    fn addresses_and_urls() {
        let pd = url_host_port(&["http", "https"], "https://10.0.0.5:2379");
        assert!(
            ok(&pd, "https://10.0.0.5:2379")
                && ok(&pd, "http://[::1]:2379")
                && ok(&pd, "https://pd.example:2379/")
        );
        assert!(
            !ok(&pd, "10.0.0.5:2379")
                && !ok(&pd, "http://10.0.0.5")
                && !ok(&pd, "https://h:2379/x")
                && !ok(&pd, "ftp://h:1")
        );
        let hp = host_port("10.0.0.6:20160");
        assert!(
            ok(&hp, "tikv.example:20160")
                && !ok(&hp, "tikv.example")
                && !ok(&hp, "a b:1")
                && !ok(&hp, "h:0")
        );
        let u = site_url();
        assert!(ok(&u, "https://blog.example.com") && ok(&u, "http://demo.localhost:8080/wp"));
        for bad in [
            "blog.example.com",
            "https://",
            "https://blog\n.example.com",
            "https://a'b.com",
            "https://x y",
        ] {
            assert!(!ok(&u, bad), "{bad:?}");
        }
    }

    #[test]
    fn images_versions_passwords_tokens() {
        let digest = format!("reg:5000/a/b@sha256:{}", "ab".repeat(32));
        assert!(ok(&image(), "wordpress:6.7.1") && ok(&image(), &digest));
        // a digest too short to be one
        assert!(!ok(&image(), "reg:5000/a/b@sha256:abc"));
        assert!(
            !ok(&image(), "wordpress")
                && !ok(&image(), "reg:5000/wordpress")
                && !ok(&image(), "a b:1")
        );
        assert!(
            ok(&tidb_version(), "v8.5.1")
                && ok(&tidb_version(), "v8.5.1-pre")
                && !ok(&tidb_version(), "8.5.1")
                && !ok(&tidb_version(), "v8.5")
        );
        assert!(
            ok(&password(), "abcdefghijkl")
                && !ok(&password(), "short")
                && !ok(&password(), "has'quote-and-long")
        );
        assert!(ok(&token(), "abc\n") && !ok(&token(), "a\u{7}b") && !ok(&token(), "\n"));
        assert!(
            ok(&folder_id(), "wp-content") && !ok(&folder_id(), "") && !ok(&folder_id(), "a b")
        );
        assert!(ok(&api_server(), "https://10.0.0.1:6443") && !ok(&api_server(), "10.0.0.1:6443"));
    }
}
