//! The one masking rule for ID numbers shown rather than checked (see the parent module).

use std::fmt;

use serde::Serialize;

use super::IdKind;

/// An ID number masked by [`mask`] — the only form in which admission tickets, their QR codes and
/// the documents carry it, so that every place shows the same characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct MaskedId(String);

impl MaskedId {
    /// The masked number.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A masked number read back from a signed ticket: the exam's signature vouches for it.
    pub(crate) fn from_signed(text: String) -> MaskedId {
        MaskedId(text)
    }
}

impl fmt::Display for MaskedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<MaskedId> for String {
    fn from(m: MaskedId) -> String {
        m.0
    }
}

/// Masks an ID number of `kind` for display (see the module documentation for the rule): the
/// 18-character kinds keep the first 6 and last 4 characters, the shorter ones a leading letter
/// and the last 4 (at most half of the rest). The number is normalised as [`super::IdDocument::parse`]
/// does but not checked, so a stored number that no longer passes the rules is masked the same
/// way.
pub fn mask(kind: IdKind, number: &str) -> MaskedId {
    let chars: Vec<char> = number.trim().chars().map(|c| c.to_ascii_uppercase()).collect();
    let n = chars.len();
    let eighteen =
        matches!(kind, IdKind::ResidentId | IdKind::HmtResidencePermit | IdKind::ForeignPermanentResidence);
    let (head, tail) = if eighteen && n == 18 {
        (6, 4)
    } else {
        let head = usize::from(chars.first().is_some_and(char::is_ascii_alphabetic));
        (head, 4.min((n - head) / 2))
    };
    MaskedId(
        chars.iter().enumerate().map(|(i, &c)| if i < head || i + tail >= n { c } else { '*' }).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id_document::{IdDocument, gb11643_check_char};

    fn with_check(body: &str) -> String {
        format!("{body}{}", gb11643_check_char(body).expect("17 digits"))
    }

    /// One rule for every place a number is shown: before it, the profile showed
    /// `1101**********0424` where the ticket, its QR code and the check-in showed
    /// `110101********0316`-style masks (first 6, last 4).
    #[test]
    fn one_masking_rule_for_every_kind() {
        let cases = [
            (IdKind::ResidentId, "11010519491231002X", "110105********002X"),
            (IdKind::ResidentId, " 11010519491231002x", "110105********002X"),
            (IdKind::HmtResidencePermit, &with_check("81000019900101003"), "810000********0035"),
            (IdKind::ForeignPermanentResidence, &with_check("93384019850315008"), "933840********0089"),
            (IdKind::HkMacauTravelPermit, "H12345678", "H****5678"),
            (IdKind::HkMacauTravelPermit, "M1234567801", "M******7801"),
            (IdKind::TaiwanTravelPermit, "12345678", "****5678"),
            (IdKind::TaiwanTravelPermit, "1234567890", "******7890"),
            (IdKind::Passport, "E12345678", "E****5678"),
            (IdKind::Passport, "ea1234567", "E****4567"),
            (IdKind::Passport, "A1234", "A**34"),
            (IdKind::Passport, "123456", "***456"),
            // A stored number that no longer passes its kind's rules is masked all the same.
            (IdKind::ResidentId, "1101051949", "******1949"),
            (IdKind::ResidentId, "", ""),
        ];
        for (kind, number, expected) in cases {
            let masked = mask(kind, number);
            assert_eq!(masked.as_str(), expected, "{kind} {number}");
            assert_eq!(masked.as_str().chars().count(), number.trim().chars().count());
            if let Ok(doc) = IdDocument::parse(kind, number) {
                assert_eq!(doc.masked(), expected, "the profile's mask is the ticket's");
            }
        }
        // The 8 hidden characters of an 18-character number are exactly its birth date.
        let doc = IdDocument::parse(IdKind::ResidentId, "11010519491231002X").expect("valid");
        assert!(!doc.masked().contains("19491231") && doc.masked()[6..14] == *"********");
        // Every short number hides at least half of what follows its letter.
        for len in 5..=17 {
            let number = format!("E{}", "7".repeat(len - 1));
            let hidden = mask(IdKind::Passport, &number).as_str().matches('*').count();
            assert!(hidden * 2 >= len - 1, "{len}: {hidden} hidden");
        }
    }
}
