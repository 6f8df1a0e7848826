//! One test per class of rule-file error, each on a small edit of the
//! canonical file, checking where the error points and what it says.

use super::*;

pub(crate) const CANONICAL: &str = include_str!("../../../rules/knowledge-sharing.toml");

/// The canonical file with `from`, which must occur exactly once, replaced by `to`.
pub(super) fn edit(from: &str, to: &str) -> String {
    edit_in(CANONICAL, from, to)
}

fn edit_in(source: &str, from: &str, to: &str) -> String {
    assert_eq!(source.matches(from).count(), 1, "{from:?} must occur once");
    source.replacen(from, to, 1)
}

/// 1-based line and column of the `^` in `needle`, or of its start when it
/// has no `^`. The needle without `^` must occur exactly `occurrence` or
/// more times; the position is taken in that occurrence (1 for the first).
fn at_nth(source: &str, needle: &str, occurrence: usize) -> (usize, usize) {
    let caret = needle.find('^').unwrap_or(0);
    let text = needle.replacen('^', "", 1);
    let (start, _) = source
        .match_indices(&text)
        .nth(occurrence - 1)
        .unwrap_or_else(|| panic!("{text:?} occurs fewer than {occurrence} times"));
    let before = &source[..start + caret];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Like [`at_nth`] for a needle that occurs exactly once.
pub(crate) fn at(source: &str, needle: &str) -> (usize, usize) {
    let text = needle.replacen('^', "", 1);
    assert_eq!(source.matches(&text).count(), 1, "{text:?} must occur once");
    at_nth(source, needle, 1)
}

pub(crate) fn errors(source: &str) -> Vec<RuleError> {
    match RuleSet::from_toml(source) {
        Ok(_) => panic!("the rule file was accepted"),
        Err(RuleErrors(errors)) => errors,
    }
}

/// Asserts that `source` has exactly one error, at `position`, whose
/// message contains every fragment.
pub(super) fn assert_only_error(source: &str, position: (usize, usize), fragments: &[&str]) {
    let errors = errors(source);
    let [e] = errors.as_slice() else {
        panic!("expected one error, got {errors:#?}");
    };
    assert_eq!((e.line, e.column), position, "{e}");
    for fragment in fragments {
        assert!(e.message.contains(fragment), "{fragment:?} not in {e}");
    }
}

#[test]
fn the_canonical_file_loads_with_the_expected_counts() {
    let rules = RuleSet::from_toml(CANONICAL).unwrap();
    let summary = rules.summary();
    assert_eq!(
        (
            summary.actions,
            summary.points_rules,
            summary.levels,
            summary.badges,
            summary.leaderboards,
            summary.streaks,
        ),
        (8, 9, 4, 8, 2, true)
    );
    assert_eq!(summary.timezone, "America/Bogota");
    assert_eq!(rules.week_starts, Weekday::Monday);
    assert_eq!(summary.version.len(), 16);
}

#[test]
fn a_toml_syntax_error_points_at_the_offending_character() {
    let src = edit("version = 1", "version = = 1");
    assert_only_error(&src, at(&src, "version = ^= 1"), &["extra `=`"]);
}

#[test]
fn an_unknown_field_in_a_points_rule_points_at_its_key_and_lists_the_known_ones() {
    let src = edit(
        "points = 10\ndaily_cap = 30\n",
        "points = 10\ndaily_cap = 30\nmax_per_week = 3\n",
    );
    assert_only_error(
        &src,
        at(&src, "max_per_week"),
        &["unknown field `max_per_week`", "`daily_cap`", "`chance`"],
    );
}

#[test]
fn a_points_rule_on_a_misspelt_kind_is_refused_with_a_did_you_mean_hint() {
    let src = edit("on = \"answer.posted\"", "on = \"answer.postd\"");
    assert_only_error(
        &src,
        at(&src, "on = ^\"answer.postd\""),
        &[
            "unknown action kind \"answer.postd\"",
            "expected one listed in [actions]",
            "(did you mean \"answer.posted\"?)",
        ],
    );
}

#[test]
fn a_badge_counting_an_unknown_kind_is_refused_at_its_count() {
    let src = edit("count = \"webinar.hosted\"", "count = \"webinar.host\"");
    assert_only_error(
        &src,
        at(&src, "count = ^\"webinar.host\""),
        &[
            "unknown action kind \"webinar.host\"",
            "did you mean \"webinar.hosted\"?",
        ],
    );
}

#[test]
fn a_leaderboard_counting_an_unknown_kind_is_refused_at_its_count() {
    let src = edit(
        "metric = \"count\"\ncount = \"answer.accepted\"",
        "metric = \"count\"\ncount = \"answer.acepted\"",
    );
    assert_only_error(
        &src,
        at(&src, "count = ^\"answer.acepted\""),
        &[
            "unknown action kind \"answer.acepted\"",
            "did you mean \"answer.accepted\"?",
        ],
    );
}

#[test]
fn a_streak_counting_an_unknown_kind_is_refused_without_a_hint_when_nothing_is_close() {
    let src = edit("  \"webinar.attended\",\n]", "  \"wiki.edited\",\n]");
    let position = at(&src, "  ^\"wiki.edited\",");
    assert_only_error(&src, position, &["unknown action kind \"wiki.edited\""]);
    assert!(!errors(&src)[0].message.contains("did you mean"));
}

#[test]
fn a_duplicate_points_rule_id_is_reported_at_its_second_use() {
    let src = edit("id = \"surprise-bonus\"", "id = \"share-resource\"");
    assert_only_error(
        &src,
        at_nth(&src, "id = ^\"share-resource\"", 2),
        &["duplicate points rule id \"share-resource\""],
    );
}

#[test]
fn a_duplicate_badge_id_is_reported_at_its_second_use() {
    let src = edit("id = \"speaker\"", "id = \"mentor\"");
    assert_only_error(
        &src,
        at_nth(&src, "id = ^\"mentor\"", 2),
        &["duplicate badge id \"mentor\""],
    );
}

#[test]
fn a_duplicate_leaderboard_id_is_reported_at_its_second_use() {
    let src = edit("id = \"answerers\"", "id = \"contributors\"");
    assert_only_error(
        &src,
        at_nth(&src, "id = ^\"contributors\"", 2),
        &["duplicate leaderboard id \"contributors\""],
    );
}

#[test]
fn an_unknown_time_zone_is_refused_with_an_example_of_a_good_one() {
    let src = edit("\"America/Bogota\"", "\"America/Bogata\"");
    assert_only_error(
        &src,
        at(&src, "timezone = ^\"America/Bogata\""),
        &[
            "unknown time zone \"America/Bogata\"",
            "expected an IANA name",
        ],
    );
}

#[test]
fn an_unknown_week_start_is_refused_with_the_expected_day_names() {
    let src = edit("week_starts = \"monday\"", "week_starts = \"mon\"");
    assert_only_error(
        &src,
        at(&src, "week_starts = ^\"mon\""),
        &["unknown weekday \"mon\"", "expected \"monday\""],
    );
}

#[test]
fn tiers_that_do_not_increase_are_refused_at_the_tier_itself() {
    let src = edit(
        "{ name = \"silver\", at_least = 100 }",
        "{ name = \"silver\", at_least = 10 }",
    );
    assert_only_error(
        &src,
        at_nth(&src, "{ name = \"silver\", at_least = ^10 }", 2),
        &["tier \"silver\": at_least must be at least 1 and above the tier before it"],
    );
}

#[test]
fn a_chance_of_zero_is_refused_at_the_value() {
    let src = edit("chance = 0.10", "chance = 0.0");
    assert_only_error(
        &src,
        at(&src, "chance = ^0.0"),
        &["chance must be in (0, 1]"],
    );
}

#[test]
fn a_chance_above_one_is_refused_at_the_value() {
    let src = edit("chance = 0.10", "chance = 1.5");
    assert_only_error(
        &src,
        at(&src, "chance = ^1.5"),
        &["chance must be in (0, 1]"],
    );
}

#[test]
fn a_chance_of_exactly_one_is_accepted() {
    let rules = RuleSet::from_toml(&edit("chance = 0.10", "chance = 1.0")).unwrap();
    let bonus = rules.points.iter().find(|r| &*r.id == "surprise-bonus");
    assert_eq!(bonus.and_then(|r| r.chance), Some(1.0));
}

#[test]
fn a_daily_cap_of_zero_is_refused_at_the_value() {
    let src = edit("daily_cap = 30", "daily_cap = 0");
    assert_only_error(
        &src,
        at(&src, "daily_cap = ^0\n"),
        &["daily_cap must be at least 1"],
    );
}

#[test]
fn levels_that_do_not_start_at_zero_are_refused_at_the_first_level() {
    let src = edit("at = 0\n", "at = 10\n");
    assert_only_error(
        &src,
        at(&src, "at = ^10\n"),
        &["the first level must be at 0 points"],
    );
}

#[test]
fn levels_that_do_not_increase_are_refused_at_the_first_level_out_of_order() {
    let src = edit("at = 250\n", "at = 40\n");
    assert_only_error(
        &src,
        at(&src, "at = ^40\n"),
        &["levels must increase: 40 is not above 50"],
    );
}

#[test]
fn a_leaderboard_without_periods_is_refused_at_its_empty_list() {
    let src = edit("periods = [\"all_time\", \"month\"]", "periods = []");
    assert_only_error(
        &src,
        at(&src, "periods = ^[]"),
        &["a leaderboard needs at least one period"],
    );
}

#[test]
fn an_unknown_period_is_refused_with_the_known_ones() {
    let src = edit(
        "periods = [\"all_time\", \"month\"]",
        "periods = [\"all_time\", \"fortnight\"]",
    );
    assert_only_error(
        &src,
        at(&src, "^\"fortnight\""),
        &[
            "unknown period \"fortnight\"",
            "expected one of \"all_time\", \"year\", \"quarter\", \"month\", \"week\", \"day\"",
        ],
    );
}

#[test]
fn an_unknown_scope_is_refused_with_the_known_ones() {
    let src = edit(
        "scopes = [\"global\", \"community\"]\nexclude_groups",
        "scopes = [\"global\", \"team\"]\nexclude_groups",
    );
    assert_only_error(
        &src,
        at(&src, "^\"team\""),
        &["unknown scope \"team\": expected \"global\" or \"community\""],
    );
}

#[test]
fn an_unknown_stage_is_the_only_error_even_when_rules_name_its_action() {
    // "answer.accepted" is named by a points rule, a badge and a leaderboard,
    // none of which should be reported as naming an unlisted kind.
    let src = edit(
        "stage = \"use\",         label = \"Answer accepted\"",
        "stage = \"usage\",       label = \"Answer accepted\"",
    );
    assert_only_error(
        &src,
        at(&src, "stage = ^\"usage\""),
        &[
            "unknown stage \"usage\"",
            "expected one of \"create\", \"discover\", \"capture\", \"organize\",",
        ],
    );
}

#[test]
fn a_version_other_than_one_is_refused_at_the_number() {
    let src = edit("version = 1", "version = 2");
    assert_only_error(
        &src,
        at(&src, "version = ^2"),
        &["unsupported version: expected 1"],
    );
}

#[test]
fn a_badge_with_two_criteria_is_refused_at_its_id() {
    let src = edit(
        "count = \"resource.shared\"\nat_least = 1\n",
        "count = \"resource.shared\"\nat_least = 1\npoints = 5\n",
    );
    assert_only_error(
        &src,
        at(&src, "id = ^\"first-share\""),
        &["a badge needs exactly one criterion"],
    );
}

#[test]
fn several_errors_are_all_reported_in_file_order() {
    // The leaderboards move up before the points rules, so that the order
    // of the file differs from the order in which sections are checked.
    let boards_at = CANONICAL.find("[[leaderboards]]").unwrap();
    let boards = &CANONICAL[boards_at..];
    let src = CANONICAL[..boards_at].replacen("[[points]]", &format!("{boards}\n[[points]]"), 1);
    let src = edit_in(&src, "version = 1", "version = 2");
    let src = edit_in(&src, "\"America/Bogota\"", "\"Mars/Olympus\"");
    let src = edit_in(
        &src,
        "\"all_time\", \"month\"",
        "\"all_time\", \"fortnight\"",
    );
    let src = edit_in(&src, "daily_cap = 30", "daily_cap = 0");
    let src = edit_in(&src, "at = 250\n", "at = 40\n");

    let errors = errors(&src);
    let got: Vec<((usize, usize), &str)> = errors
        .iter()
        .map(|e| ((e.line, e.column), e.message.as_str()))
        .collect();
    let expected = [
        (at(&src, "version = ^2"), "unsupported version"),
        (at(&src, "^\"Mars/Olympus\""), "unknown time zone"),
        (at(&src, "^\"fortnight\""), "unknown period"),
        (at(&src, "daily_cap = ^0"), "daily_cap must be at least 1"),
        (at(&src, "at = ^40"), "levels must increase"),
    ];
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for ((position, message), (want_position, fragment)) in got.iter().zip(&expected) {
        assert_eq!(position, want_position, "{message}");
        assert!(message.contains(fragment), "{fragment:?} not in {message}");
    }
    assert!(got.is_sorted_by_key(|(position, _)| *position));
    let shown = RuleErrors(errors).to_string();
    assert_eq!(shown.lines().count(), 5);
    assert!(shown.starts_with("7:11: unsupported version"), "{shown}");
}

fn with_fair_play(body: &str) -> String {
    format!("{CANONICAL}\n[fair_play]\n{body}")
}

#[test]
fn fair_play_settings_are_read_and_default_when_absent() {
    let rules = RuleSet::from_toml(&with_fair_play(
        "pair_daily_cap = 10\nring_min_events = 12\nring_min_share = 0.4\n",
    ))
    .unwrap();
    assert_eq!(
        rules.fair_play,
        FairPlay {
            pair_daily_cap: Some(10),
            ring_min_events: 12,
            ring_min_share: 0.4,
        }
    );
    let defaults = RuleSet::from_toml(&with_fair_play("pair_daily_cap = 5\n")).unwrap();
    assert_eq!(
        (
            defaults.fair_play.ring_min_events,
            defaults.fair_play.ring_min_share
        ),
        (10, 0.5)
    );
}

#[test]
fn bad_fair_play_settings_point_at_their_values() {
    let src = with_fair_play("pair_daily_cap = 0\n");
    assert_only_error(
        &src,
        at(&src, "pair_daily_cap = ^0"),
        &["pair_daily_cap must be at least 1"],
    );
    let src = with_fair_play("ring_min_events = -3\n");
    assert_only_error(
        &src,
        at(&src, "ring_min_events = ^-3"),
        &["ring_min_events"],
    );
    let src = with_fair_play("ring_min_share = 1.5\n");
    assert_only_error(
        &src,
        at(&src, "ring_min_share = ^1.5"),
        &["ring_min_share", "at most 1"],
    );
    let src = with_fair_play("pair_cap = 10\n");
    assert_only_error(
        &src,
        at(&src, "pair_cap = 10"),
        &["unknown field `pair_cap`", "`pair_daily_cap`"],
    );
}

#[test]
fn openbadges_names_the_issuer_and_bad_addresses_point_at_their_values() {
    let src = format!(
        "{CANONICAL}\n[openbadges]\nissuer_name = \"Trade Rules Network\"\nurl = \"https://trade.example.org\"\n"
    );
    let rules = RuleSet::from_toml(&src).unwrap();
    assert_eq!(
        rules.openbadges,
        Some(OpenBadges {
            issuer_name: "Trade Rules Network".into(),
            url: "https://trade.example.org".into(),
            image: None,
        })
    );
    assert_eq!(RuleSet::from_toml(CANONICAL).unwrap().openbadges, None);
    let src = format!("{CANONICAL}\n[openbadges]\nissuer_name = \"T\"\nurl = \"ftp://x\"\n");
    assert_only_error(
        &src,
        at(&src, "url = ^\"ftp"),
        &["url must be an http:// or https:// address"],
    );
    let src = format!("{CANONICAL}\n[openbadges]\nissuer_name = \"\"\nurl = \"https://x.org\"\n");
    assert_only_error(
        &src,
        at(&src, "issuer_name = ^\"\""),
        &["issuer_name must be 1 to 200 bytes"],
    );
    let src = format!("{CANONICAL}\n[openbadges]\nurl = \"https://x.org\"\n");
    assert_only_error(
        &src,
        at(&src, "\n^[openbadges]\nurl"),
        &["missing field `issuer_name`"],
    );
}
