//! Label and field selectors, as the API server parses them.

use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
pub enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// Splits on commas that are not inside parentheses.
fn terms(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c)
            }
            ')' => {
                depth -= 1;
                cur.push(c)
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

fn set_values(s: &str) -> Result<Vec<String>, String> {
    let inner = s
        .trim()
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .ok_or_else(|| format!("expected (values) in {s:?}"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

pub fn parse(s: &str) -> Result<Vec<Req>, String> {
    let mut reqs = Vec::new();
    for t in terms(s) {
        if let Some(k) = t.strip_prefix('!') {
            reqs.push(Req::NotExists(k.trim().to_string()));
        } else if let Some((k, v)) = t.split_once("!=") {
            reqs.push(Req::Ne(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = t.split_once("==") {
            reqs.push(Req::Eq(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = t.split_once('=') {
            reqs.push(Req::Eq(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = t.split_once(" notin ") {
            reqs.push(Req::NotIn(k.trim().into(), set_values(v)?));
        } else if let Some((k, v)) = t.split_once(" in ") {
            reqs.push(Req::In(k.trim().into(), set_values(v)?));
        } else if t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        {
            reqs.push(Req::Exists(t));
        } else {
            return Err(format!("unable to parse requirement {t:?}"));
        }
    }
    Ok(reqs)
}

pub fn matches(reqs: &[Req], get: impl Fn(&str) -> Option<String>) -> bool {
    reqs.iter().all(|r| match r {
        Req::Eq(k, v) => get(k).as_deref() == Some(v),
        Req::Ne(k, v) => get(k).as_deref() != Some(v),
        Req::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
        Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
        Req::Exists(k) => get(k).is_some(),
        Req::NotExists(k) => get(k).is_none(),
    })
}

pub fn label_getter(obj: &Value) -> impl Fn(&str) -> Option<String> + '_ {
    move |k| obj["metadata"]["labels"][k].as_str().map(String::from)
}

pub fn field_getter(obj: &Value) -> impl Fn(&str) -> Option<String> + '_ {
    move |k| match k {
        "metadata.name" => obj["metadata"]["name"].as_str().map(String::from),
        "metadata.namespace" => Some(
            obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors_of_every_form() {
        let o = json!({"metadata": {"name": "a", "namespace": "n", "labels": {"app": "web", "tier": "front"}}});
        let m = |s: &str| matches(&parse(s).unwrap(), label_getter(&o));
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(m("app!=db"));
        assert!(m("tier in (front,back)"));
        assert!(!m("tier notin (front)"));
        assert!(m("!missing"));
        assert!(!m("missing"));
        assert!(m(""));
        let f = |s: &str| matches(&parse(s).unwrap(), field_getter(&o));
        assert!(f("metadata.name=a,metadata.namespace=n"));
        assert!(!f("metadata.name!=a"));
        assert!(parse("app in front").is_err());
    }
}
