//! Checks of the `[[notify]]` channels: where recognition is sent, in
//! which format, about what.

use std::collections::{BTreeMap, HashSet};

use super::super::checker::{Checker, S};
use super::super::load::list;
use super::super::raw::RawNotify;
use super::super::{Badge, Leaderboard};
use crate::calendar::Period;
use crate::notify::{Channel, Format, Kind, RankWatch};

/// Most members a `rank.entered` channel watches the top of.
const MAX_TOP: i64 = 1000;

impl Checker<'_> {
    pub(in crate::rules) fn notify(
        &mut self,
        raw: &[S<RawNotify>],
        badges: &[Badge],
        boards: &[Leaderboard],
    ) -> Vec<Channel> {
        let mut ids = HashSet::new();
        let mut out = Vec::new();
        for n in raw {
            let span = n.span();
            let n = n.get_ref();
            let mut ok = true;
            let id = n.id.get_ref();
            let id_ok = !id.is_empty()
                && id.len() <= 64
                && (id.bytes()).all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !id_ok {
                self.error(
                    n.id.span(),
                    "id must be 1 to 64 letters, digits, '-' or '_', e.g. \"community-feed\"",
                );
                ok = false;
            } else if !ids.insert(id.clone()) {
                self.error(
                    n.id.span(),
                    format!("notify channel \"{id}\" is defined twice"),
                );
                ok = false;
            }
            ok &= self.web_address(&n.url, "url");
            let format = match n.format.as_ref().map(|f| f.get_ref().as_str()) {
                None | Some("standard") => Some(Format::Standard),
                Some("slack") => Some(Format::Slack),
                Some("discourse") => Some(Format::Discourse),
                Some(other) => {
                    let f = n.format.as_ref().map_or(span.clone(), S::span);
                    self.error(
                        f,
                        format!("unknown format \"{other}\": expected \"standard\", \"slack\" or \"discourse\""),
                    );
                    None
                }
            };
            let mut on = Vec::new();
            for k in n.on.get_ref() {
                match Kind::parse(k.get_ref()) {
                    Some(kind) if on.contains(&kind) => {
                        self.error(k.span(), format!("\"{kind}\" is listed twice"));
                        ok = false;
                    }
                    Some(kind) => on.push(kind),
                    None => {
                        self.error(
                            k.span(),
                            format!(
                                "unknown notification \"{}\": expected one of {}",
                                k.get_ref(),
                                list(Kind::ALL.iter().map(|k| k.as_str()))
                            ),
                        );
                        ok = false;
                    }
                }
            }
            if n.on.get_ref().is_empty() {
                self.error(
                    n.on.span(),
                    "on must list at least one notification, e.g. [\"badge.granted\"]",
                );
                ok = false;
            }
            let rank = n.rank.as_ref().and_then(|r| self.rank_watch(r, boards));
            ok &= n.rank.is_none() || rank.is_some();
            let asks_rank =
                (n.on.get_ref().iter()).any(|k| k.get_ref() == Kind::RankEntered.as_str());
            match (asks_rank, &n.rank) {
                (true, None) => {
                    self.error(
                        n.on.span(),
                        "\"rank.entered\" needs rank = { board = \"...\", period = \"week\", top = 10 }",
                    );
                    ok = false;
                }
                (false, Some(r)) => {
                    self.error(r.span(), "rank is only used with on = [\"rank.entered\"]");
                    ok = false;
                }
                _ => {}
            }
            let secret_env = self.env_name(n.secret_env.as_ref(), "secret_env");
            let api_key_env = self.env_name(n.api_key_env.as_ref(), "api_key_env");
            let mut mapped = BTreeMap::new();
            match format {
                Some(Format::Standard) => {
                    if n.secret_env.is_none() {
                        self.error(
                            span.clone(),
                            "a \"standard\" channel needs secret_env, the variable holding its whsec_ secret",
                        );
                        ok = false;
                    }
                }
                Some(Format::Slack) => {}
                Some(Format::Discourse) => {
                    ok &= self.discourse(n, &on, badges, &mut mapped, &span);
                }
                None => ok = false,
            }
            if format == Some(Format::Discourse) && n.private {
                self.error(
                    span.clone(),
                    "a \"discourse\" channel grants badges everyone on the forum sees: it cannot be private",
                );
                ok = false;
            }
            if format != Some(Format::Discourse)
                && let Some(b) = &n.badges
            {
                self.error(
                    b.span(),
                    "badges maps Discourse badges: only for format = \"discourse\"",
                );
                ok = false;
            }
            ok &= n.secret_env.is_none() || secret_env.is_some();
            ok &= n.api_key_env.is_none() || api_key_env.is_some();
            if let (true, Some(format)) = (ok, format) {
                out.push(Channel {
                    id: id.clone(),
                    url: n.url.get_ref().trim_end_matches('/').to_owned(),
                    format,
                    on,
                    private: n.private,
                    allow_private: n.allow_private,
                    rank,
                    secret_env,
                    api_key_env,
                    api_username: n.api_username.as_ref().map(|u| u.get_ref().clone()),
                    badges: mapped,
                });
            }
        }
        out
    }

    fn discourse(
        &mut self,
        n: &RawNotify,
        on: &[Kind],
        badges: &[Badge],
        mapped: &mut BTreeMap<String, u64>,
        span: &std::ops::Range<usize>,
    ) -> bool {
        let mut ok = true;
        if n.api_key_env.is_none()
            || n.api_username
                .as_ref()
                .is_none_or(|u| u.get_ref().trim().is_empty())
        {
            self.error(
                span.clone(),
                "a \"discourse\" channel needs api_key_env (the variable holding the API key) and api_username",
            );
            ok = false;
        }
        if let Some(k) = on.iter().find(|k| **k != Kind::BadgeGranted) {
            self.error(
                n.on.span(),
                format!("a \"discourse\" channel grants badges: \"{k}\" cannot be sent to it"),
            );
            ok = false;
        }
        let Some(raw) = &n.badges else {
            self.error(
                span.clone(),
                "a \"discourse\" channel needs [notify.badges]: our badge or badge:tier = the Discourse badge id",
            );
            return false;
        };
        for (ours, theirs) in raw.get_ref() {
            let (badge, tier) = match ours.get_ref().split_once(':') {
                Some((b, t)) => (b, Some(t)),
                None => (ours.get_ref().as_str(), None),
            };
            let known = badges.iter().find(|b| &*b.id == badge);
            let tier_ok = match (known, tier) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(b), Some(t)) => b.tiers.iter().any(|x| x.name.as_deref() == Some(t)),
            };
            if !tier_ok {
                self.error(
                    ours.span(),
                    format!(
                        "\"{}\" is no badge or badge:tier of this rule file",
                        ours.get_ref()
                    ),
                );
                ok = false;
            }
            match u64::try_from(*theirs.get_ref()) {
                Ok(id) if id >= 1 => {
                    mapped.insert(ours.get_ref().clone(), id);
                }
                _ => {
                    self.error(
                        theirs.span(),
                        "a Discourse badge id is a whole number from 1",
                    );
                    ok = false;
                }
            }
        }
        ok
    }

    fn rank_watch(
        &mut self,
        raw: &S<super::super::raw::RawRankWatch>,
        boards: &[Leaderboard],
    ) -> Option<RankWatch> {
        let r = raw.get_ref();
        let Some(board) = boards.iter().find(|b| *b.id == **r.board.get_ref()) else {
            self.error(
                r.board.span(),
                format!(
                    "unknown leaderboard \"{}\": expected one of {}",
                    r.board.get_ref(),
                    list(boards.iter().map(|b| &*b.id))
                ),
            );
            return None;
        };
        if !board.global {
            self.error(
                r.board.span(),
                "rank.entered watches a board's global scope: this board has none",
            );
            return None;
        }
        let period = match Period::parse(r.period.get_ref()) {
            Some(p) if board.periods.contains(&p) => p,
            _ => {
                self.error(
                    r.period.span(),
                    format!(
                        "leaderboard \"{}\" keeps no period \"{}\": expected one of {}",
                        board.id,
                        r.period.get_ref(),
                        list(board.periods.iter().map(|p| p.as_str()))
                    ),
                );
                return None;
            }
        };
        let top = *r.top.get_ref();
        if !(1..=MAX_TOP).contains(&top) {
            self.error(r.top.span(), format!("top must be from 1 to {MAX_TOP}"));
            return None;
        }
        Some(RankWatch {
            board: board.id.to_string(),
            period,
            top: top as u32,
        })
    }

    /// An environment variable's name: letters, digits and '_', not
    /// starting with a digit.
    fn env_name(&mut self, raw: Option<&S<String>>, field: &str) -> Option<String> {
        let raw = raw?;
        let v = raw.get_ref();
        let ok = !v.is_empty()
            && !v.starts_with(|c: char| c.is_ascii_digit())
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            self.error(
                raw.span(),
                format!("{field} names an environment variable (letters, digits and '_'), e.g. \"ENGAGEMENT_NOTIFY_FEED_SECRET\""),
            );
            return None;
        }
        Some(v.clone())
    }
}
