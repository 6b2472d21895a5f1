//! The scenarios this build knows. Adding one: write `src/scenarios/NAME.rs`
//! implementing [`Scenario`] (copy `echo.rs`),
//! declare it below, and add one line to [`ALL`].

pub mod echo;
pub mod kv;
pub mod lock;
pub mod rpc;

use crate::scenario::Scenario;

/// Every scenario, in `list` order.
pub static ALL: &[&dyn Scenario] = &[&echo::Echo, &rpc::Rpc, &kv::Kv, &lock::Lock];

/// The scenario called `name`.
pub fn find(name: &str) -> Option<&'static dyn Scenario> {
    ALL.iter().copied().find(|s| s.name() == name)
}
