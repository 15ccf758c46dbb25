//! Identity documents accepted for registration, with their real check rules.
//!
//! * Mainland resident ID card (居民身份证): 18 characters per GB 11643-1999 — a 6-digit area
//!   code, the birth date `YYYYMMDD`, a 3-digit sequence whose last digit gives the gender
//!   (odd = male) and an ISO 7064 MOD 11-2 check character.
//! * Residence permits for Hong Kong, Macau and Taiwan residents (港澳台居民居住证): the same
//!   structure with the area codes 810000, 820000 and 830000.
//! * Foreign permanent residence ID card (外国人永久居留身份证, 2023 edition): 18 characters
//!   starting with `9`, birth date and gender in the same positions, the same check.
//! * Mainland travel permit for Hong Kong and Macau residents (港澳居民来往内地通行证): `H` or
//!   `M` followed by 8 digits, optionally 2 more digits counting renewals.
//! * Mainland travel permit for Taiwan residents (台湾居民来往大陆通行证): 8 digits, or 10 on
//!   older permits.
//! * Passport: 5 to 17 letters and digits.
//!
//! Numbers are normalised (surrounding blanks removed, letters upper-cased) before checking; the
//! normalised form is what is stored and compared for uniqueness.
//!
//! Wherever a number is shown rather than checked — the admission ticket and its QR code, the
//! check-in answer, the profile, an auditor's roster — it is masked by one rule, [`mask()`]:
//!
//! * the 18-character numbers (resident ID card, HK/Macau/Taiwan residence permit, foreign
//!   permanent residence ID card) keep their first 6 and last 4 characters and hide the 8 between
//!   — exactly the birth date: `110105********002X`. The first 6 are the area code (or, on a
//!   foreign permanent residence card, the issuing province and nationality) and the last 4 the
//!   sequence and check character, which is what the NCRE-style tickets print and what a desk
//!   compares with the card in hand;
//! * the shorter numbers (HK/Macau and Taiwan travel permits, passports) keep a leading letter
//!   (the `H`/`M` of a travel permit, a passport's type letter) and the last 4 characters, but
//!   never more than half of what follows the letter: `H****5678`, `****5678`, `E****5678`,
//!   `A**34`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod mask;

pub use mask::{MaskedId, mask};

/// The kind of an identity document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    /// Mainland resident ID card (居民身份证).
    ResidentId,
    /// Residence permit for Hong Kong, Macau or Taiwan residents (港澳台居民居住证).
    HmtResidencePermit,
    /// Foreign permanent residence ID card (外国人永久居留身份证).
    ForeignPermanentResidence,
    /// Mainland travel permit for Hong Kong and Macau residents (港澳居民来往内地通行证).
    HkMacauTravelPermit,
    /// Mainland travel permit for Taiwan residents (台湾居民来往大陆通行证).
    TaiwanTravelPermit,
    /// Passport (护照).
    Passport,
}

impl IdKind {
    /// Every kind, in the order forms list them.
    pub const ALL: [IdKind; 6] = [
        IdKind::ResidentId,
        IdKind::HmtResidencePermit,
        IdKind::ForeignPermanentResidence,
        IdKind::HkMacauTravelPermit,
        IdKind::TaiwanTravelPermit,
        IdKind::Passport,
    ];

