//! A bounds-checked little-endian cursor over wire bytes.
//!
//! Every read either returns a value or [`Error::Truncated`] naming the field; nothing
//! here can panic, whatever the input.

use byteorder::{ByteOrder, LittleEndian};

use crate::encoding::TextDecoder;
use crate::error::{Error, Result};

/// Index of the first NUL byte, eight bytes at a time (strings are most of every reply).
pub fn find_nul(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        let x = LittleEndian::read_u64(word);
        // The lowest flagged byte is the first zero byte; flags above it may be false.
        let zeros = x.wrapping_sub(ONES) & !x & HIGHS;
        if zeros != 0 {
            return Some(base + (zeros.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    words.remainder().iter().position(|&b| b == 0).map(|i| base + i)
}

/// A cursor over a byte slice that never reads past its end.
///
/// Offsets in errors count from `base`, so a parser handed the body of a message can
/// report positions in the whole datagram.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf` whose error offsets start at `base`.
    pub fn new(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    /// Offset of the next byte, counted from `base`.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The bytes not read yet, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    fn truncated(&self, field: &'static str) -> Error {
        Error::Truncated { field, offset: self.offset() }
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.truncated(field))?;
        let out = self.buf.get(self.pos..end).ok_or_else(|| self.truncated(field))?;
        self.pos = end;
        Ok(out)
    }

    /// The next four bytes, as an array.
    pub fn array4(&mut self, field: &'static str) -> Result<[u8; 4]> {
        let b = self.bytes(4, field)?;
        let mut out = [0; 4];
        out.copy_from_slice(b);
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.truncated(field))?;
        self.pos += 1;
        Ok(b)
    }

    /// A byte read as a boolean: any non-zero value is true.
    pub fn bool(&mut self, field: &'static str) -> Result<bool> {
        Ok(self.u8(field)? != 0)
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self, field: &'static str) -> Result<u16> {
        Ok(LittleEndian::read_u16(self.bytes(2, field)?))
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self, field: &'static str) -> Result<u32> {
        Ok(LittleEndian::read_u32(self.bytes(4, field)?))
    }

    /// A little-endian `i32`.
    pub fn i32(&mut self, field: &'static str) -> Result<i32> {
        Ok(LittleEndian::read_i32(self.bytes(4, field)?))
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self, field: &'static str) -> Result<u64> {
        Ok(LittleEndian::read_u64(self.bytes(8, field)?))
    }

    /// A little-endian IEEE-754 `f32`.
    pub fn f32(&mut self, field: &'static str) -> Result<f32> {
        Ok(LittleEndian::read_f32(self.bytes(4, field)?))
    }

    /// The bytes of a NUL-terminated string, without the NUL (which is consumed).
    /// A string whose terminator is missing is truncated.
    pub fn cstr(&mut self, field: &'static str) -> Result<&'a [u8]> {
        let rest = self.rest();
        let len = find_nul(rest).ok_or_else(|| self.truncated(field))?;
        let s = rest.get(..len).ok_or_else(|| self.truncated(field))?;
        self.pos += len + 1;
        Ok(s)
    }

    /// Skips a NUL-terminated string; true when it was complete.
    pub fn skip_cstr(&mut self) -> bool {
        match find_nul(self.rest()) {
            Some(len) => {
                self.pos += len + 1;
                true
            }
            None => false,
        }
    }

    /// Skips `n` bytes; true when they were there.
    pub fn skip(&mut self, n: usize) -> bool {
        if self.remaining() >= n {
            self.pos += n;
            true
        } else {
            false
        }
    }

    /// A NUL-terminated string decoded with `decoder`.
    pub fn text<D: TextDecoder>(&mut self, decoder: D, field: &'static str) -> Result<D::Text> {
        let start = self.offset();
        let bytes = self.cstr(field)?;
        decoder.decode(bytes).map_err(|e| Error::InvalidText { field, offset: start + e.valid_up_to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Encoding;

    #[test]
    fn reads_little_endian_values() {
        let data = [1, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12, 0, 0, 0x80, 0x3F];
        let mut r = Reader::new(&data, 0);
        assert_eq!(r.u8("a").unwrap(), 1);
        assert_eq!(r.u16("b").unwrap(), 0x1234);
        assert_eq!(r.u32("c").unwrap(), 0x1234_5678);
        assert_eq!(r.f32("d").unwrap(), 1.0);
        assert!(r.is_empty());
    }

    #[test]
    fn short_input_names_field_and_offset() {
        let mut r = Reader::new(&[1, 2, 3], 5);
        r.u8("first").unwrap();
        match r.u32("score") {
            Err(Error::Truncated { field, offset }) => {
                assert_eq!(field, "score");
                assert_eq!(offset, 6);
            }
            other => panic!("{other:?}"),
        }
        // A failed read consumes nothing.
        assert_eq!(r.remaining(), 2);
    }

    #[test]
    fn strings_need_their_terminator() {
        let mut r = Reader::new(b"ab\0cd", 0);
        assert_eq!(r.cstr("s").unwrap(), b"ab");
        assert!(matches!(r.cstr("t"), Err(Error::Truncated { field: "t", offset: 3 })));
        assert_eq!(r.rest(), b"cd");
    }

    #[test]
    fn strict_text_error_points_at_bad_byte() {
        let mut r = Reader::new(b"ok\xFF\0", 10);
        match r.text(Encoding::Utf8Strict, "name") {
            Err(Error::InvalidText { field, offset }) => {
                assert_eq!(field, "name");
                assert_eq!(offset, 12);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn huge_lengths_do_not_overflow() {
        let mut r = Reader::new(&[0; 4], 0);
        r.u8("x").unwrap();
        assert!(r.bytes(usize::MAX, "huge").is_err());
        assert!(!r.skip(usize::MAX));
    }

    #[test]
    fn nul_search_agrees_with_a_plain_scan() {
        let mut data = vec![1u8; 40];
        for len in 0..40 {
            for at in 0..=len {
                let mut d = data[..len].to_vec();
                if at < len {
                    d[at] = 0;
                }
                // High bytes around the zero must not produce false hits.
                for (i, b) in d.iter_mut().enumerate() {
                    if *b != 0 && i % 3 == 0 {
                        *b = 0x80 | i as u8;
                    }
                }
                assert_eq!(find_nul(&d), d.iter().position(|&b| b == 0), "len {len} at {at}");
            }
        }
        data[39] = 0;
        assert_eq!(find_nul(&data), Some(39));
        assert_eq!(find_nul(&[0x01, 0x00]), Some(1));
        assert_eq!(find_nul(&[0x80; 16]), None);
    }
}
