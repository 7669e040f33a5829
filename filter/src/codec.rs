//! A tiny length-prefixed binary codec for the values the filter keeps in shared data.
//!
//! Shared-data values are read and rewritten on every merge tick, so they use a compact
//! binary form instead of JSON. Decoding never panics: a short, overlong or otherwise
//! malformed value is a [`DecodeError`].

use thiserror::Error;

/// Why a shared-data value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The value ended before a field was complete.
    #[error("value truncated")]
    Truncated,
    /// The value does not start with the Faultline magic and version.
    #[error("not a Faultline value (bad magic or version)")]
    BadMagic,
    /// The value is of another kind than the one asked for.
    #[error("value kind {found}, expected {expected}")]
    WrongKind {
        /// Kind byte expected by the caller.
        expected: u8,
        /// Kind byte found in the value.
        found: u8,
    },
    /// A string field is not UTF-8.
    #[error("string field is not UTF-8")]
    BadUtf8,
    /// Bytes remain after the last field.
    #[error("{0} trailing bytes")]
    Trailing(usize),
    /// A field holds a value the filter never writes.
    #[error("invalid field: {0}")]
    Invalid(&'static str),
}

/// Appends fields to a byte buffer.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// A writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Writer { buf: Vec::with_capacity(capacity) }
    }

    /// Appends one byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// Appends a little-endian u16.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Appends a little-endian u64.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Appends a string prefixed by its length as u16 (longer strings are cut at a char
    /// boundary; every string the filter stores is far shorter).
    pub fn str(&mut self, s: &str) {
        let s = truncate(s, usize::from(u16::MAX));
        // `truncate` guarantees the length fits in u16.
        self.u16(u16::try_from(s.len()).unwrap_or(u16::MAX));
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// The encoded bytes.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads fields from a byte slice, front to back.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = self.take(1)?;
        b.first().copied().ok_or(DecodeError::Truncated)
    }

    /// Reads a little-endian u16.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        let arr: [u8; 2] = b.try_into().map_err(|_| DecodeError::Truncated)?;
        Ok(u16::from_le_bytes(arr))
    }

    /// Reads a little-endian u64.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let arr: [u8; 8] = b.try_into().map_err(|_| DecodeError::Truncated)?;
        Ok(u64::from_le_bytes(arr))
    }

    /// Reads a u16-length-prefixed UTF-8 string.
    pub fn str(&mut self) -> Result<&'a str, DecodeError> {
        let len = usize::from(self.u16()?);
        let b = self.take(len)?;
        std::str::from_utf8(b).map_err(|_| DecodeError::BadUtf8)
    }

    /// Whether every byte was read (an optional trailing field is absent).
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Fails unless every byte was read.
    pub fn end(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() { Ok(()) } else { Err(DecodeError::Trailing(self.rest.len())) }
    }
}

/// `s` cut to at most `max` bytes, at a char boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_fields() {
        let mut w = Writer::default();
        w.u8(7);
        w.u16(513);
        w.u64(u64::MAX - 1);
        w.str("héllo");
        let bytes = w.finish();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.u16(), Ok(513));
        assert_eq!(r.u64(), Ok(u64::MAX - 1));
        assert_eq!(r.str(), Ok("héllo"));
        assert_eq!(r.end(), Ok(()));
    }

    #[test]
    fn short_and_trailing_input_are_errors() {
        assert_eq!(Reader::new(&[1]).u16(), Err(DecodeError::Truncated));
        assert_eq!(Reader::new(&[5, 0, b'a']).str(), Err(DecodeError::Truncated));
        assert_eq!(Reader::new(&[2, 0, 0xff, 0xfe]).str(), Err(DecodeError::BadUtf8));
        let mut r = Reader::new(&[1, 2]);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.end(), Err(DecodeError::Trailing(1)));
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("aé", 3), "aé");
    }
}
