//! The bit reader and Huffman tables of the scan walk: codes and magnitude bits read without
//! ever inventing a bit, stuffed bytes removed, stopping at a marker.

use super::{ScanFault, damaged};

/// The two kinds of Huffman table: a DC symbol is the number of magnitude bits that follow; an
/// AC symbol is a zero run (high nibble) and that number (low nibble).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    Dc,
    Ac,
}

/// A Huffman table prepared for decoding (T.81 F.2.2.3), with a look-up table that resolves a
/// short code and its magnitude bits at once.
#[derive(Debug, Clone)]
pub(super) struct Huffman {
    class: Class,
    /// Indexed by the next `FAST_BITS` bits; 0 when the code is longer. Otherwise bits 0–4 hold
    /// the bits to consume, 5–8 the code's length, bit 9 whether the magnitude bits are included
    /// (then bits 18–31 hold the signed value), bits 10–17 the symbol.
    fast: Box<[u32; 1 << FAST_BITS]>,
    /// Largest code of each length 1..=16 (−1 when none), as in F.2.2.3.
    max_code: [i32; 17],
    /// Index into `symbols` of the first code of each length, minus that code.
    offset: [i32; 17],
    symbols: Vec<u8>,
}

const FAST_BITS: u32 = 10;
const RESOLVED: u32 = 1 << 9;

impl Huffman {
    pub(super) fn new(class: Class, counts: &[u8; 16], symbols: &[u8]) -> Result<Huffman, ScanFault> {
        let mut fast = Box::new([0u32; 1 << FAST_BITS]);
        let mut max_code = [-1i32; 17];
        let mut offset = [0i32; 17];
        let mut code: u32 = 0;
        let mut k = 0usize;
        for len in 1..=16u32 {
            let n = usize::from(counts[len as usize - 1]);
            if n > 0 {
                offset[len as usize] = k as i32 - code as i32;
                for _ in 0..n {
                    if code >= 1 << len {
                        return damaged("a Huffman table has more codes than its lengths allow");
                    }
                    if len <= FAST_BITS {
                        let symbol = symbols[k];
                        let size = u32::from(magnitude_bits(class, symbol));
                        let shift = FAST_BITS - len;
                        for fill in 0..1u32 << shift {
                            let base = u32::from(symbol) << 10 | len << 5;
                            fast[((code << shift) | fill) as usize] = if len + size <= FAST_BITS {
                                let bits = fill >> (shift - size);
                                let value = extend(bits, size);
                                (value << 18) as u32 | base | RESOLVED | (len + size)
                            } else {
                                base | len
                            };
                        }
                    }
                    code += 1;
                    k += 1;
                }
                max_code[len as usize] = code as i32 - 1;
            }
            code <<= 1;
        }
        Ok(Huffman { class, fast, max_code, offset, symbols: symbols.to_vec() })
    }
}

/// How many magnitude bits follow a symbol (an impossible DC category counts as none; the
/// caller refuses it).
fn magnitude_bits(class: Class, symbol: u8) -> u8 {
    match class {
        Class::Dc if symbol <= 16 => symbol,
        Class::Dc => 0,
        Class::Ac => symbol & 15,
    }
}

/// Whether a symbol's magnitude category is at most `max` (a DC symbol is the category itself).
fn size_allowed(class: Class, symbol: u8, max: u8) -> bool {
    match class {
        Class::Dc => symbol <= max,
        Class::Ac => symbol & 15 <= max,
    }
}

/// `size` magnitude bits as a signed value (T.81 F.2.2.1).
fn extend(bits: u32, size: u32) -> i32 {
    let v = bits as i32;
    if size > 0 && v < 1 << (size - 1) { v - (1 << size) + 1 } else { v }
}

/// A marker met by the bit reader: its code and the position just after it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Marker {
    pub(super) code: u8,
    pub(super) end: usize,
}

/// Reads bits from entropy-coded data, removing stuffed zero bytes and stopping at a marker.
/// It never invents bits: asking for more than the data holds is an error.
pub(super) struct Bits<'a> {
    pub(super) data: &'a [u8],
    /// Next byte to load.
    pos: usize,
    /// Loaded bits, left-aligned.
    acc: u64,
    /// How many bits of `acc` are loaded.
    n: u32,
    /// The marker that ended the data, once met (at `pos`).
    marker: Option<Marker>,
}

impl<'a> Bits<'a> {
    pub(super) fn new(data: &'a [u8], pos: usize) -> Bits<'a> {
        Bits { data, pos, acc: 0, n: 0, marker: None }
    }

    /// Loads bytes until 57 bits are loaded, a marker is met or the data ends.
    #[inline]
    fn refill(&mut self) {
        // Fast path: the next eight bytes hold no 0xFF (so no stuffing and no marker).
        if let Some(word) = self.data.get(self.pos..self.pos + 8) {
            let word =
                u64::from_be_bytes([word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7]]);
            let inverted = !word;
            let has_ff = inverted.wrapping_sub(0x0101_0101_0101_0101) & !inverted & 0x8080_8080_8080_8080;
            let take = (64 - self.n) / 8;
            if has_ff == 0 && take > 0 && self.marker.is_none() {
                let bits = take * 8;
                self.acc |= (word >> (64 - bits)) << (64 - self.n - bits);
                self.n += bits;
                self.pos += take as usize;
                return;
            }
        }
        self.refill_bytewise();
    }

