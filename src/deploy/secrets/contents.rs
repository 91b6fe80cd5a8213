//! A secret's contents in memory: bytes wiped when dropped and never shown.

/// A secret's bytes, overwritten with zeros when dropped; its `Debug` shows the length.
pub struct Contents(Vec<u8>);

impl Contents {
    /// Takes `bytes` as a secret's contents.
    pub fn new(bytes: Vec<u8>) -> Contents {
        Contents(bytes)
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Contents {
    fn drop(&mut self) {
        for byte in self.0.iter_mut() {
            // SAFETY: a valid, aligned, exclusive reference to one byte; a volatile
            // write is not optimised away like a plain one before the free.
            unsafe { std::ptr::write_volatile(byte, 0) };
        }
    }
}

impl std::fmt::Debug for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Contents({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_are_not_shown_by_debug() {
        let c = Contents::new(b"hunter2".to_vec());
        assert_eq!(format!("{c:?}"), "Contents(7 bytes)");
    }
}
