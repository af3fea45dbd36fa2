//! The regular expressions of a route table: `Regex` path matches and the `Regex` values of
//! conditions, all compiled by one builder with one set of limits, so that what the
//! translation validates with [`compile_path_regex`] is exactly what the gateway runs.
//!
//! The engine is the `regex` crate (finite automata, no backtracking: a match takes time
//! linear in the input whatever the pattern), on bytes, with Unicode off: `.` is any byte but
//! `\n`, `\d`, `\w` and `\s` are ASCII classes, and case-insensitive matching folds ASCII
//! letters only. That is what nginx's PCRE does without its UTF mode, which ingress-nginx
//! does not turn on; and header and cookie values need not be UTF-8.
//!
//! A path regex is anchored at the start of the path only (nginx's `~`, `~*` with
//! `case_insensitive`): `^/api/v[0-9]+` matches `/api/v2/users`; add `$` for a whole-path
//! match. A condition's regex may match anywhere in the value.
//!
//! The regex routes of one virtual host are compiled together into one [`RegexSet`]: a lookup
//! runs one automaton over the path, not one per route. Measured with 100 patterns
//! `^/team{i}/service/v[0-9]+/` on one host: a path only the last one matches costs 0.19 µs
//! (`is_match`, then `matches`) against 3.7 µs for trying each `Regex` in turn, a path none
//! matches 7.5 ns against 0.7 µs (the set's automaton stops at the first byte no pattern
//! allows); only a path the first pattern matches is faster in turn (50 ns against 0.13 µs).

use pingress_model::RegexPath;
use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

/// Most heap a compiled pattern may take, in bytes (the `regex` crate's `size_limit`): far
/// more than any path or header pattern needs (`^/api/v[0-9]+/users/[^/]+$` takes a few KiB),
/// far less than a counted repetition that blows up (`(\w{100}){100}`) would.
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// Most memory the lazily built automaton of one compiled pattern may cache, per thread, in
/// bytes (the `regex` crate's `dfa_size_limit`). Past it the engine falls back to a slower
/// one, still linear in the input.
pub const REGEX_DFA_SIZE_LIMIT: usize = 1024 * 1024;

/// The cache limit of a virtual host's [`RegexSet`] (per thread), however many patterns it
/// holds: [`REGEX_DFA_SIZE_LIMIT`] per pattern up to this.
const SET_DFA_SIZE_LIMIT: usize = 8 * 1024 * 1024;

/// Compiles a `Regex` path match as the route table does: anchored at the start of the path,
/// case-insensitive for `case_insensitive`, with the table's limits. The translation uses it to
/// refuse a pattern the gateway would leave out.
///
/// A pattern that would close the anchoring group (`a)|(b`) is refused: it is parsed on its
/// own first.
pub fn compile_path_regex(path: &RegexPath) -> Result<Regex, regex::Error> {
    let anchored = anchored(path)?;
    let mut builder = RegexBuilder::new(&anchored);
    builder
        .unicode(false)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_SIZE_LIMIT);
    builder.build()
}

/// Compiles a condition's `Regex` value: unanchored, with the table's limits.
pub(crate) fn compile_value_regex(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_SIZE_LIMIT)
        .build()
}

/// The pattern as the engine sees it: `^(?:pattern)`, or `^(?i:pattern)`. Textual, so that a
/// virtual host's patterns can share one [`RegexSet`] with per-pattern case folding.
fn anchored(path: &RegexPath) -> Result<String, regex::Error> {
    // Alone, `a)|(b` does not parse; wrapped, it would, and match `b` anywhere.
    regex_syntax::ast::parse::Parser::new()
        .parse(&path.pattern)
        .map_err(|e| regex::Error::Syntax(e.to_string()))?;
    let flags = if path.case_insensitive { "i" } else { "" };
    Ok(format!("^(?{flags}:{})", path.pattern))
}

/// The regex routes of one virtual host, in Snapshot order, as one [`RegexSet`].
#[derive(Debug)]
pub(crate) struct PathRegexes {
    set: RegexSet,
    /// Per pattern of the set: the route (an index into the table's routes) and whether it
    /// carries conditions, so that one without need not be loaded.
    routes: Box<[(u32, bool)]>,
}

impl PathRegexes {
    /// Compiles the patterns, each `(regex path, route, has conditions)`; every one of them
    /// compiled alone with [`compile_path_regex`]. `None` when the set as a whole exceeds its
    /// limits, which the per-pattern limits leave room for.
    pub(crate) fn new(patterns: &[(&RegexPath, u32, bool)]) -> Option<Self> {
        let sources = patterns
            .iter()
            .map(|(path, _, _)| anchored(path))
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        let n = patterns.len();
        let set = RegexSetBuilder::new(sources)
            .unicode(false)
            .size_limit(REGEX_SIZE_LIMIT.saturating_mul(n + 1))
            .dfa_size_limit(
                REGEX_DFA_SIZE_LIMIT
                    .saturating_mul(n)
                    .min(SET_DFA_SIZE_LIMIT),
            )
            .build()
            .ok()?;
        let routes = patterns.iter().map(|&(_, route, c)| (route, c)).collect();
        Some(PathRegexes { set, routes })
    }

    /// The first route whose pattern matches `path` and for which `holds(route, has
    /// conditions)` is true.
    #[inline]
    pub(crate) fn first(&self, path: &str, holds: impl Fn(u32, bool) -> bool) -> Option<u32> {
        let path = path.as_bytes();
        // `is_match` stops at the first byte no pattern allows; `matches` runs every pattern
        // to its end and allocates its answer, so it is only asked once something matches.
        if !self.set.is_match(path) {
            return None;
        }
        self.set
            .matches(path)
            .iter()
            .map(|i| self.routes[i])
            .find(|&(route, conditional)| holds(route, conditional))
            .map(|(route, _)| route)
    }
}
