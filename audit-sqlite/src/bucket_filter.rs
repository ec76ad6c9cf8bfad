//! Bloom filters over the sealed buckets of the lookup indexes, so a lookup seeks only the
//! buckets that may hold its key.
//!
//! The lookup indexes lead with the seq bucket (see [`BUCKET_SHIFT`]), which keeps appends
//! cheap, but a key found in few buckets (an actor seen once, a request id) used to cost one
//! index seek per bucket of the whole log: about 1 µs per 8 192 events, so 1.2 ms at 10M.
//! When a bucket is complete (the log moved past it), the writer stores one filter per key
//! kind for it in `audit_bucket_filters`, in the append's transaction: 2^16 bits, 5 probes,
//! about 2 % false positives at 8 192 distinct keys and far fewer for the usual mix. A
//! reader keeps the filters in memory laid out by bit (64 buckets per word), so testing a
//! key against every bucket of a 10M log reads 5 words per 64 buckets. The buckets that
//! may hold the key, and every bucket without a filter (the open one, or a filter row
//! someone removed), are then sought as before.
//!
//! Filters only narrow lookups; verification never reads them, and a missing filter row
//! means "seek this bucket", never "skip it".

use std::sync::Mutex;

use audit_core::query::AuditQuery;
use ipnet::IpNet;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, params};
use std::hash::Hasher;

use siphasher::sip128::{Hasher128, SipHasher13};

use crate::codec::ip_key;
use crate::error::{Error, Result};
use crate::schema::BUCKET_SHIFT;

/// Bits per filter (a power of two): 8 KiB per bucket and kind.
const BITS: usize = 1 << 16;
const WORDS: usize = BITS / 64;
/// Probes per key.
const PROBES: u64 = 5;
/// Fixed SipHash keys: filters are stored, so their hash must never change.
const KEYS: (u64, u64) = (0x6175_6469_742d_626c, 0x6f6f_6d2d_7631_0000);
/// Buckets per in-memory block: one bit of a word each.
const BLOCK: u64 = 64;

/// The key kinds with a bucketed lookup index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Actor = 0,
    Entity = 1,
    Ip = 2,
    Request = 3,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Actor, Kind::Entity, Kind::Ip, Kind::Request];

    /// The indexed column this kind's keys come from.
    fn column(self) -> &'static str {
        match self {
            Kind::Actor => "actor_id",
            Kind::Entity => "entity_id",
            Kind::Ip => "ip",
            Kind::Request => "request_id",
        }
    }
}

/// How an IP address is keyed: by its /24 (IPv4) or /64 (IPv6) network, so a CIDR lookup
/// that narrow (or narrower) has one key.
fn ip_filter_key(stored: &[u8]) -> &[u8] {
    match stored.first() {
        Some(4) => &stored[..stored.len().min(4)],
        _ => &stored[..stored.len().min(9)],
    }
}

/// The filter key of a CIDR query, when the network is narrow enough to have one.
fn net_filter_key(net: &IpNet) -> Option<Vec<u8>> {
    let narrow = match net {
        IpNet::V4(n) => n.prefix_len() >= 24,
        IpNet::V6(n) => n.prefix_len() >= 64,
    };
    narrow.then(|| ip_filter_key(&ip_key(net.network())).to_vec())
}

/// The bit positions of `key` in a filter.
fn probes(key: &[u8]) -> [usize; PROBES as usize] {
    let mut hasher = SipHasher13::new_with_keys(KEYS.0, KEYS.1);
    hasher.write(key);
    let h = hasher.finish128();
    let (a, b) = (h.h1, h.h2 | 1);
    std::array::from_fn(|i| (a.wrapping_add(b.wrapping_mul(i as u64)) as usize) & (BITS - 1))
}

