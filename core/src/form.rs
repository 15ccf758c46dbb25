//! The registration form schema and per-field validation.
//!
//! A form is a list of [`FieldDef`]s from the catalog. Every answer is stored in the draft as a
//! string; [`FieldDef::check`] validates one answer offline (on the device) and again on the
//! server with the same code. ID document answers are stored as `kind:number` (see
//! [`encode_id_document`]).

use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::catalog::Bilingual;
use crate::id_document::{Date, IdDocument, IdError, IdKind};

/// The type of a form field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Free text.
    Text,
    /// One of the listed options.
    Select,
    /// A date, `YYYY-MM-DD`.
    Date,
    /// A mainland mobile number (11 digits starting with 1).
    Mobile,
    /// An e-mail address.
    Email,
    /// A whole number.
    Integer,
    /// An identity document, stored as `kind:number`.
    IdDocument,
}

/// What a field means to the platform beyond its own validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldRole {
    /// The candidate's legal name.
    Name,
    /// The identity document (one registration per document per session).
    IdDocument,
    /// The birth date, checked against the ID number.
    BirthDate,
    /// The gender (`male` / `female`), checked against the ID number.
    Gender,
    /// The mobile number used for notices.
    Mobile,
    /// The e-mail address used for notices.
    Email,
}

/// One option of a select field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectOption {
    /// The stored value.
    pub value: String,
    /// The label shown.
    pub label: Bilingual,
}

/// One field of the registration form.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldDef {
    /// Stable key; the answer lives at `draft.fields.<key>`.
    pub key: String,
    /// The label shown.
    pub label: Bilingual,
    /// The field type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Whether an answer is required to submit.
    #[serde(default)]
    pub required: bool,
    /// Special meaning, if any.
    #[serde(default)]
    pub role: Option<FieldRole>,
    /// Minimum length in characters (text).
    #[serde(default)]
    pub min_len: Option<u32>,
    /// Maximum length in characters (text; every answer is capped at 500 regardless).
    #[serde(default)]
    pub max_len: Option<u32>,
    /// A regular expression the whole answer must match (text).
    #[serde(default)]
    pub pattern: Option<String>,
    /// Options (select).
    #[serde(default)]
    pub options: Vec<SelectOption>,
    /// Smallest value (integer).
    #[serde(default)]
    pub min: Option<i64>,
    /// Largest value (integer).
    #[serde(default)]
    pub max: Option<i64>,
    /// Accepted document kinds (id_document); empty means every kind.
    #[serde(default)]
    pub id_kinds: Vec<IdKind>,
    /// Help text shown under the field.
    #[serde(default)]
    pub help: Option<Bilingual>,
    #[serde(skip)]
    compiled: Option<Regex>,
}

/// Hard cap on any answer's length, whatever the schema says.
pub const MAX_ANSWER_CHARS: usize = 500;

/// Why one answer is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    /// Shorter than `min_len`.
    #[error("at least {0} characters")]
    TooShort(u32),
    /// Longer than `max_len` (or the hard cap).
    #[error("at most {0} characters")]
    TooLong(u32),
    /// Does not match the pattern.
    #[error("does not match the required format")]
    Pattern,
    /// Not one of the options.
    #[error("not one of the options")]
    NotAnOption,
    /// Not a valid `YYYY-MM-DD` date.
    #[error("not a valid date (YYYY-MM-DD)")]
    Date,
    /// Not a mainland mobile number.
    #[error("not a mainland mobile number")]
    Mobile,
    /// Not an e-mail address.
    #[error("not an e-mail address")]
    Email,
    /// Not a whole number.
    #[error("not a whole number")]
    Integer,
    /// Outside `min..=max`.
    #[error("must be between {min} and {max}")]
    OutOfRange {
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// Not `kind:number`, or a kind this field does not accept.
    #[error("identity document kind not accepted here")]
    IdKindNotAccepted,
    /// The ID number breaks its kind's rules.
    #[error("{0}")]
    Id(#[from] IdError),
    /// Blank or contains control characters.
    #[error("blank or contains control characters")]
    Blank,
    /// Characters the registration form and admission ticket cannot print: the shipped fonts
    /// lack them (see [`crate::coverage`]).
    #[error(
        "{} cannot be printed on the registration form and admission ticket; enter the character as \
         your ID document shows it, or contact the test center if the document shows exactly this one",
        crate::coverage::describe(.0)
    )]
    NotPrintable(Vec<char>),
}

