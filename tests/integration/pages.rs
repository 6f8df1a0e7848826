//! Members' pages end to end: the HTML the running service serves, read
//! access, the live stream across two instances on one Redis, and headless
//! Chromium watching a board update live (screenshots of the board and a
//! profile at phone and desktop width go to `target/screenshots/`; with
//! `SCREENSHOT_DIR` set, the ones the README shows are copied there too).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::chromium::Chromium;
use super::support::{Backend, RedisServer, TestApp, event, event_on, prefix};

const PHONE: (u32, u32) = (390, 844);
const DESKTOP: (u32, u32) = (1280, 900);
const SCRIPT_NAME: &str = r#"<img src=x onerror="window.xss=1"><script>window.xss=2</script>"#;

/// A running service on the embedded store and what keeps the store alive.
async fn embedded(
    tweak: impl FnOnce(&mut engagement_service::Settings),
) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(Backend::Embedded(dir.path().to_path_buf()), tweak).await;
    (app, dir)
}

/// `days` days ago, as RFC 3339: recent activity gives a living streak.
fn ago(days: i64) -> String {
    let now = jiff::Timestamp::now();
    now.checked_sub(jiff::SignedDuration::from_hours(24 * days))
        .unwrap()
        .to_string()
}

/// A small community: seven members on the board (two of them tied), one
/// anonymous, one hidden. Events go in oldest first, as a forum sends them.
async fn seed(app: &TestApp) {
    let mut events: Vec<(i64, Value)> = Vec::new();
    let mut add = |kind: &str, actor: &str, name: &str, days: i64, author: Option<&str>| {
        let n = events.len() + 1;
        let id = format!("seed-{n}");
        let mut e = match author {
            Some(a) => event_on(&id, kind, actor, &ago(days), &format!("post-{n}"), a),
            None => event(&id, kind, actor, &ago(days)),
        };
        e["actor_name"] = json!(name);
        e["community"] = json!(if n.is_multiple_of(3) {
            "trade-facilitation"
        } else {
            "rules-of-origin"
        });
        events.push((days, e));
    };
    for day in 0..9 {
        add("answer.posted", "m-ana", "Ana Souza", day, None);
    }
    add("webinar.hosted", "m-ana", "Ana Souza", 3, None);
    add("resource.shared", "m-ana", "Ana Souza", 2, None);
    add("question.asked", "m-ana", "Ana Souza", 1, None);
    add("resource.curated", "m-ana", "Ana Souza", 1, None);
    for _ in 0..3 {
        add("answer.accepted", "m-kofi", "Kofi Mensah", 0, Some("m-ana"));
    }
    for _ in 0..4 {
        add("post.liked", "m-li", "Li Wei", 0, Some("m-ana"));
    }
    for day in 0..7 {
        add("answer.posted", "m-kofi", "Kofi Mensah", day, None);
    }
    for day in 0..5 {
        add("resource.shared", "m-li", "Li Wei", day, None);
    }
    for day in 0..3 {
        add("answer.posted", "m-priya", "Priya Raman", day, None);
    }
    add(
        "answer.accepted",
        "m-tom",
        "Tomás Ortega",
        0,
        Some("m-priya"),
    );
    for day in 0..2 {
        add("answer.posted", "m-tom", "Tomás Ortega", day, None);
        add("answer.posted", "m-sara", "Sara Lindqvist", day, None);
    }
    for day in 0..4 {
        add("answer.posted", "m-anon", "Secret Name", day, None);
        add("answer.posted", "m-hid", "Hidden Person", day, None);
    }
    events.sort_by_key(|(days, _)| std::cmp::Reverse(*days));
    let events: Vec<Value> = events.into_iter().map(|(_, e)| e).collect();
    app.ingest(&json!({ "events": events })).await;
    for (member, visibility) in [("m-anon", "anonymous"), ("m-hid", "hidden")] {
        let (status, _) = app
            .put_json(
                &format!("/v1/members/{member}"),
                &json!({ "visibility": visibility }),
            )
            .await;
        assert_eq!(status, 200);
    }
}

async fn page(app: &TestApp, path: &str) -> (u16, String, String) {
    let res = app
        .client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    (status, content_type, res.text().await.unwrap())
}