    /// The stable machine name (`resident_id`, `passport`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            IdKind::ResidentId => "resident_id",
            IdKind::HmtResidencePermit => "hmt_residence_permit",
            IdKind::ForeignPermanentResidence => "foreign_permanent_residence",
            IdKind::HkMacauTravelPermit => "hk_macau_travel_permit",
            IdKind::TaiwanTravelPermit => "taiwan_travel_permit",
            IdKind::Passport => "passport",
        }
    }

    /// The Chinese name shown to candidates.
    pub fn label_zh(self) -> &'static str {
        match self {
            IdKind::ResidentId => "居民身份证",
            IdKind::HmtResidencePermit => "港澳台居民居住证",
            IdKind::ForeignPermanentResidence => "外国人永久居留身份证",
            IdKind::HkMacauTravelPermit => "港澳居民来往内地通行证",
            IdKind::TaiwanTravelPermit => "台湾居民来往大陆通行证",
            IdKind::Passport => "护照",
        }
    }

    /// The English name shown to candidates.
    pub fn label_en(self) -> &'static str {
        match self {
            IdKind::ResidentId => "Resident ID card",
            IdKind::HmtResidencePermit => "Residence permit for Hong Kong, Macau and Taiwan residents",
            IdKind::ForeignPermanentResidence => "Foreign permanent residence ID card",
            IdKind::HkMacauTravelPermit => "Mainland travel permit for Hong Kong and Macau residents",
            IdKind::TaiwanTravelPermit => "Mainland travel permit for Taiwan residents",
            IdKind::Passport => "Passport",
        }
    }
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IdKind {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IdKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| IdError::UnknownKind(s.to_owned()))
    }
}

/// Gender as encoded in an ID number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    /// Odd sequence digit.
    Male,
    /// Even sequence digit.
    Female,
}

impl Gender {
    /// The stable machine name used in forms (`male` / `female`).
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Male => "male",
            Gender::Female => "female",
        }
    }
}

/// A calendar date (proleptic Gregorian), as encoded in ID numbers and entered in forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    /// Year, e.g. 1999.
    pub year: u16,
    /// Month, 1–12.
    pub month: u8,
    /// Day of month, 1–31.
    pub day: u8,
}

impl Date {
    /// A checked date, or `None` when the day does not exist.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (year >= 1 && (1..=days).contains(&day)).then_some(Date { year, month, day })
    }

    /// Parses `YYYY-MM-DD` (the form's date format).
    pub fn parse_iso(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        Date::new(digits(&b[0..4])? as u16, digits(&b[5..7])? as u8, digits(&b[8..10])? as u8)
    }

    /// Parses the compact `YYYYMMDD` form used inside ID numbers.
    pub fn parse_compact(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 8 {
            return None;
        }
        Date::new(digits(&b[0..4])? as u16, digits(&b[4..6])? as u8, digits(&b[6..8])? as u8)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
}

/// Why an ID document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The document kind is not one this platform knows.
    #[error("unknown identity document kind `{0}`")]
    UnknownKind(String),
    /// The number is empty.
    #[error("the document number is empty")]
    Empty,
    /// The number does not have an allowed length.
    #[error("the number must have {expected} characters, it has {actual}")]
    Length {
        /// Human description of the allowed lengths.
        expected: &'static str,
        /// Characters found.
        actual: usize,
    },
    /// A character is not allowed at its position.
    #[error("character {position} (`{found}`) is not allowed there")]
    BadCharacter {
        /// 1-based position.
        position: usize,
        /// The character found.
        found: char,
    },
    /// The ISO 7064 MOD 11-2 check character does not match.
    #[error("the check character should be `{expected}`, it is `{found}`")]
    Checksum {
        /// The check character the first 17 characters call for.
        expected: char,
        /// The check character given.
        found: char,
    },
    /// The birth date encoded in positions 7–14 does not exist or is out of range.
    #[error("the birth date `{0}` in the number is not a valid date")]
    BirthDate(String),
    /// The area code does not fit the chosen document kind.
    #[error("the area code `{code}` does not belong to a {kind}")]
    AreaCode {
        /// The six-digit area code found.
        code: String,
        /// The kind that was chosen.
        kind: IdKind,
    },
}

