//! The two statistical rules of a sweep, as pure functions over one interval's counts.

use super::config::Statistical;

/// One endpoint's interval, as the statistical rules see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Interval {
    pub(crate) successes: u32,
    pub(crate) failures: u32,
    /// Ejected endpoints take no part (Envoy's rule).
    pub(crate) in_pool: bool,
}

impl Interval {
    fn volume(&self) -> u64 {
        u64::from(self.successes) + u64::from(self.failures)
    }

    fn success_percent(&self) -> f64 {
        100.0 * f64::from(self.successes) / self.volume() as f64
    }
}

/// Success-rate ejection: the positions of the endpoints whose success rate (in percent)
/// is below mean − factor × σ (population σ) of the endpoints with at least
/// `request_volume` requests, if there are at least `minimum_hosts` of those.
pub(crate) fn success_rate_outliers(rule: &Statistical, hosts: &[Interval]) -> Vec<usize> {
    let valid: Vec<(usize, f64)> = hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| h.in_pool && h.volume() >= u64::from(rule.request_volume))
        .map(|(i, h)| (i, h.success_percent()))
        .collect();
    if valid.is_empty() || valid.len() < rule.minimum_hosts as usize {
        return Vec::new();
    }
    let n = valid.len() as f64;
    let mean = valid.iter().map(|(_, r)| r).sum::<f64>() / n;
    let variance = valid.iter().map(|(_, r)| (r - mean).powi(2)).sum::<f64>() / n;
    let threshold = mean - rule.threshold * variance.sqrt();
    valid
        .into_iter()
        .filter(|(_, rate)| *rate < threshold)
        .map(|(i, _)| i)
        .collect()
}

/// Failure-percentage ejection: the positions of the endpoints with at least
/// `request_volume` requests whose failures are at least `threshold` percent, if at least
/// `minimum_hosts` endpoints have that volume.
pub(crate) fn failure_percentage_outliers(rule: &Statistical, hosts: &[Interval]) -> Vec<usize> {
    let valid: Vec<(usize, &Interval)> = hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| h.in_pool && h.volume() >= u64::from(rule.request_volume))
        .collect();
    if valid.is_empty() || valid.len() < rule.minimum_hosts as usize {
        return Vec::new();
    }
    valid
        .into_iter()
        .filter(|(_, h)| 100.0 - h.success_percent() >= rule.threshold)
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(successes: u32, failures: u32) -> Interval {
        Interval {
            successes,
            failures,
            in_pool: true,
        }
    }

    fn rule(threshold: f64, minimum_hosts: u32, request_volume: u32) -> Statistical {
        Statistical {
            threshold,
            minimum_hosts,
            request_volume,
            enforcing: 100,
        }
    }

    #[test]
    fn success_rate_by_hand() {
        // Rates 100, 100, 100, 100, 100, 40 (%): mean 90, σ² = (5·10² + 50²)/6 = 500,
        // σ = 22.36, threshold = 90 − 1.9 × 22.36 = 47.5: only the 40 % host is below.
        let hosts = [
            host(100, 0),
            host(100, 0),
            host(100, 0),
            host(100, 0),
            host(100, 0),
            host(40, 60),
        ];
        assert_eq!(success_rate_outliers(&rule(1.9, 5, 100), &hosts), vec![5]);
        // With a factor of 2.5 the threshold is 34.1: nobody.
        assert!(success_rate_outliers(&rule(2.5, 5, 100), &hosts).is_empty());
    }

    #[test]
    fn success_rate_needs_volume_and_hosts() {
        // The bad host has 99 requests: below the volume, so only five count, all at
        // 100 %: σ = 0, threshold 100, nobody strictly below.
        let mut hosts = vec![host(100, 0); 5];
        hosts.push(host(0, 99));
        assert!(success_rate_outliers(&rule(1.9, 5, 100), &hosts).is_empty());
        // Four hosts with volume plus the bad one: 5 valid.
        let hosts = [
            host(100, 0),
            host(100, 0),
            host(100, 0),
            host(100, 0),
            host(0, 100),
        ];
        // mean 80, σ = 40, threshold 80 − 76 = 4: the 0 % host is ejected.
        assert_eq!(success_rate_outliers(&rule(1.9, 5, 100), &hosts), vec![4]);
        // Only 4 valid hosts when one is ejected: the rule does not run.
        let mut hosts = hosts;
        hosts[0].in_pool = false;
        assert!(success_rate_outliers(&rule(1.9, 5, 100), &hosts).is_empty());
    }

    #[test]
    fn failure_percentage_by_hand() {
        // 85 % failures is at the threshold (ejected), 84 % is not; 49 requests are too few.
        let hosts = [
            host(50, 0),
            host(50, 0),
            host(15, 85),
            host(16, 84),
            host(50, 0),
            host(0, 49),
        ];
        assert_eq!(
            failure_percentage_outliers(&rule(85.0, 5, 50), &hosts),
            vec![2]
        );
        // Six hosts would be needed.
        assert!(failure_percentage_outliers(&rule(85.0, 6, 50), &hosts).is_empty());
    }
}
