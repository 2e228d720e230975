//! The work meter the linear-work tests read (`tests/heap/linear_work.rs`,
//! through the hidden `bytes_examined` methods): bytes parsed, copied,
//! searched, unmasked and validated. It counts with the `test-meter`
//! feature only; without it, a [`Meter`] is a zero-sized type whose
//! additions compile to nothing, so the receive path and the handshakes
//! carry no counter and the places that count stay as they are.

use core::ops::AddAssign;

/// Bytes examined so far (see the module's documentation).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meter {
    #[cfg(feature = "test-meter")]
    bytes: u64,
}

impl Meter {
    pub(crate) const ZERO: Meter = Meter {
        #[cfg(feature = "test-meter")]
        bytes: 0,
    };

    /// The bytes counted.
    #[cfg(feature = "test-meter")]
    pub(crate) fn get(self) -> u64 {
        self.bytes
    }
}

impl AddAssign<u64> for Meter {
    #[inline(always)]
    fn add_assign(&mut self, bytes: u64) {
        #[cfg(feature = "test-meter")]
        {
            self.bytes += bytes;
        }
        #[cfg(not(feature = "test-meter"))]
        let _ = bytes;
    }
}
