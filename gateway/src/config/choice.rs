//! Weighted choice among a route's backends: each chosen in proportion to its weight over many
//! requests, without a lock or a random draw.
//!
//! Request `n` takes the point `frac(n * φ)` of the weight line (a Weyl sequence: the golden
//! ratio's multiples spread evenly), so over any `N` consecutive requests every backend's
//! share is within a few requests of `N * weight / total` — fairer than a random draw — and
//! neighbouring requests do not go to the same backend in bursts, as a plain counter modulo
//! the total would send them.

use std::sync::atomic::{AtomicU64, Ordering};

/// 2^64 / φ, the Weyl sequence's step.
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// Picks an index into a list of weights.
#[derive(Debug)]
pub struct WeightedChoice {
    /// The running sum of the weights, one per backend.
    cumulative: Box<[u64]>,
    counter: AtomicU64,
}

impl WeightedChoice {
    pub fn new(weights: impl IntoIterator<Item = u32>) -> Self {
        let mut sum = 0u64;
        let cumulative = weights
            .into_iter()
            .map(|w| {
                sum += u64::from(w);
                sum
            })
            .collect();
        WeightedChoice {
            cumulative,
            counter: AtomicU64::new(0),
        }
    }

    /// The index of the next request's choice; `None` when every weight is 0.
    #[inline]
    pub fn pick(&self) -> Option<usize> {
        let total = *self.cumulative.last()?;
        if total == 0 {
            return None;
        }
        if self.cumulative.len() == 1 {
            return Some(0);
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let point = n.wrapping_mul(GOLDEN);
        // Scaled to [0, total): the high half of point * total.
        let at = ((u128::from(point) * u128::from(total)) >> 64) as u64;
        Some(self.cumulative.partition_point(|&c| c <= at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(weights: &[u32], requests: usize) -> Vec<usize> {
        let choice = WeightedChoice::new(weights.iter().copied());
        let mut counts = vec![0; weights.len()];
        for _ in 0..requests {
            counts[choice.pick().unwrap()] += 1;
        }
        counts
    }

    #[test]
    fn shares_follow_the_weights_within_a_few_requests() {
        // (weights, requests): every share within 0.5% of the requests of its exact share.
        let rows: [(&[u32], usize); 5] = [
            (&[1, 1], 1_000),
            (&[90, 10], 10_000),
            (&[1, 2, 3, 4], 10_000),
            (&[99, 1], 100_000),
            (&[1, 1_000_000], 100_000),
        ];
        for (weights, requests) in rows {
            let total: u32 = weights.iter().sum();
            for (i, got) in shares(weights, requests).into_iter().enumerate() {
                let exact = requests as f64 * f64::from(weights[i]) / f64::from(total);
                let off = (got as f64 - exact).abs();
                assert!(
                    off <= requests as f64 * 0.005 + 2.0,
                    "{weights:?} over {requests}: backend {i} got {got}, exactly {exact}"
                );
            }
        }
    }

    #[test]
    fn zero_weights_get_nothing_and_all_zero_means_no_backend() {
        assert_eq!(shares(&[0, 5, 0], 1_000), vec![0, 1_000, 0]);
        assert_eq!(WeightedChoice::new([0, 0]).pick(), None);
        assert_eq!(WeightedChoice::new([]).pick(), None);
        assert_eq!(WeightedChoice::new([7]).pick(), Some(0));
    }

    #[test]
    fn neighbouring_requests_alternate_rather_than_burst() {
        // A counter modulo 100 would send 50 requests in a row to each of two equal backends.
        let choice = WeightedChoice::new([50, 50]);
        let picks: Vec<usize> = (0..100).map(|_| choice.pick().unwrap()).collect();
        let longest_run = picks
            .chunk_by(|a, b| a == b)
            .map(<[usize]>::len)
            .max()
            .unwrap();
        assert!(longest_run <= 3, "{picks:?}");
    }
}
