//! Walking a JPEG's entropy-coded data, without computing a pixel, to prove it is complete.
//!
//! The pixel decoder forgives damage: when a scan meets a marker (or the end-of-image marker)
//! before its last block, it decodes the rest from zero bits, so a file whose frame header
//! claims 1650 × 2400 over the scan data of a 330 × 480 photo, or a photo cut short with the
//! end-of-image marker put back, decodes "successfully" into a mostly flat picture. This module
//! reads every Huffman code of every scan and refuses the file when:
//!
//! * a scan ends (file end or a marker) before it has coded every block the frame declares, or
//!   does not end right after its last block (more than the padding bits of one byte left);
//! * restart markers are missing, out of order or not where the restart interval puts them;
//! * a code is not in its Huffman table, a run passes the end of a block or band, a magnitude
//!   category is impossible for 8-bit samples, or a coefficient (times its quantizer) lies
//!   outside the range an 8-bit DCT can produce — the usual results of flipped bits;
//! * a progressive scan breaks the successive-approximation order, or the image ends before
//!   every coefficient of every component is coded down to its last bit;
//! * there is no end-of-image marker.
//!
//! Only what the JPEG standard (ITU-T T.81) requires of every encoder is checked, so files from
//! any camera or library pass. Lossless, arithmetic-coded, hierarchical and 12-bit JPEGs are
//! reported as unsupported: PDF viewers do not print them. The walk is one pass over the bytes
//! with a table look-up per code; it allocates only the per-block history a progressive file's
//! refinement scans need.

mod bits;
mod progressive;

#[cfg(test)]
mod tests;

use bits::{Bits, Class, Huffman};
use progressive::{ac_first, ac_refine};

/// Why the scans of a JPEG are not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanFault {
    /// The data is cut short, damaged, or does not fill the declared frame.
    Damaged(String),
    /// A JPEG coding the documents cannot print.
    Unsupported(&'static str),
}

fn damaged<T>(detail: impl Into<String>) -> Result<T, ScanFault> {
    Err(ScanFault::Damaged(detail.into()))
}

/// The largest magnitude of an 8-bit sample block's DCT coefficient is 1024 (T.81 A.3.3); the
/// margin allows for the rounding of fast integer transforms.
const COEFFICIENT_LIMIT: i32 = 1024 + 32;
/// Largest DC difference category and AC magnitude category for 8-bit samples (T.81 F.1.2).
const MAX_DC_CATEGORY: u8 = 11;
const MAX_AC_CATEGORY: u8 = 10;

/// Checks every scan of a JPEG file (which starts with SOI) for completeness and consistency.
pub(crate) fn verify(bytes: &[u8]) -> Result<(), ScanFault> {
    let mut walk = Walk::default();
    let mut at = 2;
    loop {
        // Like libjpeg, stray bytes between marker segments are skipped (some cameras write
        // them); after a scan, `Walk::scan` has already required the marker to follow.
        while bytes.get(at).is_some_and(|&b| b != 0xFF) {
            at += 1;
        }
        if at >= bytes.len() {
            return damaged("the file ends before its end-of-image marker");
        }
        // Markers may be preceded by any number of 0xFF fill bytes.
        while bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let Some(&marker) = bytes.get(at + 1) else {
            return damaged("the file ends inside a marker");
        };
        at += 2;
        match marker {
            0xD9 => return walk.finish(),
            // A restart marker after a scan's last block (some encoders write one) or TEM.
            0xD0..=0xD7 | 0x01 => continue,
            0xD8 => return damaged("a second start-of-image marker"),
            0x00 => return damaged(format!("a stuffed zero where a marker was expected at byte {at}")),
            _ => {}
        }
        let len = usize::from(be16(bytes, at).ok_or_else(cut)?);
        let body = bytes.get(at + 2..at + len).filter(|_| len >= 2).ok_or_else(cut)?;
        at += len;
        match marker {
            0xC0..=0xC2 => walk.frame(marker, body)?,
            0xC3 => return Err(ScanFault::Unsupported("lossless coding")),
            0xC5..=0xC7 | 0xCD..=0xCF | 0xDE | 0xDF => {
                return Err(ScanFault::Unsupported("hierarchical coding"));
            }
            0xC9..=0xCC => return Err(ScanFault::Unsupported("arithmetic coding")),
            0xC4 => walk.huffman_tables(body)?,
            0xDB => walk.quantization_tables(body)?,
            0xDD => walk.restart_interval = be16(body, 0).ok_or_else(cut)?,
            0xDC => return Err(ScanFault::Unsupported("a DNL marker")),
            0xDA => at = walk.scan(bytes, body, at)?,
            0xE0..=0xEF | 0xFE => {}
            _ => return damaged(format!("marker 0x{marker:02X} where it is not allowed")),
        }
    }
}

