//! Member states as this instance last read or wrote them, beside the bytes
//! they were read from or written as (the compact encoding, or JSON from
//! versions before it).
//!
//! Reading a member's state back is much of the CPU a batch costs: an active
//! member's state holds weeks of daily-cap use and every `once_per` slot. When
//! the bytes Redis returns are exactly those this instance wrote (or read)
//! last, the state they stand for is taken from here instead of decoded.
//! A state is only ever found by its exact bytes, so a write by another
//! instance, or one that did not commit, simply misses.

use std::sync::Arc;

use engagement_core::MemberState;
use quick_cache::Weighter;
use quick_cache::sync::Cache;

use super::super::compact;
use super::{StoreError, corrupt};

/// Encoded bytes kept; the parsed states take a few times as much again.
const CAPACITY_BYTES: u64 = 64 << 20;

struct Parsed {
    raw: Vec<u8>,
    state: MemberState,
}

#[derive(Clone)]
struct RawBytes;

impl Weighter<String, Arc<Parsed>> for RawBytes {
    fn weight(&self, key: &String, parsed: &Arc<Parsed>) -> u64 {
        (key.len() + parsed.raw.len()) as u64
    }
}

pub(super) struct ParsedStates(Cache<String, Arc<Parsed>, RawBytes>);

impl Default for ParsedStates {
    fn default() -> ParsedStates {
        ParsedStates(Cache::with_weighter(10_000, CAPACITY_BYTES, RawBytes))
    }
}

impl ParsedStates {
    /// The state stored at `key` as `raw`.
    pub(super) fn read(&self, key: &str, raw: &[u8]) -> Result<MemberState, StoreError> {
        if let Some(parsed) = self.0.get(key)
            && parsed.raw == raw
        {
            return Ok(parsed.state.clone());
        }
        let state = compact::read_state(raw).map_err(corrupt)?;
        self.remember(key.to_owned(), raw.to_owned(), state.clone());
        Ok(state)
    }

    /// The state stored at `key` as `raw`, for a writer about to change it
    /// (and [`write`](Self::write) it back): taken out rather than copied.
    pub(super) fn take(&self, key: &str, raw: &[u8]) -> Result<MemberState, StoreError> {
        if let Some((_, parsed)) = self.0.remove(key)
            && parsed.raw == raw
        {
            return Ok(Arc::try_unwrap(parsed).map_or_else(|p| p.state.clone(), |p| p.state));
        }
        compact::read_state(raw).map_err(corrupt)
    }

    /// The state written to `key`, encoded.
    pub(super) fn write(&self, key: String, state: MemberState) -> Vec<u8> {
        let raw = compact::state(&state);
        self.remember(key, raw.clone(), state);
        raw
    }

    fn remember(&self, key: String, raw: Vec<u8>, state: MemberState) {
        self.0.insert(key, Arc::new(Parsed { raw, state }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(points: i64) -> MemberState {
        let mut state = MemberState::default();
        state.points = points;
        state
    }

    #[test]
    fn a_state_is_found_only_by_the_bytes_it_was_written_as() {
        let states = ParsedStates::default();
        let written = states.write("m:ana".into(), state(10));
        assert_eq!(states.read("m:ana", &written).unwrap().points, 10);
        // Another writer stored something else under the same key.
        let theirs = compact::state(&state(25));
        assert_eq!(states.read("m:ana", &theirs).unwrap().points, 25);
        // An earlier version wrote JSON there.
        let before = serde_json::to_vec(&state(31)).unwrap();
        assert_eq!(states.read("m:ana", &before).unwrap().points, 31);
        // The same bytes under another key are that key's own.
        assert_eq!(states.read("m:bo", &written).unwrap().points, 10);
    }

    #[test]
    fn a_writer_takes_the_state_out_and_finds_it_again_after_writing() {
        let states = ParsedStates::default();
        let written = states.write("m:ana".into(), state(4));
        let mut taken = states.take("m:ana", &written).unwrap();
        assert_eq!(taken.points, 4);
        taken.points = 9;
        let again = states.write("m:ana".into(), taken);
        assert_eq!(states.take("m:ana", &again).unwrap().points, 9);
        // Taken, and not written back: decoded from the bytes next time.
        assert_eq!(states.take("m:ana", &again).unwrap().points, 9);
        assert!(states.take("m:ana", b"not json").is_err());
    }

    #[test]
    fn broken_bytes_are_refused_even_after_a_good_read() {
        let states = ParsedStates::default();
        let good = states.write("m:ana".into(), state(3));
        assert!(states.read("m:ana", &good).is_ok());
        assert!(states.read("m:ana", b"{\"points\":").is_err());
        assert!(states.read("m:ana", &good[..good.len() - 1]).is_err());
        assert_eq!(states.read("m:ana", &good).unwrap().points, 3);
    }
}
