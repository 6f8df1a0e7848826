//! Reading boards: a page of listed entries, a member's standing among the
//! entries around it, and the communities seen. Unlisted members keep their
//! place in a board's sorted set, so offsets and ranks skip over them here.

use deadpool_redis::redis::aio::ConnectionLike;
use deadpool_redis::redis::{self, AsyncCommands, Value};
use engagement_core::{BoardKey, CommunityId, MemberId};

use super::super::keys::Keys;
use super::super::listing::Listing;
use super::super::{Entry, Page, Standing};
use super::{RedisStore, SHIFT, StoreError, WINDOW_SCRIPT, corrupt, unavailable};

impl RedisStore {
    pub(super) async fn read_page(
        &self,
        key: &BoardKey,
        listing: &Listing,
        offset: u64,
        limit: u64,
    ) -> Result<Page, StoreError> {
        self.timed(async {
            let mut conn = self.reader().await?;
            let keys = self.live_keys(&mut conn).await?;
            let key = keys.board(key);
            let ranks = self.unlisted_ranks(&mut conn, &key, listing).await?;
            let (card, entries) = self
                .listed_from(&mut conn, &keys, &key, listing, &ranks, offset, limit)
                .await?;
            Ok(Page {
                total: card - ranks.len() as u64,
                entries,
            })
        })
        .await
    }

    pub(super) async fn read_standing(
        &self,
        key: &BoardKey,
        listing: &Listing,
        member: &MemberId,
        radius: u64,
    ) -> Result<Standing, StoreError> {
        self.timed(async {
            let mut conn = self.reader().await?;
            let keys = self.live_keys(&mut conn).await?;
            let key = keys.board(key);
            let ranks = self.unlisted_ranks(&mut conn, &key, listing).await?;
            let (card, raw_rank): (u64, Option<u64>) = redis::pipe()
                .zcard(&key)
                .zrevrank(&key, member.as_str())
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            let total = card - ranks.len() as u64;
            let (Some(raw_rank), true) = (raw_rank, listing.listed(member)) else {
                return Ok(Standing {
                    rank: None,
                    score: 0,
                    total,
                    entries: Vec::new(),
                });
            };
            let position = raw_rank - ranks.iter().filter(|r| **r < raw_rank).count() as u64;
            let offset = position.saturating_sub(radius);
            let limit = position - offset + radius + 1;
            let (_, entries) = self
                .listed_from(&mut conn, &keys, &key, listing, &ranks, offset, limit)
                .await?;
            let me = entries.get((position - offset) as usize);
            Ok(Standing {
                rank: me.map(|e| e.rank),
                score: me.map_or(0, |e| e.score),
                total,
                entries,
            })
        })
        .await
    }

    pub(super) async fn read_communities(
        &self,
        board: &str,
    ) -> Result<Vec<CommunityId>, StoreError> {
        self.timed(async {
            let mut conn = self.reader().await?;
            let keys = self.live_keys(&mut conn).await?;
            let raw: Vec<String> = conn
                .smembers(keys.communities(board))
                .await
                .map_err(unavailable)?;
            let mut out = raw
                .into_iter()
                .map(|c| CommunityId::parse(c).map_err(corrupt))
                .collect::<Result<Vec<_>, _>>()?;
            out.sort_unstable();
            Ok(out)
        })
        .await
    }

    /// Raw ranks (0-based, best first) of the unlisted members on a board.
    async fn unlisted_ranks(
        &self,
        conn: &mut (impl ConnectionLike + Send + Sync),
        key: &str,
        listing: &Listing,
    ) -> Result<Vec<u64>, StoreError> {
        let unlisted: Vec<&MemberId> = listing.unlisted().collect();
        if unlisted.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for m in &unlisted {
            pipe.zrevrank(key, m.as_str());
        }
        let ranks: Vec<Option<u64>> = pipe.query_async(conn).await.map_err(unavailable)?;
        let mut ranks: Vec<u64> = ranks.into_iter().flatten().collect();
        ranks.sort_unstable();
        Ok(ranks)
    }