impl FieldProblem {
    /// Candidate-facing Chinese text.
    pub fn message_zh(&self) -> String {
        match self {
            FieldProblem::TooShort(n) => format!("至少需要{n}个字符"),
            FieldProblem::TooLong(n) => format!("不能超过{n}个字符"),
            FieldProblem::Pattern => "格式不正确".into(),
            FieldProblem::NotAnOption => "请从选项中选择".into(),
            FieldProblem::Date => "日期无效，格式应为 YYYY-MM-DD".into(),
            FieldProblem::Mobile => "请填写11位大陆手机号码".into(),
            FieldProblem::Email => "电子邮箱格式不正确".into(),
            FieldProblem::Integer => "请填写整数".into(),
            FieldProblem::OutOfRange { min, max } => format!("数值应在{min}到{max}之间"),
            FieldProblem::IdKindNotAccepted => "不接受该证件类型".into(),
            FieldProblem::Id(e) => e.message_zh(),
            FieldProblem::Blank => "内容为空或包含控制字符".into(),
            FieldProblem::NotPrintable(chars) => format!(
                "{}无法打印在报名登记表和准考证上。请按身份证件上的字形填写；如证件上就是此字，请联系考点处理",
                chars.iter().map(|c| format!("“{c}”（U+{:04X}）", u32::from(*c))).collect::<String>()
            ),
        }
    }
}

fn mobile_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    #[allow(clippy::expect_used)]
    RE.get_or_init(|| Regex::new(r"^1[3-9][0-9]{9}$").expect("static regex"))
}

