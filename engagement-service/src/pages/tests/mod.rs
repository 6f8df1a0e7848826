//! Rendering tests of the board pages: escaping, empty boards, ties,
//! anonymous members, the viewer's row, links, the embed and the index.

mod profiles;
mod streams;

use engagement_core::{Bucket, MemberId, Period};

use super::live::message;
use super::*;
use crate::store::Entry;

const SCRIPT_NAME: &str = "<script>alert(1)</script>";

fn entry(rank: u64, member: Option<&str>, name: Option<&str>, score: i64) -> Entry {
    Entry {
        rank,
        member: member.map(|m| MemberId::parse(m.to_owned()).unwrap()),
        name: name.map(str::to_owned),
        score,
    }
}

fn board(entries: Vec<Entry>) -> BoardPage {
    BoardPage {
        id: "contributors".into(),
        name: "Top contributors".into(),
        points: true,
        periods: vec![Period::AllTime, Period::Week],
        global: true,
        community_scope: true,
        bucket: Bucket::ALL_TIME,
        community: None,
        communities: vec!["customs".into(), "rules-of-origin".into()],
        at: None,
        token: None,
        viewer: None,
        offset: 0,
        limit: 20,
        total: entries.len() as u64,
        entries,
        next_rank: None,
    }
}

fn viewer(member: &str, rank: Option<u64>, score: i64, own: Option<Entry>) -> Option<Viewer> {
    Some(Viewer {
        member: member.into(),
        rank,
        score,
        entry: own,
    })
}

