//! Archives of older log entries: `engagement events archive --before DATE
//! --to FILE` writes the entries the log received before DATE to a
//! zstd-compressed JSON-lines file (the shape `engagement events export`
//! prints, so `zstdcat FILE` reads it), lists the file in the store and
//! trims those entries from the stream, in one transaction.
//!
//! Idempotency records stay in Redis: a late duplicate or revocation of an
//! archived event is still recognised. A replay and an export read the
//! listed archives, oldest first, then the live log after them; a listed
//! archive that cannot be read stops them with its path named, rather than
//! leaving its events out.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use deadpool_redis::redis::{self, AsyncCommands, Value};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::super::LogEntry;
use super::pool::Connection;
use super::{RedisStore, StoreError, corrupt, unavailable};

/// Log entries read from an archive per chunk handed to a replay.
const CHUNK: usize = 10_000;

/// One archive file, as the store lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Archive {
    /// Absolute path of the file on the machine that wrote it.
    pub file: PathBuf,
    /// Stream ids of the first and last entry archived.
    pub first: String,
    pub last: String,
    pub entries: u64,
    /// The entries are those the log received before this instant.
    pub before: Timestamp,
    pub written_at: Timestamp,
}

/// Why an archive was not written.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--before must be in the past: the log is still receiving entries for {0}")]
    Future(Timestamp),
    #[error("{} exists already; choose another file", .0.display())]
    Exists(PathBuf),
    #[error("{} is listed as an archive already; choose another file", .0.display())]
    Listed(PathBuf),
    #[error("another archive of the log was written at the same time; run the command again")]
    Conflict,
}

/// A file being written, removed when dropped: what is kept is linked to
/// its final name first.
struct Partial(PathBuf);

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

impl RedisStore {
    /// Writes the log entries received before `before` to `to` and trims
    /// them from the log. `None` when there was nothing that old.
    pub async fn archive_log(
        &self,
        before: Timestamp,
        to: &Path,
    ) -> Result<Option<Archive>, ArchiveError> {
        if before > Timestamp::now() {
            return Err(ArchiveError::Future(before));
        }
        if to.exists() {
            return Err(ArchiveError::Exists(to.to_owned()));
        }
        let file_error = |path: &Path| {
            let path = path.to_owned();
            move |source| ArchiveError::File { path, source }
        };
        // The path as listed: absolute, the file itself not there yet.
        let name = to.file_name().ok_or_else(|| ArchiveError::File {
            path: to.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"),
        })?;
        let dir = match to.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let path = fs::canonicalize(dir).map_err(file_error(dir))?.join(name);
        let mut conn = self.conn().await?;
        // Another archive committed meanwhile would overlap this one: the
        // list is watched from before the first read to the trim.
        let (listed,): (bool,) = redis::pipe()
            .cmd("WATCH")
            .arg(self.keys.archives())
            .ignore()
            .hexists(self.keys.archives(), path.to_string_lossy().as_ref())
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let written = if listed {
            Err(ArchiveError::Listed(path.clone()))
        } else {
            let mut partial = path.clone().into_os_string();
            partial.push(".partial");
            let partial = PathBuf::from(partial);
            // Never over a file of someone else's either.
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&partial)
            {
                Ok(file) => {
                    let partial = Partial(partial);
                    self.write_archive(&mut conn, before, file, &partial.0)
                        .await
                        .map(|found| found.map(|found| (partial, found)))
                }
                Err(source) => Err(ArchiveError::File {
                    path: partial,
                    source,
                }),
            }
        };
        let (partial, (first, last, entries)) = match written {
            Ok(Some(written)) => written,
            Ok(None) | Err(_) => {
                let _ = redis::cmd("UNWATCH").query_async::<()>(&mut conn).await;
                return written.map(|_| None);
            }
        };
        // Never over a file that appeared meanwhile.
        match fs::hard_link(&partial.0, &path) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(ArchiveError::Exists(path));
            }
            linked => linked.map_err(file_error(&path))?,
        }
        drop(partial);
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
        let archive = Archive {
            file: path,
            first,
            last,
            entries,
            before,
            written_at: Timestamp::now(),
        };
        let description = serde_json::to_string(&archive).map_err(|e| corrupt(e.to_string()))?;
        // Trimmed up to the last entry written, whatever Redis's clock says.
        let (ms, seq) = stream_id(&archive.last);
        let committed: Option<Value> = redis::pipe()
            .atomic()
            .hset(
                self.keys.archives(),
                archive.file.to_string_lossy().as_ref(),
                description,
            )
            .ignore()
            .cmd("XTRIM")
            .arg(self.keys.log())
            .arg("MINID")
            .arg(format!("{ms}-{}", seq + 1))
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if committed.is_none() {
            let _ = fs::remove_file(&archive.file);
            return Err(ArchiveError::Conflict);
        }
        // The archive is listed and the log trimmed: a replica that has not
        // confirmed it yet is only worth a warning now.
        if let Err(e) = self.replicated(&mut conn).await {
            tracing::warn!(error = %e, file = %archive.file.display(), "archive written, replicas not confirmed");
        }
        Ok(Some(archive))
    }

    /// Writes the log entries received before `before` to `file` (at `partial`),
    /// compressed and synced: the stream ids of the first and last, and
    /// their number; `None` when there was none.
    async fn write_archive(
        &self,
        conn: &mut Connection,
        before: Timestamp,
        file: File,
        partial: &Path,
    ) -> Result<Option<(String, String, u64)>, ArchiveError> {
        let file_error = |source| ArchiveError::File {
            path: partial.to_owned(),
            source,
        };
        // Stream ids start with the millisecond Redis received an entry.
        let Ok(end) = u64::try_from(before.as_millisecond()) else {
            return Ok(None);
        };
        let mut out = zstd::Encoder::new(BufWriter::new(file), 3).map_err(file_error)?;
        let (mut first, mut last, mut entries) = (None, "-".to_owned(), 0u64);
        let until = format!("({end}-0");
        while let Some(chunk) = self.log_chunk(conn, &last, &until).await? {
            for (id, entry) in chunk {
                serde_json::to_writer(&mut out, &entry).map_err(|e| corrupt(e.to_string()))?;
                out.write_all(b"\n").map_err(file_error)?;
                first.get_or_insert_with(|| id.clone());
                entries += 1;
                last = id;
            }
        }
        let Some(first) = first else {
            return Ok(None);
        };
        let file = out
            .finish()
            .map_err(file_error)?
            .into_inner()
            .map_err(|e| file_error(e.into_error()))?;
        file.sync_all().map_err(file_error)?;
        Ok(Some((first, last, entries)))
    }

    /// The archives the store lists, oldest first.
    pub(super) async fn archives(&self, conn: &mut Connection) -> Result<Vec<Archive>, StoreError> {
        let raw: Vec<String> = conn
            .hvals(self.keys.archives())
            .await
            .map_err(unavailable)?;
        let mut archives: Vec<Archive> = raw
            .iter()
            .map(|r| serde_json::from_str(r).map_err(corrupt))
            .collect::<Result<_, _>>()?;
        archives.sort_by_key(|a| stream_id(&a.last));
        Ok(archives)
    }
}

