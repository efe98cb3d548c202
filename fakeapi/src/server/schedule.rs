//! The simulated controllers' pass after a write: once the object's delay
//! is over, the status its controller would write (`crate::controllers`),
//! with what a fake PD allows (`crate::pdrun`) and a StatefulSet's pods
//! (`crate::statefulsets`); a process the fake PD refused is retried as a
//! crash-looping pod would be.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::controllers;
use crate::registry::Resource;

use super::{lock, publish, Shared};

/// Schedules the pass of `obj`'s controller, if it has one.
pub(super) fn schedule_controller(sh: &Arc<Shared>, res: &'static Resource, obj: &Value) {
    if !controllers::controlled(res.kind, obj) || !obj["metadata"]["deletionTimestamp"].is_null() {
        return;
    }
    let b = controllers::behavior_of(obj, sh.opts.behavior);
    let delay = controllers::delay_of(obj, sh.opts.ready_delay);
    let ns = obj["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let gen = obj["metadata"]["generation"].clone();
    let sh = sh.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        // a process the fake PD refused restarts, as a crash-looping pod
        // would, until it starts or the object changes
        for _ in 0..600 {
            let retry = {
                let mut s = lock(&sh.store);
                let Ok(cur) = s.get(res, &ns, &name) else {
                    return;
                };
                if cur["metadata"]["generation"] != gen {
                    return; // a newer write scheduled its own pass
                }
                let mut now = if b == controllers::Behavior::Ready {
                    crate::pdrun::run_against_pd(
                        sh.opts.pd.as_deref(),
                        &sh.opts.unpullable,
                        &mut s,
                        res.kind,
                        &cur,
                    )
                } else {
                    b
                };
                if now == controllers::Behavior::Ready
                    && res.kind == "StatefulSet"
                    && !sh.opts.unpullable.is_empty()
                    && !crate::statefulsets::step(&mut s, &cur, &sh.opts.unpullable)
                {
                    now = controllers::Behavior::NeverReady;
                }
                if let Some(status) = controllers::status_for(res.kind, &cur, now) {
                    if !controllers::same_status(&cur["status"], &status)
                        && s.set_status(res, &ns, &name, status).is_ok()
                    {
                        publish(&sh, &mut s);
                    }
                }
                b == controllers::Behavior::Ready && now == controllers::Behavior::NeverReady
            };
            if !retry {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
}
