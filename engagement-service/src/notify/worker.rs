//! The delivery worker: one per instance. It claims due deliveries from
//! the store (a claim is a lease, so instances sharing a store never send
//! the same delivery at the same time), sends them concurrently and
//! settles each: delivered, tried again later, or failed. A store that
//! does not answer is waited for; nothing is lost meanwhile, since the
//! deliveries stay in the store.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use futures_util::future::join_all;
use jiff::Timestamp;

use super::send::{Sender, discourse_username};
use super::{Delivery, Status};
use crate::app::AppState;
use crate::store::{Store, StoreError};

/// Deliveries claimed per round.
const BATCH: usize = 64;
/// Failed rounds (half a second apart) after which unsettled attempts are
/// let go.
const GIVE_UP_SETTLING: u32 = 120;
/// How often an idle worker looks for due deliveries...
const IDLE: Duration = Duration::from_millis(50);
/// ...and when the rules have no channel.
const IDLE_WITHOUT_CHANNELS: Duration = Duration::from_secs(5);

/// Runs until the process ends.
pub async fn run(state: web::Data<AppState>) {
    let mut failures = 0u32;
    // Attempts made whose outcome the store could not take yet: written
    // first thing once it answers again, so a blip delays nothing by a
    // whole lease.
    let mut unsettled: Vec<Delivery> = Vec::new();
    loop {
        // A settle the store keeps refusing is let go after a while: the
        // deliveries' leases run out and they are tried again.
        if failures >= GIVE_UP_SETTLING && !unsettled.is_empty() {
            tracing::error!(
                deliveries = unsettled.len(),
                "could not settle deliveries; they are tried again when their lease runs out"
            );
            unsettled.clear();
        }
        match round(&state, &mut unsettled).await {
            Ok(0) => {
                failures = 0;
                // Without channels, only deliveries left by earlier rules
                // can be due (to be failed): no need to look often.
                let idle = if state.sender().is_empty() {
                    IDLE_WITHOUT_CHANNELS
                } else {
                    IDLE
                };
                tokio::time::sleep(idle).await;
            }
            Ok(_) => failures = 0,
            Err(e) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(60) {
                    tracing::warn!(error = %e, "deliveries wait for the store");
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Claims, sends and settles one batch; how many were claimed. One
/// delivery's trouble never holds up the others'.
async fn round(state: &AppState, unsettled: &mut Vec<Delivery>) -> Result<usize, StoreError> {
    if !unsettled.is_empty() {
        let retrying = std::mem::take(unsettled);
        if let Err(e) = state.store.settle_deliveries(retrying.clone()).await {
            *unsettled = retrying;
            return Err(e);
        }
        count(state, &retrying);
    }
    state.store.flush_outbox().await?;
    // Read before claiming: nothing may fail between a claim and its
    // attempts, or the claimed deliveries would wait out their lease.
    let disabled = state.store.disabled_channels().await?;
    let claimed = state
        .store
        .claim_deliveries(Timestamp::now(), BATCH)
        .await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let sender = state.sender();
    let n = claimed.len();
    let settled =
        join_all((claimed.into_iter()).map(|d| attempt(state, &sender, &disabled, d))).await;
    let mut done = Vec::with_capacity(n);
    for (delivery, gone) in settled {
        if let Some(reason) = gone {
            let channel = &delivery.notification.channel;
            if let Err(e) = state.store.disable_channel(channel, &reason).await {
                tracing::error!(error = %e, channel, "could not disable a channel");
            }
        }
        done.push(delivery);
    }
    if let Err(e) = state.store.settle_deliveries(done.clone()).await {
        tracing::warn!(error = %e, "{n} deliveries are settled once the store answers");
        *unsettled = done;
        return Err(e);
    }
    count(state, &done);
    Ok(n)
}

/// Counts settled attempts by the status they left.
fn count(state: &AppState, settled: &[Delivery]) {
    for d in settled {
        (state.metrics.deliveries)
            .with_label_values(&[d.status.as_str()])
            .inc();
    }
}

/// Sends one delivery; its new state, and why its channel is gone.
async fn attempt(
    state: &AppState,
    sender: &Arc<Sender>,
    disabled: &std::collections::HashMap<String, String>,
    d: Delivery,
) -> (Delivery, Option<String>) {
    let channel = d.notification.channel.clone();
    if let Some(reason) = disabled.get(&channel) {
        let error = format!("channel \"{channel}\" is disabled: {reason}");
        return (d.failed(error, Timestamp::now()), None);
    }
    let username = match sender.channel(&channel).map(|c| c.format) {
        Some(engagement_core::notify::Format::Discourse) => {
            match discourse_user(state, &d.notification.member).await {
                Ok(name) => name,
                Err(e) => {
                    let error = format!("could not look up the member's forum account: {e}");
                    return (d.after_failure(error, None, Timestamp::now()), None);
                }
            }
        }
        _ => None,
    };
    let result = sender
        .send(&d.notification, username.as_deref(), Timestamp::now())
        .await;
    let now = Timestamp::now();
    match result {
        Ok(()) => (d.delivered(now), None),
        Err(f) if f.gone => {
            let reason = format!("{} (410 Gone)", f.message);
            tracing::warn!(channel, "channel answered 410 Gone: disabled");
            (d.failed(reason.clone(), now), Some(reason))
        }
        Err(f) if f.permanent => (d.failed(f.message, now), None),
        Err(f) => {
            let d = d.after_failure(f.message, f.retry_after, now);
            if d.status == Status::Failed {
                tracing::warn!(
                    id = d.id(),
                    channel,
                    "delivery failed after 24 hours of attempts"
                );
            }
            (d, None)
        }
    }
}

/// The member's Discourse username: their own id, or a linked alias.
async fn discourse_user(
    state: &AppState,
    member: &engagement_core::MemberId,
) -> Result<Option<String>, StoreError> {
    if let Some(name) = discourse_username(member) {
        return Ok(Some(name.to_owned()));
    }
    let aliases = state.store.aliases(member).await?;
    Ok(aliases
        .iter()
        .find_map(|a| discourse_username(a).map(str::to_owned)))
}
