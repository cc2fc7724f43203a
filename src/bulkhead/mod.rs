//! A cap on calls in flight, with a bounded wait. (Being built: see the CHANGELOG.)

mod error;

pub use error::BulkheadFull;
