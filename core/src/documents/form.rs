//! The registration form (报名登记表): the registration id, every answer, the photo, center,
//! subjects with time slots and fees, the payment's trade and order numbers, the accepted
//! agreement and when the form was generated.

use super::layout::{Align, CONTENT_W, Column, MARGIN_X, Pages};
use super::{DocumentError, FormView};

/// Photo frame: 33 × 48 mm, as the photo rules require.
pub(crate) const PHOTO_W: f32 = 33.0;
pub(crate) const PHOTO_H: f32 = 48.0;
const BODY: f32 = 10.0;
const LABEL_W: f32 = 34.0;
const ROW_H: f32 = 8.0;

/// Formats fen as yuan with two decimals, e.g. `12050` → `120.50`.
pub(crate) fn yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// Renders the registration form as an A4 PDF.
///
/// Fails with [`DocumentError::MissingGlyph`] when any text has a character the shipped fonts
/// lack, [`DocumentError::Photo`] when the photo is not a JPEG, and
/// [`DocumentError::FeeMismatch`] when the total is not the sum of the subjects' fees.
pub fn render_form(view: &FormView) -> Result<Vec<u8>, DocumentError> {
    let sum_fen = view.subjects.iter().map(|s| s.fee_fen).sum::<u64>();
    if sum_fen != view.total_fee_fen {
        return Err(DocumentError::FeeMismatch { total_fen: view.total_fee_fen, sum_fen });
    }
    let mut pages = Pages::new()?;
    pages.title(&view.exam_name, "报 名 登 记 表", 20.0)?;
    basic_information(&mut pages, view)?;
    choices(&mut pages, view)?;
    payment_and_agreement(&mut pages, view)?;
    declaration(&mut pages)?;
    let footer = format!("生成时间：{}　本表由报名系统生成，请妥善保管。", view.generated_at);
    pages.finish(&format!("{} 报名登记表", view.exam_name), &footer)
}

/// A label column and a value column across the content width.
fn label_value() -> [Column; 2] {
    [Column { width: LABEL_W, align: Align::Left }, Column { width: CONTENT_W - LABEL_W, align: Align::Left }]
}

/// 一、基本信息: the registration id on the section's heading line, where a desk finds it first;
/// then the answers beside the photo (rows that start next to the frame are narrower).
fn basic_information(pages: &mut Pages, view: &FormView) -> Result<(), DocumentError> {
    pages.heading_with_note("一、基本信息", &format!("报名号：{}", view.registration_id))?;
    let photo_x = MARGIN_X + CONTENT_W - PHOTO_W;
    let photo_top = pages.y;
    let photo_page = pages.page_index();
    pages.photo(photo_x, photo_top, PHOTO_W, PHOTO_H, &view.photo_jpeg)?;
    for row in &view.answers {
        let beside_photo = pages.page_index() == photo_page && pages.y < photo_top + PHOTO_H - 0.01;
        let width = if beside_photo { CONTENT_W - PHOTO_W - 3.0 } else { CONTENT_W };
        let columns = [
            Column { width: LABEL_W, align: Align::Left },
            Column { width: width - LABEL_W, align: Align::Left },
        ];
        let cells = vec![row.label.clone(), row.value.clone()];
        pages.table(MARGIN_X, &columns, &[(false, cells)], BODY, ROW_H, &[0])?;
    }
    if pages.page_index() == photo_page {
        pages.y = pages.y.max(photo_top + PHOTO_H);
    }
    Ok(())
}

/// 二、报考信息: the center, its address, and the subjects with time slot and fee, totalled.
fn choices(pages: &mut Pages, view: &FormView) -> Result<(), DocumentError> {
    pages.heading("二、报考信息")?;
    let rows = [
        (false, vec!["考点".to_owned(), view.center_name.clone()]),
        (false, vec!["考点地址".to_owned(), view.center_address.clone()]),
    ];
    pages.table(MARGIN_X, &label_value(), &rows, BODY, ROW_H, &[0])?;
    pages.y += 3.0;
    let subject_cols = [
        Column { width: 24.0, align: Align::Center },
        Column { width: 62.0, align: Align::Left },
        Column { width: CONTENT_W - 24.0 - 62.0 - 28.0, align: Align::Left },
        Column { width: 28.0, align: Align::Right },
    ];
    let mut rows =
        vec![(true, ["科目代码", "科目名称", "考试时间", "费用（元）"].map(str::to_owned).to_vec())];
    for s in &view.subjects {
        rows.push((false, vec![s.code.clone(), s.name.clone(), s.time_slot.clone(), yuan(s.fee_fen)]));
    }
    rows.push((
        true,
        vec![
            String::new(),
            "合计".to_owned(),
            format!("共 {} 科", view.subjects.len()),
            yuan(view.total_fee_fen),
        ],
    ));
    pages.table(MARGIN_X, &subject_cols, &rows, BODY, ROW_H, &[])
}

/// 三、缴费与协议: the amount, the platform's trade number (支付流水号) and the merchant's order
/// number (订单号), the accepted agreement's version and digest.
fn payment_and_agreement(pages: &mut Pages, view: &FormView) -> Result<(), DocumentError> {
    pages.heading("三、缴费与协议")?;
    let rows = [
        (false, vec!["缴费金额".to_owned(), format!("{} 元", yuan(view.total_fee_fen))]),
        (false, vec!["支付流水号".to_owned(), view.trade_no.clone()]),
        (false, vec!["订单号".to_owned(), view.order_no.clone()]),
        (false, vec!["报名协议版本".to_owned(), view.agreement_version.clone()]),
        (false, vec!["协议 SHA-256".to_owned(), view.agreement_sha256.clone()]),
    ];
    pages.table(MARGIN_X, &label_value(), &rows, BODY, ROW_H, &[0])
}

/// 四、考生声明: the declaration and a line to sign on.
fn declaration(pages: &mut Pages) -> Result<(), DocumentError> {
    pages.heading("四、考生声明")?;
    pages.paragraphs(
        "本人已阅读并同意报名协议，承诺所填报信息真实、准确、完整。如有虚假，本人承担由此产生的一切后果。",
        BODY,
    )?;
    pages.ensure(16.0);
    pages.y += 12.0;
    let sign_y = pages.y;
    let (x, w) = (MARGIN_X + CONTENT_W / 2.0, CONTENT_W / 2.0);
    pages.text(x, sign_y, w, BODY, "考生签名：", Align::Left, false)?;
    let sign_x = x + pages.width("考生签名：", BODY)?;
    pages.line(sign_x, sign_y + 1.0, MARGIN_X + CONTENT_W, sign_y + 1.0, 0.5);
    Ok(())
}
