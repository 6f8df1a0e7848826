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

/// The stored text of `version`, checked; a version the store names but
/// whose text it lacks or cannot parse is corrupt stored data.
pub async fn stored(store: &impl Store, version: &str) -> Result<LoadedRules, StoreError> {
    let source = store.rules_source(version).await?.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "rules version {version} is stored without its text"
        ))
    })?;
    rules_file::parse(&format!("rules version {version}"), source)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
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

/// The version a command working on the store uses instead of the rule
/// file: the one in force, whenever the deployment has one.
fn followed_by_commands<'h>(history: &'h [Activation], file: &str) -> Option<&'h str> {
    history
        .first()
        .map(|a| a.version.as_str())
        .filter(|v| *v != file)
}

/// The rule file, or the version `pick` chooses from the embedded store's
/// history in `dir`.
fn embedded_rules(
    dir: &std::path::Path,
    file: LoadedRules,
    pick: impl for<'h> Fn(&'h [Activation], &str) -> Option<&'h str>,
) -> anyhow::Result<LoadedRules> {
    let versions = crate::store::rule_versions::RulesLog::open(dir)?;
    let history = versions.history();
    let Some(version) = pick(&history, &file.rules.version) else {
        return Ok(file);
    };
    let source = versions.source(version).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "rules version {version} is stored without its text"
        ))
    })?;
    tracing::info!(file = %file.rules.version, in_force = %version, "{FOLLOWING}");
    Ok(rules_file::parse(
        &format!("rules version {version}"),
        source.to_owned(),
    )?)
}

/// The rules an embedded store opens with (its log is replayed under
/// them): the rule file, or the version in force in `dir`.
pub fn embedded_start(dir: &std::path::Path, file: LoadedRules) -> anyhow::Result<LoadedRules> {
    embedded_rules(dir, file, followed_at_start)
}

/// The configured store, and the rules a command working on it uses: the
/// deployment's rules in force when it has stored any (the ones its
/// instances run), else the rule file.
pub async fn open_for_command(
    settings: &crate::settings::Settings,
    file: LoadedRules,
) -> anyhow::Result<(AnyStore, LoadedRules)> {
    if settings.redis_url.is_none() {
        // The embedded store replays its log as it opens: under the rules in force.
        let rules = embedded_rules(&settings.data_dir, file, followed_by_commands)?;
        let store = AnyStore::open(settings, &rules.rules, 4)?;
        return Ok((store, rules));
    }
    // A replay writes its new generation on a few connections at once.
    let store = AnyStore::open(settings, &file.rules, 8)?;
    let history = store.rules_history().await?;
    let rules = match followed_by_commands(&history, &file.rules.version) {
        Some(version) => {
            tracing::info!(file = %file.rules.version, in_force = %version, "{FOLLOWING}");
            stored(&store, version).await?
        }
        None => file,
    };
    Ok((store, rules))
}

const FOLLOWING: &str = "using the deployment's rules in force, not the rule file (SIGHUP or PUT /v1/admin/rules puts the file in force)";

/// The rule file this instance started with, against the deployment's:
/// stored when new to it, else the version in force is followed.
async fn settle_at_start(state: &AppState, file: &LoadedRules) -> Result<(), String> {
    let history = state
        .store
        .rules_history()
        .await
        .map_err(|e| e.to_string())?;
    match followed_at_start(&history, &file.rules.version) {
        Some(version) => {
            tracing::info!(file = %file.rules.version, in_force = %version, "{FOLLOWING}");
            follow(state, version).await
        }
        None if history.first().map(|a| a.version.as_str()) == Some(&file.rules.version) => {
            // In force already: this instance runs it unless it followed
            // another version while the store was out of reach.
            follow(state, &file.rules.version).await
        }
        None => put_back(state, file, RulesOrigin::Start).await,
    }
}

/// Puts a copy of `rules` in force for the deployment.
async fn put_back(
    state: &AppState,
    rules: &LoadedRules,
    origin: RulesOrigin,
) -> Result<(), String> {
    let copy = LoadedRules {
        rules: rules.rules.clone(),
        source: rules.source.clone(),
    };
    activate(state, copy, origin)
        .await
        .map_err(|e| e.to_string())
}

/// Switches this instance to the stored `version`, once however many
/// requests ask at the same time.
async fn follow(state: &AppState, version: &str) -> Result<(), String> {
    let _one_at_a_time = state.following.lock().await;
    if state.rules().rules.version == version {
        return Ok(());
    }
    let loaded = stored(&state.store, version)
        .await
        .map_err(|e| e.to_string())?;
    state.swap_rules(loaded)?;
    tracing::info!(%version, "rules changed by another instance: now in force here");
    Ok(())
}

/// The deployment's rules in force, switched to on this instance if it has
/// not yet: for a request the store refused because the rules it was
/// computed with are not the ones in force. The version is read again
/// rather than taken from the refusal, which may be older than a change
/// this instance has made since.
pub async fn catch_up(state: &AppState) -> Result<std::sync::Arc<LoadedRules>, StoreError> {
    let mine = state.rules();
    let Some(active) = state.store.active_rules().await? else {
        return Ok(mine);
    };
    if active == mine.rules.version {
        return Ok(mine);
    }
    follow(state, &active).await.map_err(|e| {
        StoreError::Unavailable(format!(
            "rules version {active} cannot be put in force here: {e}"
        ))
    })?;
    Ok(state.rules())
}

/// Settles the start once against the rule file `file`: `false` when the
/// store did not answer, and [`run`] tries again.
pub async fn settle(state: &AppState, file: &LoadedRules) -> bool {
    match settle_at_start(state, file).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "rules: the deployment's rules could not be read at start; trying again");
            false
        }
    }
}

/// Settles the start against the rule file `file` if `settled` is false,
/// then follows the deployment's rules for as long as the service runs. A
/// version this instance cannot run (a credential its environment lacks)
/// is logged once; meanwhile the store refuses this instance's writes under
/// its older rules. When the store has lost the version in force (a Redis
/// that restarted without its data), this instance's rules are stored again.
pub async fn run(
    state: actix_web::web::Data<AppState>,
    file: std::sync::Arc<LoadedRules>,
    mut settled: bool,
) {
    let mut failed: Option<String> = None;
    loop {
        tokio::time::sleep(POLL).await;
        if !settled {
            match settle_at_start(&state, &file).await {
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
            Ok(Some(_)) => failed = None,
            Ok(None) => {
                tracing::warn!(
                    "rules: the store has lost the deployment's rule version; storing this instance's again"
                );
                if let Err(e) = put_back(&state, &state.rules(), RulesOrigin::Start).await {
                    note_failure(&mut failed, "lost".into(), &e);
                }
            }
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
