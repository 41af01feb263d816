//! A SHA-256 whose state survives between steps (saved at 64-byte cuts).

use crate::domain::store::StoreError;
use serde::{Deserialize, Serialize};
use sha2::digest::generic_array::GenericArray;

/// SHA-256 whose state can be saved between parts: whole 64-byte blocks are absorbed as they
/// are uploaded; `finish` pads the tail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sha256Mid {
    state: [u32; 8],
    bytes: u64,
}

const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

impl Default for Sha256Mid {
    fn default() -> Self {
        Sha256Mid {
            state: H0,
            bytes: 0,
        }
    }
}

impl Sha256Mid {
    /// Absorbs whole blocks; `data.len()` must be a multiple of 64 (anything after the last whole
    /// block is refused, not dropped).
    pub fn absorb(&mut self, data: &[u8]) -> Result<(), StoreError> {
        if data.len() % 64 != 0 {
            return Err(StoreError::Failed(
                "a part is not a whole number of blocks".into(),
            ));
        }
        for block in data.chunks_exact(64) {
            sha2::compress256(
                &mut self.state,
                std::slice::from_ref(GenericArray::from_slice(block)),
            );
        }
        self.bytes += data.len() as u64;
        Ok(())
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The hex digest of everything absorbed followed by `tail`.
    pub fn finish(mut self, tail: &[u8]) -> String {
        let total_bits = (self.bytes + tail.len() as u64).wrapping_mul(8);
        let whole = tail.len() - tail.len() % 64;
        let _ = self.absorb(&tail[..whole]);
        let mut last = tail[whole..].to_vec();
        last.push(0x80);
        while last.len() % 64 != 56 {
            last.push(0);
        }
        last.extend_from_slice(&total_bits.to_be_bytes());
        for block in last.chunks_exact(64) {
            sha2::compress256(
                &mut self.state,
                std::slice::from_ref(GenericArray::from_slice(block)),
            );
        }
        self.state.iter().map(|w| format!("{w:08x}")).collect()
    }
}
