//! Member states as this instance last read or wrote them, beside the JSON
//! they were read from or written as.
//!
//! Reading a member's state back is most of the CPU a batch costs: an active
//! member's JSON holds weeks of daily-cap use and every `once_per` slot. When
//! the JSON Redis returns is byte for byte the JSON this instance wrote (or
//! read) last, the state it stands for is taken from here instead of parsed.
//! A state is only ever found by its exact JSON, so a write by another
//! instance, or one that did not commit, simply misses.

use std::sync::Arc;

use engagement_core::MemberState;
use quick_cache::Weighter;
use quick_cache::sync::Cache;

use super::{StoreError, corrupt};

/// Bytes of JSON kept; the parsed states take about as much again.
const CAPACITY_BYTES: u64 = 64 << 20;

struct Parsed {
    json: String,
    state: MemberState,
}

#[derive(Clone)]
struct JsonBytes;

impl Weighter<String, Arc<Parsed>> for JsonBytes {
    fn weight(&self, key: &String, parsed: &Arc<Parsed>) -> u64 {
        (key.len() + parsed.json.len()) as u64
    }
}

pub(super) struct ParsedStates(Cache<String, Arc<Parsed>, JsonBytes>);

impl Default for ParsedStates {
    fn default() -> ParsedStates {
        ParsedStates(Cache::with_weighter(10_000, CAPACITY_BYTES, JsonBytes))
    }
}

impl ParsedStates {
    /// The state stored at `key` as `json`.
    pub(super) fn read(&self, key: &str, json: &str) -> Result<MemberState, StoreError> {
        if let Some(parsed) = self.0.get(key)
            && parsed.json == json
        {
            return Ok(parsed.state.clone());
        }
        let state: MemberState = serde_json::from_str(json).map_err(corrupt)?;
        self.remember(key.to_owned(), json.to_owned(), state.clone());
        Ok(state)
    }

    /// The state stored at `key` as `json`, for a writer about to change it
    /// (and [`write`](Self::write) it back): taken out rather than copied.
    pub(super) fn take(&self, key: &str, json: &str) -> Result<MemberState, StoreError> {
        if let Some((_, parsed)) = self.0.remove(key)
            && parsed.json == json
        {
            return Ok(Arc::try_unwrap(parsed).map_or_else(|p| p.state.clone(), |p| p.state));
        }
        serde_json::from_str(json).map_err(corrupt)
    }

    /// The state written to `key`, as JSON.
    pub(super) fn write(&self, key: String, state: MemberState) -> Result<String, StoreError> {
        let json = serde_json::to_string(&state).map_err(corrupt)?;
        self.remember(key, json.clone(), state);
        Ok(json)
    }

    fn remember(&self, key: String, json: String, state: MemberState) {
        self.0.insert(key, Arc::new(Parsed { json, state }));
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
    fn a_state_is_found_only_by_the_json_it_was_written_as() {
        let states = ParsedStates::default();
        let written = states.write("m:ana".into(), state(10)).unwrap();
        assert_eq!(states.read("m:ana", &written).unwrap().points, 10);
        // Another writer stored something else under the same key.
        let theirs = serde_json::to_string(&state(25)).unwrap();
        assert_eq!(states.read("m:ana", &theirs).unwrap().points, 25);
        // The same JSON under another key is that key's own.
        assert_eq!(states.read("m:bo", &written).unwrap().points, 10);
    }

    #[test]
    fn a_writer_takes_the_state_out_and_finds_it_again_after_writing() {
        let states = ParsedStates::default();
        let written = states.write("m:ana".into(), state(4)).unwrap();
        let mut taken = states.take("m:ana", &written).unwrap();
        assert_eq!(taken.points, 4);
        taken.points = 9;
        let again = states.write("m:ana".into(), taken).unwrap();
        assert_eq!(states.take("m:ana", &again).unwrap().points, 9);
        // Taken, and not written back: parsed from the JSON next time.
        assert_eq!(states.take("m:ana", &again).unwrap().points, 9);
        assert!(states.take("m:ana", "not json").is_err());
    }

    #[test]
    fn broken_json_is_refused_even_after_a_good_read() {
        let states = ParsedStates::default();
        let good = states.write("m:ana".into(), state(3)).unwrap();
        assert!(states.read("m:ana", &good).is_ok());
        assert!(states.read("m:ana", "{\"points\":").is_err());
        assert_eq!(states.read("m:ana", &good).unwrap().points, 3);
    }
}