/// A stream id as numbers, to order ids.
pub(super) fn stream_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// Reads `archives` in order on a thread of its own, handing their entries
/// over in chunks; a file that cannot be read ends the stream with an error
/// that names it.
pub(super) fn read_archives(
    archives: Vec<Archive>,
) -> tokio::sync::mpsc::Receiver<Result<Vec<LogEntry>, StoreError>> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    std::thread::spawn(move || {
        for archive in archives {
            if let Err(e) = read_archive(&archive, &tx) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    });
    rx
}

fn read_archive(
    archive: &Archive,
    tx: &tokio::sync::mpsc::Sender<Result<Vec<LogEntry>, StoreError>>,
) -> Result<(), StoreError> {
    let path = &archive.file;
    let unreadable = |e: &dyn std::fmt::Display| {
        unavailable(format!(
            "the archive {} (log entries before {}) cannot be read here: {e}",
            path.display(),
            archive.before
        ))
    };
    let file = OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(|e| unreadable(&e))?;
    let lines = BufReader::new(zstd::Decoder::new(file).map_err(|e| unreadable(&e))?).lines();
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut read = 0u64;
    for line in lines {
        let line = line.map_err(|e| unreadable(&e))?;
        let entry: LogEntry = serde_json::from_str(&line).map_err(|e| unreadable(&e))?;
        chunk.push(entry);
        read += 1;
        if chunk.len() == CHUNK && tx.blocking_send(Ok(std::mem::take(&mut chunk))).is_err() {
            return Ok(());
        }
    }
    if read != archive.entries {
        return Err(unreadable(&format!(
            "it holds {read} entries, {} were archived",
            archive.entries
        )));
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(Ok(chunk));
    }
    Ok(())
}
