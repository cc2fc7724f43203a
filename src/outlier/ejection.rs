//! Deciding: a streak that reaches its threshold ejects at once; the sweep, every
//! `interval`, ends ejections, lowers multipliers and runs the statistical rules. All of
//! it is off the healthy call path.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Weak;
use std::time::Duration;

use tokio::time::Instant;

use super::detector::Shared;
use super::endpoint::{EjectionReason, EndpointHealth};
use super::rules::{failure_percentage_outliers, success_rate_outliers, Interval};

impl Shared {
    /// A failure streak grew. Reaching a rule's threshold is one detection, ejected with the
    /// rule's enforcing chance. A rule enforced at 100 % that the cap refused asks again at
    /// each further failure of the streak.
    pub(crate) fn on_streak(&self, health: &EndpointHealth, server: u32, gateway: u32) {
        let c = &self.config;
        for (streak, rule, reason) in [
            (
                gateway,
                c.consecutive_gateway,
                EjectionReason::ConsecutiveGatewayFailure,
            ),
            (server, c.consecutive_5xx, EjectionReason::Consecutive5xx),
        ] {
            let ask =
                streak == rule.threshold || (streak > rule.threshold && rule.enforcing == 100);
            if ask && self.try_eject(health, reason, streak == rule.threshold) {
                return;
            }
        }
    }

    fn enforcing(&self, reason: EjectionReason) -> u8 {
        let c = &self.config;
        match reason {
            EjectionReason::Consecutive5xx => c.consecutive_5xx.enforcing,
            EjectionReason::ConsecutiveGatewayFailure => c.consecutive_gateway.enforcing,
            EjectionReason::SuccessRate => c.success_rate.enforcing,
            EjectionReason::FailurePercentage => c.failure_percentage.enforcing,
        }
    }

    /// Eject `health` for `reason` if it is in the pool, the rule is enforced (by chance,
    /// for an enforcing percentage below 100) and the cap allows one more.
    /// `detected`: a new detection (counted), rather than a refused one asking again.
    pub(crate) fn try_eject(
        &self,
        health: &EndpointHealth,
        reason: EjectionReason,
        detected: bool,
    ) -> bool {
        if health.is_ejected() || health.removed.load(Relaxed) {
            return false;
        }
        if detected {
            self.detections[reason.index()].fetch_add(1, Relaxed);
            let enforcing = self.enforcing(reason);
            if enforcing < 100 && fastrand::u8(0..100) >= enforcing {
                return false;
            }
        }
        if !self.reserve_ejection() {
            self.cap_refusals.fetch_add(1, Relaxed);
            return false;
        }
        let times = health.multiplier.load(Relaxed).saturating_add(1);
        let c = &self.config;
        let time = c
            .base_ejection_time
            .saturating_mul(times)
            .min(c.max_ejection_time);
        let until = self.now_ms() + u64::try_from(time.as_millis()).unwrap_or(u64::MAX / 4);
        if health
            .ejected_until
            .compare_exchange(0, until + 1, Relaxed, Relaxed)
            .is_err()
        {
            self.ejected.fetch_sub(1, Relaxed);
            return false;
        }
        // No more growth once base × times reaches the longest ejection.
        if c.base_ejection_time.saturating_mul(times - 1) < c.max_ejection_time {
            health.multiplier.store(times, Relaxed);
        }
        health.in_pool_since_sweep.store(false, Relaxed);
        health.reset_streaks();
        self.ejections[reason.index()].fetch_add(1, Relaxed);
        tracing::info!(
            pool = self.config.name.as_str(),
            endpoint = &*health.label,
            reason = reason.as_str(),
            ejected_for_ms = time.as_millis() as u64,
            "outlier ejected"
        );
        self.update_panic();
        true
    }