impl IdError {
    /// A stable machine-readable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            IdError::UnknownKind(_) => "id_unknown_kind",
            IdError::Empty => "id_empty",
            IdError::Length { .. } => "id_length",
            IdError::BadCharacter { .. } => "id_character",
            IdError::Checksum { .. } => "id_checksum",
            IdError::BirthDate(_) => "id_birth_date",
            IdError::AreaCode { .. } => "id_area_code",
        }
    }

    /// The candidate-facing Chinese explanation.
    pub fn message_zh(&self) -> String {
        match self {
            IdError::UnknownKind(k) => format!("不支持的证件类型“{k}”"),
            IdError::Empty => "请填写证件号码".to_owned(),
            IdError::Length { expected, actual } => {
                format!("证件号码应为{expected}位，实际为{actual}位")
            }
            IdError::BadCharacter { position, found } => {
                format!("证件号码第{position}位“{found}”不合法")
            }
            IdError::Checksum { expected, found } => {
                format!("证件号码校验位错误：应为“{expected}”，实际为“{found}”，请核对号码")
            }
            IdError::BirthDate(d) => format!("证件号码中的出生日期“{d}”无效"),
            IdError::AreaCode { code, kind } => {
                format!("地区码“{code}”与证件类型“{}”不符", kind.label_zh())
            }
        }
    }
}

/// A checked identity document, in normalised form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdDocument {
    kind: IdKind,
    number: String,
    birth_date: Option<Date>,
    gender: Option<Gender>,
}

impl IdDocument {
    /// Checks `number` as a document of `kind` and returns it normalised.
    pub fn parse(kind: IdKind, number: &str) -> Result<IdDocument, IdError> {
        let number: String = number.trim().chars().map(|c| c.to_ascii_uppercase()).collect();
        if number.is_empty() {
            return Err(IdError::Empty);
        }
        let (birth_date, gender) = match kind {
            IdKind::ResidentId => {
                let (d, g) = check_gb11643(&number)?;
                let area = &number[..6];
                if matches!(area, "810000" | "820000" | "830000") || number.starts_with('9') {
                    return Err(IdError::AreaCode { code: area.to_owned(), kind });
                }
                if !matches!(number.as_bytes()[0], b'1'..=b'6') {
                    return Err(IdError::AreaCode { code: area.to_owned(), kind });
                }
                (Some(d), Some(g))
            }
            IdKind::HmtResidencePermit => {
                let (d, g) = check_gb11643(&number)?;
                let area = &number[..6];
                if !matches!(area, "810000" | "820000" | "830000") {
                    return Err(IdError::AreaCode { code: area.to_owned(), kind });
                }
                (Some(d), Some(g))
            }
            IdKind::ForeignPermanentResidence => {
                let (d, g) = check_gb11643(&number)?;
                if !number.starts_with('9') {
                    return Err(IdError::BadCharacter {
                        position: 1,
                        found: number.chars().next().unwrap_or(' '),
                    });
                }
                (Some(d), Some(g))
            }
            IdKind::HkMacauTravelPermit => {
                check_chars(&number, &[9, 11], "9 或 11", |i, c| {
                    if i == 0 { c == 'H' || c == 'M' } else { c.is_ascii_digit() }
                })?;
                (None, None)
            }
            IdKind::TaiwanTravelPermit => {
                check_chars(&number, &[8, 10], "8 或 10", |_, c| c.is_ascii_digit())?;
                (None, None)
            }
            IdKind::Passport => {
                let len = number.chars().count();
                if !(5..=17).contains(&len) {
                    return Err(IdError::Length { expected: "5–17", actual: len });
                }
                check_chars(&number, &[len], "5–17", |_, c| c.is_ascii_alphanumeric())?;
                (None, None)
            }
        };
        Ok(IdDocument { kind, number, birth_date, gender })
    }

    /// The document kind.
    pub fn kind(&self) -> IdKind {
        self.kind
    }

    /// The normalised number.
    pub fn number(&self) -> &str {
        &self.number
    }

    /// The birth date, where the number encodes one.
    pub fn birth_date(&self) -> Option<Date> {
        self.birth_date
    }

    /// The gender, where the number encodes one.
    pub fn gender(&self) -> Option<Gender> {
        self.gender
    }

