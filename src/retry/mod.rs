//! Retries with backoff, jitter and a shared budget. (Being built: see the CHANGELOG.)

mod backoff;
mod budget;
mod error;

pub use self::backoff::{Backoff, Delays, Jitter};
pub use self::budget::{Budget, BudgetBuilder};
pub use self::error::RetriesExhausted;
