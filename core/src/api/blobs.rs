//! Photo blobs (protocol.md §10): `PUT /api/blobs/{sha256}[?exam=]` uploads a JPEG body, checked
//! with the exam's photo rules (default rules without `exam`); `GET`/`HEAD` return the JPEG.
//! A refused upload is `photo_rejected` with `problems` and `report`, or `payload_too_large`
//! with `limit_bytes` and `rules_max_bytes` (see [`ErrorBody`](super::error::ErrorBody)).

use serde::{Deserialize, Serialize};

use crate::photo::PhotoReport;

/// The query of an upload (unknown parameters are refused with 400).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The exam session whose photo rules apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exam: Option<String>,
}

impl UploadQuery {
    /// The query string (`?exam=…`, or nothing).
    pub fn query_string(&self) -> String {
        let mut q = String::new();
        if let Some(exam) = &self.exam {
            super::push_query_pair(&mut q, "exam", exam);
        }
        q
    }
}

/// The answer to an upload: 201 stored for this account now, 200 already owned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoUploadAnswer {
    /// The digest (lower-case hex).
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Declared width in pixels.
    pub width: Option<u32>,
    /// Declared height in pixels.
    pub height: Option<u32>,
    /// The photo check's report (it passed).
    pub report: PhotoReport,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::round_trip;

    #[test]
    fn uploads_parse() {
        let a: PhotoUploadAnswer = round_trip(
            r#"{"sha256":"ab","bytes":41000,"width":330,"height":480,
                "report":{"format":"jpeg","bytes":41000,"width":330,"height":480,"colour":true,"orientation":null,
                          "face":{"x":100.5,"y":120.25,"width":130.0,"height":150.1,"score":7.3},
                          "head_ratio":0.62,"top_margin":0.1,"face_centre":0.5,"problems":[],
                          "warnings":["upscaled"]}}"#,
        );
        assert!(a.report.passed());
        assert_eq!(UploadQuery { exam: Some("ncre-2027-03".into()) }.query_string(), "?exam=ncre-2027-03");
        assert_eq!(UploadQuery::default().query_string(), "");
        round_trip::<UploadQuery>(r#"{"exam":"e"}"#);
    }
}
