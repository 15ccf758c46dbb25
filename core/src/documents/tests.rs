//! Renders both documents and reads them back: text, embedded font subsets, size, the QR code
//! decoded from rendered pixels and verified, and the rare-name coverage of the shipped fonts.

use std::sync::Arc;

use hayro::hayro_interpret::InterpreterSettings;
use hayro::hayro_syntax::Pdf;
use hayro::vello_cpu::color::palette::css::WHITE;
use hayro::{RenderSettings, render};
use lopdf::{Document, Object};
use ring::signature::Ed25519KeyPair;

use super::*;
use crate::coverage::{self, covers, missing_glyphs};
use crate::id_document::{IdKind, mask};
use crate::ticket::{self, TicketError, TicketPayload};

const PHOTO: &[u8] = include_bytes!("../../assets/samples/photo.jpg");
const ONE_MB: usize = 1024 * 1024;

/// Given names with rare characters: CJK Extension A (䶮 㛃 㵘 㼆 䲜 䴉), Extension B
/// (𠮷 𡒄 𨭉 𪚥 𥔲), Extensions C–F (𫖯 𬌗 𬱖 𬘭 𬊈 𬳵 𬍛) and rare characters of the basic block.
const RARE: &str = "䶮𠮷龑堃昇喆珺瑄玥琰婧旻犇淼焱垚鑫燚㛃㵘㼆䲜䴉𡒄𨭉𪚥𥔲𫖯𬌗𬱖𬘭𬊈𬳵𬍛";

fn form_view() -> FormView {
    let row = |label: &str, value: &str| FormRow { label: label.to_owned(), value: value.to_owned() };
    FormView {
        exam_name: "2026年下半年全国计算机等级考试".to_owned(),
        registration_id: crate::DocumentId::derive("NCRE-2026H2", "account-1").to_string(),
        answers: vec![
            row("姓名", "龚䶮"),
            row("性别", "男"),
            row("出生日期", "2001-05-17"),
            row("证件类型", "居民身份证"),
            row("证件号码", "11010520010517001X"),
            row("手机号码", "13800138000"),
            row("电子邮箱", "gong.yan@example.cn"),
            row("工作单位", "北京市海淀区某某科技有限公司研发中心第三事业部"),
        ],
        photo_jpeg: PHOTO.to_vec(),
        center_name: "北京理工大学考点".to_owned(),
        center_address: "北京市海淀区中关村南大街5号".to_owned(),
        subjects: vec![
            FormSubject {
                code: "24".to_owned(),
                name: "二级 C 语言程序设计".to_owned(),
                time_slot: "2026-12-12 09:00–11:00".to_owned(),
                fee_fen: 8000,
            },
            FormSubject {
                code: "65".to_owned(),
                name: "二级 WPS Office 高级应用".to_owned(),
                time_slot: "2026-12-12 14:00–16:00".to_owned(),
                fee_fen: 8050,
            },
        ],
        total_fee_fen: 16050,
        trade_no: "2026112022001412345678901234".to_owned(),
        order_no: "BM2026112014031234".to_owned(),
        agreement_version: "2026-09".to_owned(),
        agreement_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
        generated_at: "2026-11-20 14:03（北京时间）".to_owned(),
    }
}

fn exam_key() -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&[7; 32]).expect("a 32-byte seed is a key")
}

fn signed_qr() -> String {
    let payload = TicketPayload {
        exam: "NCRE-2026H2".to_owned(),
        ticket_number: "261101240100305".to_owned(),
        name: "龚䶮".to_owned(),
        id_masked: mask(IdKind::ResidentId, "11010520010517001X"),
        center: "BJ-BIT".to_owned(),
        sittings: vec![
            ticket::Sitting {
                subject: "24".to_owned(),
                slot: "D1AM".to_owned(),
                room: "003".to_owned(),
                seat: 5,
            },
            ticket::Sitting {
                subject: "65".to_owned(),
                slot: "D1PM".to_owned(),
                room: "012".to_owned(),
                seat: 17,
            },
        ],
        issued_at_ms: 1_765_000_000_000,
    };
    ticket::sign_ticket(&payload, &exam_key())
}

