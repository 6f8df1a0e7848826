//! The allocator the `engagement` binary uses (mimalloc, declared in
//! `main.rs`), and how long it keeps memory it freed before handing it
//! back to the system.
//!
//! mimalloc returns freed pages to the system after one second unused.
//! A replay frees and allocates the decoded log, the engine's outcomes and
//! the writes to Redis by the million, so with that default the system
//! faulted in and zeroed the same pages again and again, and a Redis
//! replay of a million events took longer than with freed memory kept for
//! [`PURGE_DELAY_MS`], as it is now (README, Performance). What stays
//! unused that long still goes back.
//! `MIMALLOC_PURGE_DELAY` (milliseconds, -1 for never) overrides it.
//!
//! The one module allowed `unsafe`: mimalloc's options are set through its
//! C interface.
#![allow(unsafe_code)]

/// How long freed memory is kept for reuse before it goes back to the
/// system, in milliseconds, unless `MIMALLOC_PURGE_DELAY` is set.
pub const PURGE_DELAY_MS: i64 = 10_000;

/// mimalloc's `mi_option_purge_delay` (its `reset_delay` before version 2;
/// the bindings leave it out of their constants).
const PURGE_DELAY_OPTION: libmimalloc_sys::mi_option_t = 15;

/// Sets mimalloc's options. To be called first thing in `main`, before the
/// process starts any thread: mimalloc keeps its options as plain values
/// that its threads read without synchronisation (the `engagement` binary
/// and the benches do so).
pub fn configure() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: sets one of mimalloc's option values, which it reads when it
    // purges; called before the process starts any thread (see above).
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY_OPTION, PURGE_DELAY_MS as _) };
}

/// mimalloc's purge delay now, in milliseconds.
// A C `long` is 32 bits on some platforms.
#[allow(clippy::useless_conversion)]
pub fn purge_delay_ms() -> i64 {
    // SAFETY: reads a plain option value.
    i64::from(unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY_OPTION) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_set_is_mimallocs_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // mimalloc's documented default, which none of its neighbours share.
        assert_eq!(purge_delay_ms(), 1000);
        configure();
        assert_eq!(purge_delay_ms(), PURGE_DELAY_MS);
    }
}
