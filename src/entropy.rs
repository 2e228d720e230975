//! Where client masking keys come from.
//!
//! RFC 6455 section 5.3 asks for masks that a script cannot predict. The
//! default source reads the operating system's generator; tests and special
//! environments supply their own [`EntropySource`].

use core::fmt;

/// A source of unpredictable bytes for masking keys (and, later, handshake
/// keys).
pub trait EntropySource: Send {
    /// Fills `dest` entirely with fresh random bytes.
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError>;
}

/// The entropy source failed; no frame was produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntropyError {
    os_code: Option<i32>,
}

impl EntropyError {
    /// An error from a custom source, with an optional OS error code.
    pub const fn new(os_code: Option<i32>) -> Self {
        EntropyError { os_code }
    }

    /// The operating system's error code, if the OS reported one.
    pub const fn os_code(&self) -> Option<i32> {
        self.os_code
    }
}

impl fmt::Display for EntropyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.os_code {
            Some(code) => write!(f, "entropy source failed (os error {code})"),
            None => f.write_str("entropy source failed"),
        }
    }
}

impl core::error::Error for EntropyError {}

/// How many random bytes [`OsEntropy`] fetches per system call: 16 masks.
#[cfg(feature = "std")]
const OS_BATCH: usize = 64;

/// The operating system's generator (via `getrandom`), read in batches so a
/// client does not make a system call per frame. Needs the `std` feature.
#[cfg(feature = "std")]
#[derive(Clone)]
pub struct OsEntropy {
    batch: [u8; OS_BATCH],
    used: usize,
}

#[cfg(feature = "std")]
impl OsEntropy {
    /// A source that will read the OS generator on first use.
    pub const fn new() -> Self {
        OsEntropy {
            batch: [0; OS_BATCH],
            used: OS_BATCH,
        }
    }
}

#[cfg(feature = "std")]
impl Default for OsEntropy {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "std")]
impl fmt::Debug for OsEntropy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print buffered random bytes.
        f.write_str("OsEntropy")
    }
}

#[cfg(feature = "std")]
impl EntropySource for OsEntropy {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        if dest.len() > OS_BATCH {
            return getrandom::fill(dest).map_err(os_error);
        }
        if OS_BATCH - self.used < dest.len() {
            getrandom::fill(&mut self.batch).map_err(os_error)?;
            self.used = 0;
        }
        let end = self.used + dest.len();
        dest.copy_from_slice(&self.batch[self.used..end]);
        // Each byte is handed out once.
        self.batch[self.used..end].fill(0);
        self.used = end;
        Ok(())
    }
}

#[cfg(feature = "std")]
fn os_error(error: getrandom::Error) -> EntropyError {
    EntropyError::new(error.raw_os_error())
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn os_entropy_gives_distinct_masks_across_batches() {
        let mut source = OsEntropy::new();
        let mut masks = Vec::new();
        for _ in 0..40 {
            let mut mask = [0u8; 4];
            source.fill(&mut mask).unwrap();
            masks.push(u32::from_ne_bytes(mask));
        }
        masks.sort_unstable();
        masks.dedup();
        // 40 draws from 2^32 collide with probability ~2e-7.
        assert_eq!(masks.len(), 40);
        let mut big = [0u8; 100];
        source.fill(&mut big).unwrap();
        assert!(big.iter().any(|&b| b != 0));
    }
}
