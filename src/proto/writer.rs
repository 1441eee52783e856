//! Appending little-endian A2S values to a buffer, for the encoders.

use byteorder::{ByteOrder, LittleEndian};

use crate::error::{Error, Result};

/// Appends A2S fields to a `Vec<u8>`.
pub(crate) struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        Writer { out }
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.out.extend_from_slice(b);
        self
    }

    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.out.push(v);
        self
    }

    pub(crate) fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }

    pub(crate) fn u16(&mut self, v: u16) -> &mut Self {
        let mut b = [0; 2];
        LittleEndian::write_u16(&mut b, v);
        self.bytes(&b)
    }

    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        let mut b = [0; 4];
        LittleEndian::write_u32(&mut b, v);
        self.bytes(&b)
    }

    pub(crate) fn i32(&mut self, v: i32) -> &mut Self {
        let mut b = [0; 4];
        LittleEndian::write_i32(&mut b, v);
        self.bytes(&b)
    }

    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        let mut b = [0; 8];
        LittleEndian::write_u64(&mut b, v);
        self.bytes(&b)
    }

    pub(crate) fn f32(&mut self, v: f32) -> &mut Self {
        let mut b = [0; 4];
        LittleEndian::write_f32(&mut b, v);
        self.bytes(&b)
    }

    /// A NUL-terminated string; a NUL inside it cannot be represented.
    pub(crate) fn cstr(&mut self, s: impl AsRef<[u8]>) -> Result<&mut Self> {
        let s = s.as_ref();
        if s.contains(&0) {
            return Err(Error::Unencodable("string contains a NUL byte"));
        }
        Ok(self.bytes(s).u8(0))
    }
}
