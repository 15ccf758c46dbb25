//! The ticket's QR code: the signed ticket text encoded at error-correction level M.
//!
//! The text is `BMT1:` plus base45, whose alphabet is exactly QR's alphanumeric set, so the
//! encoder's segmentation puts the whole text in alphanumeric mode (11 bits per 2 characters
//! instead of 16 in byte mode). Level M survives about 15 % damage — a fold or a smudge on a
//! printed ticket — while keeping the code small enough to scan from paper.

use qrcode::{Color, EcLevel, QrCode};

use super::DocumentError;

/// The modules of a QR code, row by row, without the quiet zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QrMatrix {
    width: usize,
    dark: Vec<bool>,
}

impl QrMatrix {
    /// Encodes `text` at level M.
    pub(crate) fn encode(text: &str) -> Result<QrMatrix, DocumentError> {
        let code = QrCode::with_error_correction_level(text, EcLevel::M)
            .map_err(|e| DocumentError::Qr(e.to_string()))?;
        Ok(QrMatrix {
            width: code.width(),
            dark: code.into_colors().into_iter().map(|c| c == Color::Dark).collect(),
        })
    }

    /// Modules per side.
    pub(crate) fn width(&self) -> usize {
        self.width
    }

    /// Each maximal horizontal run of dark modules as `(row, first column, length)`.
    pub(crate) fn dark_runs(&self) -> Vec<(usize, usize, usize)> {
        let mut runs = Vec::new();
        for (row, modules) in self.dark.chunks(self.width.max(1)).enumerate() {
            let mut col = 0;
            while col < modules.len() {
                if modules[col] {
                    let start = col;
                    while col < modules.len() && modules[col] {
                        col += 1;
                    }
                    runs.push((row, start, col - start));
                } else {
                    col += 1;
                }
            }
        }
        runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_cover_exactly_the_dark_modules() {
        let matrix = QrMatrix::encode("BMT1:ABC$%*+-./: 0123").expect("encodes");
        let mut painted = vec![false; matrix.width * matrix.width];
        for (row, col, len) in matrix.dark_runs() {
            for c in col..col + len {
                assert!(!painted[row * matrix.width + c], "modules painted twice");
                painted[row * matrix.width + c] = true;
            }
        }
        assert_eq!(painted, matrix.dark);
    }

    #[test]
    fn base45_text_uses_alphanumeric_mode() {
        // 305 alphanumeric characters: byte mode needs version 13 (69 modules) at level M,
        // alphanumeric mode fits in version 10 or 11 (57 or 61 modules).
        let text = format!(
            "BMT1:{}",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 $%*+-./:".repeat(7).get(..300).unwrap_or("")
        );
        let matrix = QrMatrix::encode(&text).expect("encodes");
        assert!(matrix.width() <= 61, "width {} suggests byte mode", matrix.width());
    }
}
