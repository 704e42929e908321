//! INIT admission under a flood (PROTOCOL.md §5.7.8): the INIT-rate trigger for "under
//! load", the per-source token buckets and the replay filter of INIT ephemerals.
//!
//! Everything here has a fixed memory bound chosen by configuration and allocated once, on
//! first use; nothing grows with the number of sources or packets. Sources are the opaque
//! address bytes the adapter supplies ([`RemoteAddr`]); this module never parses them. It
//! does no Noise work and sends nothing: the responder asks it yes/no questions.

use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use crate::Instant;
use crate::config::AdmissionConfig;
use crate::crypto::hmac_sha256;

/// Longest address the adapter may attach to a datagram, in bytes.
pub const MAX_REMOTE_ADDR_LEN: usize = 32;

/// How long the INIT-rate window is.
pub const RATE_WINDOW: Duration = Duration::from_secs(1);

/// An INIT ephemeral stays in the replay filter at least this long (at most twice as long),
/// unless the filter fills first (then the oldest generation goes early).
pub const REPLAY_PERIOD: Duration = Duration::from_secs(60);

/// The remote address of a datagram as opaque bytes (at most [`MAX_REMOTE_ADDR_LEN`]),
/// which cookies and the per-source INIT limit are bound to. Adapters build it from the
/// socket address ([`From<core::net::SocketAddr>`]); the core never parses it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemoteAddr {
    len: u8,
    bytes: [u8; MAX_REMOTE_ADDR_LEN],
}

/// An address longer than [`MAX_REMOTE_ADDR_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("remote address of {0} bytes is longer than {MAX_REMOTE_ADDR_LEN}")]
pub struct RemoteAddrTooLong(pub usize);

impl RemoteAddr {
    /// These bytes as an address.
    pub fn new(bytes: &[u8]) -> Result<Self, RemoteAddrTooLong> {
        if bytes.len() > MAX_REMOTE_ADDR_LEN {
            return Err(RemoteAddrTooLong(bytes.len()));
        }
        let mut out = [0u8; MAX_REMOTE_ADDR_LEN];
        out[..bytes.len()].copy_from_slice(bytes);
        Ok(Self {
            len: bytes.len() as u8,
            bytes: out,
        })
    }

    /// The address of a path whose adapter supplied none: `0x00 ‖ u64be(path id)`. Only
    /// as stable as the id (a recycled id changes it), so adapters should pass real ones.
    pub fn from_path_id(path: u64) -> Self {
        let mut out = [0u8; MAX_REMOTE_ADDR_LEN];
        out[1..9].copy_from_slice(&path.to_be_bytes());
        Self { len: 9, bytes: out }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl From<core::net::SocketAddr> for RemoteAddr {
    /// `0x04 ‖ IPv4(4) ‖ port(2)` or `0x06 ‖ IPv6(16) ‖ port(2)`, port big-endian.
    fn from(a: core::net::SocketAddr) -> Self {
        let mut out = [0u8; MAX_REMOTE_ADDR_LEN];
        let len = match a.ip() {
            core::net::IpAddr::V4(ip) => {
                out[0] = 4;
                out[1..5].copy_from_slice(&ip.octets());
                5
            }
            core::net::IpAddr::V6(ip) => {
                out[0] = 6;
                out[1..17].copy_from_slice(&ip.octets());
                17
            }
        };
        out[len..len + 2].copy_from_slice(&a.port().to_be_bytes());
        Self {
            len: (len + 2) as u8,
            bytes: out,
        }
    }
}

impl RemoteAddr {
    /// The socket address these bytes encode (the form of
    /// [`From<core::net::SocketAddr>`]), if they are one.
    pub fn to_socket_addr(&self) -> Option<core::net::SocketAddr> {
        let b = self.as_bytes();
        let port = |p: &[u8]| u16::from_be_bytes([p[0], p[1]]);
        match (b.first(), b.len()) {
            (Some(4), 7) => {
                let ip: [u8; 4] = b[1..5].try_into().ok()?;
                Some(core::net::SocketAddr::new(ip.into(), port(&b[5..7])))
            }
            (Some(6), 19) => {
                let ip: [u8; 16] = b[1..17].try_into().ok()?;
                Some(core::net::SocketAddr::new(ip.into(), port(&b[17..19])))
            }
            _ => None,
        }
    }
}

impl core::fmt::Debug for RemoteAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RemoteAddr({})", crate::hex::Hex(self.as_bytes()))
    }
}

/// Token bucket: `tokens` in micro-tokens, refilled at `source_rate` per second.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    micro_tokens: u64,
    at: Instant,
    used: bool,
}

/// One generation of the replay filter: an open-addressing set of nonzero fingerprints.
#[derive(Debug, Clone)]
struct Generation {
    slots: Vec<u64>,
    len: usize,
    started: Instant,
}

