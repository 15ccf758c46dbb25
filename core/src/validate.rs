//! Whole-draft validation: every problem at once, as typed, bilingual [`Issue`]s.
//!
//! The same function runs on the device (offline, against the cached catalog and the last known
//! seat availability) and on the server at submission (against live availability).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, ExamSession, TestCenter};
use crate::draft::Draft;
use crate::form::{FieldProblem, FieldRole};
use crate::id_document::{Date, IdDocument};
use crate::photo::MetadataProblem;

/// What kind of problem an [`Issue`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueCode {
    /// The draft names an exam session the catalog does not have.
    ExamUnknown,
    /// The agreement has not been accepted.
    AgreementMissing,
    /// The agreement accepted is not the current version.
    AgreementOutdated,
    /// A required field is empty.
    FieldRequired,
    /// A field's answer breaks its rules.
    FieldInvalid,
    /// An answer for a field the form does not have.
    FieldUnknown,
    /// An answer has characters the registration form and admission ticket cannot print (the
    /// shipped fonts lack them); the candidate must enter them as the ID document shows them.
    FieldNotPrintable,
    /// The ID document is not valid.
    IdDocumentInvalid,
    /// The birth date does not agree with the ID number.
    BirthDateMismatch,
    /// The gender does not agree with the ID number.
    GenderMismatch,
    /// No test center chosen.
    CenterMissing,
    /// The chosen center does not exist in this session.
    CenterUnknown,
    /// The chosen center has no seat left.
    CenterFull,
    /// No subject chosen.
    SubjectsMissing,
    /// More subjects than the session allows.
    TooManySubjects,
    /// A subject chosen twice.
    SubjectDuplicate,
    /// A subject the session does not have.
    SubjectUnknown,
    /// A subject the center does not offer.
    SubjectNotOffered,
    /// Two subjects in one time slot.
    SlotConflict,
    /// A subject with no seat left at the center.
    SubjectFull,
    /// No photo.
    PhotoMissing,
    /// The photo's metadata breaks the rules.
    PhotoInvalid,
    /// The truthfulness declaration has not been given.
    DeclarationMissing,
}

/// One problem with a draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    /// Where, e.g. `draft.fields.mobile` or `draft.subjects.66`.
    pub path: String,
    /// What.
    pub code: IssueCode,
    /// Explanation in Chinese.
    pub message_zh: String,
    /// Explanation in English.
    pub message_en: String,
}

/// Remaining seats as known to the validator. Anything not listed counts as available.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    centers: HashMap<String, CenterSeats>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct CenterSeats {
    remaining: Option<u32>,
    subjects: HashMap<String, u32>,
}

impl Availability {
    /// Nothing known: every seat counts as available.
    pub fn unknown() -> Availability {
        Availability::default()
    }

    /// Every seat of the catalog free (the state before anyone registers).
    pub fn all_free(exam: &ExamSession) -> Availability {
        let mut a = Availability::default();
        for c in &exam.centers {
            a.set_center(&c.id, c.total_capacity);
            for s in &c.subjects {
                a.set_subject(&c.id, &s.code, s.capacity);
            }
        }
        a
    }

    /// Records the seats left at a center in total.
    pub fn set_center(&mut self, center: &str, remaining: u32) {
        self.centers.entry(center.to_owned()).or_default().remaining = Some(remaining);
    }

    /// Records the seats left for a subject at a center.
    pub fn set_subject(&mut self, center: &str, subject: &str, remaining: u32) {
        self.centers.entry(center.to_owned()).or_default().subjects.insert(subject.to_owned(), remaining);
    }

    /// Seats left at the center, if known.
    pub fn center(&self, center: &str) -> Option<u32> {
        self.centers.get(center)?.remaining
    }

    /// Seats left for the subject at the center, if known.
    pub fn subject(&self, center: &str, subject: &str) -> Option<u32> {
        self.centers.get(center)?.subjects.get(subject).copied()
    }
}

/// Validates `draft` against its session in `catalog` and the seats in `availability`.
/// Returns every problem found; an empty list means the draft may be submitted.
pub fn validate(draft: &Draft, catalog: &Catalog, availability: &Availability) -> Vec<Issue> {
    let mut v = Validator { issues: Vec::new() };
    let Some(exam) = catalog.exam(&draft.exam) else {
        v.push(
            "exam",
            IssueCode::ExamUnknown,
            "报名的考试不存在".into(),
            format!("unknown exam session `{}`", draft.exam),
        );
        return v.issues;
    };
    v.agreement(draft, exam);
    v.fields(draft, exam);
    v.choices(draft, exam, availability);
    v.photo(draft, exam);
    if draft.declaration.is_none() {
        v.push(
            "draft.declaration",
            IssueCode::DeclarationMissing,
            "请阅读并确认诚信声明".into(),
            "Confirm the truthfulness declaration".into(),
        );
    }
    v.issues
}

