// The service answers `u64`; the fallback answers `String`. A fallback stands in for the
// service's answer, so it must answer `u64` too.
use tower::{service_fn, Layer, ServiceExt};
use tower_breakwater::{Error, Resilience};

fn main() {
    let stack = Resilience::builder("payments")
        .with_fallback(|e: Error<std::io::Error, u64>, order: Option<u64>| async move {
            order.map(|o| format!("order {o} queued")).ok_or(e)
        })
        .build()
        .unwrap();
    let payments = stack.layer(service_fn(|order: u64| async move {
        Ok::<u64, std::io::Error>(order)
    }));
    let _ = ServiceExt::<u64>::oneshot(payments, 17);
}
