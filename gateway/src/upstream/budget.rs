//! The retry budget of an upstream: retries are earned by requests, so that a failing cluster
//! is not hammered by retry storms.

use std::sync::atomic::{AtomicI64, Ordering};

/// Retries a budget starts with, earned per request, and holds at most (thousandths).
const BUDGET_START: i64 = 10_000;
const BUDGET_PER_REQUEST: i64 = 200;
const BUDGET_MAX: i64 = 10_000;

/// Ten retries to start with, then one per five requests, at most ten banked.
#[derive(Debug)]
pub struct RetryBudget {
    /// In thousandths of a retry.
    thousandths: AtomicI64,
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget {
            thousandths: AtomicI64::new(BUDGET_START),
        }
    }
}

impl RetryBudget {
    /// Credits the budget with one request.
    pub fn earn(&self) {
        let budget = self
            .thousandths
            .fetch_add(BUDGET_PER_REQUEST, Ordering::Relaxed);
        if budget + BUDGET_PER_REQUEST > BUDGET_MAX {
            self.thousandths
                .fetch_sub(BUDGET_PER_REQUEST, Ordering::Relaxed);
        }
    }

    /// Takes one retry from the budget, if it has one.
    pub fn allow(&self) -> bool {
        if self.thousandths.fetch_sub(1_000, Ordering::Relaxed) >= 1_000 {
            true
        } else {
            self.thousandths.fetch_add(1_000, Ordering::Relaxed);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_budget_allows_a_few_then_one_per_five_requests() {
        let budget = RetryBudget::default();
        assert!((0..10).all(|_| budget.allow()));
        assert!(!budget.allow(), "start budget spent");
        for _ in 0..5 {
            budget.earn();
        }
        assert!(budget.allow());
        assert!(!budget.allow());
    }
}