    /// One more ejection, if `(ejected + 1) / total` stays within `max_ejection_percent`, or
    /// if none is ejected (Envoy lets one host be ejected whatever the percentage).
    fn reserve_ejection(&self) -> bool {
        let percent = self.config.max_ejection_percent as usize;
        self.ejected
            .fetch_update(Relaxed, Relaxed, |ejected| {
                let total = self.total.load(Relaxed);
                let allowed = ejected == 0 || (ejected + 1) * 100 <= percent * total;
                allowed.then_some(ejected + 1)
            })
            .is_ok()
    }

    pub(crate) fn update_panic(&self) {
        let min = usize::from(self.config.min_health_percent);
        let total = self.total.load(Relaxed);
        let healthy = total.saturating_sub(self.ejected.load(Relaxed));
        let panic = min > 0 && total > 0 && healthy * 100 < min * total;
        if self.panicking.swap(panic, Relaxed) != panic {
            tracing::warn!(
                pool = self.config.name.as_str(),
                healthy,
                total,
                panic,
                "outlier panic threshold crossed"
            );
            if panic {
                // Ejected gates wait for a wake-up: they may now pass.
                for m in self.members() {
                    m.health.wake_all();
                }
            }
        }
    }

    /// An endpoint leaves (its membership is being dropped). Its registry entry, now a
    /// dead weak reference, is pruned by the next sweep or registration: O(1) here, so
    /// dropping a pool of n endpoints costs O(n), not O(n²).
    pub(crate) fn remove(&self, health: &EndpointHealth) {
        health.removed.store(true, Relaxed);
        self.total.fetch_sub(1, Relaxed);
        if health.ejected_until.swap(0, Relaxed) != 0 {
            self.ejected.fetch_sub(1, Relaxed);
        }
        self.update_panic();
    }

    /// Envoy's interval: end the ejections whose time is over, lower the multiplier of
    /// endpoints that stayed in the pool for the whole interval, then run the statistical
    /// rules over the interval's counts (and start new counts).
    pub(crate) fn sweep(&self) {
        let now = self.observe(Instant::now());
        self.registry.lock().retain(|m| m.strong_count() > 0);
        let members = self.members();
        let endpoints: Vec<&EndpointHealth> = members.iter().map(|m| &m.health).collect();
        let mut intervals = Vec::with_capacity(endpoints.len());
        for e in endpoints.iter().copied() {
            let until = e.ejected_until.load(Relaxed);
            if until != 0 && now >= until - 1 {
                if e.ejected_until
                    .compare_exchange(until, 0, Relaxed, Relaxed)
                    .is_ok()
                {
                    self.ejected.fetch_sub(1, Relaxed);
                    tracing::info!(
                        pool = self.config.name.as_str(),
                        endpoint = &*e.label,
                        "outlier back in the pool"
                    );
                    e.wake_all();
                }
            } else if until == 0 && e.in_pool_since_sweep.load(Relaxed) {
                let m = e.multiplier.load(Relaxed);
                if m > 0 {
                    e.multiplier.store(m - 1, Relaxed);
                }
            }
            let (successes, failures) = e.take_counts();
            intervals.push(Interval {
                successes,
                failures,
                in_pool: !e.is_ejected(),
            });
        }
        self.update_panic();
        let c = &self.config;
        for i in success_rate_outliers(&c.success_rate, &intervals) {
            self.try_eject(endpoints[i], EjectionReason::SuccessRate, true);
        }
        for i in failure_percentage_outliers(&c.failure_percentage, &intervals) {
            self.try_eject(endpoints[i], EjectionReason::FailurePercentage, true);
        }
        for e in endpoints.iter().copied() {
            if !e.is_ejected() {
                e.in_pool_since_sweep.store(true, Relaxed);
            }
        }
    }
}

pub(crate) async fn sweep_every(shared: Weak<Shared>, interval: Duration) {
    let start = Instant::now() + interval;
    let mut ticks = tokio::time::interval_at(start, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match shared.upgrade() {
            Some(shared) => shared.sweep(),
            None => return,
        }
    }
}