fn ticket_view() -> TicketView {
    let sitting = |code: &str, name: &str, time: &str, room: &str, seat: &str| TicketSitting {
        subject_code: code.to_owned(),
        subject_name: name.to_owned(),
        date: "2026-12-12".to_owned(),
        time: time.to_owned(),
        room: room.to_owned(),
        seat: seat.to_owned(),
    };
    TicketView {
        exam_name: "2026年下半年全国计算机等级考试".to_owned(),
        photo_jpeg: PHOTO.to_vec(),
        name: "龚䶮".to_owned(),
        id_masked: mask(IdKind::ResidentId, "11010520010517001X"),
        ticket_number: "261101240100305".to_owned(),
        sittings: vec![
            sitting("24", "二级 C 语言程序设计", "09:00–11:00", "第003考场（1号楼201）", "05"),
            sitting("65", "二级 WPS Office 高级应用", "14:00–16:00", "第012考场（2号楼305）", "17"),
        ],
        center_name: "北京理工大学考点".to_owned(),
        center_address: "北京市海淀区中关村南大街5号".to_owned(),
        rules: "1. 考生须在开考前30分钟凭准考证和有效身份证件进入考场，开考15分钟后不得入场。\n\
                2. 除规定的文具外，不得携带手机、智能手表等电子设备进入考场。\n\
                3. 考生须服从监考人员管理，遵守考场纪律，违纪者按有关规定处理。"
            .to_owned(),
        qr_text: signed_qr(),
    }
}

/// All text of every page, as a PDF reader extracts it (through the fonts' ToUnicode maps).
fn extract_text(pdf: &[u8]) -> String {
    pdf_extract::extract_text_from_mem(pdf).expect("text extracts")
}

/// Text with whitespace removed, so checks do not depend on how runs are split.
fn squeeze(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The `FontName` of every embedded font program, with the kind of font file it uses.
fn embedded_fonts(pdf: &[u8]) -> Vec<(String, &'static str)> {
    let doc = Document::load_mem(pdf).expect("the PDF parses");
    let mut fonts = Vec::new();
    for object in doc.objects.values() {
        let Object::Dictionary(dict) = object else { continue };
        if !dict.get(b"Type").and_then(Object::as_name).is_ok_and(|n| n == b"FontDescriptor") {
            continue;
        }
        let name = dict.get(b"FontName").and_then(Object::as_name).expect("a descriptor has a FontName");
        let file = [("FontFile2", b"FontFile2".as_slice()), ("FontFile3", b"FontFile3".as_slice())]
            .into_iter()
            .find(|(_, key)| dict.has(key))
            .map_or("none", |(label, _)| label);
        fonts.push((String::from_utf8_lossy(name).into_owned(), file));
    }
    fonts
}

fn assert_subset_fonts(pdf: &[u8]) {
    let fonts = embedded_fonts(pdf);
    assert!(!fonts.is_empty(), "no embedded font");
    for (name, file) in &fonts {
        let (tag, _) = name.split_once('+').unwrap_or_else(|| panic!("{name} has no subset tag"));
        assert!(tag.len() == 6 && tag.chars().all(|c| c.is_ascii_uppercase()), "bad subset tag in {name}");
        assert_ne!(*file, "none", "{name} is not embedded");
    }
}

#[test]
fn form_renders_and_reads_back() {
    let view = form_view();
    let pdf = render_form(&view).expect("the form renders");
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf.len() < ONE_MB, "form is {} bytes", pdf.len());
    let text = squeeze(&extract_text(&pdf));
    for expected in [
        "报名登记表",
        "龚䶮",
        "11010520010517001X",
        "北京理工大学考点",
        "二级C语言程序设计",
        "二级WPSOffice高级应用",
        "2026-12-1209:00–11:00",
        "160.50",
        "2026-09",
        &view.agreement_sha256,
        "2026-11-2014:03",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from the form's text:\n{text}");
    }
    // The registration id the roster and on-site confirmation use, and the payment as the
    // platform's trade number (支付流水号) beside the merchant's order number (订单号).
    for (label, value) in
        [("报名号：", &view.registration_id), ("支付流水号", &view.trade_no), ("订单号", &view.order_no)]
    {
        assert!(text.contains(&format!("{label}{value}")), "{label} {value} missing from:\n{text}");
    }
    assert!(
        !text.contains(&format!("支付流水号{}", view.order_no)),
        "the order number is not the trade number"
    );
    let pages = pdf_extract::extract_text_from_mem_by_pages(&pdf).expect("text extracts");
    assert_eq!(pages.len(), 1, "an ordinary form stays on one page");
    assert_subset_fonts(&pdf);
}

