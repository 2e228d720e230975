//! [`Utf8Bytes`]: text that is known to be UTF-8, held as [`Bytes`].
//!
//! The crate's one module with `unsafe` code (`#![deny(unsafe_code)]`
//! everywhere else), and the one place it pays: the message level
//! validates a text message once, as its bytes arrive (failing fast), and
//! hands it out as `Utf8Bytes`, whose `&str` view then costs nothing.
//! Without `unsafe`, every `&str` view (or `String::from_utf8` on the
//! whole message) validates the bytes a second time: at 1 MiB of mixed
//! 1-4 byte text that second pass ran at std's ~3 GiB/s and made the
//! message level a fifth of fastwebsockets' speed (`docs/performance.md`).
//!
//! What it assumes: the bytes of a `Utf8Bytes` are valid UTF-8. Every
//! constructor either validates or is `from_validated`, whose callers
//! validated the bytes themselves; `from_validated` checks it again with a
//! `debug_assert!`, so the tests and the fuzz targets (debug assertions
//! on) check every text message the crate hands out. `Bytes` is
//! immutable, so nothing can break the invariant afterwards.
#![allow(unsafe_code)]

use crate::prelude::*;
use bytes::Bytes;
use core::borrow::Borrow;
use core::fmt;
use core::hash::{Hash, Hasher};
use core::ops::Deref;
use core::str::Utf8Error;

/// UTF-8 text held as [`Bytes`]: cheap to clone (a reference count) and
/// to send back, and a `&str` (it dereferences to `str`) without being
/// validated again. The message level hands out text messages as this.
///
/// ```
/// use wsproto::Utf8Bytes;
///
/// let text = Utf8Bytes::from("héllo");
/// assert_eq!(text, "héllo");
/// assert_eq!(text.len(), 6); // a `str` method, through `Deref`
/// assert!(Utf8Bytes::try_from(bytes::Bytes::from_static(b"\xff")).is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// Text from a `&'static str`, without a copy.
    pub const fn from_static(text: &'static str) -> Self {
        Utf8Bytes(Bytes::from_static(text.as_bytes()))
    }

    /// Bytes the caller has validated as UTF-8 (the receive paths, which
    /// validate text as it arrives).
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(
            core::str::from_utf8(&bytes).is_ok(),
            "Utf8Bytes::from_validated given bytes that are not UTF-8"
        );
        Utf8Bytes(bytes)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor validates the bytes or takes them from
        // `from_validated`, whose callers validated them (checked again
        // there with debug assertions on); `Bytes` never changes.
        unsafe { core::str::from_utf8_unchecked(&self.0) }
    }

    /// The text's bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// The bytes, giving up the UTF-8 guarantee (no copy).
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<str> for Utf8Bytes {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

// By hand: `Borrow<str>` needs the hash of the `str`, which `Bytes` (hashed
// as a byte slice) does not give.
impl Hash for Utf8Bytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl From<String> for Utf8Bytes {
    /// Takes the string's buffer, no copy.
    fn from(text: String) -> Self {
        Utf8Bytes(Bytes::from(text.into_bytes()))
    }
}

impl From<&str> for Utf8Bytes {
    /// Copies the text (see [`Utf8Bytes::from_static`] for no copy).
    fn from(text: &str) -> Self {
        Utf8Bytes(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Self {
        text.0
    }
}

impl From<Utf8Bytes> for String {
    /// Copies the text into a `String`.
    fn from(text: Utf8Bytes) -> Self {
        text.as_str().to_owned()
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = Utf8Error;
    /// Validates the bytes, no copy.
    fn try_from(bytes: Bytes) -> Result<Self, Utf8Error> {
        core::str::from_utf8(&bytes)?;
        Ok(Utf8Bytes(bytes))
    }
}

impl TryFrom<Vec<u8>> for Utf8Bytes {
    type Error = Utf8Error;
    /// Validates the bytes, no copy.
    fn try_from(bytes: Vec<u8>) -> Result<Self, Utf8Error> {
        Self::try_from(Bytes::from(bytes))
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Utf8Bytes {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Utf8Bytes> for str {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Utf8Bytes> for &str {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Utf8Bytes> for String {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        self.as_str() == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn conversions_keep_or_refuse_the_text() {
        let text = Utf8Bytes::from(String::from("añb€😀"));
        assert_eq!(text.as_str(), "añb€😀");
        assert_eq!(text, "añb€😀");
        assert_eq!("añb€😀", text);
        assert_eq!(String::from(text.clone()), "añb€😀");
        assert_eq!(text.as_bytes().len(), 11);
        assert_eq!(Bytes::from(text), "añb€😀".as_bytes());
        assert!(Utf8Bytes::try_from(vec![0xe2, 0x82]).is_err());
        assert!(Utf8Bytes::try_from(vec![0xed, 0xa0, 0x80]).is_err());
        assert_eq!(Utf8Bytes::try_from(b"ok".to_vec()).unwrap(), "ok");
        assert_eq!(Utf8Bytes::from_static("s").into_bytes(), &b"s"[..]);
        assert_eq!(
            format!("{} {:?}", Utf8Bytes::from("a\"b"), Utf8Bytes::from("a\"b")),
            "a\"b \"a\\\"b\""
        );
    }

    #[test]
    fn hashes_as_its_str_so_sets_find_it_by_str() {
        let set: HashSet<Utf8Bytes> = ["one", "two"].into_iter().map(Utf8Bytes::from).collect();
        assert!(set.contains("two"));
        assert!(!set.contains("three"));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "not UTF-8")]
    fn from_validated_checks_its_assumption_in_debug_builds() {
        let _ = Utf8Bytes::from_validated(Bytes::from_static(b"\xc3"));
    }
}
