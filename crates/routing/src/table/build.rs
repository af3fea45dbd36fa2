//! How a [`Snapshot`] is laid out in a [`RouteTable`]: which routes make it in, their virtual
//! hosts' slots, each (virtual host, path) rule's slot and key record, its routes contiguous,
//! and each virtual host's regex set. Apart from [`super`], which is the lookup, so that what
//! a request runs reads in one place.

use std::collections::HashMap as StdHashMap;

/// The build's own maps: foldhash, as the table's (the keys are configuration).
type HashMap<K, V> = StdHashMap<K, V, foldhash::fast::RandomState>;

use pingress_model::{Condition, HostMatch, PathMatch, RegexPath, Route, Snapshot};

use super::{
    path_hash, rule_owner, Declared, Kind, Lengths, RouteTable, Target, Vhost, ANY_HOST_HASH,
    CONDITIONS, HAS_REGEXES, PREFETCH_SLOTS,
};
use crate::conditions::Conditions;
use crate::patterns::{compile_path_regex, PathRegexes};
use crate::slots::{hash_bytes, tag, Keys, Slot, Table};

/// One (virtual host, Exact or Prefix path) while the table is built: its path rule.
#[derive(Clone, Copy)]
struct Group<'s> {
    vhost: u32,
    vhost_hash: u64,
    kind: Kind,
    key: &'s str,
    /// Whether its first route carries conditions.
    conditional: bool,
    /// Its routes kept so far.
    len: usize,
}

/// What the build knows of a (virtual host, path match) so far, to leave out the routes that
/// could never win.
#[derive(Default)]
struct Claim<'s> {
    /// A route without conditions was kept: every later one is unreachable.
    closed: bool,
    /// The conditions of the routes kept: a later route with the same ones is unreachable.
    conditions: Vec<&'s [Condition]>,
    /// Its [`Group`], for an Exact or Prefix path.
    group: Option<usize>,
}

