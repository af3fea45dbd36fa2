//! The storage under [`crate::RouteTable`]: open-addressing slot tables and the one arena that
//! holds every key's bytes, kept apart from the matching rules so that the layout (what a
//! lookup touches, in how many cache lines) can be read and changed in one place.
//!
//! A slot keeps its key's whole 64-bit hash, so a probe rejects a mismatch without touching
//! the key's bytes; a key record keeps a 32-bit tag next to the bytes, which the table uses for
//! what it must know about a key once the key matched (its virtual host, its kind, flags), so
//! that knowing it costs no further load.

use std::hash::{BuildHasher, Hasher};

/// `a * b` folded to 64 bits (the high half xor the low half): foldhash's mixing step.
#[inline]
pub(crate) fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// A key's hash under a table's seed.
#[inline]
pub(crate) fn hash_bytes(state: &foldhash::fast::RandomState, bytes: &[u8]) -> u64 {
    let mut hasher = state.build_hasher();
    hasher.write(bytes);
    hasher.finish()
}

/// Hints the CPU to load the cache line at `ptr`: the probes of one lookup are independent, so
/// their cache misses can overlap instead of following one another.
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) fn prefetch<S>(ptr: *const S) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults, even on an invalid address, and SSE
    // is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(ptr.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

/// One slot of an open-addressing [`Table`]: the key's full 64-bit hash (top bit set; 0 marks
/// an empty slot), where the key's bytes are in the key arena, an index (the virtual host or the
/// route) and whatever else the table keeps next to it.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
pub(crate) struct Slot<V> {
    pub(crate) tag: u64,
    pub(crate) key: u32,
    pub(crate) index: u32,
    pub(crate) extra: V,
}

/// The stored form of a hash: the top bit set, so no key's tag is the empty slot's 0.
#[inline]
pub(crate) fn tag(hash: u64) -> u64 {
    hash | 1 << 63
}

/// A fixed-size open-addressing hash table with linear probing, sized at build time to at most
/// half full. A probe compares the slot's 64-bit hash first, so a miss (or a collision in the
/// index bits) is rejected without touching the key's bytes. Its lookup methods are
/// `#[inline]`: in a module of its own they would otherwise be called, not inlined, from the
/// table's (2-5% more instructions per lookup at 100,000 rules).
#[derive(Debug)]
pub(crate) struct Table<V> {
    pub(crate) slots: Box<[Slot<V>]>,
    mask: usize,
}

impl<V: Copy + Default> Table<V> {
    pub(crate) fn with_capacity(keys: usize) -> Self {
        let len = (keys * 2).next_power_of_two().max(8);
        Table {
            slots: vec![Slot::default(); len].into_boxed_slice(),
            mask: len - 1,
        }
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        hash as usize & self.mask
    }

    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        prefetch(&self.slots[self.home(hash)]);
    }

    /// The slot of the key with this hash for which `eq(slot.key)` holds, or the empty slot
    /// where it would go.
    #[inline]
    pub(crate) fn probe(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> usize {
        let tag = tag(hash);
        let mut i = self.home(hash);
        loop {
            let slot = &self.slots[i];
            if slot.tag == 0 || (slot.tag == tag && eq(slot.key)) {
                return i;
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline]
    pub(crate) fn get(&self, hash: u64, eq: impl FnMut(u32) -> bool) -> Option<&Slot<V>> {
        let slot = &self.slots[self.probe(hash, eq)];
        (slot.tag != 0).then_some(slot)
    }
}

/// The key arena: every key's bytes, each record `[tag: u32][len: u32][bytes]`, in one
/// allocation. What a tag means is the table's business (see [`crate::RouteTable`]'s layout).
#[derive(Debug, Default)]
pub(crate) struct Keys(Vec<u8>);

impl Keys {
    pub(crate) fn push(&mut self, tag: u32, key: &str) -> u32 {
        let at = u32::try_from(self.0.len()).expect("route keys exceed 4 GiB");
        let len = u32::try_from(key.len()).expect("route key exceeds 4 GiB");
        self.0.extend_from_slice(&tag.to_le_bytes());
        self.0.extend_from_slice(&len.to_le_bytes());
        self.0.extend_from_slice(key.as_bytes());
        at
    }

    #[inline]
    pub(crate) fn tag(&self, at: u32) -> u32 {
        let at = at as usize;
        u32::from_le_bytes(self.0[at..at + 4].try_into().expect("4 bytes"))
    }

    /// Replaces the tag of the record at `at`.
    pub(crate) fn set_tag(&mut self, at: u32, tag: u32) {
        let at = at as usize;
        self.0[at..at + 4].copy_from_slice(&tag.to_le_bytes());
    }

    /// Whether the record at `at` is `key` with a tag for which `tag_ok` holds.
    #[inline]
    pub(crate) fn eq(&self, at: u32, key: &[u8], tag_ok: impl FnOnce(u32) -> bool) -> bool {
        let at = at as usize;
        let header = &self.0[at..at + 8];
        let len = u32::from_le_bytes(header[4..].try_into().expect("4 bytes")) as usize;
        len == key.len() && tag_ok(self.tag(at as u32)) && &self.0[at + 8..at + 8 + len] == key
    }
}