/// Writes the filters of every complete bucket not filtered yet, up to the one before the
/// bucket of `last_seq` (inside the caller's write transaction).
pub(crate) fn seal_through(conn: &Connection, last_seq: u64) -> Result<()> {
    let open_bucket = last_seq >> BUCKET_SHIFT;
    let next: Option<i64> = conn
        .query_row(
            "SELECT max(bucket) + 1 FROM audit_bucket_filters WHERE kind = 0",
            [],
            |row| row.get(0),
        )
        .optional()?
        .flatten();
    let first = match next {
        Some(b) => u64::try_from(b).map_err(|_| Error::corrupt_record(0, "negative bucket"))?,
        // No filter yet: start at the oldest stored event's bucket.
        None => match oldest_seq(conn)? {
            Some(seq) => seq >> BUCKET_SHIFT,
            None => return Ok(()),
        },
    };
    let mut insert = conn.prepare(
        "INSERT INTO audit_bucket_filters (kind, bucket, bits) VALUES (?1, ?2, ?3) \
         ON CONFLICT DO NOTHING",
    )?;
    let mut bits = vec![0u64; WORDS];
    for bucket in first..open_bucket {
        for kind in Kind::ALL {
            bits.fill(0);
            let keys = fill(conn, kind, bucket, &mut bits)?;
            // An empty filter is stored empty: "no key of this kind in the bucket".
            let blob: Vec<u8> = if keys == 0 {
                Vec::new()
            } else {
                bits.iter().flat_map(|w| w.to_le_bytes()).collect()
            };
            insert.execute(params![kind as i64, bucket_param(bucket)?, blob])?;
        }
    }
    Ok(())
}

fn oldest_seq(conn: &Connection) -> Result<Option<u64>> {
    let seq: Option<i64> = conn.query_row("SELECT min(seq) FROM audit_events", [], |r| r.get(0))?;
    Ok(seq.and_then(|s| u64::try_from(s).ok()))
}

fn bucket_param(bucket: u64) -> Result<i64> {
    i64::try_from(bucket).map_err(|_| Error::InvalidRequest(format!("bucket {bucket} too large")))
}

/// Sets the bits of every key of `kind` in `bucket`; returns how many keys there were.
fn fill(conn: &Connection, kind: Kind, bucket: u64, bits: &mut [u64]) -> Result<u64> {
    let column = kind.column();
    // The same expression as the index, so the read is a covering index range.
    let mut stmt = conn.prepare(&format!(
        "SELECT {column} FROM audit_events WHERE (seq >> {BUCKET_SHIFT}) = ?1 \
         AND {column} IS NOT NULL"
    ))?;
    let mut rows = stmt.query([bucket_param(bucket)?])?;
    let mut keys = 0;
    while let Some(row) = rows.next()? {
        let key = match row.get_ref(0)? {
            ValueRef::Text(t) => t,
            ValueRef::Blob(b) if kind == Kind::Ip => ip_filter_key(b),
            ValueRef::Blob(b) => b,
            _ => continue,
        };
        for p in probes(key) {
            bits[p / 64] |= 1 << (p % 64);
        }
        keys += 1;
    }
    Ok(keys)
}

/// 64 buckets' filters of one kind, bit-sliced: bit `b` of `words[p]` is bit `p` of the
/// filter of bucket `64 * block + b`.
struct Block {
    words: Box<[u64]>,
    /// Which of the 64 buckets have a filter.
    present: u64,
}

impl Block {
    fn new() -> Self {
        Self {
            words: vec![0; BITS].into_boxed_slice(),
            present: 0,
        }
    }
}

/// One kind's filters as loaded so far.
#[derive(Default)]
struct Loaded {
    blocks: Vec<Block>,
    /// The newest bucket loaded.
    through: Option<u64>,
}

impl Loaded {
    fn add(&mut self, bucket: u64, bits: &[u8]) {
        let index = (bucket / BLOCK) as usize;
        while self.blocks.len() <= index {
            self.blocks.push(Block::new());
        }
        let block = &mut self.blocks[index];
        let bit = 1u64 << (bucket % BLOCK);
        block.present |= bit;
        for (w, chunk) in bits.chunks_exact(8).enumerate() {
            let mut word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            while word != 0 {
                let p = w * 64 + word.trailing_zeros() as usize;
                block.words[p] |= bit;
                word &= word - 1;
            }
        }
        self.through = Some(self.through.map_or(bucket, |t| t.max(bucket)));
    }
}

