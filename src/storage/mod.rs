//! The disk abstraction: one trait for the few durable-storage operations a
//! distributed protocol needs (read a file, append to it, make it durable,
//! replace it atomically), implemented over real files ([`Files`]) and over
//! turmoil's simulated per-host disk (`SimDisk`, feature `turmoil`), where a crash loses
//! exactly what was not synced.
//!
//! **What.** A [`Storage`] is a flat namespace of named files under one
//! directory. Writes ([`Storage::append`]) are *pending* until
//! [`Storage::sync`] returns: pending data may be lost by a crash, synced
//! data may not. [`Storage::replace`] is the atomic, durable "write a small
//! file" (write a temporary file, sync it, rename it over the old one, sync
//! the directory): after a crash the file holds either the old or the new
//! contents, never a mix. Names are single path components
//! (`[A-Za-z0-9._-]`, not starting with `.`), else [`StorageError::BadName`].
//!
//! **Why async.** A real `fsync` takes from microseconds to many
//! milliseconds. Called on a server's runtime thread it would stall every
//! task on that worker (the problem `net::serve_connections` avoids for
//! connections); so the trait returns futures, [`Files`] runs each
//! operation on tokio's blocking pool, and `SimDisk` completes in place,
//! deterministically, as turmoil's disk takes no simulated time. A
//! write-ahead log appends then syncs; a durable counter
//! ([`DurableCounter`]) replaces. Both are written once against the trait and
//! run on either implementation without `cfg`.
//!
//! **Compared to.** `std::fs` directly (what the guide would do) cannot be
//! simulated, and forgets the directory `fsync` that makes a created or
//! renamed file survive a power loss; sled/redb/rocksdb are whole storage
//! engines, far more than a fencing counter or a small log needs.
//!
//! # Example
//!
//! ```
//! use heddle::storage::{DurableCounter, Files, Storage};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let dir = std::env::temp_dir().join(format!("heddle-doc-{}", std::process::id()));
//! let disk = Files::open(&dir).await?;
//! disk.append("log", b"put x 1\n").await?;
//! disk.sync("log").await?; // now it survives a crash
//! assert_eq!(disk.read("log").await?, Some(b"put x 1\n".to_vec()));
//!
//! let tokens = DurableCounter::open(disk, "fencing").await?;
//! assert_eq!(tokens.next().await?, 1);
//! assert_eq!(tokens.next().await?, 2);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # })
//! # }
//! ```

use std::future::Future;
use std::io;

mod counter;
mod files;
#[cfg(feature = "turmoil")]
mod sim;

pub use counter::{CounterError, DurableCounter};
pub use files::Files;
#[cfg(feature = "turmoil")]
pub use sim::SimDisk;

/// The operation that failed, in a [`StorageError::Io`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Opening the storage's directory.
    Open,
    /// [`Storage::read`].
    Read,
    /// [`Storage::append`].
    Append,
    /// [`Storage::sync`].
    Sync,
    /// [`Storage::replace`].
    Replace,
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Op::Open => "open",
            Op::Read => "read",
            Op::Append => "append",
            Op::Sync => "sync",
            Op::Replace => "replace",
        })
    }
}

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The name is not a single plain path component.
    #[error("bad file name {0:?}: use [A-Za-z0-9._-], not starting with '.'")]
    BadName(String),
    /// The operating system (or the simulated disk) refused.
    #[error("{op} {name:?}: {source}")]
    Io {
        /// What was being done.
        op: Op,
        /// The file (or directory) it was done to.
        name: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl StorageError {
    pub(crate) fn io(op: Op, name: &str) -> impl FnOnce(io::Error) -> Self + '_ {
        move |source| StorageError::Io {
            op,
            name: name.to_owned(),
            source,
        }
    }
}

/// Durable named files. See the [module docs](self) for the durability
/// contract.
pub trait Storage: Clone + Send + Sync + 'static {
    /// The whole file, or `None` if it does not exist.
    fn read(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StorageError>> + Send;

    /// Appends `bytes` to the file (creating it). Pending until
    /// [`sync`](Storage::sync).
    fn append(
        &self,
        name: &str,
        bytes: &[u8],
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Makes everything appended to the file so far durable, its directory
    /// entry included.
    fn sync(&self, name: &str) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Atomically and durably replaces the file's contents with `bytes`.
    fn replace(
        &self,
        name: &str,
        bytes: &[u8],
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
}

/// Checks that `name` is one plain path component.
pub(crate) fn check_name(name: &str) -> Result<(), StorageError> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.starts_with('.') || !name.chars().all(plain) {
        return Err(StorageError::BadName(name.to_owned()));
    }
    Ok(())
}

/// The temporary file [`Storage::replace`] writes before renaming it (a
/// leading `.` keeps it out of the names users may pick).
pub(crate) fn temp_name(name: &str) -> String {
    format!(".{name}.tmp")
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_plain_components() {
        for good in ["log", "fencing-token", "a.b_c", "0"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".hidden", "a/b", "..", "../x", "a b", "é"] {
            assert!(
                matches!(check_name(bad), Err(StorageError::BadName(n)) if n == bad),
                "{bad}"
            );
        }
    }
}
