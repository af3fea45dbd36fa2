//! The live slot: the generation being served, swapped atomically, and what happens to the
//! generations it replaces.
//!
//! Readers `load()` the current generation without locking; a config update `store()`s a new
//! one; an old generation is dropped when its last in-flight request ends, on the applier's
//! thread (see [`release`]).

use std::sync::Arc;

use arc_swap::ArcSwap;
use pingress_model::Snapshot;

use super::settings::{Flags, Shared};
use super::Generation;
use crate::upstream::UpstreamDefaults;

/// The slot holding the live generation, the self-signed certificate generated at start-up,
/// and the health checks shared by all generations.
pub struct LiveConfig {
    current: ArcSwap<Generation>,
    shared: Shared,
}

impl LiveConfig {
    /// An empty configuration over the gateway's start-up state (see [`Shared::new`]).
    pub fn new(
        defaults: UpstreamDefaults,
        flags: Flags,
    ) -> Result<Self, openssl::error::ErrorStack> {
        let shared = Shared::new(defaults, flags)?;
        Ok(LiveConfig {
            current: ArcSwap::from_pointee(Generation::empty(&shared)),
            shared,
        })
    }

    /// The current generation, without locking.
    pub fn load(&self) -> arc_swap::Guard<Arc<Generation>> {
        self.current.load()
    }

    /// Compiles `snapshot` against the live generation and swaps it in. Returns the generation
    /// it replaced, which requests in flight may still hold (see [`release`]). New health
    /// views are not registered yet: call [`LiveConfig::register_health_checks`] next.
    pub fn swap(&self, snapshot: Arc<Snapshot>) -> Arc<Generation> {
        let previous = self.current.load_full();
        let next = Generation::compile(snapshot, &self.shared, Some(&previous));
        self.current.store(Arc::new(next));
        previous
    }

    /// Registers the health views the last swaps made (see [`HealthChecks::register_pending`]);
    /// returns how many endpoints that was.
    pub fn register_health_checks(&self) -> usize {
        self.shared.checks.register_pending()
    }

    /// [`LiveConfig::swap`], then [`LiveConfig::register_health_checks`].
    pub fn apply(&self, snapshot: Arc<Snapshot>) -> Arc<Generation> {
        let previous = self.swap(snapshot);
        self.register_health_checks();
        previous
    }
}

/// Drops the retired generations no request holds any more, and returns true when it dropped
/// one. (`ArcSwap` turns every reader's borrowed `load()` into a counted reference when the
/// value is swapped out, so the strong count is exact.)
pub fn release(retired: &mut Vec<Arc<Generation>>) -> bool {
    let before = retired.len();
    retired.retain(|generation| Arc::strong_count(generation) > 1);
    retired.len() < before
}

/// Hands freed heap memory back to the operating system. Allocators keep what a dropped
/// generation freed for reuse (a 10,000-Ingress table left RSS 340 MiB up after it was swapped
/// out): mimalloc, the `pingress` binary's allocator, purges its free pages only a while later
/// and only when the thread allocates again, so it is asked to now (`mi_collect`); glibc's
/// `malloc_trim` returns the free pages of its arenas (the tests' allocator). Each is a cheap
/// no-op when the other allocator is in use.
#[allow(unsafe_code)]
pub fn return_freed_memory() {
    // SAFETY: mi_collect has no preconditions; it walks only mimalloc's own heap.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