/// `[rank, shown name, score]` of each row the API lists, as the page shows them.
async fn api_rows(app: &TestApp, query: &str) -> Vec<[String; 3]> {
    let (status, body) = app
        .get(&format!("/v1/leaderboards/contributors?limit=20{query}"))
        .await;
    assert_eq!(status, 200, "{body}");
    (body["entries"].as_array().unwrap().iter())
        .map(|e| {
            let shown = e["name"]
                .as_str()
                .or(e["member"].as_str())
                .unwrap_or("Anonymous member");
            [
                e["rank"].to_string(),
                shown.to_owned(),
                e["score"].to_string(),
            ]
        })
        .collect()
}

#[tokio::test]
async fn the_board_and_profile_pages_show_what_the_api_shows() {
    let (app, _dir) = embedded(|_| {}).await;
    seed(&app).await;
    let (status, content_type, html) = page(&app, "/boards/contributors?member=m-li").await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    let rows = api_rows(&app, "").await;
    assert_eq!(rows.len(), 7, "hidden members are not listed: {rows:?}");
    for [rank, name, score] in &rows {
        let row = format!(r#"<td class="rank">{rank}"#);
        assert!(html.contains(&row), "{row} in {html}");
        assert!(
            html.contains(&format!(r#"<td class="score">{score}</td>"#)),
            "{html}"
        );
        assert!(html.contains(&format!(">{name}<")), "{name} in {html}");
    }
    assert!(html.contains("Anonymous member"), "{html}");
    // Tomás and Sara have the same score: one rank, both marked.
    assert_eq!(
        html.matches(r#"<td class="rank">6 <span class="tied">tied</span></td>"#)
            .count(),
        2,
        "{html}"
    );
    for secret in ["Secret Name", "m-anon", "Hidden Person", "m-hid"] {
        assert!(!html.contains(secret), "{secret} must not show: {html}");
    }
    assert!(
        html.contains(r#"<tr class="me" aria-current="true">"#),
        "{html}"
    );
    assert!(html.contains("You are <strong>#"), "{html}");

    let (status, _, profile) = page(&app, "/members/m-ana").await;
    assert_eq!(status, 200);
    let (_, api) = app.get("/v1/members/m-ana").await;
    for expected in [
        "<h1>Ana Souza</h1>".to_owned(),
        format!("<strong>{}</strong> points", api["points"]),
        format!(
            r#"<p class="big">{}</p>"#,
            api["level"]["name"].as_str().unwrap()
        ),
        r#"<rect class="bar" data-stage="disseminate""#.to_owned(),
        "Speaker</span>".to_owned(),
    ] {
        assert!(profile.contains(&expected), "{expected} in {profile}");
    }
    // As in the API, an anonymous member's own profile keeps their name.
    let (_, _, anon) = page(&app, "/members/m-anon").await;
    assert!(anon.contains("<h1>Secret Name</h1>"), "{anon}");
    assert!(
        anon.contains("Listed on leaderboards as an anonymous member."),
        "{anon}"
    );

    let (status, _, embed) = page(&app, "/embed/boards/contributors?limit=3&member=m-sara").await;
    assert_eq!(status, 200);
    assert_eq!(
        embed.matches(r#"<td class="rank">"#).count(),
        4,
        "top 3 and the viewer: {embed}"
    );
    let (status, _, index) = page(&app, "/").await;
    assert_eq!(status, 200);
    assert!(
        index.contains(r#"<a href="/boards/answerers">Most accepted answers</a>"#),
        "{index}"
    );
}

#[tokio::test]
async fn pages_answer_errors_as_html_with_the_apis_status() {
    let (app, _dir) = embedded(|_| {}).await;
    for (path, status, text) in [
        ("/boards/nope", 404, "no leaderboard"),
        (
            "/boards/contributors?period=decade",
            422,
            "period: expected one of",
        ),
        (
            "/boards/contributors?page=0",
            422,
            "page: expected 1 or more",
        ),
        (
            "/embed/boards/contributors?limit=99",
            422,
            "limit: expected 1 to 25",
        ),
        ("/members/nobody", 404, "no member"),
        ("/boards/nope/events", 404, "no leaderboard"),
    ] {
        let (got, content_type, html) = page(&app, path).await;
        assert_eq!(
            (got, content_type.as_str()),
            (status, "text/html; charset=utf-8"),
            "{path}"
        );
        assert!(html.contains(text), "{path}: {html}");
    }
    let (status, content_type, css) = page(&app, "/assets/pages.css").await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/css; charset=utf-8")
    );
    assert!(css.contains("table.board"));
}

#[tokio::test]
async fn with_a_read_token_pages_take_it_from_the_header_or_the_address() {
    let (app, _dir) = embedded(|s| s.read_token = Some("let me read".into())).await;
    let (status, _, html) = page(&app, "/boards/contributors").await;
    assert_eq!(status, 401, "{html}");
    let (status, _, _) = page(&app, "/boards/contributors?token=wrong").await;
    assert_eq!(status, 401);
    let (status, _, html) = page(&app, "/boards/contributors?token=let%20me%20read").await;
    assert_eq!(status, 200, "{html}");
    // The token stays in the links and in the live stream's address.
    assert!(
        html.contains(r#"href="/boards/contributors?period=week&amp;token=let%20me%20read""#),
        "{html}"
    );
    assert!(
        html.contains("/boards/contributors/events?period=all_time&amp;token=let%20me%20read"),
        "{html}"
    );
    let res = (app.client.get(format!("{}/members/nobody", app.base)))
        .header("authorization", "Bearer let me read")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        404,
        "authorized by the header, then not found"
    );
    let (status, _, _) = page(&app, "/boards/contributors/events").await;
    assert_eq!(status, 401);
}

/// Reads the stream until its next region; `None` when it ended.
async fn next_region(res: &mut reqwest::Response, buffer: &mut String) -> Option<String> {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let message: String = buffer.drain(..end + 2).collect();
            if let Some(data) = message.strip_prefix("data: ") {
                let data: Value = serde_json::from_str(data.trim()).unwrap();
                return Some(data["html"].as_str().unwrap().to_owned());
            }
            continue;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(15), res.chunk()).await;
        let chunk = chunk.expect("the stream sends within 15 s").unwrap()?;
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test]
async fn a_live_stream_on_one_instance_sees_an_event_posted_to_another() {
    let redis = RedisServer::start();
    let prefix = prefix("live-two-instances");
    let a = TestApp::spawn(Backend::Redis(&redis, prefix.clone()), |_| {}).await;
    let b = TestApp::spawn(Backend::Redis(&redis, prefix), |_| {}).await;
    b.ingest(&event("first", "answer.posted", "m-1", &ago(0)))
        .await;
    let mut stream = (a
        .client
        .get(format!("{}/boards/contributors/events", a.base)))
    .send()
    .await
    .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut buffer = String::new();
    let region = next_region(&mut stream, &mut buffer).await.unwrap();
    assert!(region.contains(r#"<td class="score">5</td>"#), "{region}");
    assert!(!region.contains("m-2"), "{region}");

    b.ingest(&event("second", "webinar.hosted", "m-2", &ago(0)))
        .await;
    let region = next_region(&mut stream, &mut buffer).await.unwrap();
    assert!(
        region.contains(r#"<a href="/members/m-2">m-2</a></td><td class="score">50</td>"#),
        "{region}"
    );
}

/// Where the browser test keeps its screenshots: `target/screenshots`.
fn artefacts() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots")
}

const ROWS: &str = "JSON.stringify(Array.from(document.querySelectorAll('table.board tbody tr'), \
     tr => Array.from(tr.cells, td => td.textContent.trim())))";

/// The rows the page shows, as `[rank, name, score]` (the "tied" and "you" marks dropped).
fn shown_rows(browser: &mut Chromium) -> Vec<[String; 3]> {
    let rows: Vec<Vec<String>> =
        serde_json::from_str(browser.eval(ROWS).as_str().unwrap()).unwrap();
    rows.into_iter()
        .map(|r| {
            let rank = r[0]
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            let name = r[1].strip_suffix(" you").unwrap_or(&r[1]).to_owned();
            [rank, name, r[2].clone()]
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_sees_the_board_rows_then_an_event_live_and_screenshots_the_pages() {
    let (app, _dir) = embedded(|_| {}).await;
    seed(&app).await;
    let mut browser = Chromium::launch();
    let board = format!("{}/boards/contributors?member=m-li", app.base);
    browser.open(&board, DESKTOP.0, DESKTOP.1);
    browser.wait_for(
        "document.querySelector('[data-live]').dataset.state === 'live'",
        "the live stream to open",
    );
    assert_eq!(shown_rows(&mut browser), api_rows(&app, "").await);
    assert_eq!(
        browser.eval("document.querySelector('tr.me td.member').textContent"),
        json!("Li Wei you")
    );
    let shots = artefacts();
    browser.screenshot(DESKTOP.0, DESKTOP.1, &shots.join("board-desktop.png"));

    // An event moves Sara up: the page shows it without being reloaded.
    browser.eval("window.notReloaded = true");
    app.ingest(&event("live-1", "webinar.hosted", "m-sara", &ago(0)))
        .await;
    let expected = api_rows(&app, "").await;
    let sara = expected
        .iter()
        .find(|r| r[1] == "Sara Lindqvist")
        .unwrap()
        .clone();
    let check = format!(
        "{ROWS}.includes({})",
        json!(format!(
            "[\"{}\",\"Sara Lindqvist\",\"{}\"",
            sara[0], sara[2]
        ))
    );
    browser.wait_for(&check, "Sara's new score on the page");
    assert_eq!(shown_rows(&mut browser), expected);
    assert_eq!(
        browser.eval("window.notReloaded"),
        json!(true),
        "updated in place, not reloaded"
    );
    let status = browser.eval("document.getElementById('live-status').textContent");
    assert!(
        status.as_str().unwrap().starts_with("Updated at"),
        "{status}"
    );

    browser.open(&board, PHONE.0, PHONE.1);
    browser.screenshot(PHONE.0, PHONE.1, &shots.join("board-phone.png"));
    // As wide as the phone: nothing to scroll sideways.
    let width = "document.documentElement.scrollWidth";
    assert_eq!(browser.eval(width), json!(PHONE.0));
    let profile = format!("{}/members/m-ana", app.base);
    browser.open(&profile, DESKTOP.0, DESKTOP.1);
    assert_eq!(
        browser.eval("document.querySelectorAll('svg.stages rect.bar').length"),
        json!(6)
    );
    browser.screenshot(DESKTOP.0, DESKTOP.1, &shots.join("profile-desktop.png"));
    browser.open(&profile, PHONE.0, PHONE.1);
    browser.screenshot(PHONE.0, PHONE.1, &shots.join("profile-phone.png"));
    assert_eq!(browser.eval(width), json!(PHONE.0));
    browser.open(
        &format!("{}/embed/boards/contributors?member=m-sara", app.base),
        320,
        480,
    );
    browser.screenshot(320, 480, &shots.join("embed.png"));
    if let Some(dir) = std::env::var_os("SCREENSHOT_DIR") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(shots.join("board-desktop.png"), dir.join("board.png")).unwrap();
        std::fs::copy(shots.join("profile-phone.png"), dir.join("profile.png")).unwrap();
    }

    // A name that is markup arrives live and shows as text; nothing runs.
    browser.open(&board, DESKTOP.0, DESKTOP.1);
    browser.wait_for(
        "document.querySelector('[data-live]').dataset.state === 'live'",
        "the live stream to open",
    );
    let mut sneaky = event("live-2", "webinar.hosted", "m-x", &ago(0));
    sneaky["actor_name"] = json!(SCRIPT_NAME);
    app.ingest(&sneaky).await;
    let check = format!(
        "Array.from(document.querySelectorAll('td.member'), td => td.textContent).includes({})",
        json!(SCRIPT_NAME)
    );
    browser.wait_for(&check, "the sneaky name as text");
    assert_eq!(browser.eval("typeof window.xss"), json!("undefined"));
    assert_eq!(
        browser.eval("document.scripts.length"),
        json!(1),
        "only live.js"
    );
}
