//! Retry decisions: when a failed attempt goes to another endpoint.
//!
//! | failure | retried when |
//! |---|---|
//! | connecting (nothing was sent) | any method, while attempts last, another endpoint is left, and the retry budget allows |
//! | after the request was (partly) sent | idempotent requests whose body is still replayable, when the route's `retries` allow it and the budget does; otherwise only as Pingora would (a reused pooled connection that turned out closed) |
//!
//! Every retry goes to an endpoint this request has not tried (`upstream::Upstream::select`).

/// Most attempts one request makes (the first plus retries of every kind).
pub(super) const MAX_ATTEMPTS: usize = 1 + pingress_model::MAX_RETRIES as usize;

/// After a connection failure: retry while attempts last, another endpoint is left to try
/// and `budget` (asked last, as asking spends a retry) allows.
pub(super) fn after_connect_failure(
    attempts: usize,
    endpoints: usize,
    budget: impl FnOnce() -> bool,
) -> bool {
    attempts < MAX_ATTEMPTS && attempts < endpoints && budget()
}

/// What to do with an error after the request was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AfterError {
    Retry,
    Fail,
    /// Leave it to Pingora: retry only if a reused pooled connection turned out to be closed.
    AsPingora,
}

/// After a failure once the request was (partly) sent. `replayable`: the method is
/// idempotent and the request body is still whole in Pingora's retry buffer; `routed`: the
/// request has an upstream at all; `retries`: what the route allows; `budget` is asked last.
pub(super) fn after_error(
    replayable: bool,
    routed: bool,
    attempts: usize,
    retries: u8,
    budget: impl FnOnce() -> bool,
) -> AfterError {
    if !replayable || !routed {
        return AfterError::Fail;
    }
    let allowed = attempts <= usize::from(retries) && attempts < MAX_ATTEMPTS;
    if allowed && budget() {
        AfterError::Retry
    } else {
        AfterError::AsPingora
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_failures_retry_while_attempts_endpoints_and_budget_last() {
        // (what, attempts so far, endpoints, budget, retried)
        let rows = [
            ("first failure, three endpoints", 1, 3, true, true),
            ("every endpoint tried", 3, 3, true, false),
            ("budget spent", 1, 3, false, false),
            ("attempts exhausted", MAX_ATTEMPTS, 10, true, false),
            ("one attempt left", MAX_ATTEMPTS - 1, 10, true, true),
        ];
        for (what, attempts, endpoints, budget, retried) in rows {
            assert_eq!(
                after_connect_failure(attempts, endpoints, || budget),
                retried,
                "{what}"
            );
        }
    }

    #[test]
    fn errors_after_sending_retry_only_replayable_requests_the_route_allows() {
        use AfterError::*;
        // (what, replayable, routed, attempts, route retries, budget, decision)
        let rows = [
            (
                "POST, or a body no longer buffered",
                false,
                true,
                1,
                3,
                true,
                Fail,
            ),
            ("no upstream", true, false, 1, 3, true, Fail),
            ("GET, retries allowed", true, true, 1, 3, true, Retry),
            ("GET, retries used up", true, true, 4, 3, true, AsPingora),
            (
                "GET, no retries on the route",
                true,
                true,
                1,
                0,
                true,
                AsPingora,
            ),
            ("GET, budget spent", true, true, 1, 3, false, AsPingora),
            (
                "GET, attempts exhausted",
                true,
                true,
                MAX_ATTEMPTS,
                5,
                true,
                AsPingora,
            ),
        ];
        for (what, replayable, routed, attempts, retries, budget, decision) in rows {
            let got = after_error(replayable, routed, attempts, retries, || budget);
            assert_eq!(got, decision, "{what}");
        }
    }

    #[test]
    fn the_budget_is_only_asked_when_everything_else_allows() {
        let asked = std::cell::Cell::new(0);
        let budget = || {
            asked.set(asked.get() + 1);
            true
        };
        after_connect_failure(3, 3, budget);
        after_error(false, true, 1, 3, budget);
        after_error(true, true, 4, 3, budget);
        assert_eq!(asked.get(), 0, "asking spends a retry");
    }
}
