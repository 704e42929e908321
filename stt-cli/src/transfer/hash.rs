//! SHA3-256 of transferred files, incremental and cloneable (a resumed file continues
//! from the state after its held prefix). aws-lc's Keccak: on the development host it
//! hashes ~570 MB/s against ~490 MB/s for the `sha3` crate, and hashing is the
//! largest CPU cost of a transfer on both sides.

use aws_lc_rs::digest::{Context, SHA3_256};

/// A running SHA3-256.
#[derive(Clone)]
pub struct Sha3(Context);

impl Default for Sha3 {
    fn default() -> Self {
        Self(Context::new(&SHA3_256))
    }
}

impl Sha3 {
    /// Adds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything added.
    pub fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.0.finish().as_ref());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha3::Digest;

    #[test]
    fn matches_the_sha3_crate_in_pieces_and_after_clone() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        let want: [u8; 32] = sha3::Sha3_256::digest(&data).into();
        let mut h = Sha3::default();
        h.update(&data[..333]);
        let mut copy = h.clone();
        h.update(&data[333..]);
        copy.update(&data[333..]);
        assert_eq!(h.finish(), want);
        assert_eq!(copy.finish(), want);
        assert_eq!(
            hex::encode(Sha3::default().finish()),
            "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"
        );
    }
}
