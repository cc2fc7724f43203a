//! Loom models of the breaker's lock-free parts, each over the real code made generic over
//! [`AtomicWord`](super::state::AtomicWord) and run on loom's `AtomicU64`: the packed state
//! word (`state`), a thread's counter blocks and their retirement (`blocks`), the count
//! window's bit rings (`counted_bits`) and the time window's bucket clock (`bucket_clock`).
//!
//! Built only with `--cfg loom`, as tokio does, so that nothing internal is public and a
//! user's build (or `cargo test --all-features`) never compiles loom:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test --release --lib loom_models
//! ```

mod blocks;
mod bucket_clock;
mod counted_bits;
mod state;

/// Explore `f` with loom, preemptions bounded to 3 (unless `LOOM_MAX_PREEMPTIONS` says
/// otherwise) to keep each model small: well under a second to a few seconds in a debug
/// build.
fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}
