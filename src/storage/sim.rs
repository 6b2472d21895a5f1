//! [`SimDisk`]: [`Storage`] over turmoil's simulated per-host disk.

use super::{Op, Storage, StorageError, check_name, temp_name};
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use turmoil::fs::shim::std::fs::{self, File, OpenOptions};

/// Files on the current turmoil host's simulated disk (turmoil's
/// `unstable-fs`): each host has its own; writes are pending until synced;
/// `Sim::crash` discards pending writes and every file or rename whose
/// directory entry was not synced, and the disk survives into the host's
/// next life (`Sim::bounce`). Operations complete at once (no simulated
/// time passes) and use no OS resource, so a simulation stays a function
/// of its seed.
///
/// Only usable inside a turmoil host or client: outside a `Sim`, turmoil
/// panics.
#[derive(Debug, Clone)]
pub struct SimDisk {
    dir: Arc<PathBuf>,
}

impl SimDisk {
    /// Opens (creating it durably if needed) the directory `dir` on the
    /// current host's disk.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let dir = dir.into();
        if !fs::exists(&dir) {
            let shown = dir.display().to_string();
            fs::create_dir_all(&dir).map_err(StorageError::io(Op::Open, &shown))?;
            // Make every level's entry durable, from the root down.
            for level in dir.ancestors().collect::<Vec<_>>().into_iter().rev() {
                fs::sync_dir(level).map_err(StorageError::io(Op::Open, &shown))?;
            }
        }
        Ok(Self { dir: Arc::new(dir) })
    }

    fn path(&self, name: &str) -> Result<PathBuf, StorageError> {
        check_name(name)?;
        Ok(self.dir.join(name))
    }
}

fn read(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn append(path: &Path, bytes: &[u8]) -> io::Result<()> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(bytes)
}

fn replace(dir: &Path, path: &Path, temp: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(temp, path)?;
    fs::sync_dir(dir)
}

impl Storage for SimDisk {
    async fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        read(&self.path(name)?).map_err(StorageError::io(Op::Read, name))
    }

    async fn append(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        append(&self.path(name)?, bytes).map_err(StorageError::io(Op::Append, name))
    }

    async fn sync(&self, name: &str) -> Result<(), StorageError> {
        let path = self.path(name)?;
        File::open(&path)
            .and_then(|f| f.sync_all())
            .and_then(|()| fs::sync_dir(&*self.dir))
            .map_err(StorageError::io(Op::Sync, name))
    }

    async fn replace(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let (path, temp) = (self.path(name)?, self.dir.join(temp_name(name)));
        replace(&self.dir, &path, &temp, bytes).map_err(StorageError::io(Op::Replace, name))
    }
}
