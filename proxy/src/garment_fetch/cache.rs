//! A byte-bounded cache of fetched garment images, so a popular product is fetched once.
//!
//! Eviction is least-recently-used by a logical clock; the scan is linear, which is fine for
//! the few hundred entries a byte budget of tens of megabytes holds.

use std::collections::HashMap;

use bytes::Bytes;

/// Never hold more than this many entries, whatever their size, so tiny images cannot make
/// the eviction scan long.
const MAX_ENTRIES: usize = 1024;

#[derive(Debug)]
pub struct ByteCache {
    max_bytes: usize,
    used_bytes: usize,
    clock: u64,
    entries: HashMap<String, Entry>,
}

#[derive(Debug)]
struct Entry {
    bytes: Bytes,
    last_used: u64,
}

impl ByteCache {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            used_bytes: 0,
            clock: 0,
            entries: HashMap::new(),
        }
    }

    pub fn get(&mut self, key: &str) -> Option<Bytes> {
        self.clock += 1;
        let clock = self.clock;
        self.entries.get_mut(key).map(|entry| {
            entry.last_used = clock;
            entry.bytes.clone()
        })
    }

    /// Stores `bytes` unless they alone exceed the budget; evicts the least recently used.
    pub fn insert(&mut self, key: String, bytes: Bytes) {
        if bytes.len() > self.max_bytes {
            return;
        }
        if let Some(old) = self.entries.remove(&key) {
            self.used_bytes -= old.bytes.len();
        }
        while self.used_bytes + bytes.len() > self.max_bytes || self.entries.len() >= MAX_ENTRIES {
            self.evict_oldest();
        }
        self.clock += 1;
        self.used_bytes += bytes.len();
        self.entries.insert(
            key,
            Entry {
                bytes,
                last_used: self.clock,
            },
        );
    }

    #[cfg(test)]
    pub fn used_bytes(&self) -> usize {
        self.used_bytes
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.last_used)
            .map(|(k, _)| k.clone());
        if let Some(key) = oldest {
            let entry = self.entries.remove(&key).expect("key was just found");
            self.used_bytes -= entry.bytes.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize) -> Bytes {
        Bytes::from(vec![7u8; n])
    }

    #[test]
    fn stays_within_its_byte_budget_evicting_the_least_recently_used() {
        let mut cache = ByteCache::new(100);
        cache.insert("a".into(), bytes(40));
        cache.insert("b".into(), bytes(40));
        assert!(cache.get("a").is_some(), "touch a so b is the oldest");
        cache.insert("c".into(), bytes(40));
        assert!(cache.used_bytes() <= 100);
        assert!(cache.get("b").is_none(), "b was least recently used");
        assert_eq!(cache.get("a").map(|b| b.len()), Some(40));
        assert_eq!(cache.get("c").map(|b| b.len()), Some(40));
    }

    #[test]
    fn an_entry_bigger_than_the_budget_is_not_kept() {
        let mut cache = ByteCache::new(10);
        cache.insert("big".into(), bytes(11));
        assert!(cache.get("big").is_none());
        assert_eq!(cache.used_bytes(), 0);
    }

    #[test]
    fn replacing_a_key_does_not_leak_budget() {
        let mut cache = ByteCache::new(100);
        for _ in 0..10 {
            cache.insert("same".into(), bytes(60));
        }
        assert_eq!(cache.used_bytes(), 60);
    }
}