#[test]
fn ticket_renders_and_reads_back() {
    let pdf = render_ticket(&ticket_view()).expect("the ticket renders");
    assert!(pdf.len() < ONE_MB, "ticket is {} bytes", pdf.len());
    let text = squeeze(&extract_text(&pdf));
    for expected in [
        "准考证",
        "龚䶮",
        "110105********001X",
        "261101240100305",
        "24二级C语言程序设计",
        "65二级WPSOffice高级应用",
        "第003考场（1号楼201）",
        "北京市海淀区中关村南大街5号",
        "开考15分钟后不得入场",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from the ticket's text:\n{text}");
    }
    assert_subset_fonts(&pdf);
}

#[test]
fn rendering_is_deterministic() {
    assert_eq!(render_ticket(&ticket_view()), render_ticket(&ticket_view()));
    assert_eq!(render_form(&form_view()), render_form(&form_view()));
}

/// Rasterizes page 1 at `scale` pixels per point and decodes every QR code found in the pixels.
fn decode_qr_from_page(pdf: Vec<u8>, scale: f32) -> Vec<String> {
    let pdf = Pdf::new(Arc::new(pdf)).expect("hayro reads the PDF");
    let page = pdf.pages().first().expect("a page");
    let settings = RenderSettings { x_scale: scale, y_scale: scale, bg_color: WHITE, ..Default::default() };
    let pixmap = render(page, &InterpreterSettings::default(), &settings);
    let (w, h) = (usize::from(pixmap.width()), usize::from(pixmap.height()));
    let pixels = pixmap.take_unpremultiplied();
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        let p = pixels[y * w + x];
        ((u16::from(p.r) + u16::from(p.g) + u16::from(p.b)) / 3) as u8
    });
    image.detect_grids().iter().filter_map(|grid| grid.decode().ok()).map(|(_, text)| text).collect()
}

#[test]
fn ticket_qr_decodes_from_the_rendered_page_and_verifies() {
    let view = ticket_view();
    let pdf = render_ticket(&view).expect("the ticket renders");
    let decoded = decode_qr_from_page(pdf, 3.0);
    assert_eq!(decoded, vec![view.qr_text.clone()], "exactly the signed text comes back");

    let public_key = ticket::public_key(&exam_key());
    let payload = ticket::verify_ticket(&decoded[0], &public_key).expect("the decoded ticket verifies");
    assert_eq!(payload.ticket_number, view.ticket_number);
    assert_eq!(payload.name, view.name);
    assert_eq!(payload.id_masked, view.id_masked, "the QR code and the page show one mask");

    // Another exam's key refuses it, and so does the exam's key on an altered code.
    let other = Ed25519KeyPair::from_seed_unchecked(&[8; 32]).expect("key");
    assert_eq!(ticket::verify_ticket(&decoded[0], &ticket::public_key(&other)), Err(TicketError::Signature));
    let mut tampered = decoded[0].clone().into_bytes();
    let last = tampered.len() - 10;
    tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    assert!(ticket::verify_ticket(&tampered, &public_key).is_err());
}

#[test]
fn rare_name_characters_are_covered_by_the_shipped_fonts() {
    assert!(RARE.chars().count() >= 20);
    assert!(RARE.chars().any(|c| ('\u{3400}'..='\u{4DBF}').contains(&c)), "has Extension A");
    assert!(RARE.chars().filter(|c| ('\u{20000}'..='\u{2A6DF}').contains(c)).count() >= 4, "has Extension B");
    assert_eq!(missing_glyphs(RARE), Vec::<char>::new());
}

