//! One rule set for the deployment. The rules in force live in the store
//! with their version (and every earlier version); `PUT /v1/admin/rules`,
//! `SIGHUP` and `POST /v1/admin/rules/rollback` store a version before this
//! instance switches to it, and every instance follows the store within
//! [`POLL`]. On Redis each ingest checks the version it computed with
//! against the stored one, in its transaction: no event is applied under
//! rules older than the ones already put in force.
//!
//! At start, an instance's rule file is put in force when its version is
//! new to the deployment. When the deployment has already had that version
//! (an instance restarting with an older file, or after a rollback), the
//! version in force stays, and the instance follows it.

use std::time::Duration;

use crate::app::{AnyStore, AppState, LoadedRules};
use crate::notify::send::Sender;
use crate::rules_file;
use crate::store::{Activation, RulesOrigin, Store, StoreError};

/// How often an instance looks for a rules change made elsewhere.
pub const POLL: Duration = Duration::from_millis(250);

/// Why rules could not be put in force.
#[derive(Debug, thiserror::Error)]
pub enum ActivateError {
    /// The rules cannot run here (a channel's credential is missing);
    /// the rules in force stay.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Puts checked rules in force for the whole deployment: stored first,
/// then swapped in on this instance. A version already in force is not
/// stored again.
pub async fn activate(
    state: &AppState,
    loaded: LoadedRules,
    origin: RulesOrigin,
) -> Result<(), ActivateError> {
    let sender = Sender::from_env(&loaded.rules).map_err(ActivateError::Refused)?;
    let version = loaded.rules.version.clone();
    if state.store.active_rules().await?.as_deref() != Some(version.as_str()) {
        let activation = Activation {
            version,
            origin,
            activated_at: jiff::Timestamp::now(),
        };
        state
            .store
            .activate_rules(activation, &loaded.source)
            .await?;
    }
    state.install_rules(loaded, sender);
    Ok(())
}

/// The stored text of `version`, checked.
pub async fn stored(store: &impl Store, version: &str) -> Result<Option<LoadedRules>, String> {
    let source = match store.rules_source(version).await {
        Ok(Some(source)) => source,
        Ok(None) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    rules_file::parse(&format!("rules version {version}"), source)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// The version an instance starting with the rule file `file` follows
/// instead of it: the one in force, when the deployment has had `file`'s
/// version before and has since moved on. `None`: the file is put in force
/// (new to the deployment, or already in force). `history` is newest first.
pub fn followed_at_start<'h>(history: &'h [Activation], file: &str) -> Option<&'h str> {
    let active = history.first()?;
    (active.version != file && history.iter().any(|a| a.version == file))
        .then_some(active.version.as_str())
}

/// The rules an embedded store opens with (its log is replayed under
/// them): the rule file, or the version in force in `dir`.
pub fn embedded_start(dir: &std::path::Path, file: LoadedRules) -> anyhow::Result<LoadedRules> {
    let versions = crate::store::rule_versions::RulesLog::open(dir)?;
    let history = versions.history();
    let Some(version) = followed_at_start(&history, &file.rules.version) else {
        return Ok(file);
    };
    let source = versions.source(version).ok_or_else(|| {
        anyhow::anyhow!("rules version {version} is in force but its text is not stored")
    })?;
    tracing::info!(file = %file.rules.version, in_force = %version, "{FOLLOWING}");
    Ok(rules_file::parse(
        &format!("rules version {version}"),
        source.to_owned(),
    )?)
}

/// The configured store, and the rules a command working on it uses: the
/// deployment's rules in force when it has stored any (the ones its
/// instances run), else the rule file.
pub async fn open_for_command(
    settings: &crate::settings::Settings,
    file: LoadedRules,
) -> anyhow::Result<(AnyStore, LoadedRules)> {
    let note = |file: &LoadedRules, in_force: &LoadedRules| {
        if file.rules.version != in_force.rules.version {
            tracing::info!(
                file = %file.rules.version, in_force = %in_force.rules.version,
                "using the deployment's rules in force, not the rule file (PUT /v1/admin/rules or SIGHUP puts the file in force)"
            );
        }
    };
    if settings.redis_url.is_none() {
        // The embedded store replays its log as it opens: under the rules in force.
        let versions = crate::store::rule_versions::RulesLog::open(&settings.data_dir)?;
        let rules = match versions
            .active()
            .zip(versions.active().and_then(|v| versions.source(v)))
        {
            Some((version, source)) if version != file.rules.version => {
                let in_force =
                    rules_file::parse(&format!("rules version {version}"), source.to_owned())?;
                note(&file, &in_force);
                in_force
            }
            _ => file,
        };
        let store = AnyStore::open(settings, &rules.rules, 4)?;
        return Ok((store, rules));
    }
    let store = AnyStore::open(settings, &file.rules, 4)?;
    let rules = match store.active_rules().await? {
        Some(version) if version != file.rules.version => {
            let in_force = stored(&store, &version)
                .await
                .map_err(anyhow::Error::msg)?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "rules version {version} is in force but its text is not stored"
                    )
                })?;
            note(&file, &in_force);
            in_force
        }
        _ => file,
    };
    Ok((store, rules))
}

