//! `rank.entered` on Redis: which members a request may move into the
//! top of a watched board, and the two script calls around `board.lua`
//! in the ingest transaction that compare their listed ranks before and
//! after and queue the notifications (`rank.lua`). Being in the same
//! MULTI/EXEC, nothing comes between the two readings.

use deadpool_redis::redis;
use engagement_core::notify::{self, Notification};
use engagement_core::{BoardKey, Bucket, Event, MemberId, MemberState, Outcome, RuleSet, Status};

use super::super::keys::Keys;
use super::super::listing::Listing;
use super::{StoreError, corrupt};
use crate::notify::Delivery;

static RANK_SCRIPT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| super::compact_script(include_str!("rank.lua")));

/// One member on one watched board, and what each channel would receive.
struct Candidate {
    board: usize,
    member: MemberId,
    /// Each channel's top, and its delivery (rank to be filled in).
    records: Vec<(u32, Delivery)>,
}

/// The watched boards a request may move members on, and the candidates.
pub(super) struct RankWatch {
    keys: Vec<String>,
    unlisted: Vec<Vec<MemberId>>,
    candidates: Vec<Candidate>,
}

impl RankWatch {
    /// `None` when no channel watches a board or nobody could be told.
    pub(super) fn new(
        rules: &RuleSet,
        keys: &Keys,
        listing: &Listing,
        events: &[Event],
        outcomes: &[Outcome],
        states: &std::collections::HashMap<MemberId, MemberState>,
    ) -> Option<RankWatch> {
        let watches = notify::rank_watches(rules);
        if watches.is_empty() {
            return None;
        }
        let now = jiff::Timestamp::now();
        let today = rules.timezone.to_datetime(now).date();
        let mut watch = RankWatch {
            keys: Vec::new(),
            unlisted: Vec::new(),
            candidates: Vec::new(),
        };
        // Each member named by an applied event, with the last such event.
        let mut named: Vec<(&MemberId, &Event)> = Vec::new();
        for (e, o) in events.iter().zip(outcomes) {
            if o.status != Status::Applied || o.sign < 0 {
                continue;
            }
            let actor = (!e.actor_unknown).then_some(&e.actor);
            let author = e.target.as_ref().and_then(|t| t.author.as_ref());
            for m in actor.into_iter().chain(author) {
                match named.iter_mut().find(|(x, _)| *x == m) {
                    Some(slot) => slot.1 = e,
                    None => named.push((m, e)),
                }
            }
        }
        let default = engagement_core::Profile::default();
        for (board, period) in watches {
            let Some(b) = rules.leaderboards.iter().find(|b| &*b.id == board) else {
                continue;
            };
            let index = watch.keys.len();
            watch.keys.push(keys.board(&BoardKey {
                board: board.into(),
                community: None,
                bucket: Bucket::containing(period, today, rules.week_starts),
            }));
            let listing = listing.clone().for_board(b);
            watch.unlisted.push(listing.unlisted().cloned().collect());
            for (member, cause) in &named {
                let notice = notify::rank_notice(
                    rules,
                    board,
                    period,
                    member,
                    cause.id.as_str(),
                    cause.occurred_at,
                    cause.community.clone(),
                    0,
                    None,
                );
                let profile = states.get(*member).map_or(&default, |s| &s.profile);
                let records: Vec<(u32, Delivery)> = notify::notifications(rules, &notice, profile)
                    .into_iter()
                    .filter_map(|n: Notification| {
                        let top = rules
                            .notify
                            .iter()
                            .find(|c| c.id == n.channel)?
                            .rank
                            .as_ref()?
                            .top;
                        Some((top, Delivery::new(n, now)))
                    })
                    .collect();
                if !records.is_empty() {
                    watch.candidates.push(Candidate {
                        board: index + 1,
                        member: (*member).clone(),
                        records,
                    });
                }
            }
        }
        (!watch.candidates.is_empty()).then_some(watch)
    }

    /// Adds the script call of `move_` ("before" or "after") to `pipe`.
    pub(super) fn call(
        &self,
        keys: &Keys,
        pipe: &mut redis::Pipeline,
        move_: &str,
    ) -> Result<(), StoreError> {
        let after = move_ == "after";
        let mut script_keys = vec![format!("{}:rank-scratch", keys.outbox())];
        script_keys.extend(self.keys.iter().cloned());
        if after {
            script_keys.push(keys.outbox());
            script_keys.push(keys.outbox_status(crate::notify::Status::Pending.as_str()));
            script_keys.push(keys.outbox_due());
        }
        let mut args: Vec<String> = vec![
            move_.to_owned(),
            self.keys.len().to_string(),
            keys.outbox_queues(),
        ];
        for unlisted in &self.unlisted {
            args.push(unlisted.len().to_string());
            args.extend(unlisted.iter().map(|m| m.to_string()));
        }
        args.push(self.candidates.len().to_string());
        for c in &self.candidates {
            args.push(c.board.to_string());
            args.push(c.member.to_string());
            if !after {
                args.push("0".to_owned());
                continue;
            }
            args.push(c.records.len().to_string());
            for (top, d) in &c.records {
                let (channel, member) = d.queue();
                args.push(top.to_string());
                args.push(d.id().to_owned());
                args.push(Keys::outbox_queue(channel, member));
                args.push(serde_json::to_string(d).map_err(corrupt)?);
                args.push(d.created_at.as_millisecond().to_string());
            }
        }
        pipe.cmd("EVAL")
            .arg(&**RANK_SCRIPT)
            .arg(script_keys.len())
            .arg(&script_keys)
            .arg(&args)
            .ignore();
        Ok(())
    }
}