    /// The number masked by [`mask()`], as text (`110105********002X`): for a profile or a roster.
    pub fn masked(&self) -> String {
        mask(self.kind, &self.number).into()
    }
}

fn check_chars(
    number: &str,
    lengths: &[usize],
    expected: &'static str,
    allowed: impl Fn(usize, char) -> bool,
) -> Result<(), IdError> {
    let len = number.chars().count();
    if !lengths.contains(&len) {
        return Err(IdError::Length { expected, actual: len });
    }
    match number.chars().enumerate().find(|&(i, c)| !allowed(i, c)) {
        Some((i, c)) => Err(IdError::BadCharacter { position: i + 1, found: c }),
        None => Ok(()),
    }
}

/// ISO 7064 MOD 11-2 weights for the first 17 characters.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each remainder 0..=10.
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// The ISO 7064 MOD 11-2 check character for a 17-digit body, or `None` if `body` is not
/// exactly 17 ASCII digits.
pub fn gb11643_check_char(body: &str) -> Option<char> {
    let b = body.as_bytes();
    if b.len() != 17 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = b.iter().zip(WEIGHTS).map(|(&c, w)| u32::from(c - b'0') * w).sum();
    Some(CHECK[(sum % 11) as usize])
}

/// Checks the shared 18-character structure and returns the encoded birth date and gender.
fn check_gb11643(number: &str) -> Result<(Date, Gender), IdError> {
    check_chars(number, &[18], "18", |i, c| {
        if i < 17 { c.is_ascii_digit() } else { c.is_ascii_digit() || c == 'X' }
    })?;
    let expected = gb11643_check_char(&number[..17]).unwrap_or('?');
    let found = number.as_bytes()[17] as char;
    if expected != found {
        return Err(IdError::Checksum { expected, found });
    }
    let compact = &number[6..14];
    let date = Date::parse_compact(compact)
        .filter(|d| d.year >= 1900)
        .ok_or_else(|| IdError::BirthDate(compact.to_owned()))?;
    let gender = if (number.as_bytes()[16] - b'0') % 2 == 1 { Gender::Male } else { Gender::Female };
    Ok((date, gender))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn with_check(body: &str) -> String {
        format!("{body}{}", gb11643_check_char(body).expect("17 digits"))
    }

    #[test]
    fn published_vectors_from_the_standard_are_valid() {
        // The two examples printed in GB 11643-1999.
        let a = IdDocument::parse(IdKind::ResidentId, "11010519491231002X").expect("valid");
        assert_eq!(a.birth_date(), Date::new(1949, 12, 31));
        assert_eq!(a.gender(), Some(Gender::Female));
        let b = IdDocument::parse(IdKind::ResidentId, "440524188001010014").expect_err("1880");
        // 1880 is before the 1900 floor this platform applies to living candidates.
        assert_eq!(b, IdError::BirthDate("18800101".into()));
        assert_eq!(gb11643_check_char("44052418800101001"), Some('4'));
    }

    #[test]
    fn normalises_case_and_blanks() {
        let a = IdDocument::parse(IdKind::ResidentId, " 11010519491231002x ").expect("valid");
        assert_eq!(a.number(), "11010519491231002X");
        assert_eq!(a.masked(), "110105********002X");
    }

    #[test]
    fn hand_checked_invalid_numbers() {
        let cases = [
            ("110105194912310021", IdError::Checksum { expected: 'X', found: '1' }),
            ("11010519491231002", IdError::Length { expected: "18", actual: 17 }),
            ("1101051949123100X2", IdError::BadCharacter { position: 17, found: 'X' }),
            ("11010519490229002X", IdError::Checksum { expected: '9', found: 'X' }),
            ("", IdError::Empty),
        ];
        for (number, err) in cases {
            assert_eq!(IdDocument::parse(IdKind::ResidentId, number), Err(err), "{number}");
        }
    }

    #[test]
    fn impossible_birth_dates_are_refused() {
        for body in ["11010519490229002", "11010520011301002", "11010520010431002", "11010520010100002"] {
            let n = with_check(body);
            assert!(matches!(IdDocument::parse(IdKind::ResidentId, &n), Err(IdError::BirthDate(_))), "{n}");
        }
        // 29 February in a leap year is fine.
        let leap = with_check("11010520000229002");
        assert!(IdDocument::parse(IdKind::ResidentId, &leap).is_ok());
    }

    #[test]
    fn residence_permits_use_their_area_codes() {
        for area in ["810000", "820000", "830000"] {
            let n = with_check(&format!("{area}19900101003"));
            let doc = IdDocument::parse(IdKind::HmtResidencePermit, &n).expect("permit");
            assert_eq!(doc.gender(), Some(Gender::Male));
            assert!(matches!(IdDocument::parse(IdKind::ResidentId, &n), Err(IdError::AreaCode { .. })));
        }
        let mainland = with_check("11010519900101003");
        assert!(matches!(
            IdDocument::parse(IdKind::HmtResidencePermit, &mainland),
            Err(IdError::AreaCode { .. })
        ));
    }

    #[test]
    fn foreign_permanent_residence_cards_start_with_nine() {
        let n = with_check("93384019850315008");
        let doc = IdDocument::parse(IdKind::ForeignPermanentResidence, &n).expect("card");
        assert_eq!(doc.birth_date(), Date::new(1985, 3, 15));
        assert_eq!(doc.gender(), Some(Gender::Female));
        assert!(matches!(IdDocument::parse(IdKind::ResidentId, &n), Err(IdError::AreaCode { .. })));
        let not_nine = with_check("11010519850315008");
        assert!(matches!(
            IdDocument::parse(IdKind::ForeignPermanentResidence, &not_nine),
            Err(IdError::BadCharacter { position: 1, .. })
        ));
    }

    #[test]
    fn travel_permits_and_passports() {
        assert!(IdDocument::parse(IdKind::HkMacauTravelPermit, "H12345678").is_ok());
        assert!(IdDocument::parse(IdKind::HkMacauTravelPermit, "m1234567801").is_ok());
        assert!(IdDocument::parse(IdKind::HkMacauTravelPermit, "A12345678").is_err());
        assert!(IdDocument::parse(IdKind::HkMacauTravelPermit, "H1234567").is_err());
        assert!(IdDocument::parse(IdKind::TaiwanTravelPermit, "12345678").is_ok());
        assert!(IdDocument::parse(IdKind::TaiwanTravelPermit, "1234567890").is_ok());
        assert!(IdDocument::parse(IdKind::TaiwanTravelPermit, "123456789").is_err());
        assert!(IdDocument::parse(IdKind::Passport, "E12345678").is_ok());
        assert!(IdDocument::parse(IdKind::Passport, "E123").is_err());
        assert!(IdDocument::parse(IdKind::Passport, "E1234-678").is_err());
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in IdKind::ALL {
            assert_eq!(kind.as_str().parse::<IdKind>(), Ok(kind));
        }
        assert!("driving_licence".parse::<IdKind>().is_err());
    }

    proptest! {
        #[test]
        fn exactly_one_check_character_is_accepted(body in "[0-9]{17}") {
            let accepted = CHECK
                .iter()
                .filter(|&&c| {
                    let n = format!("{body}{c}");
                    !matches!(
                        check_gb11643(&n),
                        Err(IdError::Checksum { .. } | IdError::BadCharacter { .. } | IdError::Length { .. })
                    )
                })
                .count();
            prop_assert_eq!(accepted, 1);
        }

        #[test]
        fn never_panics_on_arbitrary_input(kind in 0usize..6, s in "\\PC{0,24}") {
            let _ = IdDocument::parse(IdKind::ALL[kind], &s);
        }
    }
}