    /// [`Bits::refill`] one byte at a time, through stuffed bytes and up to a marker.
    #[cold]
    fn refill_bytewise(&mut self) {
        while self.n <= 56 && self.marker.is_none() {
            let Some(&byte) = self.data.get(self.pos) else { return };
            if byte == 0xFF {
                match self.data.get(self.pos + 1) {
                    Some(0x00) => self.pos += 2,
                    Some(_) => {
                        // A marker, after any number of fill bytes; a stuffed zero after fill
                        // bytes is reported as marker 0x00.
                        let mut at = self.pos + 1;
                        while self.data.get(at) == Some(&0xFF) {
                            at += 1;
                        }
                        if let Some(&code) = self.data.get(at) {
                            self.marker = Some(Marker { code, end: at + 1 });
                        }
                        return;
                    }
                    None => return,
                }
            } else {
                self.pos += 1;
            }
            self.acc |= u64::from(byte) << (56 - self.n);
            self.n += 8;
        }
    }

    fn out_of_data(&self) -> ScanFault {
        ScanFault::Damaged(match self.marker {
            None => "the file ends inside the image data".into(),
            Some(m) => format!("marker 0x{:02X} inside the image data, before its last block", m.code),
        })
    }

    pub(super) fn bits(&mut self, count: u32) -> Result<u32, ScanFault> {
        if count == 0 {
            return Ok(0);
        }
        if self.n < count {
            self.refill();
            if self.n < count {
                return Err(self.out_of_data());
            }
        }
        let value = (self.acc >> (64 - count)) as u32;
        self.acc <<= count;
        self.n -= count;
        Ok(value)
    }

    /// The next symbol of `table` and the signed value of the magnitude bits that follow it
    /// (refused above `max_size` bits).
    #[inline(always)]
    pub(super) fn symbol(&mut self, table: &Huffman, max_size: u8) -> Result<(u8, i32), ScanFault> {
        if self.n < 32 {
            self.refill();
        }
        // With 32 bits loaded, any code (≤ 16 bits) and its magnitude bits (≤ 16) are there.
        if self.n >= 32 {
            let entry = table.fast[(self.acc >> (64 - FAST_BITS)) as usize];
            if entry != 0 {
                let consumed = entry & 31;
                self.acc <<= consumed;
                self.n -= consumed;
                let symbol = (entry >> 10) as u8;
                if !size_allowed(table.class, symbol, max_size) {
                    return damaged("a magnitude category that is impossible here");
                }
                if entry & RESOLVED != 0 {
                    return Ok((symbol, (entry as i32) >> 18));
                }
                // The code alone was consumed; its magnitude bits (≤ 16) are loaded.
                let size = u32::from(magnitude_bits(table.class, symbol));
                if size == 0 {
                    return Ok((symbol, 0));
                }
                let bits = (self.acc >> (64 - size)) as u32;
                self.acc <<= size;
                self.n -= size;
                return Ok((symbol, extend(bits, size)));
            }
        }
        self.symbol_checked(table, max_size)
    }

    /// [`Bits::symbol`] for a long code, or near the end of the data.
    #[cold]
    fn symbol_checked(&mut self, table: &Huffman, max_size: u8) -> Result<(u8, i32), ScanFault> {
        let symbol = self.decode(table)?;
        if !size_allowed(table.class, symbol, max_size) {
            return damaged("a magnitude category that is impossible here");
        }
        let size = u32::from(magnitude_bits(table.class, symbol));
        Ok((symbol, extend(self.bits(size)?, size)))
    }

    /// The next symbol of `table`, checking every bit is really there.
    fn decode(&mut self, table: &Huffman) -> Result<u8, ScanFault> {
        if self.n < 16 {
            self.refill();
        }
        let entry = table.fast[(self.acc >> (64 - FAST_BITS)) as usize];
        if entry != 0 {
            let len = (entry >> 5) & 15;
            if len > self.n {
                return Err(self.out_of_data());
            }
            self.acc <<= len;
            self.n -= len;
            return Ok((entry >> 10) as u8);
        }
        for len in FAST_BITS + 1..=16 {
            let code = (self.acc >> (64 - len)) as i32;
            if code <= table.max_code[len as usize] {
                if len > self.n {
                    return Err(self.out_of_data());
                }
                self.acc <<= len;
                self.n -= len;
                let index = (code + table.offset[len as usize]) as usize;
                return table
                    .symbols
                    .get(index)
                    .copied()
                    .ok_or_else(|| ScanFault::Damaged("a Huffman code outside its table".into()));
            }
        }
        if self.n < 16 {
            // Only the data's end or a marker leaves fewer than 16 bits after a refill.
            return Err(self.out_of_data());
        }
        Err(ScanFault::Damaged("a Huffman code that is not in its table".into()))
    }

    /// At the end of a scan or restart interval: only padding (fewer than 8 bits) may be left
    /// before the marker, which is returned.
    pub(super) fn end_of_segment(&mut self) -> Result<Marker, ScanFault> {
        self.refill();
        if self.n >= 8 {
            return damaged("image data continues after the last block of a scan or interval");
        }
        self.marker.ok_or_else(|| self.out_of_data())
    }
}