/// The filters a store's readers share, loaded lazily per kind and topped up before each
/// lookup with the buckets sealed since.
#[derive(Default)]
pub(crate) struct BucketFilters {
    kinds: [Mutex<Loaded>; 4],
}

impl std::fmt::Debug for BucketFilters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketFilters").finish_non_exhaustive()
    }
}

/// The keys of a query that have filters.
fn query_keys(query: &AuditQuery) -> Vec<(Kind, Vec<u8>)> {
    let mut keys = Vec::new();
    if let Some(actor) = &query.actor {
        keys.push((Kind::Actor, actor.as_bytes().to_vec()));
    }
    if let Some(entity) = &query.entity_id {
        keys.push((Kind::Entity, entity.as_bytes().to_vec()));
    }
    if let Some(key) = query.ip_net.as_ref().and_then(net_filter_key) {
        keys.push((Kind::Ip, key));
    }
    if let Some(request) = &query.request_id {
        keys.push((Kind::Request, request.as_bytes().to_vec()));
    }
    keys
}

impl BucketFilters {
    /// The buckets in `lo..=hi` that may hold an event matching `query`'s keys, ascending;
    /// `None` when the filters exclude none of them (or the query has no filtered key), so
    /// the caller walks the whole range instead.
    pub(crate) fn candidates(
        &self,
        conn: &Connection,
        query: &AuditQuery,
        lo: u64,
        hi: u64,
    ) -> Result<Option<Vec<u64>>> {
        let keys = query_keys(query);
        if keys.is_empty() || lo > hi {
            return Ok(None);
        }
        // Which buckets survive every key: start with all, AND in each key's blocks.
        let blocks = (hi / BLOCK - lo / BLOCK + 1) as usize;
        let mut keep = vec![u64::MAX; blocks];
        for (kind, key) in &keys {
            let mut loaded = self.kinds[*kind as usize]
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            refresh(conn, *kind, &mut loaded)?;
            let probes = probes(key);
            for (i, keep) in keep.iter_mut().enumerate() {
                let Some(block) = loaded.blocks.get((lo / BLOCK) as usize + i) else {
                    // Past the loaded filters: unsealed buckets, all kept.
                    break;
                };
                let hits = probes.iter().fold(u64::MAX, |m, &p| m & block.words[p]);
                *keep &= hits | !block.present;
            }
        }
        let mut buckets = Vec::new();
        for (i, word) in keep.iter().enumerate() {
            let base = (lo / BLOCK + i as u64) * BLOCK;
            let mut word = *word;
            while word != 0 {
                let bucket = base + u64::from(word.trailing_zeros());
                word &= word - 1;
                if (lo..=hi).contains(&bucket) {
                    buckets.push(bucket);
                }
            }
        }
        if buckets.len() as u64 == hi - lo + 1 {
            return Ok(None);
        }
        Ok(Some(buckets))
    }
}

