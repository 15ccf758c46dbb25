//! Page layout in millimetres: a display list built by the form and ticket layouts, then written
//! to PDF with krilla.
//!
//! Building the pages first (text measured, lines wrapped, page breaks decided) and writing them
//! afterwards keeps page breaking simple and reports every input problem — a missing glyph, a bad
//! photo — before any PDF object exists.

use krilla::color::luma;
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::image::Image;
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule, Stroke};
use krilla::surface::Surface;
use krilla::{Data, Document};

use super::DocumentError;
use super::font::{Fonts, fonts};
use super::qr::QrMatrix;

/// Points per millimetre.
const PT_PER_MM: f32 = 72.0 / 25.4;
/// A4 width in mm.
pub(crate) const PAGE_W: f32 = 210.0;
/// A4 height in mm.
pub(crate) const PAGE_H: f32 = 297.0;
/// Left and right margin in mm.
pub(crate) const MARGIN_X: f32 = 18.0;
/// Top margin in mm.
pub(crate) const MARGIN_TOP: f32 = 16.0;
/// Lowest y (mm) content may reach; the footer lives below it.
pub(crate) const CONTENT_BOTTOM: f32 = PAGE_H - 18.0;
/// Width between the margins in mm.
pub(crate) const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN_X;
/// Cell padding in mm.
const PAD: f32 = 1.8;
/// Line height as a multiple of the font size.
const LEADING: f32 = 1.35;
/// Light grey used for table header and label cells.
const SHADE: u8 = 236;

fn pt(mm: f32) -> f32 {
    mm * PT_PER_MM
}

/// Font size (pt) to mm.
fn size_mm(size_pt: f32) -> f32 {
    size_pt / PT_PER_MM
}

/// Horizontal alignment of text in a box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Center,
    Right,
}

/// One drawing operation; coordinates in mm from the top-left corner, y down.
enum Op {
    /// Text with its baseline at `y`.
    Text { x: f32, y: f32, size: f32, text: String, bold: bool },
    /// A rectangle, stroked with `stroke` pt when given, filled with grey `fill` when given.
    Rect { x: f32, y: f32, w: f32, h: f32, stroke: Option<f32>, fill: Option<u8> },
    /// A straight line `width` pt wide.
    Line { x1: f32, y1: f32, x2: f32, y2: f32, width: f32 },
    /// A raster image scaled into the box.
    Image { x: f32, y: f32, w: f32, h: f32, image: Image },
    /// A QR code, one dark square per module, `module` mm wide.
    Qr { x: f32, y: f32, module: f32, matrix: QrMatrix },
}

/// A column of a table: width in mm and alignment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    pub(crate) width: f32,
    pub(crate) align: Align,
}

/// The pages under construction and the vertical cursor.
pub(crate) struct Pages {
    fonts: &'static Fonts,
    pages: Vec<Vec<Op>>,
    /// Vertical cursor (mm) on the last page.
    pub(crate) y: f32,
}

impl Pages {
    pub(crate) fn new() -> Result<Pages, DocumentError> {
        Ok(Pages { fonts: fonts()?, pages: vec![Vec::new()], y: MARGIN_TOP })
    }

    fn ops(&mut self) -> &mut Vec<Op> {
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// Index of the page under construction.
    pub(crate) fn page_index(&self) -> usize {
        self.pages.len() - 1
    }

    /// Starts a new page and puts the cursor at its top.
    pub(crate) fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = MARGIN_TOP;
    }

    /// Makes sure `height` mm fit below the cursor, starting a new page if not.
    pub(crate) fn ensure(&mut self, height: f32) {
        if self.y + height > CONTENT_BOTTOM && self.y > MARGIN_TOP {
            self.new_page();
        }
    }

    /// Width of `text` at `size` pt, in mm.
    pub(crate) fn width(&self, text: &str, size: f32) -> Result<f32, DocumentError> {
        Ok(self.fonts.width_em(text)? * size_mm(size))
    }

