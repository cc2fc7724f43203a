//! Retries with backoff, jitter and a shared budget. (Being built: see the CHANGELOG.)

mod error;

pub use error::RetriesExhausted;