/// The table `coverage` checks text against without the fonts is exactly what the fonts' cmaps
/// map to real glyphs, so a name `validate` accepts always renders and one it refuses never
/// would.
#[test]
fn coverage_table_matches_the_shipped_fonts() {
    let from_fonts = shipped_font_ranges().expect("the shipped fonts load");
    assert!(
        from_fonts == coverage::ranges(),
        "core/src/coverage/ranges.rs is stale; regenerate it: cargo run -p baoming-core --features \
         documents --example font_coverage > core/src/coverage/ranges.rs"
    );
    // And the renderer agrees at the edge: the first character of Extension H is refused.
    let view = TicketView { name: "李\u{31350}".to_owned(), ..ticket_view() };
    assert_eq!(render_ticket(&view), Err(DocumentError::MissingGlyph { ch: '\u{31350}' }));
    assert!(render_ticket(&TicketView { name: "李\u{30EDD}".to_owned(), ..ticket_view() }).is_ok());
}

#[test]
fn rare_names_render_and_extract_through_the_fallback_font() {
    // 𡒄 and 𪚥 are not in Noto Sans CJK SC: they come from the HanaMinB fallback.
    let view = TicketView { name: "𪚥𡒄䶮𠮷".to_owned(), ..ticket_view() };
    let pdf = render_ticket(&view).expect("the ticket renders");
    assert!(squeeze(&extract_text(&pdf)).contains("𪚥𡒄䶮𠮷"));
    let fonts = embedded_fonts(&pdf);
    assert!(fonts.iter().any(|(name, _)| name.contains("NotoSansCJKsc")), "{fonts:?}");
    assert!(fonts.iter().any(|(name, _)| name.contains("HanaMinB")), "{fonts:?}");
    assert_subset_fonts(&pdf);
}

#[test]
fn a_character_without_a_glyph_is_a_typed_error() {
    let view = TicketView { name: "王ก".to_owned(), ..ticket_view() };
    assert_eq!(render_ticket(&view), Err(DocumentError::MissingGlyph { ch: 'ก' }));
    let form = FormView { center_address: "地址\u{0E02}".to_owned(), ..form_view() };
    assert_eq!(render_form(&form), Err(DocumentError::MissingGlyph { ch: '\u{0E02}' }));
    assert_eq!(missing_glyphs("王กกข"), vec!['ก', 'ข']);
    assert!(covers('王') && !covers('ก'));
}

#[test]
fn bad_inputs_are_typed_errors() {
    let view = FormView { photo_jpeg: b"not a jpeg".to_vec(), ..form_view() };
    assert!(matches!(render_form(&view), Err(DocumentError::Photo(_))));

    let view = FormView { total_fee_fen: 16000, ..form_view() };
    assert_eq!(render_form(&view), Err(DocumentError::FeeMismatch { total_fen: 16000, sum_fen: 16050 }));

    let view = TicketView { qr_text: "A".repeat(5000), ..ticket_view() };
    assert!(matches!(render_ticket(&view), Err(DocumentError::Qr(_))));
}

#[test]
fn a_long_form_continues_on_a_second_page() {
    let mut view = form_view();
    for i in 0..30 {
        view.answers
            .push(FormRow { label: format!("附加信息{i}"), value: format!("第{i}项填写内容") });
    }
    let pdf = render_form(&view).expect("the form renders");
    let pages = pdf_extract::extract_text_from_mem_by_pages(&pdf).expect("text extracts");
    assert_eq!(pages.len(), 2);
    let page_two = squeeze(&pages[1]);
    assert!(page_two.contains("第29项填写内容"), "{page_two}");
    assert!(page_two.contains("第2页/共2页"), "{page_two}");
}

#[test]
fn long_values_wrap_instead_of_running_off_the_page() {
    let address =
        "广西壮族自治区南宁市青秀区民族大道一百号广西民族大学相思湖校区综合教学楼东区三楼考务办公室旁";
    let view = TicketView {
        exam_name: "2026年下半年全国专业技术人员职业资格考试暨全国计算机等级考试（第七十二次）".to_owned(),
        center_address: address.to_owned(),
        ticket_number: "2611012401003051234".to_owned(),
        ..ticket_view()
    };
    let pdf = render_ticket(&view).expect("the ticket renders");
    let text = squeeze(&extract_text(&pdf));
    assert!(text.contains(address), "{text}");
    assert!(text.contains("（第七十二次）"), "{text}");
    let pages = pdf_extract::extract_text_from_mem_by_pages(&pdf).expect("text extracts");
    assert_eq!(pages.len(), 1, "still one page");
}