    /// Draws one line of text with its baseline at `y`, aligned in the box `x..x + w`.
    #[allow(clippy::too_many_arguments)] // a text box is naturally this many numbers
    pub(crate) fn text(
        &mut self,
        x: f32,
        y: f32,
        w: f32,
        size: f32,
        text: &str,
        align: Align,
        bold: bool,
    ) -> Result<(), DocumentError> {
        let op = self.text_op(x, y, w, size, text, align, bold)?;
        self.ops().push(op);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)] // as `text`
    fn text_op(
        &self,
        x: f32,
        y: f32,
        w: f32,
        size: f32,
        text: &str,
        align: Align,
        bold: bool,
    ) -> Result<Op, DocumentError> {
        let width = self.width(text, size)?;
        let x = match align {
            Align::Left => x,
            Align::Center => x + (w - width) / 2.0,
            Align::Right => x + w - width,
        };
        Ok(Op::Text { x, y, size, text: text.to_owned(), bold })
    }

    /// The document's heading at the top of the first page: the exam name (wrapped and centred
    /// when long) over the document's title in large bold type. Leaves the cursor below it.
    pub(crate) fn title(&mut self, exam_name: &str, document: &str, size: f32) -> Result<(), DocumentError> {
        let mut baseline = MARGIN_TOP;
        for line in self.wrap(exam_name, 14.0, CONTENT_W)? {
            baseline += 6.0;
            self.text(MARGIN_X, baseline, CONTENT_W, 14.0, &line, Align::Center, false)?;
        }
        baseline += size_mm(size) * 1.4;
        self.text(MARGIN_X, baseline, CONTENT_W, size, document, Align::Center, true)?;
        self.y = baseline + size_mm(size) * 0.85;
        Ok(())
    }

    /// Breaks `text` into lines no wider than `width` mm at `size` pt. Breaks at any character
    /// (Chinese has no spaces), but keeps a Latin word or number whole when it fits on a line and
    /// never starts a line with closing punctuation; `\n` forces a break.
    pub(crate) fn wrap(&self, text: &str, size: f32, width: f32) -> Result<Vec<String>, DocumentError> {
        let em = size_mm(size);
        let mut lines = Vec::new();
        for paragraph in text.split('\n') {
            let mut line = String::new();
            let mut line_w = 0.0;
            for ch in paragraph.chars() {
                let ch_w = self.fonts.width_em(ch.encode_utf8(&mut [0; 4]))? * em;
                if line_w + ch_w > width && !line.is_empty() {
                    let word_start = if ch.is_ascii_alphanumeric() {
                        line.rfind(|c: char| !c.is_ascii_alphanumeric()).map(|i| i + 1)
                    } else {
                        None
                    };
                    match word_start {
                        Some(i) if i > 0 && i < line.len() => {
                            let rest = line.split_off(i);
                            lines.push(std::mem::take(&mut line));
                            line_w = self.fonts.width_em(&rest)? * em;
                            line = rest;
                        }
                        // A line must not start with closing punctuation (禁则): carry the
                        // last character over with it.
                        _ if closes(ch) && line.chars().count() > 1 => {
                            let carried = line.pop().map(String::from).unwrap_or_default();
                            lines.push(std::mem::replace(&mut line, carried));
                            line_w = self.fonts.width_em(&line)? * em;
                        }
                        _ => {
                            lines.push(std::mem::take(&mut line));
                            line_w = 0.0;
                        }
                    }
                }
                if line.is_empty() && ch == ' ' {
                    continue;
                }
                line.push(ch);
                line_w += ch_w;
            }
            lines.push(line);
        }
        Ok(lines.into_iter().map(|line| line.trim_end().to_owned()).collect())
    }

    /// A stroked (and optionally grey-filled) rectangle.
    pub(crate) fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, stroke: Option<f32>, fill: Option<u8>) {
        self.ops().push(Op::Rect { x, y, w, h, stroke, fill });
    }

    /// A straight line.
    pub(crate) fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, width: f32) {
        self.ops().push(Op::Line { x1, y1, x2, y2, width });
    }

    /// The photo, scaled to fit and centred in the frame `x, y, w, h`, with the frame drawn.
    pub(crate) fn photo(&mut self, x: f32, y: f32, w: f32, h: f32, jpeg: &[u8]) -> Result<(), DocumentError> {
        let image = Image::from_jpeg(Data::from(jpeg.to_vec()), true).map_err(DocumentError::Photo)?;
        let (iw, ih) = image.size();
        if iw == 0 || ih == 0 {
            return Err(DocumentError::Photo("empty image".to_owned()));
        }
        let scale = (w / iw as f32).min(h / ih as f32);
        let (dw, dh) = (iw as f32 * scale, ih as f32 * scale);
        self.ops().push(Op::Image { x: x + (w - dw) / 2.0, y: y + (h - dh) / 2.0, w: dw, h: dh, image });
        self.rect(x, y, w, h, Some(0.6), None);
        Ok(())
    }

    /// A QR code with its top-left module at `x, y`.
    pub(crate) fn qr(&mut self, x: f32, y: f32, module: f32, matrix: QrMatrix) {
        self.ops().push(Op::Qr { x, y, module, matrix });
    }

    /// A bordered table at `x`, starting at the cursor; the cursor ends below it.
    ///
    /// Rows flagged `true` are shaded and bold (headers, totals); the columns listed in
    /// `shade_cols` are shaded in every row (labels). Every cell wraps within its column; a row
    /// is as tall as its tallest cell and at least `min_h` mm; a row that does not fit on the
    /// page moves to the next one (the header is not repeated).
    pub(crate) fn table(
        &mut self,
        x: f32,
        columns: &[Column],
        rows: &[(bool, Vec<String>)],
        size: f32,
        min_h: f32,
        shade_cols: &[usize],
    ) -> Result<(), DocumentError> {
        let line_h = size_mm(size) * LEADING;
        for (shaded, cells) in rows {
            let wrapped = columns
                .iter()
                .zip(cells)
                .map(|(col, cell)| self.wrap(cell, size, col.width - 2.0 * PAD))
                .collect::<Result<Vec<_>, _>>()?;
            let lines = wrapped.iter().map(Vec::len).max().unwrap_or(1).max(1);
            let h = (lines as f32 * line_h + 2.0 * PAD).max(min_h);
            self.ensure(h);
            let top = self.y;
            let mut cx = x;
            for (i, (col, cell_lines)) in columns.iter().zip(&wrapped).enumerate() {
                let fill = (*shaded || shade_cols.contains(&i)).then_some(SHADE);
                self.rect(cx, top, col.width, h, Some(0.5), fill);
                let block_h = cell_lines.len() as f32 * line_h;
                let mut baseline = top + (h - block_h) / 2.0 + line_h * 0.5 + size_mm(size) * 0.36;
                for line in cell_lines {
                    self.text(cx + PAD, baseline, col.width - 2.0 * PAD, size, line, col.align, *shaded)?;
                    baseline += line_h;
                }
                cx += col.width;
            }
            self.y = top + h;
        }
        Ok(())
    }

    /// A section heading: a bold title with a rule under it.
    pub(crate) fn heading(&mut self, text: &str) -> Result<(), DocumentError> {
        self.heading_with_note(text, "")
    }

    /// A section heading with `note` (e.g. `报名号：…`) right-aligned on the same line.
    pub(crate) fn heading_with_note(&mut self, text: &str, note: &str) -> Result<(), DocumentError> {
        self.ensure(20.0);
        self.y += 4.0;
        self.text(MARGIN_X, self.y + 4.2, CONTENT_W, 11.5, text, Align::Left, true)?;
        if !note.is_empty() {
            self.text(MARGIN_X, self.y + 4.2, CONTENT_W, 11.5, note, Align::Right, true)?;
        }
        self.y += 6.5;
        self.line(MARGIN_X, self.y, MARGIN_X + CONTENT_W, self.y, 0.8);
        self.y += 1.5;
        Ok(())
    }

    /// Wrapped paragraphs across the content width.
    pub(crate) fn paragraphs(&mut self, text: &str, size: f32) -> Result<(), DocumentError> {
        let line_h = size_mm(size) * LEADING;
        for line in self.wrap(text, size, CONTENT_W)? {
            self.ensure(line_h);
            self.y += line_h;
            self.text(MARGIN_X, self.y - line_h * 0.25, CONTENT_W, size, &line, Align::Left, false)?;
        }
        Ok(())
    }

    /// Adds `footer` and, on documents of more than one page, the page number to every page;
    /// then writes the PDF.
    pub(crate) fn finish(mut self, title: &str, footer: &str) -> Result<Vec<u8>, DocumentError> {
        let count = self.pages.len();
        let y = PAGE_H - 11.0;
        for index in 0..count {
            let mut ops = vec![
                Op::Line { x1: MARGIN_X, y1: y - 4.0, x2: MARGIN_X + CONTENT_W, y2: y - 4.0, width: 0.4 },
                self.text_op(MARGIN_X, y, CONTENT_W, 8.0, footer, Align::Left, false)?,
            ];
            if count > 1 {
                let page_no = format!("第 {} 页 / 共 {} 页", index + 1, count);
                ops.push(self.text_op(MARGIN_X, y, CONTENT_W, 8.0, &page_no, Align::Right, false)?);
            }
            self.pages[index].extend(ops);
        }
        self.write(title)
    }

    fn write(self, title: &str) -> Result<Vec<u8>, DocumentError> {
        let mut document = Document::new();
        document.set_metadata(Metadata::new().title(title.to_owned()).language("zh-CN".to_owned()));
        let settings = PageSettings::from_wh(pt(PAGE_W), pt(PAGE_H))
            .ok_or_else(|| DocumentError::Pdf("page size".to_owned()))?;
        for ops in &self.pages {
            let mut page = document.start_page_with(settings.clone());
            let mut surface = page.surface();
            for op in ops {
                draw(&mut surface, self.fonts, op)?;
            }
            surface.finish();
            page.finish();
        }
        document.finish().map_err(|e| DocumentError::Pdf(format!("{e:?}")))
    }
}

