//! The admission ticket (准考证): photo, name, masked ID, ticket number, the sittings with date,
//! time, room and seat, the center and its address, the rules, and the signed QR code.

use super::form::{PHOTO_H, PHOTO_W};
use super::layout::{Align, CONTENT_W, Column, MARGIN_X, Pages};
use super::qr::QrMatrix;
use super::{DocumentError, TicketView};

const BODY: f32 = 10.5;
const LABEL_W: f32 = 28.0;
/// Largest side of the QR code (mm), quiet zone excluded.
const QR_MAX: f32 = 34.0;
/// Largest module (mm): bigger modules scan more easily, up to the size limit.
const QR_MODULE_MAX: f32 = 0.6;
/// Quiet zone around the code, in modules (ISO/IEC 18004 asks for 4).
const QR_QUIET: f32 = 4.0;

/// Renders the admission ticket as an A4 PDF.
///
/// Fails with [`DocumentError::MissingGlyph`] when any text has a character the shipped fonts
/// lack, [`DocumentError::Photo`] when the photo is not a JPEG, and [`DocumentError::Qr`] when
/// the QR text is too long for a QR code.
pub fn render_ticket(view: &TicketView) -> Result<Vec<u8>, DocumentError> {
    let matrix = QrMatrix::encode(&view.qr_text)?;
    let mut pages = Pages::new()?;

    pages.title(&view.exam_name, "准 考 证", 22.0)?;

    // Identity block: five rows as tall as the photo frame beside them.
    let photo_x = MARGIN_X + CONTENT_W - PHOTO_W;
    let top = pages.y;
    pages.photo(photo_x, top, PHOTO_W, PHOTO_H, &view.photo_jpeg)?;
    let width = CONTENT_W - PHOTO_W - 3.0;
    let columns = [
        Column { width: LABEL_W, align: Align::Left },
        Column { width: width - LABEL_W, align: Align::Left },
    ];
    let identity = [
        ("姓　　名", view.name.as_str()),
        ("证件号码", view.id_masked.as_str()),
        ("准考证号", view.ticket_number.as_str()),
        ("考　　点", view.center_name.as_str()),
        ("考点地址", view.center_address.as_str()),
    ];
    let rows = identity.map(|(label, value)| (false, vec![label.to_owned(), value.to_owned()]));
    pages.table(MARGIN_X, &columns, &rows, BODY, PHOTO_H / 5.0, &[0])?;
    pages.y = pages.y.max(top + PHOTO_H);

    pages.heading("考试安排")?;
    let sitting_cols = [
        Column { width: 52.0, align: Align::Left },
        Column { width: 25.0, align: Align::Center },
        Column { width: 28.0, align: Align::Center },
        Column { width: CONTENT_W - 52.0 - 25.0 - 28.0 - 17.0, align: Align::Center },
        Column { width: 17.0, align: Align::Center },
    ];
    let mut rows = vec![(true, ["科目", "日期", "时间", "考场", "座位号"].map(str::to_owned).to_vec())];
    for s in &view.sittings {
        rows.push((
            false,
            vec![
                format!("{} {}", s.subject_code, s.subject_name),
                s.date.clone(),
                s.time.clone(),
                s.room.clone(),
                s.seat.clone(),
            ],
        ));
    }
    pages.table(MARGIN_X, &sitting_cols, &rows, BODY, 8.0, &[])?;

    // QR code with its quiet zone, and the ticket number beside it.
    let module = (QR_MAX / matrix.width() as f32).min(QR_MODULE_MAX);
    let side = module * matrix.width() as f32;
    let quiet = module * QR_QUIET;
    pages.ensure(side + 2.0 * quiet + 4.0);
    pages.y += 3.0;
    let block_top = pages.y;
    let qr_x = MARGIN_X + quiet;
    pages.qr(qr_x, block_top + quiet, module, matrix);
    let text_x = MARGIN_X + side + 2.0 * quiet + 4.0;
    let text_w = CONTENT_W - (text_x - MARGIN_X);
    pages.text(text_x, block_top + quiet + 6.0, text_w, 10.0, "准考证号", Align::Left, false)?;
    pages.text(text_x, block_top + quiet + 15.0, text_w, 18.0, &view.ticket_number, Align::Left, true)?;
    pages.y = block_top + quiet + 19.0;
    let note = "二维码由考试主办方签名，考务人员使用考试公钥离线扫码核验。请勿折叠、涂改二维码。";
    for (i, line) in pages.wrap(note, 9.0, text_w)?.iter().enumerate() {
        let y = block_top + quiet + 24.0 + i as f32 * 4.5;
        pages.text(text_x, y, text_w, 9.0, line, Align::Left, false)?;
    }
    pages.y = block_top + side + 2.0 * quiet;

    pages.heading("考生须知")?;
    pages.paragraphs(&view.rules, BODY)?;

    pages.finish(
        &format!("{} 准考证", view.exam_name),
        "请携带本准考证和有效身份证件原件参加考试，二者缺一不得入场。",
    )
}
