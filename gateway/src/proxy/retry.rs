//! Retry decisions: when a failed attempt goes to another endpoint, by the route's
//! [`Retry`] policy (ingress-nginx's `proxy-next-upstream`, `-tries`, `-timeout`).
//!
//! | failure | retried when its token is in the policy and |
//! |---|---|
//! | connecting (`error`, or `timeout` when it timed out): nothing was sent | any method |
//! | after the request was (partly) sent: the connection broke (`error`), the response header did not come in time (`timeout`), or was not HTTP (`invalid_header`) | the body is still whole in Pingora's retry buffer, and the method is idempotent or the policy has `non_idempotent` |
//! | the endpoint answered `500`, `502`, `503`, `504`, `403`, `404` or `429` (`http_NNN`), before anything went to the client | as after sending |
//!
//! and in every case: nothing of the response went to the client yet, the leg has made fewer
//! attempts than the policy's `tries` (0: no limit), than [`MAX_ATTEMPTS`] and than the upstream
//! has endpoints, the policy's `timeout` since the leg's first attempt has not passed, and the
//! upstream's retry budget allows (asked last, as asking spends a retry). Failing that, an
//! idempotent request whose body is whole is left to Pingora, which retries it only when a
//! reused pooled connection turned out to be closed.
//!
//! Every retry goes to an endpoint this request has not tried (`upstream::Upstream::select`).

use std::time::Duration;

use pingora::{Error, ErrorSource, ErrorType};
use pingress_model::{Retry, RetryOn};

/// Most attempts one leg of a request makes (the first plus retries of every kind); the legs
/// of a request (its backend, a default backend, an error page) stay within Pingora's 16.
pub(super) const MAX_ATTEMPTS: usize = 1 + pingress_model::MAX_RETRIES as usize;

/// How an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// Connecting failed (`timeout`: it timed out); nothing was sent.
    Connect { timeout: bool },
    /// After the request was (partly) sent, before a response header was accepted.
    Sent(Kind),
    /// The endpoint answered this status.
    Status(u16),
    /// Not the endpoint's doing (the client went away, a limit of the gateway): Pingora's call.
    Other,
}

/// What went wrong once the request was sent: ingress-nginx's token for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `error`: reset, closed, refused to read or write.
    Error,
    /// `timeout`: no response header in time, or the request could not be written in time.
    Timeout,
    /// `invalid_header`: the endpoint's answer was not an HTTP response header.
    InvalidHeader,
}

impl Failure {
    /// A connection failure reported to `fail_to_connect`.
    pub(super) fn connect(e: &Error) -> Self {
        Failure::Connect {
            timeout: *e.etype() == ErrorType::ConnectTimedout,
        }
    }

    /// An error reported to `error_while_proxy` (the connection was established).
    pub(super) fn sent(e: &Error) -> Self {
        use ErrorType::*;
        if *e.esource() != ErrorSource::Upstream {
            return Failure::Other;
        }
        match e.etype() {
            ReadTimedout | WriteTimedout | ConnectTimedout => Failure::Sent(Kind::Timeout),
            InvalidHTTPHeader | H1Error => Failure::Sent(Kind::InvalidHeader),
            HTTPStatus(_) => Failure::Other,
            _ => Failure::Sent(Kind::Error),
        }
    }

    /// Whether a token of `on` makes this failure retryable.
    fn token_matches(self, on: RetryOn) -> bool {
        match self {
            Failure::Connect { timeout: false } | Failure::Sent(Kind::Error) => {
                on.contains(RetryOn::ERROR)
            }
            Failure::Connect { timeout: true } | Failure::Sent(Kind::Timeout) => {
                on.contains(RetryOn::TIMEOUT)
            }
            Failure::Sent(Kind::InvalidHeader) => on.contains(RetryOn::INVALID_HEADER),
            Failure::Status(status) => on.status(status),
            Failure::Other => false,
        }
    }
}

/// What is known of a failed attempt.
#[derive(Debug, Clone, Copy)]
pub(super) struct Attempt {
    pub failure: Failure,
    /// The method is idempotent (`GET`, `HEAD`, `PUT`, `DELETE`, `OPTIONS`, `TRACE`).
    pub idempotent: bool,
    /// The request body is still whole in Pingora's retry buffer.
    pub replayable: bool,
    /// The response header already went to the client.
    pub responded: bool,
    /// Attempts of this leg so far, the failed one included.
    pub attempts: usize,
    /// Endpoints of the leg's upstream.
    pub endpoints: usize,
    /// Since the leg's first attempt was started.
    pub elapsed: Duration,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// Try another endpoint.
    Retry,
    /// Do not: the error (or the response) stands.
    Fail,
    /// Leave it to Pingora: retry only if a reused pooled connection turned out to be closed.
    AsPingora,
}

