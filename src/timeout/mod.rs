//! Per-attempt time limits. (Being built: see the CHANGELOG.)

mod error;

pub use error::Elapsed;
