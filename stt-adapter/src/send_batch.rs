//! [`SendBatch`]: consecutive engine transmits to one UDP destination joined into one
//! GSO send. The engine's pacer releases a few packets per call; the driver asks
//! again at once and, while the next transmit continues the batch (same destination,
//! same segment size, every earlier segment full), sends them with one syscall.
//!
//! Owns only the bookkeeping of where a batch sits in the driver's send buffer; it
//! must not decide what is sent or when (that is the engine's pacing).

use std::net::SocketAddr;

/// One run of equal-size segments for one destination, at `start..start + len` of the
/// driver's send buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SendBatch {
    /// The socket it leaves by.
    pub(crate) socket: usize,
    /// Where it goes.
    pub(crate) dst: SocketAddr,
    /// Its offset in the send buffer.
    pub(crate) start: usize,
    /// Its length in bytes.
    pub(crate) len: usize,
    /// The size of each segment but the last, which may be shorter.
    seg: usize,
}

impl SendBatch {
    /// A batch of one engine transmit: `len` bytes in segments of `segment_size`
    /// (one datagram when `None`).
    pub(crate) fn new(
        socket: usize,
        dst: SocketAddr,
        start: usize,
        len: usize,
        segment_size: Option<usize>,
    ) -> Self {
        Self {
            socket,
            dst,
            start,
            len,
            seg: segment_size.unwrap_or(len).max(1),
        }
    }

    /// Joins the transmit that follows this batch in the send buffer if it continues
    /// it: the same destination, and segments of the batch's size (a single datagram
    /// may be shorter, and then ends the batch). Only a batch whose segments are all
    /// full takes more. Returns false, changing nothing, otherwise.
    pub(crate) fn try_join(
        &mut self,
        dst: SocketAddr,
        len: usize,
        segment_size: Option<usize>,
    ) -> bool {
        let fits = match segment_size {
            Some(s) => s == self.seg,
            None => len <= self.seg,
        };
        if dst != self.dst || !fits || len == 0 || !self.len.is_multiple_of(self.seg) {
            return false;
        }
        self.len += len;
        true
    }

    /// The segment size to pass to the socket: `None` for a single datagram.
    pub(crate) fn segment_size(&self) -> Option<usize> {
        (self.len > self.seg).then_some(self.seg)
    }

    /// The first byte past the batch in the send buffer.
    pub(crate) fn end(&self) -> usize {
        self.start + self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn full_segments_to_one_destination_join() {
        let mut b = SendBatch::new(0, addr(1), 0, 3000, Some(1000));
        assert!(b.try_join(addr(1), 2000, Some(1000)));
        assert!(b.try_join(addr(1), 1000, None), "one full datagram");
        assert_eq!(b.len, 6000);
        assert_eq!(b.segment_size(), Some(1000));
        assert_eq!(b.end(), 6000);
    }

    #[test]
    fn a_short_datagram_joins_last_and_closes_the_batch() {
        let mut b = SendBatch::new(0, addr(1), 0, 2000, Some(1000));
        assert!(b.try_join(addr(1), 400, None));
        assert!(
            !b.try_join(addr(1), 1000, Some(1000)),
            "after a short segment"
        );
        assert!(!b.try_join(addr(1), 100, None));
        assert_eq!(b.len, 2400);
        assert_eq!(b.segment_size(), Some(1000));
    }

    #[test]
    fn another_destination_or_segment_size_does_not_join() {
        let mut b = SendBatch::new(0, addr(1), 0, 2000, Some(1000));
        assert!(!b.try_join(addr(2), 1000, Some(1000)));
        assert!(!b.try_join(addr(1), 2400, Some(1200)));
        assert!(
            !b.try_join(addr(1), 1200, None),
            "a datagram longer than a segment"
        );
        assert!(!b.try_join(addr(1), 0, None));
        assert_eq!(b.len, 2000);
    }

    #[test]
    fn a_single_datagram_is_sent_without_segmentation() {
        let b = SendBatch::new(1, addr(1), 500, 700, None);
        assert_eq!(b.segment_size(), None);
        assert_eq!(b.end(), 1200);
        let mut b = b;
        assert!(
            b.try_join(addr(1), 700, None),
            "an equal datagram continues it"
        );
        assert_eq!(b.segment_size(), Some(700));
    }
}
