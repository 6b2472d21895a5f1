//! [`Files`]: [`Storage`] over a real directory, with `fsync`.

use super::{Op, Storage, StorageError, check_name, temp_name};
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Real files in one directory. Every operation runs on tokio's blocking
/// pool (so it needs a tokio runtime); [`sync`](Storage::sync) is
/// `fsync(file)` then `fsync(directory)`, [`replace`](Storage::replace) is
/// write temporary + `fsync` + `rename` + `fsync(directory)`.
#[derive(Debug, Clone)]
pub struct Files {
    dir: Arc<PathBuf>,
}

impl Files {
    /// Opens (creating it, and syncing its parent, if needed) the directory
    /// `dir`.
    pub async fn open(dir: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let dir = dir.into();
        let shown = dir.display().to_string();
        let created = dir.clone();
        blocking(move || {
            if !created.is_dir() {
                fs::create_dir_all(&created)?;
                if let Some(parent) = created.parent() {
                    sync_dir(parent)?;
                }
            }
            Ok(())
        })
        .await
        .map_err(StorageError::io(Op::Open, &shown))?;
        Ok(Self { dir: Arc::new(dir) })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `op` on the blocking pool with the path of `name`.
    async fn run<T: Send + 'static>(
        &self,
        op: Op,
        name: &str,
        f: impl FnOnce(&Path, PathBuf) -> io::Result<T> + Send + 'static,
    ) -> Result<T, StorageError> {
        check_name(name)?;
        let (dir, path) = (Arc::clone(&self.dir), self.dir.join(name));
        blocking(move || f(&dir, path))
            .await
            .map_err(StorageError::io(op, name))
    }
}

/// Runs `f` on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
}

/// `fsync` on a directory: makes the entries created or renamed in it durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Storage for Files {
    async fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.run(Op::Read, name, |_, path| match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    async fn append(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let bytes = bytes.to_vec();
        self.run(Op::Append, name, move |_, path| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?
                .write_all(&bytes)
        })
        .await
    }

    async fn sync(&self, name: &str) -> Result<(), StorageError> {
        self.run(Op::Sync, name, |dir, path| {
            File::open(path)?.sync_all()?;
            sync_dir(dir)
        })
        .await
    }

    async fn replace(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let (bytes, temp) = (bytes.to_vec(), temp_name(name));
        self.run(Op::Replace, name, move |dir, path| {
            let temp = dir.join(temp);
            let mut file = File::create(&temp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            fs::rename(&temp, path)?;
            sync_dir(dir)
        })
        .await
    }
}
