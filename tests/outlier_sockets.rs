//! The pool example's scenario, shorter (time runs 20× faster than the brief's), over real
//! sockets: six HTTP replicas on 127.0.0.1, three go bad, a fourth while three are ejected,
//! then all heal. Checks the example's promises, and that the detector did its work.
#![cfg(all(feature = "istio", feature = "http"))]

#[path = "../examples/pool/scenario.rs"]
#[allow(dead_code)]
mod scenario;

#[tokio::test(flavor = "current_thread")]
async fn pool_over_real_sockets_keeps_its_promises() {
    let report = scenario::run(20.0, false).await.unwrap();
    assert!(
        report.broken_promises().is_empty(),
        "{:?}",
        report.broken_promises()
    );
    assert_eq!(report.ejected_calls, 0);
    assert!(report.max_ejected <= 3);
    // The three bad replicas were ejected, and the fourth met the cap.
    assert!(report.ejections >= 3, "{}", report.ejections);
    assert_eq!(report.max_ejected, 3);
    assert!(report.cap_refusals > 0);
    assert!(report.calls > 1000, "{}", report.calls);
}