impl<T> RouteTable<T> {
    /// Compiles `snapshot`. `target` is called once per route that made it into the table,
    /// and once for the default backend.
    ///
    /// A route is left out (without calling `target`) when it could never win or cannot be
    /// compiled:
    ///
    /// - an earlier route of its virtual host has the same path match and no conditions, or
    ///   the same conditions (so the first of two identical routes wins, as the Snapshot
    ///   promises one route per path match and conditions, should it repeat one anyway);
    /// - its conditions or its path regex do not compile within the limits
    ///   ([`crate::compile_path_regex`], [`Conditions::compile`]): the translation validates
    ///   them with the same functions and never sends one. Should a virtual host's patterns,
    ///   each within its limits, exceed together those of their set (which leave room for
    ///   one more pattern), all its regex routes are left out.
    pub fn build(snapshot: &Snapshot, mut target: impl FnMut(Declared<'_>) -> T) -> Self {
        let count = |tier: fn(&HostMatch) -> bool| {
            snapshot
                .virtual_hosts
                .iter()
                .filter(|vh| tier(&vh.host))
                .count()
        };
        let rules: usize = snapshot
            .virtual_hosts
            .iter()
            .map(|vh| vh.routes.len())
            .sum();
        let exact_hosts = count(|h| matches!(h, HostMatch::Exact(_)));
        let wildcard_hosts = count(|h| matches!(h, HostMatch::Wildcard(_)));
        let mut table = RouteTable {
            state: foldhash::fast::RandomState::default(),
            exact: Table::with_capacity(exact_hosts),
            wildcard: Table::with_capacity(wildcard_hosts),
            any: None,
            paths: Table::with_capacity(rules),
            keys: Keys::default(),
            lengths: [Lengths::default(); 2],
            has_exact: exact_hosts > 0,
            has_wildcard: wildcard_hosts > 0,
            prefetch: false,
            hosts: Vec::new(),
            routes: Vec::new(),
            regexes: Vec::new(),
            default: None,
            len: 0,
        };
        // Virtual host index and hash by host match, for the repeats.
        let mut seen: HashMap<&HostMatch, (u32, u64)> = HashMap::default();
        let mut claims: HashMap<(u32, &PathMatch), Claim> = HashMap::default();
        let mut groups: Vec<Group> = Vec::new();
        // The routes of every group, by group index once sorted.
        let mut members: Vec<(usize, &Route, Conditions)> = Vec::new();
        // Regex routes by virtual host.
        let mut regex_routes: Vec<Vec<(&RegexPath, &Route, Conditions)>> = Vec::new();
        for vh in &snapshot.virtual_hosts {
            let (vhost, vhost_hash) = *seen
                .entry(&vh.host)
                .or_insert_with(|| table.add_host(&vh.host));
            regex_routes.resize_with(table.hosts.len(), Vec::new);
            for route in &vh.routes {
                let claim = claims.entry((vhost, &route.path)).or_default();
                if claim.closed || claim.conditions.contains(&route.conditions.as_slice()) {
                    continue;
                }
                let Ok(conditions) = Conditions::compile(&route.conditions) else {
                    continue;
                };
                match &route.path {
                    PathMatch::Regex(regex) => {
                        if compile_path_regex(regex).is_err() {
                            continue;
                        }
                        regex_routes[vhost as usize].push((regex, route, conditions));
                    }
                    PathMatch::Exact(key) | PathMatch::Prefix(key) => {
                        let kind = match route.path {
                            PathMatch::Exact(_) => Kind::Exact,
                            _ => Kind::Prefix,
                        };
                        let group = *claim.group.get_or_insert_with(|| {
                            groups.push(Group {
                                vhost,
                                vhost_hash,
                                kind,
                                key,
                                conditional: !conditions.is_empty(),
                                len: 0,
                            });
                            groups.len() - 1
                        });
                        groups[group].len += 1;
                        members.push((group, route, conditions));
                    }
                }
                if route.conditions.is_empty() {
                    claim.closed = true;
                } else {
                    claim.conditions.push(&route.conditions);
                }
            }
        }
        // Rule lengths by virtual host, written into the host slots at the end.
        let mut lengths = vec![[Lengths::default(); 2]; table.hosts.len()];
        // Stable: in Snapshot order within each group.
        members.sort_by_key(|&(group, _, _)| group);
        let mut members = members
            .into_iter()
            .map(|(_, route, conditions)| (route, conditions));
        for group in &groups {
            table.add_group(group, members.by_ref().take(group.len), &mut target);
            let (vhost, kind, len) = (group.vhost as usize, group.kind, group.key.len());
            lengths[vhost][kind as usize].add(len);
            table.lengths[kind as usize].add(len);
        }
        // `regexes[n - 1]` by virtual host; 0: none.
        let mut regex_lists = vec![0u32; table.hosts.len()];
        for (vhost, routes) in regex_routes.into_iter().enumerate() {
            if !routes.is_empty() && table.add_regexes(vhost as u32, routes, &mut target) {
                regex_lists[vhost] = table.regexes.len() as u32;
            }
        }
        for hosts in [&mut table.exact, &mut table.wildcard] {
            for slot in hosts.slots.iter_mut().filter(|slot| slot.tag != 0) {
                let vhost = slot.index as usize;
                slot.extra = lengths[vhost];
                if regex_lists[vhost] != 0 {
                    table.keys.set_tag(slot.key, regex_lists[vhost]);
                    slot.index |= HAS_REGEXES;
                }
            }
        }
        if let Some(any) = &mut table.any {
            any.lengths = lengths[any.index as usize];
            any.regexes = regex_lists[any.index as usize];
        }
        table.prefetch = table.paths.slots.len() > PREFETCH_SLOTS;
        table.default = snapshot
            .default_backend
            .as_ref()
            .map(|backend| target(Declared::Default(backend)));
        table.len += usize::from(table.default.is_some());
        table
    }

    /// Adds a virtual host (its host slot, or the host-less tier); returns its index and hash.
    fn add_host(&mut self, host: &HostMatch) -> (u32, u64) {
        let index = u32::try_from(self.hosts.len())
            .ok()
            .filter(|&i| i < 1 << 29)
            .expect("too many virtual hosts");
        self.hosts.push(host.clone());
        let (hosts, name) = match host {
            HostMatch::Exact(name) => (&mut self.exact, name),
            HostMatch::Wildcard(suffix) => (&mut self.wildcard, suffix),
            HostMatch::Any => {
                self.any = Some(Vhost {
                    index,
                    regexes: 0,
                    lengths: [Lengths::default(); 2],
                });
                return (index, ANY_HOST_HASH);
            }
        };
        let hash = hash_bytes(&self.state, name.as_bytes());
        let key = self.keys.push(0, name);
        let at = hosts.probe(hash, |_| false);
        hosts.slots[at] = Slot {
            tag: tag(hash),
            key,
            index,
            extra: [Lengths::default(); 2],
        };
        (index, hash)
    }

    /// Adds the path rule of an Exact or Prefix group and its routes (`group.len` of them, in
    /// order), contiguous.
    fn add_group<'s>(
        &mut self,
        group: &Group,
        mut routes: impl Iterator<Item = (&'s Route, Conditions)>,
        target: &mut impl FnMut(Declared<'_>) -> T,
    ) {
        let Group {
            vhost,
            vhost_hash,
            kind,
            key,
            conditional,
            len,
        } = *group;
        let hash = path_hash(vhost_hash, kind, self.hash(key.as_bytes()));
        // Each (virtual host, path match) has one group: the key is new.
        let at = self.paths.probe(hash, |_| false);
        let flags = if conditional { CONDITIONS } else { 0 };
        let (first, conditions) = routes.next().expect("a group has a route");
        let ssl = u32::from(first.ssl_redirect);
        let owner = rule_owner(vhost, kind);
        self.paths.slots[at] = Slot {
            tag: tag(hash),
            key: self.keys.push(flags | owner << 1 | ssl, key),
            index: u32::try_from(self.routes.len()).expect("too many routes"),
            extra: (),
        };
        self.push_route(vhost, first, conditions, len as u32, target);
        for (i, (route, conditions)) in routes.enumerate() {
            self.push_route(vhost, route, conditions, (len - 1 - i) as u32, target);
        }
    }

    /// Adds the regex routes of a virtual host; false when their set does not compile (then
    /// they are left out).
    fn add_regexes(
        &mut self,
        vhost: u32,
        routes: Vec<(&RegexPath, &Route, Conditions)>,
        target: &mut impl FnMut(Declared<'_>) -> T,
    ) -> bool {
        let first = self.routes.len();
        let patterns: Vec<_> = routes
            .iter()
            .enumerate()
            .map(|(i, (path, _, conditions))| {
                let route = u32::try_from(first + i).expect("too many routes");
                (*path, route, !conditions.is_empty())
            })
            .collect();
        let Some(regexes) = PathRegexes::new(&patterns) else {
            return false;
        };
        self.regexes.push(regexes);
        for (_, route, conditions) in routes {
            self.push_route(vhost, route, conditions, 1, target);
        }
        true
    }

    fn push_route(
        &mut self,
        vhost: u32,
        route: &Route,
        conditions: Conditions,
        group: u32,
        target: &mut impl FnMut(Declared<'_>) -> T,
    ) {
        let host = &self.hosts[vhost as usize];
        self.routes.push(Target {
            path: route.path.clone(),
            conditions,
            group,
            ssl_redirect: route.ssl_redirect,
            target: target(Declared::Route { host, route }),
        });
        self.len += 1;
    }
}
