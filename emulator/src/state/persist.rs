//! The state file: its JSON format, loading it, and a background writer that makes every accepted
//! change durable before the change is acknowledged.
//!
//! Writes go to `<file>.tmp` (mode 0600: the file holds the bootstrap admin's token), are fsynced,
//! renamed over the file, and the directory is fsynced, so a SIGKILL at any instant leaves either the
//! old or the new state. Concurrent changes are coalesced: one write covers every version accepted
//! before it started (group commit), and a mutation's response waits for the write that covers it.
//! Must not decide anything about the organization; it only stores `Data`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::state::data::Data;
use crate::state::model::{Bootstrap, Credential, Org, Settings, User};

/// The state-file format this emulator reads and writes.
pub const FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("cannot read state file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("state file {path} is not a valid emulator state file: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("state file {path} has format {found}; this emulator reads format {FORMAT}")]
    Format { path: PathBuf, found: u32 },
    #[error("cannot write state file {path}: {message}")]
    Write { path: PathBuf, message: String },
}

#[derive(Serialize)]
struct FileOut<'a> {
    format: u32,
    org: &'a Org,
    settings: &'a Settings,
    bootstrap: &'a Bootstrap,
    users: Vec<&'a User>,
    credentials: Vec<&'a Credential>,
}

#[derive(Deserialize)]
struct FileIn {
    format: u32,
    org: Org,
    settings: Settings,
    bootstrap: Bootstrap,
    users: Vec<User>,
    credentials: Vec<Credential>,
}

/// Reads the state file; `Ok(None)` when it does not exist yet.
pub fn load(path: &Path) -> Result<Option<Data>, PersistError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(PersistError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let file: FileIn = serde_json::from_slice(&bytes).map_err(|source| PersistError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    if file.format != FORMAT {
        return Err(PersistError::Format {
            path: path.to_path_buf(),
            found: file.format,
        });
    }
    Ok(Some(Data::new(
        file.org,
        file.settings,
        file.bootstrap,
        file.users,
        file.credentials,
    )))
}

/// Serializes `data` in the state-file format.
pub fn encode(data: &Data) -> Result<Vec<u8>, serde_json::Error> {
    let file = FileOut {
        format: FORMAT,
        org: &data.org,
        settings: &data.settings,
        bootstrap: &data.bootstrap,
        users: data.users.values().collect(),
        credentials: data.all_credentials(),
    };
    serde_json::to_vec(&file)
}

/// Replaces `path` with `bytes` atomically and durably.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// The latest durable version, and the latest failed write (version it tried, message).
#[derive(Debug, Clone, Default)]
struct Written {
    version: u64,
    failure: Option<(u64, String)>,
}

/// The background writer of one state file.
#[derive(Debug)]
pub struct Persister {
    path: PathBuf,
    wanted: watch::Sender<u64>,
    written: watch::Receiver<Written>,
}

impl Persister {
    /// Writes `data` now (synchronously), then starts the writer task. Needs a Tokio runtime.
    pub fn start(path: PathBuf, data: Arc<RwLock<Data>>) -> Result<Self, PersistError> {
        let (version, bytes) = {
            let guard = data.read();
            (guard.version, encode(&guard))
        };
        let write_error = |message: String| PersistError::Write {
            path: path.clone(),
            message,
        };
        let bytes = bytes.map_err(|e| write_error(e.to_string()))?;
        write_atomically(&path, &bytes).map_err(|e| write_error(e.to_string()))?;
        let (wanted, wanted_rx) = watch::channel(version);
        let (written_tx, written) = watch::channel(Written {
            version,
            failure: None,
        });
        tokio::spawn(write_loop(path.clone(), data, wanted_rx, written_tx));
        Ok(Self {
            path,
            wanted,
            written,
        })
    }

    /// Returns once a write that includes `version` is on disk.
    pub async fn wait_durable(&self, version: u64) -> Result<(), PersistError> {
        self.wanted.send_if_modified(|wanted| {
            let newer = *wanted < version;
            if newer {
                *wanted = version;
            }
            newer
        });
        let mut written = self.written.clone();
        loop {
            {
                let state = written.borrow_and_update();
                if state.version >= version {
                    return Ok(());
                }
                if let Some((failed, message)) = &state.failure
                    && *failed >= version
                {
                    return Err(PersistError::Write {
                        path: self.path.clone(),
                        message: message.clone(),
                    });
                }
            }
            if written.changed().await.is_err() {
                let message = "the state writer stopped".to_string();
                return Err(PersistError::Write {
                    path: self.path.clone(),
                    message,
                });
            }
        }
    }
}

async fn write_loop(
    path: PathBuf,
    data: Arc<RwLock<Data>>,
    mut wanted: watch::Receiver<u64>,
    written: watch::Sender<Written>,
) {
    while wanted.changed().await.is_ok() {
        let target = *wanted.borrow_and_update();
        if target <= written.borrow().version {
            continue;
        }
        let (version, encoded) = {
            let guard = data.read();
            (guard.version, encode(&guard))
        };
        let result = match encoded {
            Ok(bytes) => {
                let file = path.clone();
                tokio::task::spawn_blocking(move || {
                    write_atomically(&file, &bytes).map_err(|e| e.to_string())
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
            }
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => written.send_modify(|w| {
                w.version = w.version.max(version);
                w.failure = None;
            }),
            Err(message) => {
                tracing::error!(path = %path.display(), %message, "writing the state file failed");
                written.send_modify(|w| w.failure = Some((target, message)));
            }
        }
    }
}
