//! The storage trait's durability contract, on turmoil's simulated disk
//! (where a crash really loses what was not synced) and on real files; and
//! the durable counter, one code for both.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use heddle::storage::{CounterError, DurableCounter, Files, Op, SimDisk, Storage, StorageError};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DIR: &str = "/data";

/// What one life of the simulated host saw when it started.
type Seen = Arc<Mutex<Vec<Vec<Option<Vec<u8>>>>>>;

/// Runs a host "db" whose software, in each life, records what `files`
/// hold, then (first life only) runs `first_life`; between lives the host is
/// crashed (`crash: true`) or only restarted. Returns what each life saw.
fn two_lives<F, Fut>(
    files: &'static [&'static str],
    crash: bool,
    first_life: F,
) -> Vec<Vec<Option<Vec<u8>>>>
where
    F: Fn(SimDisk) -> Fut + Clone + 'static,
    Fut: std::future::Future<Output = Result<(), Box<dyn std::error::Error>>> + 'static,
{
    let seen: Seen = Arc::default();
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(60))
        .build();
    sim.host("db", {
        let seen = Arc::clone(&seen);
        move || {
            let (seen, first_life) = (Arc::clone(&seen), first_life.clone());
            async move {
                let disk = SimDisk::open(DIR)?;
                let mut now = Vec::new();
                for f in files {
                    now.push(disk.read(f).await?);
                }
                let life = {
                    let mut seen = seen.lock().expect("seen");
                    seen.push(now);
                    seen.len()
                };
                if life == 1 {
                    first_life(disk).await?;
                }
                std::future::pending::<()>().await;
                Ok(())
            }
        }
    });
    for _ in 0..5 {
        sim.step().expect("first life");
    }
    if crash {
        sim.crash("db");
    }
    sim.bounce("db");
    for _ in 0..5 {
        sim.step().expect("second life");
    }
    let lives = seen.lock().expect("seen").clone();
    drop(sim);
    lives
}

/// Appends to two files, syncs one, then appends to it again.
async fn sync_one(disk: SimDisk) -> Result<(), Box<dyn std::error::Error>> {
    disk.append("synced", b"kept").await?;
    disk.sync("synced").await?;
    disk.append("pending", b"lost").await?;
    disk.append("synced", b"+lost").await?;
    Ok(())
}

#[test]
fn a_crash_loses_exactly_what_was_not_synced() {
    let seen = two_lives(&["synced", "pending"], true, sync_one);
    assert_eq!(seen[0], [None, None]);
    assert_eq!(
        seen[1],
        [Some(b"kept".to_vec()), None],
        "after a crash: the synced bytes, not the later append, not the unsynced file"
    );
}

/// The control: the same run restarted without a crash keeps every write,
/// so what the test above sees lost was lost to the crash.
#[test]
fn a_restart_without_crash_keeps_pending_writes() {
    let seen = two_lives(&["synced", "pending"], false, sync_one);
    assert_eq!(
        seen[1],
        [Some(b"kept+lost".to_vec()), Some(b"lost".to_vec())]
    );
}

#[test]
fn replace_is_durable_and_atomic_across_a_crash() {
    let seen = two_lives(&["state"], true, |disk: SimDisk| async move {
        disk.replace("state", b"v1").await?;
        disk.replace("state", b"v2").await?;
        Ok(())
    });
    assert_eq!(seen[1], [Some(b"v2".to_vec())]);
}

// ------------------------------------------------------------- the counter

/// One code for both disks: three values, then a "restart" (a new counter
/// over the same storage) continues after them.
async fn counter_continues<S: Storage>(storage: S) -> Result<(), CounterError> {
    let c = DurableCounter::open(storage.clone(), "tokens").await?;
    assert_eq!(c.current().await, 0);
    for want in 1..=3 {
        assert_eq!(c.next().await?, want);
    }
    drop(c);
    let c = DurableCounter::open(storage, "tokens").await?;
    assert_eq!(c.current().await, 3);
    assert_eq!(c.next().await?, 4);
    Ok(())
}

fn temp_dir(test: &str) -> PathBuf {
    std::env::temp_dir().join(format!("heddle-{test}-{}", std::process::id()))
}

#[test]
fn the_counter_on_real_files() {
    let dir = temp_dir("counter");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let files = Files::open(&dir).await.expect("open");
        counter_continues(files).await.expect("counter");
    });
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn the_counter_on_the_simulated_disk() {
    let mut sim = turmoil::Builder::new().build();
    sim.client("db", async {
        counter_continues(SimDisk::open(DIR)?).await?;
        Ok(())
    });
    sim.run().expect("simulation");
}

/// Across a crash, on the simulated disk: values handed out before it are
/// never handed out again.
#[test]
fn the_counter_never_repeats_across_a_crash() {
    let seen = two_lives(&["tokens"], true, |disk: SimDisk| async move {
        let c = DurableCounter::open(disk, "tokens").await?;
        assert_eq!((c.next().await?, c.next().await?), (1, 2));
        Ok(())
    });
    assert_eq!(seen[1], [Some(2u64.to_le_bytes().to_vec())]);
}

/// The planted defect the test above would catch: storage that never syncs
/// (the "volatile counter" of issue #12). Its replace is a plain write.
#[derive(Clone)]
struct NoSync(SimDisk);

impl Storage for NoSync {
    async fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.0.read(name).await
    }
    async fn append(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.0.append(name, bytes).await
    }
    async fn sync(&self, _name: &str) -> Result<(), StorageError> {
        Ok(())
    }
    async fn replace(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let path = PathBuf::from(DIR).join(name);
        turmoil::fs::shim::std::fs::write(path, bytes).map_err(|source| StorageError::Io {
            op: Op::Replace,
            name: name.to_owned(),
            source,
        })
    }
}

#[test]
fn a_counter_that_does_not_sync_is_caught_repeating_after_a_crash() {
    let seen = two_lives(&["tokens"], true, |disk: SimDisk| async move {
        let c = DurableCounter::open(NoSync(disk), "tokens").await?;
        assert_eq!((c.next().await?, c.next().await?), (1, 2));
        Ok(())
    });
    assert_eq!(
        seen[1],
        [None],
        "the tokens were lost: a restarted counter would hand out 1 again"
    );
}

// ------------------------------------------------------------------ errors

#[test]
fn errors_are_typed() {
    let mut sim = turmoil::Builder::new().build();
    sim.client("db", async {
        let disk = SimDisk::open(DIR)?;
        let bad = disk.append("../escape", b"x").await;
        assert!(matches!(bad, Err(StorageError::BadName(n)) if n == "../escape"));
        disk.replace("tokens", b"abc").await?;
        let corrupt = DurableCounter::open(disk.clone(), "tokens").await;
        assert!(
            matches!(&corrupt, Err(CounterError::Corrupt { name, len: 3 }) if name == "tokens"),
            "{corrupt:?}"
        );
        let missing = disk.sync("never-written").await;
        assert!(
            matches!(&missing, Err(StorageError::Io { op: Op::Sync, name, .. }) if name == "never-written"),
            "{missing:?}"
        );
        Ok(())
    });
    sim.run().expect("simulation");
}

#[test]
fn opening_files_under_a_regular_file_is_an_open_error() {
    let file = temp_dir("not-a-dir");
    std::fs::write(&file, b"x").expect("write");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let opened = rt.block_on(Files::open(file.join("sub")));
    std::fs::remove_file(&file).expect("clean up");
    assert!(
        matches!(&opened, Err(StorageError::Io { op: Op::Open, .. })),
        "{opened:?}"
    );
}
