//! `engagement events generate | export | import` and `engagement replay`:
//! activity in and out of the configured store.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use engagement_core::RuleSet;

use crate::app::AnyStore;
use crate::generate::{GenerateParams, generate_each};
use crate::import;
use crate::ingest::Ingest;
use crate::settings::Settings;
use crate::store::Store;

pub(super) fn print_generated(params: &GenerateParams) -> anyhow::Result<()> {
    let out = std::io::stdout().lock();
    let mut out = BufWriter::new(out);
    // Written as made: the stream is not held in memory.
    generate_each(params, |event| {
        serde_json::to_writer(&mut out, &event)?;
        out.write_all(b"\n")
    })?;
    out.flush()?;
    Ok(())
}

/// Opens the configured store from the command line, with the
/// deployment's rules in force (the rule file when none is stored yet).
pub(super) async fn open_store(settings: &Settings) -> anyhow::Result<(AnyStore, RuleSet)> {
    let file = crate::startup::load_rules(settings)?;
    let (store, loaded) = crate::rules_sync::open_for_command(settings, file).await?;
    Ok((store, loaded.rules))
}

pub(super) fn replay(settings: Settings) -> anyhow::Result<()> {
    // Two workers: on Redis the log is read ahead and the new generation
    // written while the engine applies.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let started = std::time::Instant::now();
        let (store, rules) = open_store(&settings).await?;
        let summary = match &store {
            // Opening the embedded store has just rebuilt everything from its
            // log under these rules. A running service keeps its own copy in
            // memory: use POST /v1/admin/replay there.
            AnyStore::Embedded(embedded) => embedded.summary(),
            AnyStore::Redis(_) => {
                let ingest = Ingest {
                    store: &store,
                    rules: &rules,
                    metrics: None,
                    service: None,
                };
                ingest.replay().await?
            }
        };
        outln!(
            "replayed {} events for {} members under rules {} in {:.2} s",
            summary.events,
            summary.members,
            rules.version,
            started.elapsed().as_secs_f64()
        );
        // The command ends here: its memory goes back to the system whole
        // instead of value by value.
        std::mem::forget(store);
        Ok(())
    })
}

pub(super) fn import(
    file: &Path,
    url: Option<String>,
    batch: usize,
    settings: Settings,
) -> ExitCode {
    let mut summary = import::Summary::default();
    // What was taken before a failure is told too: run it again to resume.
    let stopped = import_file(file, url, batch, settings, &mut summary).err();
    let name = file.display();
    for r in &summary.rejected {
        eprintln!("{name}:{}: {}", r.line, r.reason);
    }
    sayln!(
        "{} applied, {} duplicate, {} ignored, {} rejected{}",
        summary.applied,
        summary.duplicate,
        summary.ignored,
        summary.rejected.len(),
        match summary.skipped {
            0 => String::new(),
            n => format!(", {n} log entries that are not events skipped"),
        }
    );
    match stopped {
        Some(e) => {
            eprintln!("error: {e:#}\nthe import stopped there; run it again to resume");
            ExitCode::FAILURE
        }
        None if summary.rejected.is_empty() => ExitCode::SUCCESS,
        None => ExitCode::FAILURE,
    }
}

fn import_file(
    file: &Path,
    url: Option<String>,
    batch: usize,
    settings: Settings,
    summary: &mut import::Summary,
) -> anyhow::Result<()> {
    if !(1..=import::MAX_BATCH).contains(&batch) {
        anyhow::bail!("--batch: 1 to {} events", import::MAX_BATCH);
    }
    let events = if file.as_os_str() == "-" {
        import::decompressed(std::io::stdin().lock()).and_then(|r| import::read(r, summary))
    } else {
        let f =
            std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
        import::decompressed(std::io::BufReader::new(f)).and_then(|r| import::read(r, summary))
    }
    .with_context(|| format!("cannot read {}", file.display()))?;
    let bar = indicatif::ProgressBar::new(events.len() as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} events  {per_sec}  ETA {eta}",
        )?,
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let opened;
        let destination = match url {
            Some(url) => import::Destination::Service {
                client: crate::http_client()
                    .timeout(std::time::Duration::from_secs(60))
                    .build()?,
                url,
                token: settings.ingest_token.clone(),
            },
            None => {
                opened = open_store(&settings).await?;
                import::into_store(&opened.0, &opened.1)
            }
        };
        let mut events = events.into_iter().peekable();
        while events.peek().is_some() {
            let chunk: Vec<_> = events.by_ref().take(batch).collect();
            let n = chunk.len() as u64;
            destination.send(chunk, summary).await?;
            bar.inc(n);
        }
        bar.finish_and_clear();
        anyhow::Ok(())
    })?;
    Ok(())
}

pub(super) fn archive(
    before: jiff::Timestamp,
    to: &Path,
    settings: Settings,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (store, _) = open_store(&settings).await?;
        let AnyStore::Redis(redis) = &store else {
            anyhow::bail!(
                "archives are for the Redis store; the embedded store keeps its log in \
                 events.log in its data directory, on disk"
            );
        };
        match redis.archive_log(before, to).await? {
            Some(archive) => outln!(
                "archived {} log entries received before {} to {}",
                archive.entries,
                archive.before,
                archive.file.display()
            ),
            None => outln!("the log holds no entry received before {before}: nothing archived"),
        }
        Ok(())
    })
}

pub(super) fn export(settings: Settings) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let entries = rt.block_on(async {
        let (store, _) = open_store(&settings).await?;
        store.export().await.map_err(anyhow::Error::from)
    })?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    for entry in entries {
        serde_json::to_writer(&mut out, &entry)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