impl FieldDef {
    /// Compiles the pattern and checks the definition; returns what is wrong with it.
    pub(crate) fn prepare(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.key.is_empty()
            || !self.key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            problems.push("key must be lower-case letters, digits and `_`".to_owned());
        }
        if let Some(p) = &self.pattern {
            match Regex::new(&format!("^(?:{p})$")) {
                Ok(re) => self.compiled = Some(re),
                Err(e) => problems.push(format!("pattern does not compile: {e}")),
            }
        }
        if self.field_type == FieldType::Select && self.options.is_empty() {
            problems.push("a select field needs options".into());
        }
        if let (Some(a), Some(b)) = (self.min_len, self.max_len)
            && a > b
        {
            problems.push("min_len is larger than max_len".into());
        }
        if let (Some(a), Some(b)) = (self.min, self.max)
            && a > b
        {
            problems.push("min is larger than max".into());
        }
        let role_type = match self.role {
            Some(FieldRole::BirthDate) => Some(FieldType::Date),
            Some(FieldRole::Gender) => Some(FieldType::Select),
            Some(FieldRole::Mobile) => Some(FieldType::Mobile),
            Some(FieldRole::Email) => Some(FieldType::Email),
            Some(FieldRole::IdDocument) => Some(FieldType::IdDocument),
            Some(FieldRole::Name) => Some(FieldType::Text),
            None => None,
        };
        if let Some(t) = role_type
            && t != self.field_type
        {
            problems.push(format!("role {:?} needs type {t:?}", self.role));
        }
        if self.role == Some(FieldRole::Gender)
            && !["male", "female"].iter().all(|g| self.options.iter().any(|o| o.value == *g))
        {
            problems.push("the gender field needs the options `male` and `female`".into());
        }
        problems
    }

    /// Validates one answer.
    pub fn check(&self, value: &str) -> Result<(), FieldProblem> {
        if value.trim().is_empty() || value.chars().any(char::is_control) {
            return Err(FieldProblem::Blank);
        }
        let chars = value.chars().count();
        if chars > MAX_ANSWER_CHARS {
            return Err(FieldProblem::TooLong(MAX_ANSWER_CHARS as u32));
        }
        // Free text is printed on the registration form (and the name on the ticket): refuse
        // what the documents cannot print here, not after payment.
        if matches!(self.field_type, FieldType::Text | FieldType::Email) {
            crate::coverage::printable(value).map_err(FieldProblem::NotPrintable)?;
        }
        match self.field_type {
            FieldType::Text => {
                if let Some(min) = self.min_len
                    && chars < min as usize
                {
                    return Err(FieldProblem::TooShort(min));
                }
                if let Some(max) = self.max_len
                    && chars > max as usize
                {
                    return Err(FieldProblem::TooLong(max));
                }
                if let Some(re) = &self.compiled
                    && !re.is_match(value)
                {
                    return Err(FieldProblem::Pattern);
                }
            }
            FieldType::Select => {
                if !self.options.iter().any(|o| o.value == value) {
                    return Err(FieldProblem::NotAnOption);
                }
            }
            FieldType::Date => {
                Date::parse_iso(value).filter(|d| d.year >= 1900).ok_or(FieldProblem::Date)?;
            }
            FieldType::Mobile => {
                if !mobile_re().is_match(value) {
                    return Err(FieldProblem::Mobile);
                }
            }
            FieldType::Email => {
                if !is_email(value) {
                    return Err(FieldProblem::Email);
                }
            }
            FieldType::Integer => {
                let n: i64 = value.parse().map_err(|_| FieldProblem::Integer)?;
                let (min, max) = (self.min.unwrap_or(i64::MIN), self.max.unwrap_or(i64::MAX));
                if !(min..=max).contains(&n) {
                    return Err(FieldProblem::OutOfRange { min, max });
                }
            }
            FieldType::IdDocument => {
                self.id_document(value)?;
            }
        }
        Ok(())
    }

    /// Parses an ID document answer (`kind:number`) accepted by this field.
    pub fn id_document(&self, value: &str) -> Result<IdDocument, FieldProblem> {
        let (kind, number) = decode_id_document(value).ok_or(FieldProblem::IdKindNotAccepted)?;
        if !self.id_kinds.is_empty() && !self.id_kinds.contains(&kind) {
            return Err(FieldProblem::IdKindNotAccepted);
        }
        Ok(IdDocument::parse(kind, number)?)
    }
}

/// Encodes an ID document answer as stored in the draft: `kind:number`.
pub fn encode_id_document(kind: IdKind, number: &str) -> String {
    format!("{}:{}", kind.as_str(), number.trim())
}

/// Splits a stored ID document answer into kind and number.
pub fn decode_id_document(value: &str) -> Option<(IdKind, &str)> {
    let (kind, number) = value.split_once(':')?;
    Some((kind.parse().ok()?, number))
}