const FOLLOWING: &str = "the deployment already had this rule file's version and has since moved on: following the rules in force (SIGHUP or PUT /v1/admin/rules puts the file back)";

/// The rule file this instance started with, against the deployment's:
/// stored when new to it, else the version in force is followed.
async fn settle_at_start(state: &AppState) -> Result<(), String> {
    let mine = state.rules();
    let history = state
        .store
        .rules_history()
        .await
        .map_err(|e| e.to_string())?;
    match followed_at_start(&history, &mine.rules.version) {
        Some(version) => {
            tracing::info!(file = %mine.rules.version, in_force = %version, "{FOLLOWING}");
            follow(state, version).await
        }
        None if history.first().map(|a| a.version.as_str()) == Some(&mine.rules.version) => Ok(()),
        None => start_with_file(state, &mine).await,
    }
}

async fn start_with_file(state: &AppState, mine: &LoadedRules) -> Result<(), String> {
    let copy = LoadedRules {
        rules: mine.rules.clone(),
        source: mine.source.clone(),
    };
    activate(state, copy, RulesOrigin::Start)
        .await
        .map_err(|e| e.to_string())
}

/// Switches this instance to the stored `version`.
async fn follow(state: &AppState, version: &str) -> Result<(), String> {
    let loaded = stored(&state.store, version)
        .await?
        .ok_or_else(|| format!("rules version {version} is in force but its text is not stored"))?;
    state.swap_rules(loaded)?;
    tracing::info!(%version, "rules changed by another instance: now in force here");
    Ok(())
}

/// The rules of version `in_force`, switched to on this instance if it has
/// not yet: for a request the store refused because the deployment's rules
/// changed under it.
pub async fn catch_up(
    state: &AppState,
    in_force: &str,
) -> Result<std::sync::Arc<LoadedRules>, StoreError> {
    let mine = state.rules();
    if mine.rules.version == in_force {
        return Ok(mine);
    }
    follow(state, in_force).await.map_err(|e| {
        StoreError::Unavailable(format!(
            "rules version {in_force} cannot be put in force here: {e}"
        ))
    })?;
    Ok(state.rules())
}

/// Settles the start once: `false` when the store did not answer, and
/// [`run`] tries again.
pub async fn settle(state: &AppState) -> bool {
    match settle_at_start(state).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "rules: the deployment's rules could not be read at start; trying again");
            false
        }
    }
}

/// Settles the start if `settled` is false, then follows the deployment's
/// rules for as long as the service runs. A version this instance cannot
/// run (a credential its environment lacks) is logged once; meanwhile the
/// store refuses this instance's writes under its older rules.
pub async fn run(state: actix_web::web::Data<AppState>, mut settled: bool) {
    let mut failed: Option<String> = None;
    loop {
        tokio::time::sleep(POLL).await;
        if !settled {
            match settle_at_start(&state).await {
                Ok(()) => settled = true,
                Err(e) => note_failure(&mut failed, "start".into(), &e),
            }
            continue;
        }
        match state.store.active_rules().await {
            Ok(Some(active)) if active != state.rules().rules.version => {
                if let Err(e) = follow(&state, &active).await {
                    note_failure(&mut failed, active, &e);
                }
            }
            Ok(_) => failed = None,
            Err(e) => tracing::debug!(error = %e, "rules: the store did not answer"),
        }
    }
}

fn note_failure(failed: &mut Option<String>, what: String, error: &str) {
    if failed.as_deref() != Some(what.as_str()) {
        for line in error.lines() {
            tracing::error!("{line}");
        }
        tracing::error!(%what, "rules: this instance cannot put the deployment's rules in force; its writes are refused until it can");
        *failed = Some(what);
    }
}
