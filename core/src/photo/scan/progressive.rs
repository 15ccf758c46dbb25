//! The two AC scans of progressive JPEGs, one block at a time (T.81 G.1.2.2 and G.1.2.3).

use super::bits::{Bits, Huffman};
use super::{MAX_AC_CATEGORY, ScanFault, damaged, in_range};

/// A first AC scan of one block (T.81 G.1.2.2).
pub(super) fn ac_first(
    bits: &mut Bits<'_>,
    ac: &Huffman,
    limits: &[i32; 64],
    (ss, se, al): (u8, u8, u8),
    eob_run: &mut u32,
    history: &mut u64,
) -> Result<(), ScanFault> {
    if *eob_run > 0 {
        *eob_run -= 1;
        return Ok(());
    }
    let mut k = usize::from(ss);
    let end = usize::from(se);
    while k <= end {
        let (rs, value) = bits.symbol(ac, MAX_AC_CATEGORY)?;
        let run = u32::from(rs >> 4);
        if rs & 15 == 0 {
            if run == 15 {
                k += 16;
                if k > end + 1 {
                    return damaged("a zero run passes the end of a band");
                }
                continue;
            }
            *eob_run = (1 << run) + bits.bits(run)? - 1;
            return Ok(());
        }
        k += run as usize;
        if k > end {
            return damaged("a coefficient past the end of a band");
        }
        in_range(value << al, limits[k])?;
        *history |= 1 << k;
        k += 1;
    }
    Ok(())
}

/// A refinement AC scan of one block (T.81 G.1.2.3): correction bits for the coefficients
/// already nonzero, new coefficients of magnitude one.
pub(super) fn ac_refine(
    bits: &mut Bits<'_>,
    ac: &Huffman,
    (ss, se): (u8, u8),
    eob_run: &mut u32,
    history: &mut u64,
) -> Result<(), ScanFault> {
    let mut k = usize::from(ss);
    let end = usize::from(se);
    if *eob_run == 0 {
        while k <= end {
            // A new coefficient has magnitude one: its symbol's only magnitude bit is the sign.
            let (rs, _) = bits.symbol(ac, 1)?;
            let (mut run, size) = (i32::from(rs >> 4), rs & 15);
            if size == 0 && run != 15 {
                *eob_run = (1 << run) + bits.bits(run as u32)?;
                break;
            }
            // Skip `run` zero coefficients, reading a correction bit for each nonzero one.
            loop {
                if k > end {
                    if size == 1 {
                        return damaged("a new coefficient past the end of a band");
                    }
                    break;
                }
                if *history & (1 << k) != 0 {
                    bits.bits(1)?;
                } else {
                    if run == 0 {
                        break;
                    }
                    run -= 1;
                }
                k += 1;
            }
            if size == 1 && k <= end {
                *history |= 1 << k;
            }
            k += 1;
        }
    }
    if *eob_run > 0 {
        while k <= end {
            if *history & (1 << k) != 0 {
                bits.bits(1)?;
            }
            k += 1;
        }
        *eob_run -= 1;
    }
    Ok(())
}
