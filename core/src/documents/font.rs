//! The shipped fonts, character coverage and the small "shaper" that turns text into glyph runs.
//!
//! Two faces are compiled into the crate (see `core/assets/fonts/README.md`):
//!
//! 1. Noto Sans CJK SC Regular — Latin, punctuation, the whole of the CJK Unified Ideographs
//!    block and Extension A, and the Extension B–F characters of the 通用规范汉字表.
//! 2. HanaMinB — the fallback for the rest of Extensions B–F (planes 2 and 3).
//!
//! Each character goes to the first face whose `cmap` maps it to a real glyph. Chinese text
//! needs no contextual shaping, so a glyph per character with the font's advance width is the
//! whole job; that also lets the layout measure text exactly. A character in neither face is
//! [`DocumentError::MissingGlyph`].

use std::sync::OnceLock;

use krilla::text::{Font, GlyphId, KrillaGlyph};
use skrifa::instance::{LocationRef, Size};
use skrifa::metrics::GlyphMetrics;
use skrifa::{FontRef, MetadataProvider, charmap::Charmap};

use super::DocumentError;

static NOTO_SANS_CJK_SC: &[u8] = include_bytes!("../../assets/fonts/NotoSansCJKsc-Regular.otf");
static HANA_MIN_B: &[u8] = include_bytes!("../../assets/fonts/HanaMinB.ttf");

/// One loaded face: krilla's handle for drawing plus skrifa's tables for mapping and measuring.
pub(crate) struct Face {
    pub(crate) font: Font,
    charmap: Charmap<'static>,
    metrics: GlyphMetrics<'static>,
    units_per_em: f32,
}

impl Face {
    fn load(name: &'static str, data: &'static [u8]) -> Result<Face, DocumentError> {
        let font_ref = FontRef::from_index(data, 0).map_err(|_| DocumentError::Font(name))?;
        let font = Font::new(data.into(), 0).ok_or(DocumentError::Font(name))?;
        let units_per_em = font_ref.metrics(Size::unscaled(), LocationRef::default()).units_per_em;
        if units_per_em == 0 {
            return Err(DocumentError::Font(name));
        }
        let units_per_em = f32::from(units_per_em);
        Ok(Face {
            font,
            charmap: font_ref.charmap(),
            metrics: font_ref.glyph_metrics(Size::unscaled(), LocationRef::default()),
            units_per_em,
        })
    }

    fn glyph(&self, ch: char) -> Option<skrifa::GlyphId> {
        self.charmap.map(ch).filter(|g| g.to_u32() != 0)
    }

    /// Advance of `glyph` in em.
    fn advance(&self, glyph: skrifa::GlyphId) -> f32 {
        self.metrics.advance_width(glyph).unwrap_or(self.units_per_em) / self.units_per_em
    }
}

/// The faces in fallback order.
pub(crate) struct Fonts {
    faces: Vec<Face>,
}

static FONTS: OnceLock<Result<Fonts, DocumentError>> = OnceLock::new();

/// The shipped fonts, parsed once per process.
pub(crate) fn fonts() -> Result<&'static Fonts, DocumentError> {
    FONTS
        .get_or_init(|| {
            Ok(Fonts {
                faces: vec![
                    Face::load("NotoSansCJKsc-Regular.otf", NOTO_SANS_CJK_SC)?,
                    Face::load("HanaMinB.ttf", HANA_MIN_B)?,
                ],
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A run of consecutive characters drawn with one face.
pub(crate) struct Run {
    /// Index of the face in [`Fonts`].
    pub(crate) face: usize,
    /// The characters of the run.
    pub(crate) text: String,
    /// One glyph per character, advances in em, text ranges into `text`.
    pub(crate) glyphs: Vec<KrillaGlyph>,
    /// Width of the run in em.
    pub(crate) width_em: f32,
}

impl Fonts {
    pub(crate) fn face(&self, index: usize) -> &Face {
        &self.faces[index]
    }

    fn lookup(&self, ch: char) -> Option<(usize, skrifa::GlyphId)> {
        self.faces.iter().enumerate().find_map(|(i, face)| face.glyph(ch).map(|g| (i, g)))
    }

    /// Splits `text` into runs of one face each, or names the first character no face has.
    pub(crate) fn shape(&self, text: &str) -> Result<Vec<Run>, DocumentError> {
        let mut runs: Vec<Run> = Vec::new();
        for ch in text.chars() {
            let (face, glyph) = self.lookup(ch).ok_or(DocumentError::MissingGlyph { ch })?;
            let advance = self.faces[face].advance(glyph);
            let run = match runs.last_mut() {
                Some(run) if run.face == face => run,
                _ => {
                    runs.push(Run { face, text: String::new(), glyphs: Vec::new(), width_em: 0.0 });
                    let last = runs.len() - 1;
                    &mut runs[last]
                }
            };
            let start = run.text.len();
            run.text.push(ch);
            run.glyphs.push(KrillaGlyph::new(
                GlyphId::new(glyph.to_u32()),
                advance,
                0.0,
                0.0,
                0.0,
                start..run.text.len(),
                None,
            ));
            run.width_em += advance;
        }
        Ok(runs)
    }

    /// Width of `text` in em, or the first character no face has.
    pub(crate) fn width_em(&self, text: &str) -> Result<f32, DocumentError> {
        text.chars().try_fold(0.0, |width, ch| {
            let (face, glyph) = self.lookup(ch).ok_or(DocumentError::MissingGlyph { ch })?;
            Ok(width + self.faces[face].advance(glyph))
        })
    }
}

/// Every code point some shipped face maps to a real glyph, as sorted, disjoint, non-adjacent
/// inclusive ranges, read from the fonts' `cmap` tables — the characters the renderer can
/// draw.
///
/// [`crate::coverage`] carries the same ranges as a table compiled without the fonts (so a
/// device validates names without this feature); a test checks the two are equal, and the
/// `font_coverage` example prints the table from this function.
pub fn shipped_font_ranges() -> Result<Vec<(u32, u32)>, DocumentError> {
    let mut points: Vec<u32> = fonts()?
        .faces
        .iter()
        .flat_map(|face| face.charmap.mappings())
        .filter(|(_, glyph)| glyph.to_u32() != 0)
        .map(|(cp, _)| cp)
        .filter(|&cp| char::from_u32(cp).is_some())
        .collect();
    points.sort_unstable();
    points.dedup();
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for cp in points {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == cp => *end = cp,
            _ => ranges.push((cp, cp)),
        }
    }
    Ok(ranges)
}
