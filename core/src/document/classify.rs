//! Where an incoming operation writes: the path of its object through the batch's own new
//! objects and the document, and whether that path may take that value in the current status.

use std::collections::{BTreeSet, HashMap};

use automerge::legacy::{Key, ObjectId, OpType as LegacyOp};
use automerge::{ActorId, AutoCommit, Change, ChangeHash, ObjType, Prop, ReadDoc, ScalarValue};

use crate::form::MAX_ANSWER_CHARS;
use crate::lifecycle::{DraftPath, Status};

use super::edit::*;
use super::{GENESIS_ACTOR, IncomingLimits, RefusalReason, RefusedPath, RegistrationDoc, SERVER_ACTOR};

/// The path of the object `obj` from the root, as dotted segments.
pub(super) fn object_path(doc: &AutoCommit, obj: &ObjectId) -> Option<Vec<String>> {
    let ObjectId::Id(opid) = obj else { return Some(Vec::new()) };
    let (id, _) = doc.import(&format!("{}@{}", opid.counter(), opid.actor())).ok()?;
    let mut path: Vec<String> = doc
        .parents(&id)
        .ok()?
        .map(|p| match p.prop {
            Prop::Map(k) => k,
            Prop::Seq(i) => i.to_string(),
        })
        .collect();
    path.reverse();
    Some(path)
}

/// Maps one operation to the draft path it writes, or says why it may not.
pub(super) fn classify(doc: &AutoCommit, op: &automerge::legacy::Op) -> Result<DraftPath, RefusedPath> {
    let path = object_path(doc, &op.obj)
        .ok_or(RefusedPath { path: "*".into(), reason: RefusalReason::Malformed })?;
    classify_path(path, op)
}

/// The draft path a write at `path` (map keys from the root) belongs to, whether or not the
/// write itself is allowed; `None` outside `draft`.
pub(super) fn draft_path_of(path: &[String]) -> Option<DraftPath> {
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    Some(match segs.as_slice() {
        ["draft", "fields", key, ..] => DraftPath::Field((*key).to_owned()),
        ["draft", "center", ..] => DraftPath::Center,
        ["draft", "subjects", ..] => DraftPath::Subjects,
        ["draft", "photo", ..] => DraftPath::Photo,
        ["draft", "agreement", ..] => DraftPath::Agreement,
        ["draft", "declaration", ..] => DraftPath::Declaration,
        _ => return None,
    })
}

/// Maps one operation on the object at `path` to the draft path it writes, or says why it may
/// not.
pub(super) fn classify_path(
    mut path: Vec<String>,
    op: &automerge::legacy::Op,
) -> Result<DraftPath, RefusedPath> {
    match &op.key {
        Key::Map(k) => path.push(k.to_string()),
        Key::Seq(_) => path.push("[]".into()),
    }
    let dotted = path.join(".");
    let refuse = |reason| Err(RefusedPath { path: dotted.clone(), reason });
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();

    enum Want {
        Str(usize),
        Int,
        True,
        Map,
    }
    let (draft_path, want) = match segs.as_slice() {
        ["server", ..] => return refuse(RefusalReason::ServerSection),
        ["draft", "fields", key] => {
            if check_field_key(key).is_err() {
                return refuse(RefusalReason::NotWritable);
            }
            (DraftPath::Field((*key).to_owned()), Want::Str(MAX_ANSWER_CHARS))
        }
        ["draft", "subjects", code] => {
            if check_subject_code(code).is_err() {
                return refuse(RefusalReason::NotWritable);
            }
            (DraftPath::Subjects, Want::True)
        }
        ["draft", "center"] => (DraftPath::Center, Want::Str(64)),
        ["draft", "photo"] => (DraftPath::Photo, Want::Map),
        ["draft", "photo", "sha256"] => (DraftPath::Photo, Want::Str(64)),
        ["draft", "photo", "bytes" | "width" | "height"] => (DraftPath::Photo, Want::Int),
        ["draft", "agreement"] => (DraftPath::Agreement, Want::Map),
        ["draft", "agreement", "version"] => (DraftPath::Agreement, Want::Str(64)),
        ["draft", "agreement", "sha256"] => (DraftPath::Agreement, Want::Str(64)),
        ["draft", "agreement", "accepted_at"] => (DraftPath::Agreement, Want::Int),
        ["draft", "declaration"] => (DraftPath::Declaration, Want::Map),
        ["draft", "declaration", "declared_at"] => (DraftPath::Declaration, Want::Int),
        _ => return refuse(RefusalReason::NotWritable),
    };
    if op.insert {
        return refuse(RefusalReason::WrongType);
    }
    match (&op.action, want) {
        (LegacyOp::Delete, _) => Ok(draft_path),
        (LegacyOp::Make(ObjType::Map), Want::Map) => Ok(draft_path),
        (LegacyOp::Put(ScalarValue::Str(s)), Want::Str(max)) => {
            if s.chars().count() > max {
                refuse(RefusalReason::TooLarge)
            } else {
                Ok(draft_path)
            }
        }
        (
            LegacyOp::Put(ScalarValue::Int(_) | ScalarValue::Uint(_) | ScalarValue::Timestamp(_)),
            Want::Int,
        ) => Ok(draft_path),
        (LegacyOp::Put(ScalarValue::Boolean(true)), Want::True) => Ok(draft_path),
        _ => refuse(RefusalReason::WrongType),
    }
}

