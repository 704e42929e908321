//! Lower-case hex display of byte strings, for the `Display`/`Debug` of ids and hashes.
//! A leaf module: it imports nothing of the protocol (the `hex` crate would need `alloc`
//! for this and is only a dev-dependency here).

use core::fmt;

/// Displays its bytes as lower-case hex, two digits each.
pub(crate) struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
