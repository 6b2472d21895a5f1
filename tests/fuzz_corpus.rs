//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the
//! same check functions the fuzz targets call, so `cargo test` keeps every
//! seed (and every crash ever added as a seed) passing.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use heddle::wire::checks;
use std::fs;
use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {}", dir.display());
    for f in files {
        let bytes = fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        check(&bytes);
    }
}

#[test]
fn frame_corpus() {
    replay("frame", checks::frame);
}

#[test]
fn binary_message_corpus() {
    replay("binary_message", checks::binary_message);
}

#[test]
fn jsonrpc_request_corpus() {
    replay("jsonrpc_request", checks::jsonrpc_request);
}

#[test]
fn jsonrpc_response_corpus() {
    replay("jsonrpc_response", checks::jsonrpc_response);
}
