//! [`PacketPool`]: the driver's per-datagram receive buffers, recycled. Each received
//! datagram gets a buffer of its own (one packet-sized region), so a stream that keeps
//! a slice of it pins that one packet and nothing else; a region is reused, without
//! allocating, once the engine and the application have dropped every slice of it.
//!
//! Owns only memory; it must not look inside the datagrams.

use bytes::BytesMut;

/// Regions the pool keeps at most: with a packet-sized region each, about 1.5 MiB at
/// the default packet size once a burst has filled it. A receiver holds as many
/// datagrams as its streams have unread data; fewer slots than that (256 held a
/// quarter of row (b)'s datagrams) mostly miss and allocate as before.
pub(crate) const POOL_SLOTS: usize = 1024;

/// Regions tried per datagram before a pinned one is replaced by a fresh region.
const PROBES: usize = 4;

/// A ring of packet-sized regions. Each slot is the empty tail of its region; the
/// datagram handed out last from it is the region's head. A slot whose datagram is
/// gone is unique again and reclaims its whole region.
#[derive(Debug)]
pub(crate) struct PacketPool {
    slots: Vec<BytesMut>,
    next: usize,
    region: usize,
    max_slots: usize,
}

impl PacketPool {
    /// A pool of `region`-byte buffers (the largest datagram the engine accepts),
    /// holding at most `max_slots` of them; it starts empty and grows with bursts.
    pub(crate) fn new(region: usize, max_slots: usize) -> Self {
        Self {
            slots: Vec::new(),
            next: 0,
            region: region.max(1),
            max_slots: max_slots.max(1),
        }
    }

    /// A buffer holding a copy of `datagram`, in a recycled region when one is free.
    /// Datagrams larger than a region get a buffer of their own size.
    pub(crate) fn take(&mut self, datagram: &[u8]) -> BytesMut {
        if datagram.len() > self.region {
            return BytesMut::from(datagram);
        }
        let slot = self.free_slot();
        let buf = &mut self.slots[slot];
        buf.extend_from_slice(datagram);
        buf.split()
    }

    /// The index of a slot with a whole region free: a reclaimed one, a new one while
    /// the pool may grow, or (when the probed regions are all still held) a probed
    /// slot given a fresh region, leaving the old one to whoever holds it.
    fn free_slot(&mut self) -> usize {
        let n = self.slots.len();
        for k in 0..PROBES.min(n) {
            let i = (self.next + k) % n;
            if self.slots[i].try_reclaim(self.region) {
                self.next = (i + 1) % n;
                return i;
            }
        }
        let fresh = BytesMut::with_capacity(self.region);
        if n < self.max_slots {
            self.slots.push(fresh);
            return n;
        }
        let i = self.next;
        self.slots[i] = fresh;
        self.next = (i + 1) % n;
        i
    }

    /// Regions the pool holds now.
    #[cfg(test)]
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(b: &BytesMut) -> usize {
        b.as_ptr() as usize
    }

    #[test]
    fn a_dropped_datagram_region_is_reused() {
        let mut pool = PacketPool::new(1500, 8);
        let a = pool.take(&[1; 1200]);
        let first = addr(&a);
        assert_eq!(&a[..], &[1; 1200][..]);
        drop(a);
        let b = pool.take(&[2; 900]);
        assert_eq!(addr(&b), first, "the free region is reclaimed");
        assert_eq!(&b[..], &[2; 900][..]);
        assert_eq!(pool.slots(), 1);
    }

    #[test]
    fn a_held_datagram_keeps_its_region_and_only_its_region() {
        let mut pool = PacketPool::new(1500, 8);
        let held = pool.take(&[7; 1400]);
        let mut others = Vec::new();
        for i in 0..20u8 {
            let b = pool.take(&[i; 1000]);
            assert_ne!(
                addr(&b),
                addr(&held),
                "a held region is never handed out again"
            );
            assert_eq!(&b[..], &[i; 1000][..]);
            others.push(b);
        }
        assert_eq!(&held[..], &[7; 1400][..], "the held datagram is intact");
        // Every datagram sits in a region of its own: any two live ones lie at least a
        // region apart (two in one region would be closer).
        let mut starts: Vec<usize> = others.iter().map(addr).collect();
        starts.push(addr(&held));
        starts.sort_unstable();
        assert!(starts.windows(2).all(|w| w[1] - w[0] >= 1500));
        assert!(pool.slots() <= 8, "the pool stays within its bound");
    }

    #[test]
    fn the_pool_never_grows_past_its_bound() {
        let mut pool = PacketPool::new(1500, 4);
        let held: Vec<_> = (0..50).map(|i| pool.take(&[i as u8; 100])).collect();
        assert_eq!(pool.slots(), 4);
        for (i, b) in held.iter().enumerate() {
            assert_eq!(&b[..], &[i as u8; 100][..]);
        }
    }

    #[test]
    fn oversized_datagrams_get_their_own_buffer() {
        let mut pool = PacketPool::new(1000, 4);
        let big = pool.take(&[3; 3000]);
        assert_eq!(big.len(), 3000);
        assert_eq!(pool.slots(), 0);
    }

    #[test]
    fn a_taken_buffer_is_writable_in_place() {
        // The engine decrypts in place: the buffer must be its own, mutable bytes.
        let mut pool = PacketPool::new(64, 2);
        let mut a = pool.take(&[0; 32]);
        a[0] = 9;
        let b = pool.take(&[1; 32]);
        assert_eq!(a[0], 9);
        assert_eq!(b[0], 1);
    }
}
