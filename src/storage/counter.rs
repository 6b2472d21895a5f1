//! [`DurableCounter`]: a number that only grows, across crashes.

use super::{Storage, StorageError};
use tokio::sync::Mutex;

/// Why the counter could not hand out a number.
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    /// The storage failed; no number was handed out.
    #[error("counter storage: {0}")]
    Storage(#[from] StorageError),
    /// The file does not hold a counter (not 8 bytes).
    #[error("counter file {name:?} holds {len} bytes, not 8")]
    Corrupt {
        /// The file.
        name: String,
        /// Its length.
        len: usize,
    },
    /// Every `u64` has been handed out.
    #[error("counter {0:?} is exhausted")]
    Exhausted(String),
}

/// A counter whose every value is durable before it is handed out, so a
/// restarted process never hands out a value again: what a lock service
/// needs for fencing tokens, or a log for epoch numbers.
///
/// Each [`next`](Self::next) is one atomic, durable
/// [`Storage::replace`] (an `fsync` or two on real disks); concurrent calls
/// are serialized, each gets its own value. Values start at 1 (0 means
/// "none yet").
///
/// ```
/// # #[cfg(not(any(feature = "loom", feature = "shuttle")))] fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use heddle::storage::{DurableCounter, Files};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let dir = std::env::temp_dir().join(format!("heddle-counter-doc-{}", std::process::id()));
/// let c = DurableCounter::open(Files::open(&dir).await?, "epoch").await?;
/// let a = c.next().await?;
/// drop(c);
/// // "Restart": a new counter over the same files continues after `a`.
/// let c = DurableCounter::open(Files::open(&dir).await?, "epoch").await?;
/// assert_eq!(c.current().await, a);
/// assert!(c.next().await? > a);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # })
/// # }
/// # #[cfg(any(feature = "loom", feature = "shuttle"))] fn main() {}
/// ```
#[derive(Debug)]
pub struct DurableCounter<S> {
    storage: S,
    name: String,
    /// The last value made durable (and handed out).
    last: Mutex<u64>,
}

impl<S: Storage> DurableCounter<S> {
    /// Opens the counter kept in file `name` (0 if the file does not exist).
    pub async fn open(storage: S, name: &str) -> Result<Self, CounterError> {
        let last = match storage.read(name).await? {
            None => 0,
            Some(bytes) => {
                let raw: [u8; 8] =
                    bytes
                        .as_slice()
                        .try_into()
                        .map_err(|_| CounterError::Corrupt {
                            name: name.to_owned(),
                            len: bytes.len(),
                        })?;
                u64::from_le_bytes(raw)
            }
        };
        Ok(Self {
            storage,
            name: name.to_owned(),
            last: Mutex::new(last),
        })
    }

    /// The next value, made durable before it is returned. On error no
    /// value is handed out, and the next call retries the same one.
    pub async fn next(&self) -> Result<u64, CounterError> {
        let mut last = self.last.lock().await;
        let next = last
            .checked_add(1)
            .ok_or_else(|| CounterError::Exhausted(self.name.clone()))?;
        self.storage
            .replace(&self.name, &next.to_le_bytes())
            .await?;
        *last = next;
        Ok(next)
    }

    /// Makes every value up to `value` count as handed out, durably: a
    /// restart resumes above it. Reserving a block of values with one
    /// durable write is how a fencing-token service hands out many tokens
    /// per `fsync` (it hands out values up to the mark from memory). A
    /// `value` at or below the current one changes nothing.
    pub async fn advance_to(&self, value: u64) -> Result<(), CounterError> {
        let mut last = self.last.lock().await;
        if value <= *last {
            return Ok(());
        }
        self.storage
            .replace(&self.name, &value.to_le_bytes())
            .await?;
        *last = value;
        Ok(())
    }

    /// The last value handed out (0 if none).
    pub async fn current(&self) -> u64 {
        *self.last.lock().await
    }
}
