//! The breakwater stack (bulkhead + breaker + timeout + a fallback that defers the payment
//! durably) and the variants that try to make its recovery faster without hammering a
//! sick payments: a short first open period that grows on repeated trips, a trial timeout
//! shorter than the call timeout, fewer or more half-open permits.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tower::{BoxError, Layer, Service, ServiceExt};
use tower_breakwater::bulkhead::Bulkhead;
use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
use tower_breakwater::fallback::Fallback;
use tower_breakwater::{Error, ErrorKind, Resilience};

use crate::configs::{
    boxed, Checkout, Paid, PaymentsHttp, CONSECUTIVE_FAILURES, HALF_OPEN_PERMITS, MAX_CONCURRENT,
    OPEN_FOR, TIMEOUT,
};
use crate::deferred::DeferredPayments;

/// One breakwater configuration (full-scale durations).
#[derive(Debug, Clone, Copy)]
pub struct Recovery {
    pub name: &'static str,
    pub open_for: Duration,
    /// Multiply the open period on each trip after a failed trial, up to a cap.
    pub growth: Option<(f64, Duration)>,
    /// A half-open trial's own time limit (the call timeout when `None`).
    pub trial_timeout: Option<Duration>,
    pub half_open_permits: u32,
    pub success_threshold: u32,
}

/// The breakwater stack of the main table, then the recovery options measured beside it.
pub const VARIANTS: [Recovery; 7] = [
    BASE,
    Recovery {
        name: "bw-short-open-growing",
        open_for: Duration::from_millis(250),
        growth: Some((2.0, Duration::from_secs(2))),
        ..BASE
    },
    Recovery {
        name: "bw-trial-timeout",
        trial_timeout: Some(Duration::from_millis(250)),
        ..BASE
    },
    Recovery {
        name: "bw-one-permit",
        half_open_permits: 1,
        success_threshold: 1,
        ..BASE
    },
    Recovery {
        name: "bw-five-permits",
        half_open_permits: 5,
        ..BASE
    },
    Recovery {
        name: "bw-short-open-trial-timeout",
        open_for: Duration::from_millis(250),
        growth: Some((2.0, Duration::from_secs(1))),
        trial_timeout: Some(Duration::from_millis(250)),
        ..BASE
    },
    Recovery {
        name: "bw-quick-probe",
        open_for: Duration::from_millis(250),
        trial_timeout: Some(Duration::from_millis(250)),
        half_open_permits: 1,
        success_threshold: 1,
        ..BASE
    },
];

const BASE: Recovery = Recovery {
    name: "breakwater",
    open_for: OPEN_FOR,
    growth: None,
    trial_timeout: None,
    half_open_permits: HALF_OPEN_PERMITS,
    success_threshold: 2,
};

impl Recovery {
    pub fn named(name: &str) -> Option<Recovery> {
        VARIANTS.iter().find(|v| v.name == name).copied()
    }

    /// What this variant changes, for the report.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("open_for {}", ms(self.open_for))];
        if let Some((factor, max)) = self.growth {
            parts.push(format!("growth ×{factor} up to {}", ms(max)));
        }
        if let Some(trial) = self.trial_timeout {
            parts.push(format!("trial timeout {}", ms(trial)));
        }
        let plural = if self.half_open_permits == 1 { "" } else { "s" };
        parts.push(format!(
            "{} permit{plural}, close after {}",
            self.half_open_permits, self.success_threshold
        ));
        parts.join(", ")
    }
}

fn ms(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// The stack, scaled: fallback → breaker → timeout → bulkhead → payments.
pub fn breakwater(
    recovery: &Recovery,
    scale: f64,
    http: PaymentsHttp,
    deferred: DeferredPayments,
) -> Result<Checkout, BoxError> {
    let s = |d: Duration| d.mul_f64(scale);
    let mut builder = CircuitBreaker::builder("payments")
        .consecutive_failures(CONSECUTIVE_FAILURES)
        .open_for(s(recovery.open_for))
        .half_open_permits(recovery.half_open_permits)
        .success_threshold(recovery.success_threshold);
    if let Some((factor, max)) = recovery.growth {
        builder = builder.open_for_growth(factor, s(max));
    }
    let breaker = builder.build()?;
    report_transitions(&breaker);
    let bulkhead = Bulkhead::builder("payments")
        .max_concurrent(MAX_CONCURRENT)
        .build()?;
    // Every failure defers: a timed-out payment may have been charged, and the order number
    // is the idempotency key that makes charging it again later safe.
    let fallback = Fallback::new(
        "payments",
        move |error: Error<BoxError, u64>, order: Option<u64>| {
            let deferred = deferred.clone();
            async move {
                let order = order.ok_or(error)?;
                deferred.defer(order).await.map_err(Error::Inner)?;
                Ok(Paid::Deferred)
            }
        },
    )
    .on(ErrorKind::Timeout)
    .on(ErrorKind::Inner)
    .copy_request();
    let stack = Resilience::builder("payments")
        .fallback(&fallback)
        .circuit_breaker(&breaker)
        .bulkhead(&bulkhead);
    let to_box = |e: Error<BoxError, u64>| BoxError::from(e.to_string());
    Ok(match recovery.trial_timeout {
        None => boxed(
            stack
                .timeout(s(TIMEOUT))
                .build()?
                .layer(http)
                .map_err(to_box),
        ),
        Some(trial) => {
            let timed = TrialTimeout {
                breaker: breaker.clone(),
                call: s(TIMEOUT),
                trial: s(trial),
                inner: http,
            };
            boxed(stack.build()?.layer(timed).map_err(to_box))
        }
    })
}

fn report_transitions(breaker: &CircuitBreaker) {
    let mut transitions = breaker.subscribe();
    tokio::spawn(async move {
        while let Ok(t) = transitions.recv().await {
            let ago = t.at.elapsed();
            crate::service_a::transition_at(&format!("{:?}", t.to), ago);
        }
    });
}

/// A timeout that is shorter for the breaker's half-open trials: a trial that hangs is
/// known to have failed sooner, so the next open period starts sooner.
#[derive(Clone)]
struct TrialTimeout<S> {
    breaker: CircuitBreaker,
    call: Duration,
    trial: Duration,
    inner: S,
}

impl<S> Service<u64> for TrialTimeout<S>
where
    S: Service<u64, Response = Paid, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = Paid;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Paid, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, order: u64) -> Self::Future {
        // The breaker admitted this call just now, so its state says whether it is a trial.
        let limit = if self.breaker.state() == State::HalfOpen {
            self.trial
        } else {
            self.call
        };
        let call = tokio::time::timeout(limit, self.inner.call(order));
        Box::pin(async move {
            call.await
                .map_err(|_| BoxError::from("payments timed out"))?
        })
    }
}