fn cut() -> ScanFault {
    ScanFault::Damaged("a marker segment is cut short".into())
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// One component of the frame.
#[derive(Debug, Clone, Copy, Default)]
struct Component {
    id: u8,
    h: u8,
    v: u8,
    quant: u8,
    /// Blocks per line and block lines when the component is coded alone.
    blocks_w: usize,
    blocks_h: usize,
}

#[derive(Debug, Default)]
struct Frame {
    progressive: bool,
    width: usize,
    height: usize,
    components: Vec<Component>,
    mcus_x: usize,
    mcus_y: usize,
}

/// Per component and coefficient (zig-zag index): the lowest bit coded so far by a progressive
/// scan (`NOT_CODED` before its first scan).
const NOT_CODED: u8 = u8::MAX;

#[derive(Default)]
struct Walk {
    frame: Option<Frame>,
    quant: [Option<[u16; 64]>; 4],
    dc: [Option<Huffman>; 4],
    ac: [Option<Huffman>; 4],
    restart_interval: u16,
    /// Progressive: the successive-approximation state per component and coefficient.
    coded_bits: Vec<[u8; 64]>,
    /// Progressive: per component, per block, which AC coefficients are already nonzero.
    nonzero: Vec<Vec<u64>>,
    /// Sequential: which components a scan has coded.
    coded: Vec<bool>,
    scans: usize,
}

/// One component's part in a scan.
struct ScanComponent {
    index: usize,
    dc: usize,
    ac: usize,
}

impl Walk {
    fn frame(&mut self, marker: u8, body: &[u8]) -> Result<(), ScanFault> {
        if self.frame.is_some() {
            return damaged("a second frame header");
        }
        if body.first() != Some(&8) {
            return Err(ScanFault::Unsupported("samples of other than 8 bits"));
        }
        let height = usize::from(be16(body, 1).ok_or_else(cut)?);
        let width = usize::from(be16(body, 3).ok_or_else(cut)?);
        let count = usize::from(*body.get(5).ok_or_else(cut)?);
        if width == 0 || height == 0 || !(1..=4).contains(&count) || body.len() < 6 + 3 * count {
            return damaged("the frame header is invalid");
        }
        let mut components = Vec::with_capacity(count);
        for c in body[6..6 + 3 * count].chunks_exact(3) {
            let (h, v) = (c[1] >> 4, c[1] & 15);
            if !(1..=4).contains(&h) || !(1..=4).contains(&v) || c[2] > 3 {
                return damaged("a frame component is invalid");
            }
            if components.iter().any(|o: &Component| o.id == c[0]) {
                return damaged("two frame components share an id");
            }
            components.push(Component { id: c[0], h, v, quant: c[2], ..Component::default() });
        }
        let h_max = usize::from(components.iter().map(|c| c.h).max().unwrap_or(1));
        let v_max = usize::from(components.iter().map(|c| c.v).max().unwrap_or(1));
        for c in &mut components {
            c.blocks_w = (width * usize::from(c.h)).div_ceil(h_max).div_ceil(8);
            c.blocks_h = (height * usize::from(c.v)).div_ceil(v_max).div_ceil(8);
        }
        let progressive = marker == 0xC2;
        if progressive {
            self.coded_bits = vec![[NOT_CODED; 64]; count];
            self.nonzero = components.iter().map(|c| vec![0u64; c.blocks_w * c.blocks_h]).collect();
        }
        self.coded = vec![false; count];
        self.frame = Some(Frame {
            progressive,
            width,
            height,
            mcus_x: width.div_ceil(8 * h_max),
            mcus_y: height.div_ceil(8 * v_max),
            components,
        });
        Ok(())
    }

    fn huffman_tables(&mut self, mut body: &[u8]) -> Result<(), ScanFault> {
        while let Some(&spec) = body.first() {
            let (class, id) = (spec >> 4, usize::from(spec & 15));
            let counts: [u8; 16] = body.get(1..17).and_then(|c| c.try_into().ok()).ok_or_else(cut)?;
            let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
            let symbols = body.get(17..17 + total).ok_or_else(cut)?;
            if class > 1 || id > 3 || total > 256 {
                return damaged("a Huffman table header is invalid");
            }
            if class == 0 {
                self.dc[id] = Some(Huffman::new(Class::Dc, &counts, symbols)?);
            } else {
                self.ac[id] = Some(Huffman::new(Class::Ac, &counts, symbols)?);
            }
            body = &body[17 + total..];
        }
        Ok(())
    }

    fn quantization_tables(&mut self, mut body: &[u8]) -> Result<(), ScanFault> {
        while let Some(&spec) = body.first() {
            let (precision, id) = (spec >> 4, usize::from(spec & 15));
            if precision > 1 || id > 3 {
                return damaged("a quantization table header is invalid");
            }
            let size = if precision == 0 { 64 } else { 128 };
            let values = body.get(1..1 + size).ok_or_else(cut)?;
            let mut table = [0u16; 64];
            for (k, q) in table.iter_mut().enumerate() {
                *q = if precision == 0 {
                    u16::from(values[k])
                } else {
                    u16::from_be_bytes([values[2 * k], values[2 * k + 1]])
                };
            }
            if table.contains(&0) {
                return damaged("a quantization table has a zero entry");
            }
            self.quant[id] = Some(table);
            body = &body[1 + size..];
        }
        Ok(())
    }

    /// Reads the scan header `body` and walks the scan's data from `at`; returns where the
    /// marker after the scan starts.
    fn scan(&mut self, bytes: &[u8], body: &[u8], at: usize) -> Result<usize, ScanFault> {
        let Some(frame) = &self.frame else { return damaged("a scan before the frame header") };
        let count = usize::from(*body.first().ok_or_else(cut)?);
        if !(1..=4).contains(&count) || body.len() != 4 + 2 * count {
            return damaged("the scan header is invalid");
        }
        let mut parts = Vec::with_capacity(count);
        for s in body[1..1 + 2 * count].chunks_exact(2) {
            let index = frame
                .components
                .iter()
                .position(|c| c.id == s[0])
                .ok_or_else(|| ScanFault::Damaged("a scan names a component the frame lacks".into()))?;
            if parts.iter().any(|p: &ScanComponent| p.index == index) {
                return damaged("a scan names a component twice");
            }
            parts.push(ScanComponent { index, dc: usize::from(s[1] >> 4), ac: usize::from(s[1] & 15) });
        }
        let tail = &body[1 + 2 * count..];
        let (ss, se, ah, al) = (tail[0], tail[1], tail[2] >> 4, tail[2] & 15);
        let blocks: usize = parts
            .iter()
            .map(|p| {
                let c = &frame.components[p.index];
                usize::from(c.h) * usize::from(c.v)
            })
            .sum();
        if count > 1 && blocks > 10 {
            return damaged("a scan's MCU has more than 10 blocks");
        }
        self.scans += 1;
        let mut bits = Bits::new(bytes, at);
        if frame.progressive {
            self.progressive_scan(&mut bits, &parts, (ss, se, ah, al))?;
        } else {
            if (ss, se, ah, al) != (0, 63, 0, 0) {
                return damaged("a sequential scan with progressive parameters");
            }
            for p in &parts {
                if std::mem::replace(&mut self.coded[p.index], true) {
                    return damaged("a component coded by two scans");
                }
            }
            self.sequential_scan(&mut bits, &parts)?;
        }
        // The main loop reads the marker again (from its last fill byte).
        bits.end_of_segment().map(|m| m.end - 2)
    }

    fn table(tables: &[Option<Huffman>; 4], id: usize) -> Result<&Huffman, ScanFault> {
        tables
            .get(id)
            .and_then(Option::as_ref)
            .ok_or_else(|| ScanFault::Damaged("a scan uses a Huffman table that is not defined".into()))
    }

    /// The largest quantized magnitude of each coefficient of `component` (zig-zag order): the
    /// 8-bit DCT range divided by its quantizer.
    fn limits(&self, component: &Component) -> Result<[i32; 64], ScanFault> {
        let table = self.quant[usize::from(component.quant)]
            .as_ref()
            .ok_or_else(|| ScanFault::Damaged("a component's quantization table is not defined".into()))?;
        Ok(table.map(|q| {
            let q = i32::from(q);
            (COEFFICIENT_LIMIT + q) / q
        }))
    }

    /// The blocks of one scan in coding order, as (component part, block x, block y), and the
    /// number of MCUs; calls `block` for each and handles restart intervals between MCUs.
    fn for_each_block(
        &self,
        bits: &mut Bits<'_>,
        parts: &[ScanComponent],
        mut block: impl FnMut(&mut Bits<'_>, usize, usize, usize, bool) -> Result<(), ScanFault>,
    ) -> Result<(), ScanFault> {
        let Some(frame) = &self.frame else { return damaged("a scan before the frame header") };
        let (mcus_x, mcus_y) = if parts.len() == 1 {
            let c = &frame.components[parts[0].index];
            (c.blocks_w, c.blocks_h)
        } else {
            (frame.mcus_x, frame.mcus_y)
        };
        let total = mcus_x * mcus_y;
        let interval = usize::from(self.restart_interval);
        let mut expected_rst = 0u8;
        for mcu in 0..total {
            // `restart` is passed to the MCU's first block only.
            let mut restart = interval > 0 && mcu > 0 && mcu % interval == 0;
            if restart {
                let marker = bits.end_of_segment()?;
                if marker.code != 0xD0 + expected_rst {
                    return damaged(format!(
                        "marker 0x{:02X} where restart marker RST{expected_rst} belongs",
                        marker.code
                    ));
                }
                expected_rst = (expected_rst + 1) % 8;
                *bits = Bits::new(bits.data, marker.end);
            }
            let (mx, my) = (mcu % mcus_x, mcu / mcus_x);
            for (i, p) in parts.iter().enumerate() {
                if parts.len() == 1 {
                    block(bits, i, mx, my, std::mem::take(&mut restart))?;
                    continue;
                }
                let c = &frame.components[p.index];
                for v in 0..usize::from(c.v) {
                    for h in 0..usize::from(c.h) {
                        let (x, y) = (mx * usize::from(c.h) + h, my * usize::from(c.v) + v);
                        block(bits, i, x, y, std::mem::take(&mut restart))?;
                    }
                }
            }
        }
        Ok(())
    }

    fn sequential_scan(&self, bits: &mut Bits<'_>, parts: &[ScanComponent]) -> Result<(), ScanFault> {
        let Some(frame) = &self.frame else { return damaged("a scan before the frame header") };
        let mut tables = Vec::with_capacity(parts.len());
        for p in parts {
            let c = &frame.components[p.index];
            tables.push((Self::table(&self.dc, p.dc)?, Self::table(&self.ac, p.ac)?, self.limits(c)?));
        }
        let mut predictors = vec![0i32; parts.len()];
        self.for_each_block(bits, parts, |bits, i, _, _, restart| {
            if restart {
                predictors.iter_mut().for_each(|p| *p = 0);
            }
            let (dc, ac, limits) = &tables[i];
            predictors[i] += bits.symbol(dc, MAX_DC_CATEGORY)?.1;
            in_range(predictors[i], limits[0])?;
            let mut k = 1usize;
            while k < 64 {
                let (rs, value) = bits.symbol(ac, MAX_AC_CATEGORY)?;
                let run = usize::from(rs >> 4);
                if rs & 15 == 0 {
                    if run != 15 {
                        break;
                    }
                    k += 16;
                    if k > 64 {
                        return damaged("a zero run passes the end of a block");
                    }
                    continue;
                }
                k += run;
                if k > 63 {
                    return damaged("a coefficient past the end of a block");
                }
                in_range(value, limits[k])?;
                k += 1;
            }
            Ok(())
        })
    }

    fn progressive_scan(
        &mut self,
        bits: &mut Bits<'_>,
        parts: &[ScanComponent],
        (ss, se, ah, al): (u8, u8, u8, u8),
    ) -> Result<(), ScanFault> {
        let dc_scan = ss == 0;
        if se > 63 || ss > se || (dc_scan && se != 0) || (!dc_scan && parts.len() != 1) || al > 13 {
            return damaged("a progressive scan's spectral selection is invalid");
        }
        // Successive approximation: a first scan of each coefficient, then one bit at a time.
        for p in parts {
            if !dc_scan && self.coded_bits[p.index][0] == NOT_CODED {
                return damaged("an AC scan before the component's DC scan");
            }
            for k in usize::from(ss)..=usize::from(se) {
                let state = &mut self.coded_bits[p.index][k];
                let ok = if ah == 0 { *state == NOT_CODED } else { *state == ah && al + 1 == ah };
                if !ok {
                    return damaged("a progressive scan out of successive-approximation order");
                }
                *state = al;
            }
        }
        // The history is taken out while the tables borrow `self`, and put back after the walk.
        let mut nonzero = std::mem::take(&mut self.nonzero);
        let Some(frame) = &self.frame else { return damaged("a scan before the frame header") };
        let mut tables = Vec::with_capacity(parts.len());
        for p in parts {
            let c = &frame.components[p.index];
            let dc = if dc_scan && ah == 0 { Some(Self::table(&self.dc, p.dc)?) } else { None };
            let ac = if dc_scan { None } else { Some(Self::table(&self.ac, p.ac)?) };
            tables.push((dc, ac, self.limits(c)?, c.blocks_w));
        }
        let mut predictors = vec![0i32; parts.len()];
        let mut eob_run = 0u32;
        let result = self.for_each_block(bits, parts, |bits, i, bx, by, restart| {
            if restart {
                if eob_run > 0 {
                    return damaged("an end-of-band run passes a restart marker");
                }
                predictors.iter_mut().for_each(|p| *p = 0);
            }
            let (dc, ac, limits, bw) = &tables[i];
            let bw = *bw;
            if dc_scan {
                match dc {
                    Some(dc) => {
                        predictors[i] += bits.symbol(dc, MAX_DC_CATEGORY)?.1;
                        in_range(predictors[i] << al, limits[0])?;
                    }
                    None => {
                        bits.bits(1)?;
                    }
                }
                return Ok(());
            }
            let ac = ac.ok_or_else(|| ScanFault::Damaged("no AC table".into()))?;
            // AC scans code one component alone, so every block is inside it.
            let history = nonzero[parts[i].index]
                .get_mut(by * bw + bx)
                .filter(|_| bx < bw)
                .ok_or_else(|| ScanFault::Damaged("a block outside its component".into()))?;
            if ah == 0 {
                ac_first(bits, ac, limits, (ss, se, al), &mut eob_run, history)
            } else {
                ac_refine(bits, ac, (ss, se), &mut eob_run, history)
            }
        });
        self.nonzero = nonzero;
        result?;
        if eob_run > 0 {
            return damaged("an end-of-band run passes the end of a scan");
        }
        Ok(())
    }

    /// At the end-of-image marker: every component coded, every coefficient to its last bit.
    fn finish(&self) -> Result<(), ScanFault> {
        let Some(frame) = &self.frame else { return damaged("no frame header before the end of the image") };
        if self.scans == 0 {
            return damaged("no image data");
        }
        let complete = if frame.progressive {
            self.coded_bits.iter().all(|c| c.iter().all(|&b| b == 0))
        } else {
            self.coded.iter().all(|&c| c)
        };
        if !complete {
            return damaged(format!(
                "the image ends before all its data ({}×{} frame)",
                frame.width, frame.height
            ));
        }
        Ok(())
    }
}

/// A quantized coefficient must dequantize into the 8-bit DCT range (a quantizer's rounding
/// allowed for): at most `limit` (from [`Walk::limits`]) in magnitude.
fn in_range(value: i32, limit: i32) -> Result<(), ScanFault> {
    if value.unsigned_abs() > limit.unsigned_abs() {
        return damaged("a coefficient outside the range of 8-bit samples");
    }
    Ok(())
}