/// Loads `kind`'s filters sealed since the last load.
fn refresh(conn: &Connection, kind: Kind, loaded: &mut Loaded) -> Result<()> {
    let after = match loaded.through {
        Some(b) => bucket_param(b)?,
        None => -1,
    };
    let mut stmt = conn.prepare(
        "SELECT bucket, bits FROM audit_bucket_filters WHERE kind = ?1 AND bucket > ?2 \
         ORDER BY bucket",
    )?;
    let mut rows = stmt.query(params![kind as i64, after])?;
    while let Some(row) = rows.next()? {
        let bucket: i64 = row.get(0)?;
        let bucket =
            u64::try_from(bucket).map_err(|_| Error::corrupt_record(0, "negative bucket"))?;
        match row.get_ref(1)? {
            ValueRef::Blob(bits) if bits.is_empty() || bits.len() == BITS / 8 => {
                loaded.add(bucket, bits)
            }
            // A filter of another size is not ours: leave the bucket unfiltered (sought).
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::{Actor, AuditEvent};

    /// A file of three complete buckets and part of a fourth: `user-{i % 20}` everywhere,
    /// and `solo` alone as the actor of event 10 000 (bucket 1).
    async fn three_buckets() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("audit.db");
        let store = crate::SqliteStore::open(&path).expect("open");
        let events: Vec<AuditEvent> = (0..3 * 8192 + 100)
            .map(|i: u64| {
                let actor = if i == 10_000 {
                    "solo".into()
                } else {
                    format!("user-{}", i % 20)
                };
                AuditEvent::builder("LOGIN")
                    .actor(Actor::user(actor))
                    .ip(std::net::IpAddr::from([10, 0, (i % 7) as u8, 1]))
                    .build()
            })
            .collect();
        for part in events.chunks(5_000) {
            store.append(part).await.expect("append");
        }
        drop(store);
        (dir, Connection::open(path).expect("reopen"))
    }

    #[tokio::test]
    async fn a_key_seen_once_is_sought_in_its_bucket_and_the_open_one_only() {
        let (_dir, conn) = three_buckets().await;
        let filters = BucketFilters::default();
        let narrowed = |q: AuditQuery| filters.candidates(&conn, &q, 0, 3).expect("candidates");
        // Event 10 000 is seq 10 001, in bucket 1; bucket 3 is open (no filter yet).
        assert_eq!(narrowed(AuditQuery::new().actor("solo")), Some(vec![1, 3]));
        assert_eq!(narrowed(AuditQuery::new().actor("nobody")), Some(vec![3]));
        // A key in every bucket rules none out: the caller walks the range.
        assert_eq!(narrowed(AuditQuery::new().actor("user-3")), None);
        // Two keys: only the buckets that may hold both.
        assert_eq!(
            narrowed(
                AuditQuery::new()
                    .actor("solo")
                    .ip_in("10.0.9.0/24".parse().expect("net"))
            ),
            Some(vec![3])
        );
        // The range bounds the answer (a cursor or an archived prefix).
        assert_eq!(
            filters
                .candidates(&conn, &AuditQuery::new().actor("solo"), 2, 3)
                .expect("c"),
            Some(vec![3])
        );
        // Wide networks and unfiltered queries have no filter key.
        assert_eq!(
            narrowed(AuditQuery::new().ip_in("10.0.0.0/16".parse().expect("net"))),
            None
        );
        assert_eq!(narrowed(AuditQuery::new()), None);
    }

    #[test]
    fn a_key_always_hits_the_filter_it_was_added_to() {
        let mut loaded = Loaded::default();
        let mut bits = vec![0u64; WORDS];
        for p in probes(b"user-1") {
            bits[p / 64] |= 1 << (p % 64);
        }
        let blob: Vec<u8> = bits.iter().flat_map(|w| w.to_le_bytes()).collect();
        loaded.add(70, &blob);
        let block = &loaded.blocks[1];
        let hits = probes(b"user-1")
            .iter()
            .fold(u64::MAX, |m, &p| m & block.words[p]);
        assert_eq!(hits & block.present, 1 << 6);
        let other = probes(b"user-2")
            .iter()
            .fold(u64::MAX, |m, &p| m & block.words[p]);
        assert_eq!(other & block.present, 0, "one key sets 5 of 65 536 bits");
    }

    #[test]
    fn narrow_networks_have_a_filter_key_and_wide_ones_do_not() {
        let key = |s: &str| net_filter_key(&s.parse().expect("net"));
        assert_eq!(key("10.7.8.0/24"), Some(vec![4, 10, 7, 8]));
        assert_eq!(key("10.7.8.9/32"), Some(vec![4, 10, 7, 8]));
        assert_eq!(key("10.7.0.0/16"), None);
        assert_eq!(key("2001:db8::/64").map(|k| k.len()), Some(9));
        assert_eq!(key("2001:db8::/48"), None);
        assert_eq!(
            ip_filter_key(&ip_key("10.7.8.200".parse().expect("ip"))),
            &[4, 10, 7, 8]
        );
    }
}