struct Validator {
    issues: Vec<Issue>,
}

impl Validator {
    fn push(&mut self, path: impl Into<String>, code: IssueCode, zh: String, en: String) {
        self.issues.push(Issue { path: path.into(), code, message_zh: zh, message_en: en });
    }

    fn agreement(&mut self, draft: &Draft, exam: &ExamSession) {
        match &draft.agreement {
            None => self.push(
                "draft.agreement",
                IssueCode::AgreementMissing,
                "请先阅读并同意报名协议".into(),
                "Read and accept the registration agreement first".into(),
            ),
            Some(a) if a.version != exam.agreement.version || a.sha256 != exam.agreement.sha256 => self.push(
                "draft.agreement",
                IssueCode::AgreementOutdated,
                format!("报名协议已更新为{}版，请重新阅读并同意", exam.agreement.version),
                format!(
                    "The agreement changed to version {}; read and accept it again",
                    exam.agreement.version
                ),
            ),
            Some(_) => {}
        }
    }

    fn fields(&mut self, draft: &Draft, exam: &ExamSession) {
        let mut id_doc: Option<IdDocument> = None;
        for field in &exam.form {
            let path = format!("draft.fields.{}", field.key);
            match draft.fields.get(&field.key).map(String::as_str).filter(|v| !v.is_empty()) {
                None if field.required => self.push(
                    path,
                    IssueCode::FieldRequired,
                    format!("请填写“{}”", field.label.zh),
                    format!("{} is required", field.label.en),
                ),
                None => {}
                Some(value) => match field.check(value) {
                    Ok(()) => {
                        if field.role == Some(FieldRole::IdDocument) {
                            id_doc = field.id_document(value).ok();
                        }
                    }
                    Err(FieldProblem::Id(e)) => self.push(
                        path,
                        IssueCode::IdDocumentInvalid,
                        format!("{}：{}", field.label.zh, e.message_zh()),
                        format!("{}: {e}", field.label.en),
                    ),
                    Err(p @ FieldProblem::NotPrintable(_)) => self.push(
                        path,
                        IssueCode::FieldNotPrintable,
                        format!("{}：{}", field.label.zh, p.message_zh()),
                        format!("{}: {p}", field.label.en),
                    ),
                    Err(p) => self.push(
                        path,
                        IssueCode::FieldInvalid,
                        format!("{}：{}", field.label.zh, p.message_zh()),
                        format!("{}: {p}", field.label.en),
                    ),
                },
            }
        }
        for key in draft.fields.keys() {
            if exam.field(key).is_none() {
                self.push(
                    format!("draft.fields.{key}"),
                    IssueCode::FieldUnknown,
                    "表单中没有此项".into(),
                    format!("the form has no field `{key}`"),
                );
            }
        }
        if let Some(doc) = id_doc {
            self.id_agreement(draft, exam, &doc);
        }
    }

    /// Birth date and gender entered in the form must agree with the ID number.
    fn id_agreement(&mut self, draft: &Draft, exam: &ExamSession, doc: &IdDocument) {
        if let (Some(field), Some(encoded)) = (exam.field_with_role(FieldRole::BirthDate), doc.birth_date())
            && let Some(entered) = draft.fields.get(&field.key).and_then(|v| Date::parse_iso(v))
            && entered != encoded
        {
            self.push(
                format!("draft.fields.{}", field.key),
                IssueCode::BirthDateMismatch,
                format!("出生日期与证件号码不符（证件号码为{encoded}）"),
                format!("birth date does not match the ID number ({encoded})"),
            );
        }
        if let (Some(field), Some(encoded)) = (exam.field_with_role(FieldRole::Gender), doc.gender())
            && let Some(entered) = draft.fields.get(&field.key)
            && entered != encoded.as_str()
            && field.options.iter().any(|o| &o.value == entered)
        {
            self.push(
                format!("draft.fields.{}", field.key),
                IssueCode::GenderMismatch,
                "性别与证件号码不符".into(),
                "gender does not match the ID number".into(),
            );
        }
    }

    fn choices(&mut self, draft: &Draft, exam: &ExamSession, seats: &Availability) {
        let center = self.center(draft, exam, seats);
        self.subjects(draft, exam, center, seats);
    }