impl RegistrationDoc {
    /// Decides a batch without applying it, for the case where it passes: returns the draft
    /// paths it touches when it provably passes every check [`RegistrationDoc::check_on_fork`]
    /// makes, and `None` whenever that is not certain (any refusal, an object it cannot place
    /// by keys alone, a size estimate over the cap, changes queued in the document).
    ///
    /// Objects never move in Automerge: an object's path is fixed by the `make` operation that
    /// created it. So an operation's path is found through the document for objects it has and
    /// through the batch's own `make` operations for objects the batch creates, without applying
    /// anything. Dependencies are checked against the document plus the batch, and the size
    /// against the document's operations plus the batch's (an upper bound of the size after).
    pub(super) fn check_in_place(
        &self,
        changes: &[Change],
        status: Status,
        limits: IncomingLimits,
    ) -> Option<BTreeSet<DraftPath>> {
        if !self.doc.get_missing_deps(&[]).is_empty() {
            return None;
        }
        let hashes: BTreeSet<ChangeHash> = changes.iter().map(Change::hash).collect();
        let deps_present =
            changes.iter().flat_map(|c| c.deps()).all(|d| hashes.contains(d) || self.has_change(d));
        let batch_ops = changes.iter().map(|c| c.len() as u64).sum::<u64>();
        if !deps_present || self.doc.stats().num_ops.saturating_add(batch_ops) > limits.max_document_ops {
            return None;
        }
        let decoded: Vec<automerge::ExpandedChange> = changes.iter().map(Change::decode).collect();
        // The objects the batch creates in maps: id -> (parent object, key).
        let mut made: HashMap<(u64, &ActorId), (&ObjectId, &str)> = HashMap::new();
        for change in &decoded {
            let actor = change.actor_id.to_bytes();
            if actor == GENESIS_ACTOR || actor == SERVER_ACTOR {
                return None;
            }
            for (op, counter) in change.operations.iter().zip(change.start_op.get()..) {
                if let (LegacyOp::Make(_), Key::Map(key)) = (&op.action, &op.key) {
                    // An id the document already uses would make the batch's view ambiguous.
                    if self.doc.import(&format!("{counter}@{}", change.actor_id)).is_ok() {
                        return None;
                    }
                    made.insert((counter, &change.actor_id), (&op.obj, key.as_str()));
                }
            }
        }
        let mut touched = BTreeSet::new();
        for op in decoded.iter().flat_map(|c| &c.operations) {
            let path = self.place(&op.obj, &made)?;
            let path = classify_path(path, op).ok()?;
            if !status.can_edit(path.group()) {
                return None;
            }
            touched.insert(path);
        }
        Some(touched)
    }

    /// The path of `obj` as map keys from the root, through the batch's `make` operations and
    /// then the document; `None` if it passes through a list or cannot be found.
    pub(super) fn place(
        &self,
        obj: &ObjectId,
        made: &HashMap<(u64, &ActorId), (&ObjectId, &str)>,
    ) -> Option<Vec<String>> {
        // Draft objects are at most three keys deep; deeper chains are refused anyway.
        const MAX_DEPTH: usize = 8;
        let mut keys = Vec::new();
        let mut current = obj;
        for _ in 0..MAX_DEPTH {
            let ObjectId::Id(id) = current else {
                keys.reverse();
                return Some(keys);
            };
            match made.get(&(id.counter(), id.actor())) {
                Some((parent, key)) => {
                    keys.push((*key).to_owned());
                    current = parent;
                }
                None => {
                    let (exid, _) = self.doc.import(&format!("{}@{}", id.counter(), id.actor())).ok()?;
                    let mut path = Vec::new();
                    for parent in self.doc.parents(&exid).ok()? {
                        let Prop::Map(key) = parent.prop else { return None };
                        path.push(key);
                    }
                    path.reverse();
                    keys.reverse();
                    path.extend(keys);
                    return Some(path);
                }
            }
        }
        None
    }
}
