//! `engagement rules check | simulate | explain | diff`: a manager's look
//! at a rule file, alone or on past activity.

use std::path::Path;
use std::process::ExitCode;

use engagement_core::{EventId, RuleSet, Status};

use super::files::simulate_file;
use crate::rules_file;

pub(super) fn check(file: &Path) -> ExitCode {
    match rules_file::read(file) {
        Ok(loaded) => {
            let s = loaded.rules.summary();
            sayln!(
                "{}: ok: {} actions, {} points rules, {} levels, {} badges, {} leaderboards, streaks {} (version {}, time zone {})",
                file.display(),
                s.actions,
                s.points_rules,
                s.levels,
                s.badges,
                s.leaderboards,
                if s.streaks { "on" } else { "off" },
                s.version,
                s.timezone
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn load_rule_file(file: &Path) -> anyhow::Result<RuleSet> {
    Ok(rules_file::read(file)?.rules)
}

pub(super) fn simulate(file: &Path, events: &Path, json: bool) -> anyhow::Result<()> {
    let rules = load_rule_file(file)?;
    let sim = simulate_file(&rules, events)?;
    let report = crate::simulate::report(&rules, &sim);
    // The process ends next: freeing a million records would only cost time.
    std::mem::forget(sim);
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    outln!("{} events, {} members", report.events, report.members);
    for board in &report.boards {
        let bucket = board
            .bucket_start
            .as_deref()
            .map(|s| format!(" from {s}"))
            .unwrap_or_default();
        outln!("\n{} ({}{bucket})", board.board, board.period);
        outln!("  {:>5}  {:<40} {:>8}", "rank", "member", "score");
        for row in &board.top {
            outln!("  {:>5}  {:<40} {:>8}", row.rank, row.member, row.score);
        }
    }
    outln!("\nbadges held");
    outln!("  {:<32} {:>8}", "badge", "members");
    for (badge, n) in &report.badges {
        outln!("  {badge:<32} {n:>8}");
    }
    outln!("\nlevels");
    for (level, n) in &report.levels {
        outln!("  {level:<32} {n:>8}");
    }
    let s = &report.streaks;
    outln!(
        "\nstreaks: {} alive on the last day, longest {} days, mean longest {:.1}, {} members holding freezes",
        s.alive,
        s.longest,
        s.mean_longest,
        s.holding_freezes
    );
    Ok(())
}

pub(super) fn explain(file: &Path, events: &Path, event: &str, json: bool) -> anyhow::Result<()> {
    let rules = load_rule_file(file)?;
    let id = EventId::parse(event).map_err(|e| anyhow::anyhow!("--event: {e}"))?;
    let sim = simulate_file(&rules, events)?;
    let outcome = sim
        .memory
        .outcome(&id)
        .ok_or_else(|| anyhow::anyhow!("no event \"{event}\" in {}", events.display()))?;
    let lines = crate::routes::ExplainLine::lines(&rules, outcome);
    let status = match outcome.status {
        Status::Ignored => "ignored",
        _ if outcome.sign < 0 => "applied, a revocation",
        _ if outcome.effects.as_ref().is_some_and(|e| e.revoked) => "applied, revoked since",
        _ => "applied",
    };
    if json {
        let answer = serde_json::json!({"event": event, "status": status, "explain": lines});
        outln!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        outln!("{event}: {status}");
        if lines.is_empty() {
            outln!("  nothing paid or taken back");
        } else {
            outln!("  {:<24} {:<32} {:>7}  reason", "rule", "member", "points");
        }
        for l in &lines {
            let member = l.member.as_deref().unwrap_or("-");
            outln!(
                "  {:<24} {member:<32} {:>7}  {}",
                l.rule,
                l.points,
                l.reason
            );
        }
    }
    std::mem::forget(sim);
    Ok(())
}

pub(super) fn diff(old: &Path, new: &Path, events: &Path, json: bool) -> anyhow::Result<()> {
    let (old_rules, new_rules) = (load_rule_file(old)?, load_rule_file(new)?);
    let before = simulate_file(&old_rules, events)?;
    let after = simulate_file(&new_rules, events)?;
    let d = crate::simulate::diff(&old_rules, &new_rules, &before, &after);
    // The process ends next: freeing a million records would only cost time.
    std::mem::forget((before, after));
    if json {
        outln!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(());
    }
    outln!(
        "{} events, {} members: {} would change if {} replaced {}",
        d.events,
        d.members,
        d.changed,
        new.display(),
        old.display()
    );
    let p = &d.participation;
    outln!(
        "participation (all-time points): gini {:.3} → {:.3} ({:+.3}), top 10 % hold {:.1} % → {:.1} %",
        p.gini_before,
        p.gini_after,
        p.gini_after - p.gini_before,
        p.top_10pct_share_before * 100.0,
        p.top_10pct_share_after * 100.0,
    );
    if d.changes.is_empty() {
        return Ok(());
    }
    outln!(
        "\n  {:<32} {:>8} {:>8} {:>7}  {:<28} badges",
        "member",
        "before",
        "after",
        "change",
        "all-time ranks"
    );
    for c in &d.changes {
        let rank = |r: &Option<u64>| r.map_or("-".to_owned(), |r| r.to_string());
        let ranks: Vec<String> = c
            .ranks
            .iter()
            .map(|(board, (b, a))| format!("{board} {}→{}", rank(b), rank(a)))
            .collect();
        let mut badges: Vec<String> = c.badges_gained.iter().map(|b| format!("+{b}")).collect();
        badges.extend(c.badges_lost.iter().map(|b| format!("-{b}")));
        outln!(
            "  {:<32} {:>8} {:>8} {:>+7}  {:<28} {}",
            c.member,
            c.points_before,
            c.points_after,
            c.points_after - c.points_before,
            ranks.join(", "),
            badges.join(" ")
        );
    }
    Ok(())
}
