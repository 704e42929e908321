//! The anti-replay window (RFC 6479 bitmap ring; PROTOCOL.md §6.4).
//!
//! [`ReplayWindow::check`] is a pure query run before the AEAD open; [`ReplayWindow::mark`]
//! runs only after the tag verifies, so a forged high packet number cannot slide the window.
//! It knows nothing of keys; one window serves all key phases of a session.

/// Packets the default window tracks below the largest one accepted.
pub const REPLAY_WINDOW: u64 = 2048;

/// Default ring size in 64-bit words: one word more than the window, so the word holding the
/// largest packet number never overlaps the oldest tracked one.
const DEFAULT_WORDS: usize = (REPLAY_WINDOW as usize) / 64 + 1;

/// Why a packet number is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// This packet number was already accepted.
    #[error("duplicate packet number {0}")]
    Duplicate(u64),
    /// The packet number is below the window.
    #[error("packet number {0} is below the replay window")]
    TooOld(u64),
}

/// A sliding bitmap of accepted packet numbers: `(WORDS − 1) × 64` packets below the largest.
#[derive(Clone, PartialEq, Eq)]
pub struct ReplayWindow<const WORDS: usize = DEFAULT_WORDS> {
    bits: [u64; WORDS],
    /// Largest accepted packet number plus one (0 = nothing accepted yet).
    next: u64,
}

impl<const WORDS: usize> core::fmt::Debug for ReplayWindow<WORDS> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReplayWindow")
            .field("largest", &self.largest())
            .finish_non_exhaustive()
    }
}

impl<const WORDS: usize> Default for ReplayWindow<WORDS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const WORDS: usize> ReplayWindow<WORDS> {
    /// How many packet numbers below the largest one are tracked.
    pub const WINDOW: u64 = (WORDS as u64 - 1) * 64;

    /// An empty window.
    pub fn new() -> Self {
        Self {
            bits: [0; WORDS],
            next: 0,
        }
    }

    /// The largest accepted packet number, if any.
    pub fn largest(&self) -> Option<u64> {
        self.next.checked_sub(1)
    }

    fn slot(pn: u64) -> (usize, u64) {
        (((pn / 64) % WORDS as u64) as usize, 1u64 << (pn % 64))
    }

    /// Whether `pn` may be accepted; changes nothing.
    pub fn check(&self, pn: u64) -> Result<(), ReplayError> {
        let Some(top) = self.largest() else {
            return Ok(());
        };
        if pn > top {
            return Ok(());
        }
        if top - pn >= Self::WINDOW {
            return Err(ReplayError::TooOld(pn));
        }
        let (w, bit) = Self::slot(pn);
        if self.bits[w] & bit != 0 {
            return Err(ReplayError::Duplicate(pn));
        }
        Ok(())
    }

    /// Records `pn` as accepted. Call only after [`check`](Self::check) passed and the
    /// packet authenticated.
    pub fn mark(&mut self, pn: u64) {
        match self.largest() {
            Some(top) if pn <= top => {
                if top - pn >= Self::WINDOW {
                    return;
                }
            }
            top => {
                // Clear the words the window slides over (at most the whole ring).
                let first = top.map_or(0, |t| t / 64 + 1);
                let last = pn / 64;
                let span = (last + 1).saturating_sub(first).min(WORDS as u64);
                for i in 0..span {
                    let (w, _) = Self::slot((last - i) * 64);
                    self.bits[w] = 0;
                }
                self.next = pn.saturating_add(1);
            }
        }
        let (w, bit) = Self::slot(pn);
        self.bits[w] |= bit;
    }

    /// `check` then `mark`, for callers that authenticate nothing (tests, models).
    pub fn check_and_mark(&mut self, pn: u64) -> Result<(), ReplayError> {
        self.check(pn)?;
        self.mark(pn);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    #[test]
    fn window_is_at_least_2048() {
        const { assert!(ReplayWindow::<DEFAULT_WORDS>::WINDOW >= 2048) };
    }

    #[test]
    fn counter_edge_cases() {
        // The cases of WireGuard's counter selftest, reimplemented.
        let mut w = ReplayWindow::<DEFAULT_WORDS>::new();
        let win = ReplayWindow::<DEFAULT_WORDS>::WINDOW;
        assert!(w.check_and_mark(0).is_ok());
        assert_eq!(w.check_and_mark(0), Err(ReplayError::Duplicate(0)));
        assert!(w.check_and_mark(1).is_ok());
        assert!(w.check_and_mark(3).is_ok());
        assert!(w.check_and_mark(2).is_ok());
        assert!(w.check_and_mark(win).is_ok());
        assert_eq!(w.check(0), Err(ReplayError::TooOld(0)));
        assert!(w.check_and_mark(win + 1).is_ok());
        assert_eq!(w.check(1), Err(ReplayError::TooOld(1)));
        assert_eq!(w.check(2), Err(ReplayError::Duplicate(2)));
        assert!(w.check_and_mark(4).is_ok());
        assert!(w.check_and_mark(u64::MAX - 1).is_ok());
        assert_eq!(
            w.check(u64::MAX - 1),
            Err(ReplayError::Duplicate(u64::MAX - 1))
        );
        assert!(w.check_and_mark(u64::MAX - 2).is_ok());
        assert_eq!(w.check(win + 1), Err(ReplayError::TooOld(win + 1)));
    }

    #[test]
    fn check_changes_nothing() {
        let mut w = ReplayWindow::<DEFAULT_WORDS>::new();
        w.mark(5);
        let before = w.clone();
        let _ = w.check(1 << 31);
        assert_eq!(w, before);
        assert!(w.check(4).is_ok());
    }

    proptest! {
        #[test]
        fn matches_naive_model(ops in proptest::collection::vec((0u64..6000, any::<bool>()), 1..600)) {
            let mut w = ReplayWindow::<DEFAULT_WORDS>::new();
            let win = ReplayWindow::<DEFAULT_WORDS>::WINDOW;
            let mut seen = BTreeSet::new();
            for (pn, authentic) in ops {
                let max = seen.iter().next_back().copied();
                let model = if seen.contains(&pn) {
                    Err(ReplayError::Duplicate(pn))
                } else if max.is_some_and(|m: u64| pn + win <= m) {
                    Err(ReplayError::TooOld(pn))
                } else {
                    Ok(())
                };
                let ours = w.check(pn);
                // A too-old duplicate may be reported either way; both refuse.
                prop_assert_eq!(ours.is_ok(), model.is_ok(), "pn {}", pn);
                if ours.is_ok() && authentic {
                    w.mark(pn);
                    seen.insert(pn);
                }
            }
            let _: Vec<u64> = seen.into_iter().collect();
        }
    }
}
