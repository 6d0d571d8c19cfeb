//! Phases: the `schedule:` of run-time changes, each applied at its time
//! after the schedule's start (the server's start, or the last
//! [`restart_schedule`](crate::EmbeddedServer::restart_schedule)).
//!
//! One task on the server's runtime sleeps until each phase is due and
//! applies its merge patch through the same path as `PATCH
//! /__admin/config`, which records when it took effect on the server's own
//! clock. A restart stops the sleep and starts over from the first phase.
//! Each phase was checked at load against the settings the phases before
//! it leave; a control-API change in between can make one fail, which is
//! logged and skipped.

use std::sync::Arc;

use crate::server::Shared;

/// Applies the phases in time order, starting over on each restart.
pub(crate) async fn run(shared: Arc<Shared>) {
    loop {
        let restarted = shared.schedule_restarted.notified();
        tokio::pin!(restarted);
        restarted.as_mut().enable();
        let start = tokio::time::Instant::from_std(shared.runtime.started());
        let phases = shared.runtime.schedule().to_vec();
        let mut restarted_early = false;
        for (i, phase) in phases.iter().enumerate() {
            tokio::select! {
                () = tokio::time::sleep_until(start + phase.at) => {
                    let source = format!("schedule[{i}]");
                    if let Err(e) = shared.runtime.patch(&phase.set, source, Some(phase.at)) {
                        tracing::warn!("phase {i} (at {:?}) not applied: {e}", phase.at);
                    }
                }
                () = &mut restarted => {
                    restarted_early = true;
                    break;
                }
            }
        }
        if !restarted_early {
            restarted.await;
        }
    }
}