/// The text of every `<td class="rank">` cell, tags removed.
fn rank_cells(html: &str) -> Vec<String> {
    html.split(r#"<td class="rank">"#)
        .skip(1)
        .map(|cell| {
            let cell = &cell[..cell.find("</td>").unwrap()];
            let mut text = String::new();
            let mut in_tag = false;
            for c in cell.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            text
        })
        .collect()
}

#[test]
fn a_member_named_like_a_script_tag_shows_as_text_on_every_page() {
    let mut page = board(vec![entry(1, Some("m-1"), Some(SCRIPT_NAME), 10)]);
    page.viewer = viewer(
        "m-1",
        Some(1),
        10,
        Some(entry(1, Some("m-1"), Some(SCRIPT_NAME), 10)),
    );
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;";
    for html in [
        board_page(&page).into_string(),
        embed_page(&page).into_string(),
        profile_page(&profiles::fixture(Some(SCRIPT_NAME))).into_string(),
    ] {
        assert!(html.contains(escaped), "{html}");
        assert!(!html.contains("<script>alert"), "{html}");
        // Only the page's own script tag, which loads live.js.
        assert_eq!(html.matches("<script").count(), 1, "{html}");
    }
    // The live region travels as JSON; the HTML inside it stays escaped.
    let sent = String::from_utf8(message(&board_region(&page).into_string()).to_vec()).unwrap();
    let data: serde_json::Value =
        serde_json::from_str(sent.strip_prefix("data: ").unwrap().trim()).unwrap();
    assert!(data["html"].as_str().unwrap().contains(escaped));
}

#[test]
fn a_community_and_a_viewer_id_are_escaped_in_attributes_and_encoded_in_links() {
    let mut page = board(vec![entry(1, Some("a/b?c&d\"e"), None, 10)]);
    page.community = Some("x\"><img src=x onerror=alert(1)>".into());
    page.token = Some("t&k".into());
    let html = board_page(&page).into_string();
    assert!(!html.contains("<img"), "{html}");
    assert!(
        html.contains(r#"href="/members/a%2Fb%3Fc%26d%22e?token=t%26k""#),
        "{html}"
    );
    assert!(
        html.contains("community=x%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E"),
        "{html}"
    );
    // A community asked for but not listed is kept as chosen, escaped.
    assert!(
        html.contains(r#"<option value="x&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" selected>"#),
        "{html}"
    );
    // The member's id is the shown name when there is none, escaped.
    assert!(html.contains("a/b?c&amp;d&quot;e</a>"), "{html}");
}

#[test]
fn an_empty_board_says_no_one_is_on_it_yet_and_draws_no_table() {
    let mut page = board(Vec::new());
    page.bucket = Bucket::containing(
        Period::Week,
        "2026-11-20".parse().unwrap(),
        jiff::civil::Weekday::Monday,
    );
    let html = board_region(&page).into_string();
    assert!(
        html.contains("No scores yet (Week of 16 November 2026)."),
        "{html}"
    );
    assert!(!html.contains("<table"), "{html}");
    assert!(
        !html.contains("Page 1"),
        "a single page needs no pager: {html}"
    );
    assert!(embed_region(&page).into_string().contains("No scores yet."));
}

#[test]
fn a_page_past_the_end_links_back_to_the_first() {
    let mut page = board(Vec::new());
    page.total = 3;
    page.offset = 40;
    let html = board_region(&page).into_string();
    assert!(html.contains("No one is listed on this page."), "{html}");
    assert!(
        html.contains(r#"href="/boards/contributors?period=all_time">Back to the first page"#),
        "{html}"
    );
}

#[test]
fn tied_members_share_a_rank_and_are_marked_tied() {
    let page = board(vec![
        entry(1, Some("a"), None, 30),
        entry(2, Some("b"), None, 20),
        entry(2, Some("c"), None, 20),
        entry(4, Some("d"), None, 10),
    ]);
    let html = board_region(&page).into_string();
    assert_eq!(rank_cells(&html), ["1", "2 tied", "2 tied", "4"]);
}

#[test]
fn a_tie_across_the_page_edge_is_marked_on_both_sides() {
    let mut first = board(vec![
        entry(1, Some("a"), None, 30),
        entry(2, Some("b"), None, 20),
    ]);
    first.limit = 2;
    first.total = 4;
    first.next_rank = Some(2);
    assert_eq!(
        rank_cells(&board_region(&first).into_string()),
        ["1", "2 tied"]
    );
    let mut second = board(vec![
        entry(2, Some("c"), None, 20),
        entry(4, Some("d"), None, 5),
    ]);
    (second.limit, second.offset, second.total) = (2, 2, 4);
    let html = board_region(&second).into_string();
    assert_eq!(rank_cells(&html), ["2 tied", "4"]);
    assert!(html.contains("Page 2 of 2"), "{html}");
    assert!(
        html.contains(r#"rel="prev" href="/boards/contributors?period=all_time""#),
        "{html}"
    );
}

#[test]
fn anonymous_members_show_without_name_id_or_link() {
    let page = board(vec![
        entry(1, Some("pub"), Some("Ana"), 30),
        entry(2, None, None, 20),
    ]);
    let html = board_region(&page).into_string();
    assert!(
        html.contains(r#"<span class="anonymous">Anonymous member</span>"#),
        "{html}"
    );
    assert_eq!(html.matches("href=\"/members/").count(), 1, "{html}");
    assert_eq!(rank_cells(&html), ["1", "2"]);
}

#[test]
fn the_viewers_row_is_highlighted_and_their_place_named() {
    let mut page = board(vec![
        entry(1, Some("a"), None, 30),
        entry(2, Some("me"), Some("Me"), 20),
        entry(3, Some("c"), None, 10),
    ]);
    page.viewer = viewer(
        "me",
        Some(2),
        20,
        Some(entry(2, Some("me"), Some("Me"), 20)),
    );
    let html = board_region(&page).into_string();
    assert_eq!(
        html.matches(r#"<tr class="me" aria-current="true">"#)
            .count(),
        1,
        "{html}"
    );
    assert!(
        html.contains(r#"Me</a> <span class="you">you</span>"#),
        "{html}"
    );
    assert!(
        html.contains("You are <strong>#2</strong> of 3 with 20 points."),
        "{html}"
    );
    assert!(
        !html.contains("Show my place"),
        "already on this page: {html}"
    );
}

#[test]
fn a_viewer_further_down_gets_a_link_to_their_page() {
    let mut page = board(vec![entry(1, Some("a"), None, 30)]);
    page.total = 60;
    page.viewer = viewer("me", Some(45), 3, None);
    let html = board_region(&page).into_string();
    assert!(
        html.contains("You are <strong>#45</strong> of 60 with 3 points."),
        "{html}"
    );
    assert!(
        html.contains(
            r#"href="/boards/contributors?period=all_time&amp;page=3&amp;member=me">Show my place"#
        ),
        "{html}"
    );
    page.viewer = viewer("gone", None, 0, None);
    let html = board_region(&page).into_string();
    assert!(
        html.contains("You are not listed on this board for this period."),
        "{html}"
    );
}

#[test]
fn the_board_page_has_period_tabs_a_community_filter_and_a_live_region() {
    let mut page = board(vec![entry(1, Some("a"), None, 30)]);
    page.community = Some("rules-of-origin".into());
    page.viewer = viewer("a", Some(1), 30, None);
    let html = board_page(&page).into_string();
    assert!(html.contains(r#"<a href="/boards/contributors?period=all_time&amp;community=rules-of-origin&amp;member=a" aria-current="page">All time</a>"#), "{html}");
    assert!(html.contains(r#"<a href="/boards/contributors?period=week&amp;community=rules-of-origin&amp;member=a">Week</a>"#), "{html}");
    assert!(
        html.contains(r#"<label for="community">Community</label>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<input type="hidden" name="member" value="a">"#),
        "{html}"
    );
    // The filter lists the board's communities, the chosen one selected.
    assert!(
        html.contains(r#"<select id="community" name="community"><option value="">All communities</option><option value="customs">customs</option><option value="rules-of-origin" selected>rules-of-origin</option></select>"#),
        "{html}"
    );
    assert!(html.contains(r#"data-live="/boards/contributors/events?period=all_time&amp;community=rules-of-origin&amp;member=a""#), "{html}");
    let region = board_region(&page).into_string();
    assert!(
        html.contains(&format!(r#"data-version="{}""#, live::version(&region))),
        "{html}"
    );
    assert!(
        html.contains(r#"<th class="rank" scope="col">Rank</th>"#),
        "{html}"
    );
    assert!(
        html.contains("<caption>All time · community rules-of-origin</caption>"),
        "{html}"
    );
}

#[test]
fn the_embed_adds_the_viewers_own_row_below_the_top() {
    let mut page = board(vec![
        entry(1, Some("a"), None, 30),
        entry(2, Some("b"), None, 20),
    ]);
    page.limit = 2;
    page.viewer = viewer("me", Some(7), 4, Some(entry(7, Some("me"), Some("Me"), 4)));
    let html = embed_region(&page).into_string();
    assert_eq!(rank_cells(&html), ["1", "2", "7"]);
    assert!(
        html.contains(r#"<tr class="gap" aria-hidden="true">"#),
        "{html}"
    );
    // Already in the top rows: not repeated.
    page.viewer = viewer("b", Some(2), 20, Some(entry(2, Some("b"), None, 20)));
    assert_eq!(rank_cells(&embed_region(&page).into_string()), ["1", "2"]);
    let full = embed_page(&page).into_string();
    assert!(full.contains(r#"<body class="embed">"#), "{full}");
    assert!(full.contains(r#"target="_blank" rel="noopener""#), "{full}");
    assert!(full.contains(r#"data-live="/embed/boards/contributors/events?period=all_time&amp;member=b&amp;limit=2""#), "{full}");
}

#[test]
fn the_index_lists_every_board_with_its_periods() {
    let boards = [
        BoardSummary {
            id: "contributors".into(),
            name: "Top contributors".into(),
            measures: "Points earned".into(),
            periods: vec![Period::AllTime, Period::Month],
            global: true,
            community: true,
            communities: Vec::new(),
        },
        BoardSummary {
            id: "local".into(),
            name: "Local heroes".into(),
            measures: "Points earned".into(),
            periods: vec![Period::Week],
            global: false,
            community: true,
            communities: vec!["customs".into(), "rules-of-origin".into()],
        },
    ];
    let html = index_page(&boards, Some("tok")).into_string();
    assert!(
        html.contains(r#"<a href="/boards/contributors?token=tok">Top contributors</a>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<a href="/boards/contributors?period=month&amp;token=tok">Month</a>"#),
        "{html}"
    );
    // A community-only board asks for the community first.
    assert!(
        html.contains(r#"<form class="community" method="get" action="/boards/local">"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<input type="hidden" name="token" value="tok">"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<select id="community-local" name="community" required><option value="" disabled selected>Choose a community</option><option value="customs">customs</option>"#),
        "{html}"
    );
    assert!(
        index_page(&[], None)
            .into_string()
            .contains("No leaderboards are configured yet.")
    );
}
