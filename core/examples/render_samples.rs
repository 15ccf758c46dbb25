//! Renders a sample registration form and admission ticket to `OUT_DIR/form.pdf` and
//! `OUT_DIR/ticket.pdf`, for eyes and for the README picture (see `core/DOCUMENTS.md`).
//!
//! ```text
//! cargo run -p baoming-core --features documents --example render_samples -- OUT_DIR
//! ```
//!
//! The ticket's QR code is signed with a fixed demonstration key (seed of 32 bytes of 7), never
//! an exam's real key.

use std::path::PathBuf;
use std::process::ExitCode;

use baoming_core::DocumentId;
use baoming_core::documents::{
    FormRow, FormSubject, FormView, TicketSitting, TicketView, render_form, render_ticket,
};
use baoming_core::id_document::{IdKind, mask};
use baoming_core::ticket::{Sitting, TicketPayload, sign_ticket};
use ring::signature::Ed25519KeyPair;

const PHOTO: &[u8] = include_bytes!("../assets/samples/photo.jpg");
const EXAM: &str = "2026年下半年全国计算机等级考试";
const NAME: &str = "龚䶮";
const ID_NUMBER: &str = "11010520010517001X";
const TICKET_NUMBER: &str = "261101240100305";
const CENTER: &str = "北京理工大学考点";
const ADDRESS: &str = "北京市海淀区中关村南大街5号";

fn form() -> FormView {
    let row = |label: &str, value: &str| FormRow { label: label.to_owned(), value: value.to_owned() };
    let subject = |code: &str, name: &str, time_slot: &str| FormSubject {
        code: code.to_owned(),
        name: name.to_owned(),
        time_slot: time_slot.to_owned(),
        fee_fen: 8000,
    };
    FormView {
        exam_name: EXAM.to_owned(),
        registration_id: DocumentId::derive("NCRE-2026H2", "demo-candidate").to_string(),
        answers: vec![
            row("姓名", NAME),
            row("性别", "男"),
            row("出生日期", "2001-05-17"),
            row("证件类型", "居民身份证"),
            row("证件号码", ID_NUMBER),
            row("手机号码", "13800138000"),
            row("电子邮箱", "gong.yan@example.cn"),
            row("学历", "本科"),
            row("工作单位", "北京市海淀区某某科技有限公司研发中心"),
        ],
        photo_jpeg: PHOTO.to_vec(),
        center_name: CENTER.to_owned(),
        center_address: ADDRESS.to_owned(),
        subjects: vec![
            subject("24", "二级 C 语言程序设计", "2026-12-12 09:00–11:00"),
            subject("65", "二级 WPS Office 高级应用", "2026-12-12 14:00–16:00"),
        ],
        total_fee_fen: 16000,
        trade_no: "2026112022001412345678901234".to_owned(),
        order_no: "BM2026112014031234".to_owned(),
        agreement_version: "2026-09".to_owned(),
        agreement_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
        generated_at: "2026-11-20 14:03（北京时间）".to_owned(),
    }
}

fn ticket() -> Result<TicketView, String> {
    let key = Ed25519KeyPair::from_seed_unchecked(&[7; 32]).map_err(|e| e.to_string())?;
    let payload = TicketPayload {
        exam: "NCRE-2026H2".to_owned(),
        ticket_number: TICKET_NUMBER.to_owned(),
        name: NAME.to_owned(),
        id_masked: mask(IdKind::ResidentId, ID_NUMBER),
        center: "BJ-BIT".to_owned(),
        sittings: vec![
            Sitting { subject: "24".to_owned(), slot: "D1AM".to_owned(), room: "003".to_owned(), seat: 5 },
            Sitting { subject: "65".to_owned(), slot: "D1PM".to_owned(), room: "012".to_owned(), seat: 17 },
        ],
        issued_at_ms: 1_765_000_000_000,
    };
    let sitting = |code: &str, name: &str, time: &str, room: &str, seat: &str| TicketSitting {
        subject_code: code.to_owned(),
        subject_name: name.to_owned(),
        date: "2026-12-12".to_owned(),
        time: time.to_owned(),
        room: room.to_owned(),
        seat: seat.to_owned(),
    };
    Ok(TicketView {
        exam_name: EXAM.to_owned(),
        photo_jpeg: PHOTO.to_vec(),
        name: NAME.to_owned(),
        id_masked: mask(IdKind::ResidentId, ID_NUMBER),
        ticket_number: TICKET_NUMBER.to_owned(),
        sittings: vec![
            sitting("24", "二级 C 语言程序设计", "09:00–11:00", "第003考场（1号楼201）", "05"),
            sitting("65", "二级 WPS Office 高级应用", "14:00–16:00", "第012考场（2号楼305）", "17"),
        ],
        center_name: CENTER.to_owned(),
        center_address: ADDRESS.to_owned(),
        rules: [
            "1. 考生须在开考前30分钟凭准考证和有效身份证件进入考场，开考15分钟后不得入场。",
            "2. 除规定的文具外，不得携带手机、智能手表等任何电子设备进入考场。",
            "3. 考生须服从监考人员管理，遵守考场纪律，违纪者按有关规定处理。",
            "4. 考试结束前不得提前离场；离场后不得在考场附近逗留、喧哗。",
        ]
        .join("\n"),
        qr_text: sign_ticket(&payload, &key),
    })
}

fn run() -> Result<(), String> {
    let out = PathBuf::from(std::env::args().nth(1).ok_or("usage: render_samples OUT_DIR")?);
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let documents = [
        ("form.pdf", render_form(&form()).map_err(|e| e.to_string())?),
        ("ticket.pdf", render_ticket(&ticket()?).map_err(|e| e.to_string())?),
    ];
    for (file, bytes) in documents {
        let path = out.join(file);
        std::fs::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("{} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("render_samples: {message}");
            ExitCode::FAILURE
        }
    }
}
