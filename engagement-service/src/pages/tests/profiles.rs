//! Rendering tests of the profile page, its stage chart and error pages.

use engagement_core::Visibility;
use engagement_core::rules::Stage;

use super::super::*;

pub(super) fn fixture(name: Option<&str>) -> ProfilePage {
    ProfilePage {
        member: "m-7".into(),
        name: name.map(str::to_owned),
        visibility: Visibility::Public,
        recognition: "public".to_owned(),
        points: 80,
        level: LevelLine {
            name: "Active".into(),
            floor: 50,
            next: Some(("Core".into(), 250)),
        },
        badges: vec![BadgeLine {
            badge: "mentor".into(),
            credential: None,
            name: "Mentor".into(),
            tier: Some("bronze".into()),
            awarded_at: "2026-11-20T14:03:00Z".into(),
            reason: None,
        }],
        streak: StreakLine {
            current: 3,
            longest: 9,
            freezes: 1,
            max_freezes: 2,
            last_active_day: Some("2026-11-20".into()),
        },
        progress: vec![ProgressLine {
            badge: "Mentor".into(),
            tier: Some("silver".into()),
            current: 1,
            target: 10,
        }],
        stages: Stage::ALL
            .iter()
            .map(|s| (*s, if *s == Stage::Use { 8 } else { 2 }))
            .collect(),
        earned: vec![
            ("Answer accepted".into(), "accepted".into(), 60),
            ("Adjusted by an admin".into(), "adjustment".into(), 20),
        ],
        recent: vec![
            AwardLine {
                at: "2026-11-20T14:03:00Z".into(),
                rule: "accepted".into(),
                points: 15,
                why: "in full".into(),
            },
            AwardLine {
                at: "2026-11-19T10:00:00Z".into(),
                rule: "adjustment".into(),
                points: 20,
                why: "adjustment: recorded the <webinar>".into(),
            },
        ],
        boards: vec![("contributors".into(), "Top contributors".into())],
        token: None,
    }
}

#[test]
fn the_profile_shows_how_the_points_were_earned_and_the_last_awards_with_reasons() {
    let html = profile_page(&fixture(Some("Ana Souza"))).into_string();
    for expected in [
        r#"<h2 id="earned-title">How the points were earned</h2>"#,
        r#"<td>Answer accepted<br><code class="muted">accepted</code></td><td class="num">60</td>"#,
        r#"<td>Adjusted by an admin<br><code class="muted">adjustment</code></td><td class="num">20</td>"#,
        r#"<strong>+15</strong> accepted <time class="muted" datetime="2026-11-20T14:03:00Z">2026-11-20</time><br><span class="muted">in full</span>"#,
        // An admin's reason is text, escaped like every value.
        r#"<span class="muted">adjustment: recorded the &lt;webinar&gt;</span>"#,
    ] {
        assert!(html.contains(expected), "{expected}\nnot in\n{html}");
    }
}

#[test]
fn the_profile_shows_level_progress_badges_streak_and_next_tiers() {
    let html = profile_page(&fixture(Some("Ana Souza"))).into_string();
    for expected in [
        "<h1>Ana Souza</h1>",
        "Member id <code>m-7</code>",
        r#"<p class="big">Active</p>"#,
        r#"<label for="level-progress">170 points to Core</label>"#,
        r#"<progress id="level-progress" max="200" value="30">80 of 250</progress>"#,
        r#"<span class="badge-name">Mentor</span> <span class="tier tier-bronze">bronze</span> <time class="muted" datetime="2026-11-20T14:03:00Z">2026-11-20</time>"#,
        "<dt>Current</dt><dd>3 days</dd><dt>Longest</dt><dd>9 days</dd><dt>Freezes</dt><dd>1 of 2</dd>",
        r#"<progress id="progress-0" max="10" value="1">1 of 10</progress>"#,
        r#"<a href="/boards/contributors?member=m-7">Top contributors</a>"#,
    ] {
        assert!(html.contains(expected), "{expected} in {html}");
    }
    assert!(
        !html.contains(r#"class="note""#),
        "a public member needs no note: {html}"
    );
}

#[test]
fn a_profile_says_how_an_anonymous_or_hidden_member_is_listed() {
    let mut p = fixture(None);
    p.visibility = Visibility::Anonymous;
    let html = profile_page(&p).into_string();
    assert!(
        html.contains("<h1>m-7</h1>"),
        "no name: the id is shown: {html}"
    );
    assert!(
        html.contains("Listed on leaderboards as an anonymous member."),
        "{html}"
    );
    p.visibility = Visibility::Hidden;
    assert!(
        profile_page(&p)
            .into_string()
            .contains("Not listed on leaderboards.")
    );
}

#[test]
fn an_unknown_tier_name_gets_no_colour_class_of_its_own() {
    let mut p = fixture(None);
    p.badges[0].tier = Some("x\" onmouseover=\"alert(1)".into());
    let html = profile_page(&p).into_string();
    assert!(
        html.contains(r#"<span class="tier">x&quot; onmouseover=&quot;alert(1)</span>"#),
        "{html}"
    );
}

#[test]
fn the_stage_chart_has_a_bar_per_stage_scaled_to_the_largest() {
    let stages: Vec<(Stage, u32)> = Stage::ALL
        .iter()
        .zip([0, 1, 2, 4, 8, 4])
        .map(|(s, n)| (*s, n))
        .collect();
    let svg = stage_chart(&stages).into_string();
    let widths: Vec<&str> = svg
        .split(r#"class="bar" data-stage=""#)
        .skip(1)
        .map(|rest| {
            let w = &rest[rest.find("width=\"").unwrap() + 7..];
            &w[..w.find('"').unwrap()]
        })
        .collect();
    assert_eq!(widths, ["0", "25", "50", "100", "200", "100"]);
    assert!(
        svg.contains(r#"role="img" aria-labelledby="stages-title stages-desc""#),
        "{svg}"
    );
    assert!(svg.contains("<desc id=\"stages-desc\">Create: 0, Discover: 1, Capture: 2, Organize: 4, Disseminate: 8, Use: 4</desc>"), "{svg}");
    // All zero: empty bars, no division by zero.
    let none: Vec<(Stage, u32)> = Stage::ALL.iter().map(|s| (*s, 0)).collect();
    assert_eq!(
        stage_chart(&none)
            .into_string()
            .matches(r#"width="0""#)
            .count(),
        6
    );
}

#[test]
fn an_error_page_keeps_the_message_as_text() {
    let html = error_page(404, "no member \"<b>x</b>\"").into_string();
    assert!(html.contains("<h1>Not found</h1>"), "{html}");
    assert!(
        html.contains("no member &quot;&lt;b&gt;x&lt;/b&gt;&quot;"),
        "{html}"
    );
}