    /// The listed entries of a window, ranked.
    async fn listed_window(
        &self,
        conn: &mut (impl ConnectionLike + Send + Sync),
        key: &str,
        listing: &Listing,
        window: Window<'_>,
    ) -> Result<(u64, Vec<Entry>), StoreError> {
        let Window {
            start,
            limit,
            ahead_listed,
            unlisted_ranks,
            names: window_names,
        } = window;
        // Enough raw rows to fill `limit` listed ones past the unlisted.
        let stop = start + limit.max(1) + unlisted_ranks.len() as u64 - 1;
        let raw: Vec<Value> = WINDOW_SCRIPT
            .key(key)
            .key(window_names)
            .arg(start)
            .arg(stop)
            .invoke_async(conn)
            .await
            .map_err(unavailable)?;
        let mut raw = raw.into_iter();
        let card: u64 = raw
            .next()
            .map(|v| redis::from_redis_value(v).map_err(corrupt))
            .transpose()?
            .unwrap_or(0);
        let mut rows = Vec::new();
        let mut names = Vec::new();
        while let (Some(member), Some(score), Some(name)) = (raw.next(), raw.next(), raw.next()) {
            if rows.len() as u64 == limit {
                break;
            }
            let member: String = redis::from_redis_value(member).map_err(corrupt)?;
            let score: f64 = redis::from_redis_value(score).map_err(corrupt)?;
            let name: Option<String> = redis::from_redis_value(name).map_err(corrupt)?;
            let member = MemberId::parse(member).map_err(corrupt)?;
            if listing.listed(&member) {
                rows.push((member, (score / SHIFT).floor() as i64));
                names.push(name);
            }
        }
        let Some((_, top)) = rows.first() else {
            return Ok((card, Vec::new()));
        };
        // Rank of the first row: one more than the listed members with more points.
        let first_rank = if ahead_listed == 0 {
            1
        } else {
            let above: u64 = conn
                .zcount(key, (*top as f64 + 1.0) * SHIFT, "+inf")
                .await
                .map_err(unavailable)?;
            let unlisted_above = self.unlisted_above(conn, key, listing, *top).await?;
            above - unlisted_above + 1
        };
        let mut out: Vec<Entry> = Vec::with_capacity(rows.len());
        for (i, ((member, points), name)) in rows.into_iter().zip(names).enumerate() {
            let rank = match out.last() {
                None => first_rank,
                Some(prev) if prev.score == points => prev.rank,
                Some(_) => ahead_listed + i as u64 + 1,
            };
            let anonymous = listing.anonymous(&member);
            out.push(Entry {
                rank,
                member: (!anonymous).then_some(member),
                name: if anonymous { None } else { name },
                score: points,
            });
        }
        Ok((card, out))
    }

    /// Up to `limit` listed entries from the `offset`-th listed one on.
    #[allow(clippy::too_many_arguments)]
    async fn listed_from(
        &self,
        conn: &mut (impl ConnectionLike + Send + Sync),
        keys: &Keys,
        key: &str,
        listing: &Listing,
        unlisted_ranks: &[u64],
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<Entry>), StoreError> {
        let window = Window {
            start: raw_start(offset, unlisted_ranks),
            limit,
            ahead_listed: offset,
            unlisted_ranks,
            names: &keys.names(),
        };
        self.listed_window(conn, key, listing, window).await
    }

    async fn unlisted_above(
        &self,
        conn: &mut (impl ConnectionLike + Send + Sync),
        key: &str,
        listing: &Listing,
        points: i64,
    ) -> Result<u64, StoreError> {
        let unlisted: Vec<&str> = listing.unlisted().map(MemberId::as_str).collect();
        if unlisted.is_empty() {
            return Ok(0);
        }
        let scores: Vec<Option<f64>> = redis::cmd("ZMSCORE")
            .arg(key)
            .arg(&unlisted)
            .query_async(conn)
            .await
            .map_err(unavailable)?;
        Ok(scores
            .into_iter()
            .flatten()
            .filter(|s| (s / SHIFT).floor() as i64 > points)
            .count() as u64)
    }
}

/// A run of listed entries: from raw index `start` on, at most `limit` of
/// them; `ahead_listed` listed members come before `start`.
struct Window<'a> {
    start: u64,
    limit: u64,
    ahead_listed: u64,
    unlisted_ranks: &'a [u64],
    /// The display-name hash of the generation read.
    names: &'a str,
}

/// Raw start index of the `offset`-th listed member, skipping unlisted ranks.
fn raw_start(offset: u64, unlisted_ranks: &[u64]) -> u64 {
    let mut start = offset;
    for r in unlisted_ranks {
        if *r <= start {
            start += 1;
        }
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_skip_over_unlisted_members_ranked_before_them() {
        assert_eq!(raw_start(0, &[]), 0);
        assert_eq!(raw_start(0, &[0]), 1);
        assert_eq!(raw_start(2, &[0, 5]), 3);
        assert_eq!(raw_start(2, &[0, 1, 2]), 5);
        assert_eq!(raw_start(0, &[3]), 0);
    }
}
