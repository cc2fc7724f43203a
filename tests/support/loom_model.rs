//! The one way the loom models are explored.

/// Explore `f` with loom, preemptions bounded to 3 (unless `LOOM_MAX_PREEMPTIONS` says
/// otherwise) to keep each model small: well under a second to a few seconds in a debug
/// build.
pub fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}