/// A pragmatic e-mail check: one `@`, a non-empty local part without blanks, a dotted domain of
/// letters, digits and hyphens, at most 254 characters.
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    s.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !local.contains(|c: char| c.is_whitespace() || c == '@')
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(toml_text: &str) -> FieldDef {
        let mut f: FieldDef = toml::from_str(toml_text).expect("field toml");
        assert_eq!(f.prepare(), Vec::<String>::new());
        f
    }

    #[test]
    fn text_length_and_pattern() {
        let f = field(
            "key = \"postal_code\"\nlabel = { zh = \"邮编\", en = \"Postcode\" }\ntype = \"text\"\npattern = '[0-9]{6}'",
        );
        assert_eq!(f.check("100871"), Ok(()));
        assert_eq!(f.check("10087"), Err(FieldProblem::Pattern));
        assert_eq!(f.check("1008711"), Err(FieldProblem::Pattern));
        let f = field(
            "key = \"name\"\nlabel = { zh = \"姓名\", en = \"Name\" }\ntype = \"text\"\nmin_len = 2\nmax_len = 4",
        );
        assert_eq!(f.check("王"), Err(FieldProblem::TooShort(2)));
        assert_eq!(f.check("欧阳娜娜"), Ok(()));
        assert_eq!(f.check("欧阳娜娜娜"), Err(FieldProblem::TooLong(4)));
        assert_eq!(f.check("  "), Err(FieldProblem::Blank));
        assert_eq!(f.check("a\u{0}b"), Err(FieldProblem::Blank));
    }

    #[test]
    fn text_the_documents_cannot_print_is_refused() {
        let name = field(
            "key = \"name\"\nlabel = { zh = \"姓名\", en = \"Name\" }\ntype = \"text\"\nmin_len = 2\nmax_len = 30",
        );
        assert_eq!(name.check("李\u{31350}"), Err(FieldProblem::NotPrintable(vec!['\u{31350}'])));
        assert_eq!(name.check("李𰻝"), Ok(()));
        assert_eq!(name.check("买买提·艾力"), Ok(()));
        let p = FieldProblem::NotPrintable(vec!['\u{31350}']);
        assert!(
            p.message_zh().contains("U+31350") && p.message_zh().contains("身份证件"),
            "{}",
            p.message_zh()
        );
        assert!(p.to_string().contains("U+31350") && p.to_string().contains("ID document"), "{p}");
        let email = field("key = \"e\"\nlabel = { zh = \"邮箱\", en = \"Email\" }\ntype = \"email\"");
        assert_eq!(email.check("ก@example.cn"), Err(FieldProblem::NotPrintable(vec!['ก'])));
    }

    #[test]
    fn typed_fields() {
        let mobile = field("key = \"m\"\nlabel = { zh = \"手机\", en = \"Mobile\" }\ntype = \"mobile\"");
        assert_eq!(mobile.check("13800138000"), Ok(()));
        assert_eq!(mobile.check("12800138000"), Err(FieldProblem::Mobile));
        assert_eq!(mobile.check("1380013800"), Err(FieldProblem::Mobile));
        let email = field("key = \"e\"\nlabel = { zh = \"邮箱\", en = \"Email\" }\ntype = \"email\"");
        assert_eq!(email.check("zhang.san@example.cn"), Ok(()));
        assert_eq!(email.check("张三@例子.中国"), Ok(()));
        for bad in ["zhang", "a@b", "a b@c.cn", "a@-b.cn", "a@b..cn"] {
            assert_eq!(email.check(bad), Err(FieldProblem::Email), "{bad}");
        }
        let date = field("key = \"d\"\nlabel = { zh = \"日期\", en = \"Date\" }\ntype = \"date\"");
        assert_eq!(date.check("2000-02-29"), Ok(()));
        assert_eq!(date.check("2001-02-29"), Err(FieldProblem::Date));
        assert_eq!(date.check("2001/02/28"), Err(FieldProblem::Date));
        let int = field(
            "key = \"n\"\nlabel = { zh = \"次数\", en = \"Count\" }\ntype = \"integer\"\nmin = 0\nmax = 9",
        );
        assert_eq!(int.check("3"), Ok(()));
        assert_eq!(int.check("10"), Err(FieldProblem::OutOfRange { min: 0, max: 9 }));
        assert_eq!(int.check("3.5"), Err(FieldProblem::Integer));
    }

    #[test]
    fn id_document_fields() {
        let f = field(
            "key = \"id\"\nlabel = { zh = \"证件\", en = \"ID\" }\ntype = \"id_document\"\nid_kinds = [\"resident_id\", \"passport\"]",
        );
        assert_eq!(f.check(&encode_id_document(IdKind::ResidentId, "11010519491231002X")), Ok(()));
        assert_eq!(f.check("taiwan_travel_permit:12345678"), Err(FieldProblem::IdKindNotAccepted));
        assert_eq!(f.check("11010519491231002X"), Err(FieldProblem::IdKindNotAccepted));
        assert!(matches!(
            f.check("resident_id:110105194912310021"),
            Err(FieldProblem::Id(IdError::Checksum { .. }))
        ));
    }

    #[test]
    fn bad_definitions_are_reported() {
        let mut f: FieldDef = toml::from_str(
            "key = \"Bad Key\"\nlabel = { zh = \"x\", en = \"x\" }\ntype = \"select\"\npattern = '('",
        )
        .expect("toml");
        let problems = f.prepare();
        assert_eq!(problems.len(), 3, "{problems:?}");
    }
}
