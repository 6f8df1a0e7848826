//! The community managers' insights page: the same figures as the API,
//! every chart drawn, read access as for the other pages, and headless
//! Chromium reading it at desktop and phone width (screenshots go to
//! `target/screenshots/`; with `SCREENSHOT_DIR` set, the README's is copied
//! there too).

use std::path::{Path, PathBuf};

use engagement_service::generate::{GenerateParams, generate};
use serde_json::{Value, json};

use super::chromium::Chromium;
use super::support::{Fixture, TestApp};

const PHONE: (u32, u32) = (390, 844);
const DESKTOP: (u32, u32) = (1280, 1600);
const READ: &str = "read-secret";

/// Four months of a generated community of practice, in batches.
async fn seed(app: &TestApp) {
    let params = GenerateParams {
        members: 400,
        communities: 6,
        days: 120,
        seed: 7,
        start: "2026-01-05T00:00:00Z".parse().unwrap(),
        events: Some(12_000),
        rings: Vec::new(),
    };
    let events: Vec<Value> = generate(&params)
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    for batch in events.chunks(1000) {
        let res = app
            .client
            .post(format!("{}/v1/events", app.base))
            .json(&json!({ "events": batch }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
}

async fn page(app: &TestApp, query: &str) -> (u16, String) {
    let res = app
        .client
        .get(format!("{}/insights?{query}", app.base))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn api(app: &TestApp, query: &str) -> Value {
    let res = app
        .client
        .get(format!("{}/v1/insights?{query}", app.base))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn tokens(s: &mut engagement_service::settings::Settings) {
    s.read_token = Some(READ.to_owned());
}

async fn embedded() -> Fixture {
    Fixture::embedded(tokens).await
}

async fn redis(test: &str) -> Fixture {
    Fixture::redis(test, tokens).await
}

async fn the_page_shows_the_api_figures_and_every_chart(app: &TestApp) {
    seed(app).await;
    let (status, _) = page(app, "period=month&at=2026-03-10").await;
    assert_eq!(status, 401, "the read token is needed");
    for query in [
        "period=month&at=2026-03-10",
        "community=customs&period=quarter&at=2026-02-10",
    ] {
        let report = api(app, query).await;
        let (status, html) = page(app, &format!("{query}&token={READ}")).await;
        assert_eq!(status, 200, "{html}");
        assert!(
            html.contains(&format!("{} events", report["events"])),
            "{query}"
        );
        assert!(
            html.contains(&format!(
                "Gini {:.3}",
                report["participation"]["gini"].as_f64().unwrap()
            )),
            "{query}"
        );
        assert!(
            html.contains(&format!(
                "{} of {} answered",
                report["questions"]["answered"], report["questions"]["asked"]
            )),
            "{query}"
        );
        assert_eq!(
            html.matches("<figure class=\"trend\">").count(),
            7,
            "{query}"
        );
        assert_eq!(html.matches("<svg class=\"lorenz\"").count(), 1, "{query}");
        assert_eq!(html.matches("class=\"bar\"").count(), 6, "{query}");
        assert!(html.contains("<svg class=\"flow\""), "{query}: a heat map");
        // The token stays in the form, so the next choice works too.
        assert!(
            html.contains(&format!("name=\"token\" value=\"{READ}\"")),
            "{query}"
        );
        // Pages never name who holds the answers.
        assert!(!html.contains("\"holders\""));
    }
    let (status, html) = page(app, &format!("community=nowhere&token={READ}")).await;
    assert_eq!(status, 404);
    assert!(html.contains("no event has named the community"), "{html}");
    let (status, _) = page(app, &format!("period=fortnight&token={READ}")).await;
    assert_eq!(status, 422);
}

on_both_stores!(the_page_shows_the_api_figures_and_every_chart);

fn artefacts() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_reads_the_insights_page_at_desktop_and_phone_width() {
    let f = Fixture::embedded(|_| {}).await;
    seed(&f.app).await;
    let report = api(&f.app, "period=month&at=2026-03-10").await;
    let mut browser = Chromium::launch();
    let url = format!("{}/insights?period=month&at=2026-03-10", f.app.base);
    browser.open(&url, DESKTOP.0, DESKTOP.1);
    let big = browser.eval("document.querySelector('li.card p.big').textContent");
    assert_eq!(big, json!(format!("{} events", report["events"])));
    assert_eq!(
        browser.eval("document.querySelectorAll('svg.flow rect.cell').length > 0"),
        json!(true)
    );
    assert_eq!(
        browser.eval("document.querySelector('svg.lorenz polyline.curve').getBBox().width > 100"),
        json!(true),
        "the curve is drawn across the chart"
    );
    assert_eq!(
        browser.eval("document.querySelectorAll('figure.trend polyline.line').length"),
        json!(7)
    );
    assert_eq!(
        browser.eval("document.scripts.length"),
        json!(1),
        "only live.js"
    );
    let shots = artefacts();
    browser.screenshot(DESKTOP.0, DESKTOP.1, &shots.join("insights-desktop.png"));
    browser.open(&url, PHONE.0, PHONE.1);
    // As wide as the phone: the heat map scrolls inside its card.
    assert_eq!(
        browser.eval("document.documentElement.scrollWidth"),
        json!(PHONE.0)
    );
    browser.screenshot(PHONE.0, PHONE.1, &shots.join("insights-phone.png"));
    if let Some(dir) = std::env::var_os("SCREENSHOT_DIR") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(shots.join("insights-desktop.png"), dir.join("insights.png")).unwrap();
    }
}
