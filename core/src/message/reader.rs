//! A bounds-checked big-endian reader over a `Bytes` record.

use bytes::Bytes;

use super::MessageError;

pub(crate) struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a Bytes) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], MessageError> {
        let end = self.pos.checked_add(N);
        let bytes =
            end.and_then(|end| self.buf.get(self.pos..end))
                .ok_or(MessageError::Truncated {
                    field,
                    needed: N,
                    remaining: self.remaining(),
                })?;
        let out = <[u8; N]>::try_from(bytes).map_err(|_| MessageError::Truncated {
            field,
            needed: N,
            remaining: self.remaining(),
        })?;
        self.pos += N;
        Ok(out)
    }

    pub(crate) fn i8(&mut self, field: &'static str) -> Result<i8, MessageError> {
        self.array::<1>(field).map(i8::from_be_bytes)
    }

    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16, MessageError> {
        self.array::<2>(field).map(i16::from_be_bytes)
    }

    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, MessageError> {
        self.array::<4>(field).map(i32::from_be_bytes)
    }

    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64, MessageError> {
        self.array::<8>(field).map(i64::from_be_bytes)
    }

    /// `n` raw bytes (`n` from a length field; negative or beyond the record is a lying length).
    pub(crate) fn bytes(&mut self, field: &'static str, n: i64) -> Result<Bytes, MessageError> {
        let len = usize::try_from(n)
            .ok()
            .filter(|&len| len <= self.remaining())
            .ok_or(MessageError::BadLength { field, len: n })?;
        let start = self.pos;
        self.pos += len;
        Ok(self.buf.slice(start..start + len))
    }

    pub(crate) fn fixed(&mut self, field: &'static str, n: usize) -> Result<Bytes, MessageError> {
        if n > self.remaining() {
            return Err(MessageError::Truncated {
                field,
                needed: n,
                remaining: self.remaining(),
            });
        }
        let start = self.pos;
        self.pos += n;
        Ok(self.buf.slice(start..start + n))
    }
}