impl Generation {
    fn new(capacity: usize, now: Instant) -> Self {
        Self {
            // At most half full: probes stay short.
            slots: vec![0; (capacity * 2).next_power_of_two()],
            len: 0,
            started: now,
        }
    }

    fn contains(&self, fp: u64) -> bool {
        let mask = self.slots.len() - 1;
        let mut i = fp as usize & mask;
        loop {
            match self.slots[i] {
                0 => return false,
                x if x == fp => return true,
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn insert(&mut self, fp: u64) {
        let mask = self.slots.len() - 1;
        let mut i = fp as usize & mask;
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = fp;
                    self.len += 1;
                    return;
                }
                x if x == fp => return,
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn clear(&mut self, now: Instant) {
        self.slots.fill(0);
        self.len = 0;
        self.started = now;
    }
}

/// Counters of the admission stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdmissionStats {
    /// Times the INIT rate crossed the threshold and put the responder under load.
    pub rate_trips: u64,
    /// INITs refused by their source's token bucket.
    pub rate_limited: u64,
    /// INITs whose ephemeral key was already used by an earlier handshake here.
    pub replayed: u64,
    /// Replay-filter generations dropped early because the filter was full.
    pub replay_early_rotations: u64,
}

/// The admission state of one responder.
#[derive(Clone)]
pub struct Admission {
    config: AdmissionConfig,
    /// Keys the hashes of sources and ephemerals (so nobody can aim at one bucket).
    key: [u8; 32],
    window_start: Option<Instant>,
    window_count: u32,
    buckets: Vec<Bucket>,
    replay: Option<[Generation; 2]>,
    /// Which of `replay` takes inserts.
    current: usize,
    stats: AdmissionStats,
}

impl Admission {
    /// Admission with these limits; memory is allocated on first use.
    pub fn new(config: AdmissionConfig) -> Self {
        Self {
            config,
            key: [0; 32],
            window_start: None,
            window_count: 0,
            buckets: Vec::new(),
            replay: None,
            current: 0,
            stats: AdmissionStats::default(),
        }
    }

    /// Sets the secret that keys the hashes (the node draws it from its seed).
    pub fn set_key(&mut self, key: [u8; 32]) {
        self.key = key;
    }

    /// The limits.
    pub fn config(&self) -> &AdmissionConfig {
        &self.config
    }

    /// Counters so far.
    pub fn stats(&self) -> AdmissionStats {
        self.stats
    }

    /// Bytes held by the bucket table and the replay filter (their fixed bound once used).
    pub fn memory(&self) -> usize {
        let buckets = self.buckets.capacity() * core::mem::size_of::<Bucket>();
        let replay = self
            .replay
            .as_ref()
            .map_or(0, |g| (g[0].slots.capacity() + g[1].slots.capacity()) * 8);
        buckets + replay
    }

    /// The most [`Admission::memory`] can reach with this configuration.
    pub fn memory_bound(&self) -> usize {
        let slots = self.config.source_slots.max(1).next_power_of_two();
        let gen_slots = (self.config.replay_capacity.max(1) * 2).next_power_of_two();
        slots * core::mem::size_of::<Bucket>() + 2 * gen_slots * 8
    }

    fn hash(&self, domain: u8, bytes: &[u8]) -> u64 {
        let full = hmac_sha256(&self.key, &[&[domain], bytes]);
        let mut v = [0u8; 8];
        v.copy_from_slice(&full[..8]);
        u64::from_le_bytes(v)
    }

    /// Counts one INIT; returns true when this INIT pushed the rate over the threshold
    /// (the responder then goes under load).
    pub fn count_init(&mut self, now: Instant) -> bool {
        match self.window_start {
            Some(s) if now - s < RATE_WINDOW => {}
            _ => {
                self.window_start = Some(now);
                self.window_count = 0;
            }
        }
        self.window_count = self.window_count.saturating_add(1);
        let over = self.window_count > self.config.under_load_init_rate;
        if self.window_count == self.config.under_load_init_rate.saturating_add(1) {
            self.stats.rate_trips += 1;
        }
        over
    }

    /// Takes one token from `source`'s bucket; false (counted) when it has none.
    pub fn take_token(&mut self, now: Instant, source: &[u8]) -> bool {
        if self.buckets.is_empty() {
            let n = self.config.source_slots.max(1).next_power_of_two();
            self.buckets = vec![Bucket::default(); n];
        }
        let i = self.hash(b'b', source) as usize & (self.buckets.len() - 1);
        let burst = u64::from(self.config.source_burst.max(1)) * 1_000_000;
        let b = &mut self.buckets[i];
        if !b.used {
            *b = Bucket {
                micro_tokens: burst,
                at: now,
                used: true,
            };
        } else if now > b.at {
            let gained = (now - b.at)
                .as_micros()
                .saturating_mul(u128::from(self.config.source_rate));
            b.micro_tokens = (u128::from(b.micro_tokens) + gained).min(u128::from(burst)) as u64;
            b.at = now;
        }
        if b.micro_tokens >= 1_000_000 {
            b.micro_tokens -= 1_000_000;
            true
        } else {
            self.stats.rate_limited += 1;
            false
        }
    }

    fn rotate_by_time(&mut self, now: Instant) {
        let Some(g) = self.replay.as_mut() else {
            return;
        };
        if now - g[self.current].started >= REPLAY_PERIOD {
            self.current ^= 1;
            g[self.current].clear(now);
        }
    }

    /// Whether an earlier handshake here used this INIT ephemeral (counted when so).
    pub fn is_replay(&mut self, now: Instant, e_i: &[u8; 32]) -> bool {
        self.rotate_by_time(now);
        let Some(g) = self.replay.as_ref() else {
            return false;
        };
        let fp = self.hash(b'e', e_i).max(1);
        let seen = g[0].contains(fp) || g[1].contains(fp);
        if seen {
            self.stats.replayed += 1;
        }
        seen
    }

    /// Remembers an ephemeral that a handshake used (call when DH work is spent on it).
    pub fn remember(&mut self, now: Instant, e_i: &[u8; 32]) {
        let fp = self.hash(b'e', e_i).max(1);
        let cap = self.config.replay_capacity.max(1);
        let g = self
            .replay
            .get_or_insert_with(|| [Generation::new(cap, now), Generation::new(cap, now)]);
        if g[self.current].len >= cap {
            self.current ^= 1;
            g[self.current].clear(now);
            self.stats.replay_early_rotations += 1;
        }
        g[self.current].insert(fp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_micros(ms * 1000)
    }

    #[test]
    fn socket_addresses_encode_distinctly() {
        let a: core::net::SocketAddr = "198.51.100.7:4242".parse().unwrap();
        let b: core::net::SocketAddr = "198.51.100.7:4243".parse().unwrap();
        let c: core::net::SocketAddr = "[2001:db8::1]:4242".parse().unwrap();
        let (ra, rb, rc) = (
            RemoteAddr::from(a),
            RemoteAddr::from(b),
            RemoteAddr::from(c),
        );
        assert_eq!(ra.as_bytes(), &[4, 198, 51, 100, 7, 0x10, 0x92]);
        assert_ne!(ra, rb);
        assert_eq!(rc.as_bytes().len(), 19);
        assert_ne!(RemoteAddr::from_path_id(1), RemoteAddr::from_path_id(2));
        assert_eq!(RemoteAddr::from_path_id(1).to_socket_addr(), None);
        for sa in [a, c] {
            assert_eq!(RemoteAddr::from(sa).to_socket_addr(), Some(sa));
        }
        assert_eq!(RemoteAddr::new(&[0; 33]), Err(RemoteAddrTooLong(33)));
    }

    #[test]
    fn rate_trips_once_per_window_past_the_threshold() {
        let mut a = Admission::new(AdmissionConfig {
            under_load_init_rate: 3,
            ..AdmissionConfig::default()
        });
        let over: Vec<bool> = (0..5).map(|_| a.count_init(t(0))).collect();
        assert_eq!(over, [false, false, false, true, true]);
        assert_eq!(a.stats().rate_trips, 1);
        assert!(!a.count_init(t(1000)), "a new window starts at zero");
    }

    #[test]
    fn buckets_limit_each_source_and_refill() {
        let mut a = Admission::new(AdmissionConfig {
            source_rate: 2,
            source_burst: 3,
            ..AdmissionConfig::default()
        });
        for _ in 0..3 {
            assert!(a.take_token(t(0), b"one"));
        }
        assert!(!a.take_token(t(0), b"one"));
        assert!(
            a.take_token(t(0), b"two"),
            "another source has its own bucket"
        );
        assert!(
            a.take_token(t(500), b"one"),
            "2/s refills one token in 500 ms"
        );
        assert!(!a.take_token(t(500), b"one"));
        assert_eq!(a.stats().rate_limited, 2);
        assert!(a.memory() <= a.memory_bound());
    }

    #[test]
    fn replay_filter_remembers_then_forgets_within_its_bound() {
        let mut a = Admission::new(AdmissionConfig {
            replay_capacity: 4,
            ..AdmissionConfig::default()
        });
        let e = |i: u8| [i; 32];
        assert!(!a.is_replay(t(0), &e(1)));
        a.remember(t(0), &e(1));
        assert!(a.is_replay(t(0), &e(1)));
        assert!(a.is_replay(t(59_000), &e(1)), "still within one period");
        assert!(
            a.is_replay(t(61_000), &e(1)),
            "the previous generation still holds it"
        );
        assert!(!a.is_replay(t(121_000), &e(1)), "gone after two periods");
        // A full generation rotates early: memory stays bounded.
        for i in 10..30 {
            a.remember(t(122_000), &e(i));
        }
        assert!(a.stats().replay_early_rotations >= 4);
        assert!(a.is_replay(t(122_000), &e(29)));
        assert!(a.memory() <= a.memory_bound());
    }
}
