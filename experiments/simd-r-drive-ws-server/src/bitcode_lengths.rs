//! Reads the length columns of a bitcode 0.6 encoding without decoding it, so that what a
//! request decodes to is known before any of it is allocated (see `decoded_size.rs`).
//!
//! bitcode encodes column by column: a `Vec<u8>` field of `n` values is a column of `n`
//! lengths, then one column of all their bytes. Both are packed: a column whose bytes are
//! all below 16 (or within 16 of their minimum) takes 4, 2, 1.6, 1 or 0.6 bits a byte.
//! Decoding unpacks each column into a buffer of its full size and then copies each value
//! out, so a column of zeros briefly takes 16 times its size on the wire. Reading only the
//! lengths costs one pass over the length columns (a histogram of their packed bytes) and
//! nothing for the value bytes, which are skipped by their packed size.
//!
//! No crate offers this (bitcode's decoders are private), so it is written here after
//! bitcode 0.6.9's `length.rs`, `pack.rs` and `pack_ints.rs`; the tests check it against
//! what bitcode itself encodes and decodes, packing by packing.

/// An encoding being read, front to back.
pub(crate) struct Columns<'a> {
    input: &'a [u8],
}

/// Why an encoding cannot be read; bitcode would refuse it as well.
pub(crate) type Error = String;

/// A column of `count` bytes as packed: the packed bytes, each of which holds `per_byte`
/// digits below `factor` (the first one in its lowest digit), each to be added to `min`.
struct Packed<'a> {
    bytes: &'a [u8],
    count: usize,
    factor: u8,
    per_byte: usize,
    min: u8,
}

impl<'a> Columns<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Columns<'a> {
        Columns { input }
    }

    /// Checks that nothing is left, as bitcode does.
    pub(crate) fn end(self) -> Result<(), Error> {
        match self.input.len() {
            0 => Ok(()),
            n => Err(format!("{n} bytes after the end of the encoding")),
        }
    }

    /// Reads a column of `count` lengths (bitcode's `LengthDecoder`) and returns their sum.
    /// Lengths below 255 are one packed byte each; a 255 says that the length is in a
    /// second column, of integers.
    pub(crate) fn lengths(&mut self, count: usize) -> Result<u64, Error> {
        let (small_sum, large_count) = self.byte_column(count)?.tally();
        let large_sum = self.large_lengths(large_count)?;
        (small_sum - 255 * large_count as u64)
            .checked_add(large_sum)
            .ok_or_else(|| "a length overflows".to_string())
    }

    /// Skips a column of `count` bytes (the bytes of the values of a `Vec<u8>` field).
    pub(crate) fn skip_bytes(&mut self, count: u64) -> Result<(), Error> {
        let count = usize::try_from(count).map_err(|_| eof())?;
        self.byte_column(count).map(drop)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if n > self.input.len() {
            return Err(eof());
        }
        let (taken, rest) = self.input.split_at(n);
        self.input = rest;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, Error> {
        self.take(1).map(|b| b[0])
    }

    /// A column of `count` bytes, as bitcode's `pack_bytes` writes it: up to two bytes as
    /// they are; else a byte that says the packing (and whether a minimum follows), then
    /// the bytes, whole or packed.
    fn byte_column(&mut self, count: usize) -> Result<Packed<'a>, Error> {
        let raw = |bytes| Packed {
            bytes,
            count,
            factor: 0,
            per_byte: 1,
            min: 0,
        };
        if count <= 2 {
            return Ok(raw(self.take(count)?));
        }
        let packing = self.byte()?;
        let (factor, per_byte) = match packing.div_ceil(2) {
            0 => return Ok(raw(self.take(count)?)),
            1 => (16, 2),
            2 => (6, 3),
            3 => (4, 4),
            4 => (3, 5),
            5 => (2, 8),
            _ => return Err(format!("invalid packing {packing}")),
        };
        let min = if packing & 1 == 1 { self.byte()? } else { 0 };
        Ok(Packed {
            bytes: self.take(count.div_ceil(per_byte))?,
            count,
            factor,
            per_byte,
            min,
        })
    }

    /// The second column of a length column: `count` integers, as bitcode's `pack_ints`
    /// writes `u64`s (with no packing byte when there are none). Returns their sum.
    fn large_lengths(&mut self, count: usize) -> Result<u64, Error> {
        if count == 0 {
            return Ok(0);
        }
        let packing = self.byte()?;
        let width = match packing.div_ceil(2) {
            0 => 8,
            1 => 4,
            2 => 2,
            3 => 1,
            _ => return Err(format!("invalid packing {packing} of lengths")),
        };
        let min = match packing & 1 {
            1 => u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")),
            _ => 0,
        };
        let overflow = || "lengths overflow".to_string();
        let mut sum: u64 = 0;
        let mut add = |v: u64| -> Result<(), Error> {
            sum = sum.checked_add(v.wrapping_add(min)).ok_or_else(overflow)?;
            Ok(())
        };
        if width == 1 {
            self.byte_column(count)?.each(|v| add(u64::from(v)))?;
        } else {
            let bytes = self.take(count.checked_mul(width).ok_or_else(eof)?)?;
            for int in bytes.chunks_exact(width) {
                let mut le = [0; 8];
                le[..width].copy_from_slice(int);
                add(u64::from_le_bytes(le))?;
            }
        }
        Ok(sum)
    }
}

impl Packed<'_> {
    /// The digits of one packed byte, lowest first, as bitcode unpacks them.
    fn digits(&self, mut byte: u8, n: usize) -> impl Iterator<Item = u8> {
        let (factor, min) = (self.factor, self.min);
        (0..n).map(move |_| match factor {
            0 => byte,
            _ => {
                let digit = byte % factor;
                byte /= factor;
                digit.wrapping_add(min)
            }
        })
    }

    /// The whole bytes, then the last one and how many of its digits count.
    fn split(&self) -> (&[u8], Option<(u8, usize)>) {
        let whole = self.count / self.per_byte;
        let last = self
            .bytes
            .get(whole)
            .map(|&b| (b, self.count % self.per_byte));
        (&self.bytes[..whole], last)
    }

    /// The sum of the column's values and how many are 255, in one pass over the packed
    /// bytes (a histogram, then the digits of each byte value that occurs).
    fn tally(&self) -> (u64, usize) {
        let (whole, last) = self.split();
        let mut histogram = [0u64; 256];
        for &byte in whole {
            histogram[byte as usize] += 1;
        }
        let per_byte = self.per_byte;
        let occurring = (0..=255u8).filter(|&b| histogram[b as usize] > 0);
        let values = occurring.flat_map(|b| {
            let times = histogram[b as usize];
            self.digits(b, per_byte).map(move |v| (v, times))
        });
        let last = last.into_iter().flat_map(|(b, n)| self.digits(b, n));
        let values = values.chain(last.map(|v| (v, 1)));
        values.fold((0, 0), |(sum, high), (v, times)| {
            (
                sum + u64::from(v) * times,
                high + (v == 255) as usize * times as usize,
            )
        })
    }

    /// Calls `f` with each value of the column in turn.
    fn each(&self, mut f: impl FnMut(u8) -> Result<(), Error>) -> Result<(), Error> {
        let (whole, last) = self.split();
        let whole = whole.iter().flat_map(|&b| self.digits(b, self.per_byte));
        let last = last.into_iter().flat_map(|(b, n)| self.digits(b, n));
        whole.chain(last).try_for_each(&mut f)
    }
}

fn eof() -> Error {
    "the encoding ends early".into()
}

#[cfg(test)]
mod tests;
