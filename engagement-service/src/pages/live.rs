//! Live board updates over Server-Sent Events. Each stream polls the store
//! and sends the re-rendered region only when it changed: the store is the
//! one truth, so this works alike with one instance or several on one Redis,
//! whichever instance took the event.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use futures_util::Stream;

/// Open streams one process serves at most; each polls the store about
/// once a second, so this also bounds that load.
pub const MAX_STREAMS: usize = 500;

/// How long the browser waits before reconnecting a dropped stream.
const RETRY_MS: u64 = 5000;

/// Counts open streams so their number stays bounded.
#[derive(Debug, Clone)]
pub struct LiveStreams {
    open: Arc<AtomicUsize>,
    limit: usize,
}

impl Default for LiveStreams {
    fn default() -> LiveStreams {
        LiveStreams::new(MAX_STREAMS)
    }
}

impl LiveStreams {
    pub fn new(limit: usize) -> LiveStreams {
        LiveStreams {
            open: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// A place for one more stream, or `None` at the limit. The place is
    /// given back when the slot is dropped: when the stream ends or actix
    /// drops it because the client went away.
    pub fn try_acquire(&self) -> Option<Slot> {
        self.open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .ok()?;
        Some(Slot(self.open.clone()))
    }
}

/// One open stream's place in [`LiveStreams`].
#[derive(Debug)]
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The pace of a stream.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How often the store is asked.
    pub poll: Duration,
    /// A comment line goes out when nothing was sent for this long, so a
    /// client that vanished without closing is noticed on the write.
    pub keep_alive: Duration,
    /// The stream ends after this; the browser reconnects on its own, which
    /// spreads long-lived connections over instances after a deploy.
    pub lifetime: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            poll: Duration::from_secs(1),
            keep_alive: Duration::from_secs(10),
            lifetime: Duration::from_secs(30 * 60),
        }
    }
}

/// A short fingerprint of a rendered region: the page carries the one it
/// was rendered with, so the script skips an update it already shows.
pub fn version(html: &str) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(html.as_bytes()))
}

/// One event carrying a region as JSON (`version`, `html`): JSON keeps any
/// line break a member name may hold inside the one `data:` line.
pub fn message(html: &str) -> Bytes {
    let data = serde_json::json!({ "version": version(html), "html": html });
    Bytes::from(format!("data: {data}\n\n"))
}

/// What one poll of the store gave.
#[derive(Debug)]
pub enum Update {
    /// The region as it is now.
    Region(String),
    /// The store did not answer; the next poll tries again.
    Unavailable(String),
    /// The board no longer exists (the rules changed): the stream ends.
    Gone,
}

struct FeedState<F> {
    render: F,
    last: Option<String>,
    failing: bool,
    started: Instant,
    last_sent: Instant,
    opened: bool,
    polled: bool,
    _slot: Slot,
}

/// The event stream of one client: the reconnect delay, the region as it is
/// now, then the region each time it changes.
pub fn feed<F, Fut>(
    slot: Slot,
    timing: Timing,
    render: F,
) -> impl Stream<Item = Result<Bytes, Infallible>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Update>,
{
    let state = FeedState {
        render,
        last: None,
        failing: false,
        started: Instant::now(),
        last_sent: Instant::now(),
        opened: false,
        polled: false,
        _slot: slot,
    };
    futures_util::stream::unfold(state, move |mut s| async move {
        if !s.opened {
            s.opened = true;
            return Some((Ok(Bytes::from(format!("retry: {RETRY_MS}\n\n"))), s));
        }
        loop {
            // The first poll answers at once; later ones wait their turn.
            if s.polled {
                tokio::time::sleep(timing.poll).await;
            }
            s.polled = true;
            if s.started.elapsed() >= timing.lifetime {
                return None;
            }
            match (s.render)().await {
                Update::Region(html) => {
                    s.failing = false;
                    let v = version(&html);
                    if s.last.as_deref() != Some(v.as_str()) {
                        s.last = Some(v);
                        s.last_sent = Instant::now();
                        return Some((Ok(message(&html)), s));
                    }
                }
                Update::Unavailable(cause) => {
                    // Once per outage, not once a second per stream.
                    if !std::mem::replace(&mut s.failing, true) {
                        tracing::warn!(%cause, "live board update skipped: store unavailable");
                    }
                }
                Update::Gone => return None,
            }
            if s.last_sent.elapsed() >= timing.keep_alive {
                s.last_sent = Instant::now();
                return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), s));
            }
        }
    })
}