/// Whether the failed `attempt` is tried again under `policy`; `budget` is asked last.
pub(super) fn decide(policy: &Retry, attempt: &Attempt, budget: impl FnOnce() -> bool) -> Decision {
    let a = attempt;
    if a.responded {
        return Decision::Fail;
    }
    if a.failure == Failure::Other {
        return Decision::AsPingora;
    }
    let sent = !matches!(a.failure, Failure::Connect { .. });
    let safe =
        !sent || a.replayable && (a.idempotent || policy.on.contains(RetryOn::NON_IDEMPOTENT));
    let within = (policy.tries == 0 || a.attempts < policy.tries as usize)
        && a.attempts < MAX_ATTEMPTS
        && a.attempts < a.endpoints
        && policy.timeout.is_none_or(|limit| a.elapsed < limit);
    if a.failure.token_matches(policy.on) && safe && within && budget() {
        Decision::Retry
    } else if matches!(a.failure, Failure::Sent(_)) && a.idempotent && a.replayable {
        Decision::AsPingora
    } else {
        Decision::Fail
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::{AsPingora, Fail};
    use Failure::*;

    /// A GET, first attempt, three endpoints, no time spent.
    fn get(failure: Failure) -> Attempt {
        Attempt {
            failure,
            idempotent: true,
            replayable: true,
            responded: false,
            attempts: 1,
            endpoints: 3,
            elapsed: Duration::ZERO,
        }
    }

    fn post(failure: Failure) -> Attempt {
        Attempt {
            idempotent: false,
            ..get(failure)
        }
    }

    fn policy(tokens: &str, tries: u32, timeout: Option<u64>) -> Retry {
        let on = tokens
            .split_whitespace()
            .filter(|t| *t != "off")
            .map(|t| RetryOn::token(t).unwrap())
            .fold(RetryOn::off(), RetryOn::with);
        Retry {
            on,
            tries,
            timeout: timeout.map(Duration::from_secs),
        }
    }

    #[test]
    fn retries_follow_the_policy_tokens() {
        let default = Retry::default();
        let refused = Connect { timeout: false };
        let connect_timeout = Connect { timeout: true };
        let broken = Sent(Kind::Error);
        let slow = Sent(Kind::Timeout);
        let garbage = Sent(Kind::InvalidHeader);
        // (what — source, policy, attempt, decision)
        #[rustfmt::skip]
        let rows: Vec<(&str, Retry, Attempt, Decision)> = vec![
            ("default `error timeout`: a refused connection (nginx proxy_next_upstream)", default, get(refused), Decision::Retry),
            ("default: a connect timeout", default, get(connect_timeout), Decision::Retry),
            ("default: a POST that was never sent (error, before sending)", default, post(refused), Decision::Retry),
            ("default: a GET whose connection broke after sending", default, get(broken), Decision::Retry),
            ("default: a GET without a response header in time", default, get(slow), Decision::Retry),
            ("default: a POST that was sent is not retried (no non_idempotent)", default, post(broken), Fail),
            ("default: invalid_header is not in the default", default, get(garbage), AsPingora),
            ("default: statuses are not retried", default, get(Status(502)), Fail),
            ("`error timeout invalid_header`: garbage", policy("error timeout invalid_header", 3, None), get(garbage), Decision::Retry),
            ("`timeout http_502` (e2e settings/proxy_next_upstream.go): a 502", policy("timeout http_502", 3, None), get(Status(502)), Decision::Retry),
            ("`timeout http_502`: a 503 is passed on", policy("timeout http_502", 3, None), get(Status(503)), Fail),
            ("`timeout http_502`: a refused connection is not `error`", policy("timeout http_502", 3, None), get(refused), Fail),
            ("`http_500`: a POST's 500 is not retried", policy("http_500", 3, None), post(Status(500)), Fail),
            ("`http_500 non_idempotent`: a POST's 500 is", policy("http_500 non_idempotent", 3, None), post(Status(500)), Decision::Retry),
            ("`error non_idempotent`: a sent POST", policy("error non_idempotent", 3, None), post(broken), Decision::Retry),
            ("`http_404`, `http_429`, `http_403`", policy("http_404 http_429 http_403", 3, None), get(Status(429)), Decision::Retry),
            ("`off`: not even a refused connection", policy("off", 3, None), get(refused), Fail),
            ("`off`: a broken GET is left to Pingora", policy("off", 3, None), get(broken), AsPingora),
            ("not the endpoint's doing", default, get(Other), AsPingora),
        ];
        for (what, policy, attempt, decision) in rows {
            assert_eq!(decide(&policy, &attempt, || true), decision, "{what}");
        }
    }

    #[test]
    fn retries_stop_at_the_tries_the_endpoints_the_timeout_and_the_budget() {
        let default = Retry::default();
        let broken = Sent(Kind::Error);
        let at = |attempts: usize, endpoints: usize| Attempt {
            attempts,
            endpoints,
            ..get(broken)
        };
        // (what, policy, attempt, budget, decision)
        #[rustfmt::skip]
        let rows: Vec<(&str, Retry, Attempt, bool, Decision)> = vec![
            ("second of 3 tries", default, at(2, 5), true, Decision::Retry),
            ("3 tries made", default, at(3, 5), true, AsPingora),
            ("every endpoint tried (never the same twice)", default, at(2, 2), true, AsPingora),
            ("tries 0: as many as the endpoints", policy("error", 0, None), at(4, 5), true, Decision::Retry),
            ("tries 0: but never more than MAX_ATTEMPTS", policy("error", 0, None), at(MAX_ATTEMPTS, 10), true, AsPingora),
            ("tries 888888 (e2e proxy.go) is bounded the same", policy("error", 888_888, None), at(MAX_ATTEMPTS, 10), true, AsPingora),
            ("tries 1: no retry", policy("error", 1, None), at(1, 5), true, AsPingora),
            ("budget spent", default, at(1, 5), false, AsPingora),
            ("a refused connection with the budget spent", default, Attempt { attempts: 1, ..get(Connect { timeout: false }) }, false, Fail),
            ("timeout passed", policy("error", 3, Some(2)), Attempt { elapsed: Duration::from_secs(2), ..get(broken) }, true, AsPingora),
            ("timeout not yet passed", policy("error", 3, Some(2)), Attempt { elapsed: Duration::from_secs(1), ..get(broken) }, true, Decision::Retry),
            ("the response already went to the client", default, Attempt { responded: true, ..get(broken) }, true, Fail),
            ("a body no longer buffered", default, Attempt { replayable: false, ..get(broken) }, true, Fail),
            ("a body no longer buffered, never sent", default, Attempt { replayable: false, ..get(Connect { timeout: false }) }, true, Decision::Retry),
        ];
        for (what, policy, attempt, budget, decision) in rows {
            assert_eq!(decide(&policy, &attempt, || budget), decision, "{what}");
        }
    }

    #[test]
    fn the_budget_is_only_asked_when_everything_else_allows() {
        let asked = std::cell::Cell::new(0);
        let budget = || {
            asked.set(asked.get() + 1);
            true
        };
        let default = Retry::default();
        decide(
            &default,
            &Attempt {
                attempts: 3,
                ..get(Sent(Kind::Error))
            },
            budget,
        );
        decide(&default, &post(Sent(Kind::Error)), budget);
        decide(&default, &get(Status(502)), budget);
        decide(
            &default,
            &Attempt {
                responded: true,
                ..get(Sent(Kind::Error))
            },
            budget,
        );
        assert_eq!(asked.get(), 0, "asking spends a retry");
    }

    #[test]
    fn errors_are_classified_by_the_token_that_retries_them() {
        let up = |etype| Error::new_up(etype);
        // (error, failure)
        let rows: [(Box<Error>, Failure); 6] = [
            (up(ErrorType::ReadTimedout), Sent(Kind::Timeout)),
            (up(ErrorType::ConnectionClosed), Sent(Kind::Error)),
            (up(ErrorType::ReadError), Sent(Kind::Error)),
            (up(ErrorType::InvalidHTTPHeader), Sent(Kind::InvalidHeader)),
            (Error::new_down(ErrorType::ReadTimedout), Other),
            (Error::new(ErrorType::HTTPStatus(413)), Other),
        ];
        for (error, failure) in rows {
            assert_eq!(Failure::sent(&error), failure, "{error}");
        }
        assert_eq!(
            Failure::connect(&up(ErrorType::ConnectTimedout)),
            Connect { timeout: true }
        );
        assert_eq!(
            Failure::connect(&up(ErrorType::ConnectRefused)),
            Connect { timeout: false }
        );
    }
}
