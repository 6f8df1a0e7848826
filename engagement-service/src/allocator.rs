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
//! Nor does the process take transparent huge pages (on Linux). With them,
//! the kernel zeroed two megabytes at each fault of the growing heap, and
//! a replay of a million events on the embedded store took a quarter more
//! processor time (README, Performance). `MIMALLOC_ALLOW_THP=1` leaves
//! the system's setting in force.
//!
//! Rust asks for every allocation with an alignment; the `mimalloc`
//! crate's allocator hands each request to mimalloc's aligned entry
//! points, whose version 3 checks the alignment of a free block before
//! taking it. Every mimalloc block is aligned to a machine word, so
//! [`Allocator`] asks its plain entry points for anything aligned to a word
//! or less (nearly everything), and the aligned ones for the rest. The
//! engine's benchmark spent 3 % of its instructions in that check.
//!
//! The one module allowed `unsafe`: the allocator and mimalloc's options
//! go through mimalloc's C interface.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// mimalloc, asked without an alignment when a word's will do: the
/// allocator of the `engagement` binary and of the benches.
#[derive(Debug, Clone, Copy, Default)]
pub struct Allocator;

/// The alignment of every block mimalloc hands out: its blocks are whole
/// words, each starting on a word (a free block holds a pointer to the next).
const WORD: usize = std::mem::size_of::<usize>();

// SAFETY: every request is passed to mimalloc whole; the plain entry points
// are used only for alignments that all of mimalloc's blocks have (`WORD`),
// and `mi_free` frees blocks from either kind of entry point.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: `layout` has a non-zero size, as `GlobalAlloc` requires.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_malloc(layout.size()).cast()
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator, so from mimalloc.
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`'s alignment,
        // which the new block keeps.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_realloc(ptr.cast(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
            }
        }
    }
}

/// How long freed memory is kept for reuse before it goes back to the
/// system, in milliseconds, unless `MIMALLOC_PURGE_DELAY` is set.
pub const PURGE_DELAY_MS: i64 = 10_000;

/// mimalloc's `mi_option_purge_delay` (its `reset_delay` before version 2;
/// the bindings leave it out of their constants).
const PURGE_DELAY_OPTION: libmimalloc_sys::mi_option_t = 15;

/// mimalloc's `mi_option_allow_thp`.
const ALLOW_THP_OPTION: libmimalloc_sys::mi_option_t = 43;

/// Sets mimalloc's options. To be called first thing in `main`, before the
/// process starts any thread: mimalloc keeps its options as plain values
/// that its threads read without synchronisation (the `engagement` binary
/// and the benches do so).
pub fn configure() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's option values, which it reads when
        // it purges; called before the process starts any thread (see above).
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY_OPTION, PURGE_DELAY_MS as _) };
    }
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        refuse_huge_pages();
    }
}

/// Keeps the process off transparent huge pages from now on.
///
/// mimalloc reads its own option as the process starts, before `main`,
/// and then asks the kernel the same (`PR_SET_THP_DISABLE`); it is asked
/// here instead, and the option set to agree.
fn refuse_huge_pages() {
    // SAFETY: as for the purge delay.
    unsafe { libmimalloc_sys::mi_option_set(ALLOW_THP_OPTION, 0) };
    #[cfg(target_os = "linux")]
    // SAFETY: sets a flag of this process; no memory is passed.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Whether the kernel keeps this process off transparent huge pages.
#[cfg(target_os = "linux")]
pub fn huge_pages_refused() -> bool {
    // SAFETY: reads a flag of this process.
    unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1 }
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
    fn blocks_have_the_alignment_asked_at_every_size() {
        let a = Allocator;
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in (1..=600).chain([1000, 4095, 70_000, 1 << 21]) {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: non-zero sizes; each block is freed with its layout.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "alloc {size} aligned {align}");
                    p.write_bytes(7, size);
                    let grown = a.realloc(p, layout, size * 3);
                    assert_eq!(grown as usize % align, 0, "realloc {size} aligned {align}");
                    assert!(
                        (0..size).all(|i| *grown.add(i) == 7),
                        "realloc kept the bytes"
                    );
                    a.dealloc(grown, Layout::from_size_align(size * 3, align).unwrap());
                    let z = a.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0, "zeroed {size} aligned {align}");
                    assert!((0..size).all(|i| *z.add(i) == 0));
                    a.dealloc(z, layout);
                }
            }
        }
    }

    #[test]
    fn configure_sets_mimallocs_purge_delay_and_keeps_huge_pages_off() {
        // One test: both options are set by the same call, once per process.
        let (purge, thp) = (
            std::env::var_os("MIMALLOC_PURGE_DELAY").is_none(),
            std::env::var_os("MIMALLOC_ALLOW_THP").is_none(),
        );
        // SAFETY: reads a plain option value.
        let allow_thp = || unsafe { libmimalloc_sys::mi_option_get(ALLOW_THP_OPTION) };
        // mimalloc's documented defaults, which none of their neighbours share.
        if purge {
            assert_eq!(purge_delay_ms(), 1000);
        }
        if thp {
            assert_eq!(allow_thp(), 1);
        }
        configure();
        if purge {
            assert_eq!(purge_delay_ms(), PURGE_DELAY_MS);
        }
        if thp {
            assert_eq!(allow_thp(), 0);
            #[cfg(target_os = "linux")]
            assert!(huge_pages_refused());
        }
    }
}
