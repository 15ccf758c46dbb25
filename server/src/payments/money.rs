//! Money on the wire: integer fen inside, `total_amount` as yuan with two decimals outside.
//!
//! The conversion is exact both ways: no floating point is ever involved, and anything that is
//! not a plain non-negative decimal with at most two fraction digits is a typed error.

/// Why an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not a plain decimal number (`12`, `12.3`, `12.34`): signs, exponents, spaces, empty parts.
    #[error("amount {0:?} is not a decimal number of yuan")]
    Malformed(String),
    /// More than two digits after the point: fen is the smallest unit.
    #[error("amount {0:?} has more than two decimals")]
    TooPrecise(String),
    /// Outside what the platform accepts (0.01 to 100 000 000.00 yuan) or what fen can hold.
    #[error("amount {0} fen is outside 1..=10000000000 fen")]
    OutOfRange(i64),
}

/// The largest amount the platform accepts for one trade, in fen (100 000 000.00 yuan).
pub const MAX_FEN: i64 = 100_000_000 * 100;

/// Formats fen as yuan with exactly two decimals (`1` → `"0.01"`, `12345` → `"123.45"`).
/// Only amounts in `1..=MAX_FEN` are valid trade amounts.
pub fn fen_to_yuan(fen: i64) -> Result<String, AmountError> {
    if !(1..=MAX_FEN).contains(&fen) {
        return Err(AmountError::OutOfRange(fen));
    }
    Ok(format!("{}.{:02}", fen / 100, fen % 100))
}

/// Parses yuan as the platform writes it (`"88.88"`, `"100.00"`, also `"100"` or `"1.5"`) into
/// fen. Zero is allowed here (a notification's `refund_fee` may be `0.00`); callers that need
/// a trade amount check the range.
pub fn yuan_to_fen(text: &str) -> Result<i64, AmountError> {
    let malformed = || AmountError::Malformed(text.to_owned());
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    if whole.is_empty() || whole.len() > 12 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    let frac_fen = match frac {
        None => 0,
        Some(f) if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) => return Err(malformed()),
        Some(f) if f.len() > 2 => return Err(AmountError::TooPrecise(text.to_owned())),
        Some(f) => {
            let v: i64 = f.parse().map_err(|_| malformed())?;
            if f.len() == 1 { v * 10 } else { v }
        }
    };
    let whole: i64 = whole.parse().map_err(|_| malformed())?;
    let fen = whole.checked_mul(100).and_then(|w| w.checked_add(frac_fen)).ok_or_else(malformed)?;
    if fen > MAX_FEN {
        return Err(AmountError::OutOfRange(fen));
    }
    Ok(fen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fen_to_yuan_is_exact() {
        assert_eq!(fen_to_yuan(1).as_deref(), Ok("0.01"));
        assert_eq!(fen_to_yuan(10).as_deref(), Ok("0.10"));
        assert_eq!(fen_to_yuan(12_345).as_deref(), Ok("123.45"));
        assert_eq!(fen_to_yuan(MAX_FEN).as_deref(), Ok("100000000.00"));
        assert_eq!(fen_to_yuan(0), Err(AmountError::OutOfRange(0)));
        assert_eq!(fen_to_yuan(-5), Err(AmountError::OutOfRange(-5)));
        assert_eq!(fen_to_yuan(MAX_FEN + 1), Err(AmountError::OutOfRange(MAX_FEN + 1)));
    }

    #[test]
    fn yuan_to_fen_round_trips_and_refuses_the_rest() {
        for fen in [1, 9, 10, 99, 100, 101, 8_888, 12_345, MAX_FEN] {
            assert_eq!(yuan_to_fen(&fen_to_yuan(fen).expect("valid")), Ok(fen));
        }
        assert_eq!(yuan_to_fen("100"), Ok(10_000));
        assert_eq!(yuan_to_fen("1.5"), Ok(150));
        assert_eq!(yuan_to_fen("0.00"), Ok(0));
        for bad in
            ["", ".5", "1.", "-1.00", "+1.00", "1e2", " 1.00", "1.00 ", "1,00", "0x10", "1.0.0", "１.00"]
        {
            assert!(matches!(yuan_to_fen(bad), Err(AmountError::Malformed(_))), "{bad:?}");
        }
        assert_eq!(yuan_to_fen("1.001"), Err(AmountError::TooPrecise("1.001".into())));
        assert_eq!(yuan_to_fen("1.500"), Err(AmountError::TooPrecise("1.500".into())));
        assert!(matches!(yuan_to_fen("100000000.01"), Err(AmountError::OutOfRange(_))));
        assert!(matches!(yuan_to_fen("9999999999999999999"), Err(AmountError::Malformed(_))));
    }
}
