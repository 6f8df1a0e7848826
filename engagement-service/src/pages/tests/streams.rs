//! Tests of the live feed: what it sends and when, and the bound on streams.

use std::time::Duration;

use futures_util::StreamExt;

use super::super::live::{LiveStreams, Timing, Update, feed, message};

#[test]
fn a_line_break_in_a_name_stays_inside_one_data_line() {
    let sent = String::from_utf8(message("<td>a\nb\r\nc</td>").to_vec()).unwrap();
    assert!(sent.starts_with("data: {"), "{sent}");
    assert!(sent.ends_with("}\n\n"), "{sent}");
    assert_eq!(sent.matches('\n').count(), 2, "{sent}");
}

fn fast() -> Timing {
    Timing {
        poll: Duration::from_millis(5),
        keep_alive: Duration::from_secs(60),
        lifetime: Duration::from_secs(60),
    }
}

#[tokio::test]
async fn a_feed_sends_the_region_at_once_and_again_only_when_it_changes() {
    let streams = LiveStreams::new(1);
    let renders = ["a", "a", "a", "b", "b", "c"];
    let mut i = 0;
    let render = move || {
        let html = renders[i.min(renders.len() - 1)].to_owned();
        i += 1;
        async move { Update::Region(html) }
    };
    let stream = feed(streams.try_acquire().unwrap(), fast(), render);
    let sent: Vec<String> = stream
        .take(4)
        .map(|b| String::from_utf8(b.unwrap().to_vec()).unwrap())
        .collect()
        .await;
    assert_eq!(sent[0], "retry: 5000\n\n");
    let html: Vec<String> = sent[1..]
        .iter()
        .map(|s| {
            let v: serde_json::Value =
                serde_json::from_str(s.strip_prefix("data: ").unwrap().trim()).unwrap();
            v["html"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(html, ["a", "b", "c"]);
    assert_eq!(
        streams.open(),
        0,
        "the slot is given back when the stream is dropped"
    );
}

#[tokio::test]
async fn a_quiet_feed_sends_keep_alives_skips_failed_polls_and_ends_after_its_lifetime() {
    let timing = Timing {
        poll: Duration::from_millis(5),
        keep_alive: Duration::from_millis(20),
        lifetime: Duration::from_millis(200),
    };
    let streams = LiveStreams::new(1);
    let mut first = true;
    let render = move || {
        // The store fails once, then answers the same region each time.
        let update = if std::mem::take(&mut first) {
            Update::Unavailable("down".into())
        } else {
            Update::Region("same".into())
        };
        async move { update }
    };
    let sent: Vec<String> = feed(streams.try_acquire().unwrap(), timing, render)
        .map(|b| String::from_utf8(b.unwrap().to_vec()).unwrap())
        .collect()
        .await;
    assert_eq!(
        sent.iter().filter(|s| s.starts_with("data: ")).count(),
        1,
        "{sent:?}"
    );
    assert!(
        sent.iter().filter(|s| *s == ": keep-alive\n\n").count() >= 3,
        "{sent:?}"
    );
    assert_eq!(streams.open(), 0);
}

#[test]
fn streams_beyond_the_limit_are_refused_until_one_closes() {
    let streams = LiveStreams::new(2);
    let a = streams.try_acquire().unwrap();
    let _b = streams.try_acquire().unwrap();
    assert!(streams.try_acquire().is_none());
    assert_eq!(streams.open(), 2);
    drop(a);
    assert!(streams.try_acquire().is_some());
}

#[tokio::test]
async fn a_feed_ends_when_its_board_is_gone() {
    let streams = LiveStreams::new(1);
    let mut polls = 0;
    let render = move || {
        polls += 1;
        let update = if polls == 1 {
            Update::Region("rows".into())
        } else {
            Update::Gone
        };
        async move { update }
    };
    let sent: Vec<_> = feed(streams.try_acquire().unwrap(), fast(), render)
        .collect()
        .await;
    assert_eq!(sent.len(), 2, "the reconnect delay and the one region");
    assert_eq!(streams.open(), 0);
}
