//! `cargo run --example pool`: six payment replicas on 127.0.0.1 behind P2C with
//! per-endpoint ejection, configured from the brief's Istio DestinationRule. One replica
//! starts answering 500, one hangs, one becomes slow; later a fourth goes bad while three
//! are ejected, so the 50 % cap holds it in the pool; then all heal.
//!
//! Prints the timeline (ejections, the cap, recoveries) and a per-replica tally of the
//! requests received before, during and after. Exits non-zero if a call reached an
//! ejected replica, or if more replicas than the cap were ejected at once.

mod scenario;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let report = match scenario::run(10.0, true).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("the scenario could not run: {e}");
            std::process::exit(2);
        }
    };
    println!(
        "\n{} calls, {} failed (timeouts and errors before ejection)",
        report.calls, report.failed
    );
    println!(
        "{} ejections; at most {} of 6 ejected at once (cap {}); {} ejections refused by the cap",
        report.ejections, report.max_ejected, report.cap, report.cap_refusals
    );
    let broken = report.broken_promises();
    if broken.is_empty() {
        println!("promises kept: no call reached an ejected replica, the cap held");
    } else {
        for promise in &broken {
            eprintln!("BROKEN: {promise}");
        }
        std::process::exit(1);
    }
}