/// Punctuation that may not begin a line in Chinese typesetting.
fn closes(ch: char) -> bool {
    "，。、；：？！）》」』】〕…—,.;:?!)".contains(ch)
}

fn fill_grey(level: u8) -> Fill {
    Fill { paint: luma::Color::new(level).into(), opacity: NormalizedF32::ONE, rule: FillRule::NonZero }
}

fn stroke_black(width_pt: f32) -> Stroke {
    Stroke { paint: luma::Color::black().into(), width: width_pt, ..Stroke::default() }
}

fn rect_path(x: f32, y: f32, w: f32, h: f32) -> Result<krilla::geom::Path, DocumentError> {
    let mut builder = PathBuilder::new();
    builder.push_rect(Rect::from_xywh(pt(x), pt(y), pt(w), pt(h)).ok_or_else(|| bad_geometry("rectangle"))?);
    builder.finish().ok_or_else(|| bad_geometry("rectangle"))
}

fn bad_geometry(what: &str) -> DocumentError {
    DocumentError::Pdf(format!("degenerate {what}"))
}

fn draw(surface: &mut Surface<'_>, fonts: &Fonts, op: &Op) -> Result<(), DocumentError> {
    match op {
        Op::Text { x, y, size, text, bold } => {
            surface.set_fill(Some(Fill::default()));
            // Faux bold: fill and stroke the glyphs; the fonts ship one weight only.
            surface.set_stroke(bold.then(|| stroke_black(size * 0.035)));
            let mut pen = pt(*x);
            for run in fonts.shape(text)? {
                let face = fonts.face(run.face);
                surface.draw_glyphs(
                    Point::from_xy(pen, pt(*y)),
                    &run.glyphs,
                    face.font.clone(),
                    &run.text,
                    *size,
                    false,
                );
                pen += run.width_em * size;
            }
            surface.set_stroke(None);
        }
        Op::Rect { x, y, w, h, stroke, fill } => {
            let path = rect_path(*x, *y, *w, *h)?;
            if let Some(level) = fill {
                surface.set_fill(Some(fill_grey(*level)));
                surface.set_stroke(None);
                surface.draw_path(&path);
            }
            if let Some(width) = stroke {
                surface.set_fill(None);
                surface.set_stroke(Some(stroke_black(*width)));
                surface.draw_path(&path);
                surface.set_stroke(None);
            }
        }
        Op::Line { x1, y1, x2, y2, width } => {
            let mut builder = PathBuilder::new();
            builder.move_to(pt(*x1), pt(*y1));
            builder.line_to(pt(*x2), pt(*y2));
            let path = builder.finish().ok_or_else(|| bad_geometry("line"))?;
            surface.set_fill(None);
            surface.set_stroke(Some(stroke_black(*width)));
            surface.draw_path(&path);
            surface.set_stroke(None);
        }
        Op::Image { x, y, w, h, image } => {
            let size = Size::from_wh(pt(*w), pt(*h)).ok_or_else(|| bad_geometry("image"))?;
            surface.push_transform(&Transform::from_translate(pt(*x), pt(*y)));
            surface.draw_image(image.clone(), size);
            surface.pop();
        }
        Op::Qr { x, y, module, matrix } => {
            // One path for the whole code: each horizontal run of dark modules is one rectangle.
            let mut builder = PathBuilder::new();
            for (row, col, len) in matrix.dark_runs() {
                let rect = Rect::from_xywh(
                    pt(x + col as f32 * module),
                    pt(y + row as f32 * module),
                    pt(len as f32 * module),
                    pt(*module),
                )
                .ok_or_else(|| bad_geometry("QR module"))?;
                builder.push_rect(rect);
            }
            let path = builder.finish().ok_or_else(|| bad_geometry("QR code"))?;
            surface.set_stroke(None);
            surface.set_fill(Some(fill_grey(0)));
            surface.draw_path(&path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap(text: &str, width: f32) -> Vec<String> {
        Pages::new().expect("fonts load").wrap(text, 10.0, width).expect("wraps")
    }

    #[test]
    fn wrapping_fits_the_width_and_keeps_every_character() {
        let pages = Pages::new().expect("fonts load");
        let text =
            "考生须在开考前30分钟凭准考证和有效身份证件进入考场，开考15分钟后不得入场。Bring your ID card.";
        let lines = wrap(text, 40.0);
        assert!(lines.len() > 2);
        for line in &lines {
            assert!(pages.width(line, 10.0).expect("measures") <= 40.0, "{line:?} is too wide");
        }
        let joined: String = lines.concat();
        assert_eq!(joined.replace(' ', ""), text.replace(' ', ""));
    }

    #[test]
    fn lines_never_start_with_closing_punctuation() {
        // Ten ideographs fill the line exactly, so the comma would open the next one.
        let width = Pages::new().expect("fonts load").width("一二三四五六七八九十", 10.0).expect("measures");
        let lines = wrap("一二三四五六七八九十，再来", width + 0.01);
        assert_eq!(lines, vec!["一二三四五六七八九", "十，再来"]);
    }

    #[test]
    fn latin_words_stay_whole_and_newlines_break() {
        let width = Pages::new().expect("fonts load").width("二级 WPS Off", 10.0).expect("measures");
        assert_eq!(wrap("二级 WPS Office\n高级应用", width), vec!["二级 WPS", "Office", "高级应用"]);
    }
}
