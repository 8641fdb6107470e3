//! The one way the xtask fingerprints things (plans, selections, generated
//! files, environments, collections): SHA-256, shown as lower-case hex.

use sha2::{Digest, Sha256};

/// A fingerprint being built from fields.
#[derive(Default)]
pub struct Fingerprint(Sha256);

impl Fingerprint {
    pub fn new() -> Fingerprint {
        Fingerprint::default()
    }

    /// Adds raw bytes.
    pub fn bytes(&mut self, bytes: impl AsRef<[u8]>) -> &mut Fingerprint {
        self.0.update(bytes.as_ref());
        self
    }

    /// Adds one field: its bytes and a separator, so that `["ab", "c"]` and
    /// `["a", "bc"]` differ.
    pub fn field(&mut self, bytes: impl AsRef<[u8]>) -> &mut Fingerprint {
        self.0.update(bytes.as_ref());
        self.0.update([0]);
        self
    }

    /// The first `bytes` bytes of the digest, as hex (all 32 for `usize::MAX`).
    pub fn hex(&mut self, bytes: usize) -> String {
        let digest = std::mem::take(&mut self.0).finalize();
        hex(&digest[..bytes.min(digest.len())])
    }
}

/// The first `bytes` bytes of the SHA-256 of `data`, as hex.
pub fn of(data: impl AsRef<[u8]>, bytes: usize) -> String {
    Fingerprint::new().bytes(data).hex(bytes)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_separated_and_lengths_kept() {
        let ab_c = Fingerprint::new().field("ab").field("c").hex(8);
        let a_bc = Fingerprint::new().field("a").field("bc").hex(8);
        assert_ne!(ab_c, a_bc);
        assert_eq!(ab_c.len(), 16);
        assert_eq!(
            of("", usize::MAX),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
