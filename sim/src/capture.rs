//! Captures turmoil's network events (its `tracing` events under the target
//! `turmoil`: `Send`, `Delivered`, `Drop`, `Hold`) into the run's log.
//!
//! Installed with `tracing::subscriber::with_default` for the duration of
//! one run: the default is thread-local, and a run never leaves its thread,
//! so runs on parallel rayon threads never see each other's events.

use crate::record::{Log, NetWhat, Raw};
use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::sync::Arc;
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, Metadata, Subscriber};

pub(crate) struct Capture {
    log: Arc<Log>,
}

impl Capture {
    pub(crate) fn new(log: Arc<Log>) -> Self {
        Self { log }
    }
}

/// Is this callsite one of turmoil's message events (they carry `src`,
/// `dst` and `protocol` fields)?
fn wanted(meta: &Metadata<'_>) -> bool {
    meta.is_event()
        && meta.target() == "turmoil"
        && meta.fields().field("protocol").is_some()
        && meta.fields().field("src").is_some()
}

#[derive(Default)]
struct Fields {
    message: String,
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
    proto: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "protocol" => {
                let _ = write!(self.proto, "{value:?}");
            }
            "src" | "dst" => {
                let mut s = String::new();
                let _ = write!(s, "{value:?}");
                let addr = s.parse().ok();
                if field.name() == "src" {
                    self.src = addr;
                } else {
                    self.dst = addr;
                }
            }
            _ => {}
        }
    }
}

impl Subscriber for Capture {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if wanted(meta) {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        wanted(meta)
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        if self.log.muted() {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let what = match f.message.as_str() {
            // The listener also logs a `Send` of the SYN-ACK, which does not
            // cross the network (it is a channel inside turmoil): skip it.
            "Send" if f.proto == "TCP SYN-ACK" => return,
            "Send" => NetWhat::Send,
            "Delivered" => NetWhat::Deliver,
            "Drop" => NetWhat::Drop,
            "Hold" => NetWhat::Hold,
            _ => return,
        };
        let (Some(src), Some(dst)) = (f.src, f.dst) else {
            return;
        };
        self.log.push(Raw::Net {
            t_us: self.log.now(),
            what,
            src,
            dst,
            proto: f.proto,
        });
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}