    /// The chosen center, if it exists; reports a missing, unknown or full one.
    fn center<'e>(
        &mut self,
        draft: &Draft,
        exam: &'e ExamSession,
        seats: &Availability,
    ) -> Option<&'e TestCenter> {
        match draft.center.as_deref() {
            None => {
                self.push(
                    "draft.center",
                    IssueCode::CenterMissing,
                    "请选择考点".into(),
                    "Choose a test center".into(),
                );
                None
            }
            Some(id) => match exam.center(id) {
                None => {
                    self.push(
                        "draft.center",
                        IssueCode::CenterUnknown,
                        "所选考点不存在".into(),
                        format!("test center `{id}` does not exist in this session"),
                    );
                    None
                }
                Some(c) => {
                    if seats.center(&c.id) == Some(0) {
                        self.push(
                            "draft.center",
                            IssueCode::CenterFull,
                            format!("考点“{}”已报满", c.name.zh),
                            format!("{} is full", c.name.en),
                        );
                    }
                    Some(c)
                }
            },
        }
    }

    /// The chosen subjects: count, duplicates, unknown codes, time-slot conflicts, and whether
    /// `center` offers them with seats left.
    fn subjects(
        &mut self,
        draft: &Draft,
        exam: &ExamSession,
        center: Option<&TestCenter>,
        seats: &Availability,
    ) {
        if draft.subjects.is_empty() {
            self.push(
                "draft.subjects",
                IssueCode::SubjectsMissing,
                "请至少选择一个科目".into(),
                "Choose at least one subject".into(),
            );
        }
        if draft.subjects.len() > usize::from(exam.subject_cap) {
            self.push(
                "draft.subjects",
                IssueCode::TooManySubjects,
                format!("最多可报{}个科目", exam.subject_cap),
                format!("at most {} subjects may be chosen", exam.subject_cap),
            );
        }
        let mut seen = BTreeSet::new();
        let mut slots: BTreeMap<&str, &str> = BTreeMap::new();
        for code in &draft.subjects {
            let path = format!("draft.subjects.{code}");
            if !seen.insert(code.as_str()) {
                self.push(
                    path,
                    IssueCode::SubjectDuplicate,
                    "科目重复".into(),
                    format!("subject {code} chosen twice"),
                );
                continue;
            }
            let Some(subject) = exam.subject(code) else {
                self.push(
                    path,
                    IssueCode::SubjectUnknown,
                    "科目不存在".into(),
                    format!("subject {code} does not exist"),
                );
                continue;
            };
            if let Some(other) = slots.insert(&subject.slot, code) {
                self.push(
                    path.clone(),
                    IssueCode::SlotConflict,
                    format!("科目{code}与科目{other}考试时间相同，只能选择其一"),
                    format!("subjects {other} and {code} are sat at the same time"),
                );
            }
            if let Some(c) = center {
                if c.offer(code).is_none() {
                    self.push(
                        path,
                        IssueCode::SubjectNotOffered,
                        format!("考点“{}”不开考科目{code}", c.name.zh),
                        format!("{} does not offer subject {code}", c.name.en),
                    );
                } else if seats.subject(&c.id, code) == Some(0) {
                    self.push(
                        path,
                        IssueCode::SubjectFull,
                        format!("科目{code}在该考点已报满",),
                        format!("subject {code} is full at {}", c.name.en),
                    );
                }
            }
        }
    }

    fn photo(&mut self, draft: &Draft, exam: &ExamSession) {
        let Some(photo) = &draft.photo else {
            self.push("draft.photo", IssueCode::PhotoMissing, "请上传照片".into(), "Add a photo".into());
            return;
        };
        for problem in exam.photo.check_metadata(photo) {
            let rules = &exam.photo;
            let (zh, en) = match problem {
                MetadataProblem::BadHash => {
                    ("照片标识无效".into(), "the photo reference is malformed".into())
                }
                MetadataProblem::TooFewBytes | MetadataProblem::TooManyBytes => (
                    format!("照片文件大小应在{}KB到{}KB之间", rules.min_bytes / 1024, rules.max_bytes / 1024),
                    format!(
                        "the photo file must be {}–{} KB",
                        rules.min_bytes / 1024,
                        rules.max_bytes / 1024
                    ),
                ),
                MetadataProblem::TooSmall => (
                    format!("照片尺寸至少为{}×{}像素（宽×高）", rules.min_width, rules.min_height),
                    format!(
                        "the photo must be at least {}×{} pixels (width×height)",
                        rules.min_width, rules.min_height
                    ),
                ),
                MetadataProblem::WrongAspect => (
                    format!("照片宽高比应为{}:{}", rules.aspect_width, rules.aspect_height),
                    format!(
                        "the photo must have a {}:{} width:height ratio",
                        rules.aspect_width, rules.aspect_height
                    ),
                ),
            };
            self.push("draft.photo", IssueCode::PhotoInvalid, zh, en);
        }
    }
}

#[cfg(test)]
mod tests;
