//! A cap on the series of a label whose values come from outside (keys of a keyed breaker,
//! endpoints of a pool): at most `max` values get a series of their own, every other one is
//! folded into the value [`OTHER`].
//!
//! # Rules
//! - Each member (a key, an endpoint) is known by its label text and a *life* id, unique
//!   per life (a key evicted and made again is a new life).
//! - A life keeps its answer for as long as it lives: once given its own series it keeps
//!   it; once folded into `other` it stays there. So no counter moves from one series to
//!   another while its member lives (a move would look like a counter reset to Prometheus).
//! - A series freed by a dead member goes to the next new life that asks; lives already
//!   folded are not moved out.
//! - Two live members whose labels are the same text (labels are cut short, keys may
//!   collide) never share a series: the one that had it keeps it, the other is folded.
//!   A member whose label *is* `other` is folded too.
//!
//! Memory: one entry per live member, forgotten when it dies.

use std::collections::HashMap;

/// The label value every member past the cap is folded into.
pub(crate) const OTHER: &str = "other";

#[derive(Debug, Default)]
pub(crate) struct SeriesCap {
    max: usize,
    /// Labels with a series of their own: the life holding it and the last scrape that saw it.
    own: HashMap<String, Held>,
    /// Lives folded into `other`, with the last scrape that saw them.
    folded: HashMap<u64, u64>,
    scrape: u64,
}

#[derive(Debug)]
struct Held {
    life: u64,
    seen: u64,
}

impl SeriesCap {
    pub(crate) fn new(max: usize) -> Self {
        SeriesCap {
            max,
            ..SeriesCap::default()
        }
    }

    /// Decide, for one scrape, which of the `live` members (label, life) have a series of
    /// their own: `true` at the same index if so, `false` if folded into [`OTHER`].
    /// Members not in `live` are forgotten.
    pub(crate) fn assign(&mut self, live: &[(String, u64)]) -> Vec<bool> {
        self.scrape += 1;
        let scrape = self.scrape;
        let mut answer: Vec<Option<bool>> = vec![None; live.len()];
        // Known lives first, so that a new life can never take a live member's series.
        for (i, (label, life)) in live.iter().enumerate() {
            if let Some(seen) = self.folded.get_mut(life) {
                *seen = scrape;
                answer[i] = Some(false);
            } else if let Some(held) = self.own.get_mut(label.as_str()) {
                if held.life == *life {
                    held.seen = scrape;
                    answer[i] = Some(true);
                }
            }
        }
        self.own.retain(|_, held| held.seen == scrape);
        for (i, (label, life)) in live.iter().enumerate() {
            if answer[i].is_some() {
                continue;
            }
            let free = label != OTHER && !self.own.contains_key(label.as_str());
            if free && self.own.len() < self.max {
                self.own.insert(
                    label.clone(),
                    Held {
                        life: *life,
                        seen: scrape,
                    },
                );
                answer[i] = Some(true);
            } else {
                self.folded.insert(*life, scrape);
                answer[i] = Some(false);
            }
        }
        self.folded.retain(|_, seen| *seen == scrape);
        answer.into_iter().map(|a| a == Some(true)).collect()
    }

    /// Labels with a series of their own now (for tests and sizing).
    #[cfg(test)]
    fn own_len(&self) -> usize {
        self.own.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(members: &[(&str, u64)]) -> Vec<(String, u64)> {
        members.iter().map(|(l, id)| (l.to_string(), *id)).collect()
    }

    #[test]
    fn the_first_lives_up_to_the_cap_get_a_series_and_keep_it() {
        let mut cap = SeriesCap::new(2);
        assert_eq!(
            cap.assign(&live(&[("a", 1), ("b", 2), ("c", 3)])),
            [true, true, false]
        );
        // Order does not matter once decided.
        assert_eq!(
            cap.assign(&live(&[("c", 3), ("b", 2), ("a", 1)])),
            [false, true, true]
        );
    }

    #[test]
    fn a_folded_life_stays_folded_and_a_freed_series_goes_to_a_new_life() {
        let mut cap = SeriesCap::new(2);
        cap.assign(&live(&[("a", 1), ("b", 2), ("c", 3)]));
        // "a" died: its series is free, but "c" (folded) stays folded; "d" (new) gets it.
        assert_eq!(
            cap.assign(&live(&[("b", 2), ("c", 3), ("d", 4)])),
            [true, false, true]
        );
        assert_eq!(cap.own_len(), 2);
    }

    #[test]
    fn a_new_life_of_the_same_label_is_a_new_member() {
        let mut cap = SeriesCap::new(1);
        assert_eq!(cap.assign(&live(&[("a", 1)])), [true]);
        // Evicted and made again between two scrapes: it takes the free series again.
        assert_eq!(cap.assign(&live(&[("a", 7)])), [true]);
    }

    #[test]
    fn equal_labels_never_share_a_series_and_other_is_reserved() {
        let mut cap = SeriesCap::new(10);
        assert_eq!(
            cap.assign(&live(&[("x", 1), ("x", 2), (OTHER, 3)])),
            [true, false, false]
        );
        // The holder keeps it whatever the order.
        assert_eq!(cap.assign(&live(&[("x", 2), ("x", 1)])), [false, true]);
    }

    #[test]
    fn dead_members_are_forgotten() {
        let mut cap = SeriesCap::new(1);
        cap.assign(&live(&[("a", 1), ("b", 2)]));
        cap.assign(&[]);
        assert_eq!(cap.own_len(), 0);
        assert!(cap.folded.is_empty());
    }
}
