//! The driver's clock as the timers see it: offsets (`Duration`) from an
//! origin, so the timer logic needs only `core`. Without `std` the driver
//! passes offsets from an origin of its own choosing; with `std` it may
//! pass `Instant`s, and the first one becomes the origin.

use core::time::Duration;
use std::time::Instant;

/// The origin of the `Instant`s a driver passes in.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Clock {
    origin: Option<Instant>,
}

impl Clock {
    /// `now` as an offset from the first instant seen.
    pub(crate) fn offset(&mut self, now: Instant) -> Duration {
        let origin = *self.origin.get_or_insert(now);
        now.saturating_duration_since(origin)
    }

    /// The instant `offset` from the origin; `None` past the end of
    /// `Instant`'s range (never, in practice) or before any instant was
    /// seen.
    pub(crate) fn instant(&self, offset: Duration) -> Option<Instant> {
        self.origin?.checked_add(offset)
    }
}
