//! The message of a caught panic (crate-private), shared by every pattern
//! that turns a panic into an error value.

use std::any::Any;

/// The `&str` or `String` a panic payload carries, or `<non-string panic>`.
// Unused only in a loom build without the pattern groups.
#[cfg_attr(feature = "loom", allow(dead_code))]
pub(crate) fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<non-string panic>".to_owned())
}
