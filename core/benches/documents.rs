//! Benchmarks of PDF rendering (feature `documents`): one admission ticket and one registration
//! form, fonts already loaded — what the server pays per download when a printing window opens.

use std::hint::black_box;

use baoming_core::documents::{
    FormRow, FormSubject, FormView, TicketSitting, TicketView, render_form, render_ticket,
};
use baoming_core::id_document::{IdKind, mask};
use criterion::{Criterion, criterion_group, criterion_main};

const PHOTO: &[u8] = include_bytes!("../assets/samples/photo.jpg");

fn ticket() -> TicketView {
    TicketView {
        exam_name: "2026年下半年全国计算机等级考试".to_owned(),
        photo_jpeg: PHOTO.to_vec(),
        name: "龚䶮".to_owned(),
        id_masked: mask(IdKind::ResidentId, "11010520010517001X"),
        ticket_number: "261101240100305".to_owned(),
        sittings: vec![TicketSitting {
            subject_code: "24".to_owned(),
            subject_name: "二级 C 语言程序设计".to_owned(),
            date: "2026-12-12".to_owned(),
            time: "09:00–11:00".to_owned(),
            room: "第003考场".to_owned(),
            seat: "05".to_owned(),
        }],
        center_name: "北京理工大学考点".to_owned(),
        center_address: "北京市海淀区中关村南大街5号".to_owned(),
        rules: "考生须在开考前30分钟凭准考证和有效身份证件进入考场，开考15分钟后不得入场。".to_owned(),
        // As long as a real signed ticket with two sittings (about 330 base45 characters).
        qr_text: format!("BMT1:{}", "6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDEXWK G2EP4J0B".repeat(6)),
    }
}

fn form() -> FormView {
    let row = |label: &str, value: &str| FormRow { label: label.to_owned(), value: value.to_owned() };
    FormView {
        exam_name: "2026年下半年全国计算机等级考试".to_owned(),
        registration_id: baoming_core::DocumentId::derive("NCRE-2026H2", "account-1").to_string(),
        answers: vec![
            row("姓名", "龚䶮"),
            row("性别", "男"),
            row("出生日期", "2001-05-17"),
            row("证件号码", "11010520010517001X"),
            row("手机号码", "13800138000"),
            row("电子邮箱", "gong.yan@example.cn"),
            row("通讯地址", "北京市海淀区颐和园路5号"),
        ],
        photo_jpeg: PHOTO.to_vec(),
        center_name: "北京理工大学考点".to_owned(),
        center_address: "北京市海淀区中关村南大街5号".to_owned(),
        subjects: vec![FormSubject {
            code: "24".to_owned(),
            name: "二级 C 语言程序设计".to_owned(),
            time_slot: "2026-12-12 09:00–11:00".to_owned(),
            fee_fen: 8000,
        }],
        total_fee_fen: 8000,
        trade_no: "2026112022001412345678901234".to_owned(),
        order_no: "BM2026112014031234".to_owned(),
        agreement_version: "2026-09".to_owned(),
        agreement_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
        generated_at: "2026-11-20 14:03（北京时间）".to_owned(),
    }
}

fn documents(c: &mut Criterion) {
    let (ticket, form) = (ticket(), form());
    // The first call parses the shipped fonts; keep it out of the measurements.
    render_ticket(&ticket).expect("the ticket renders");
    c.bench_function("render admission ticket", |b| b.iter(|| render_ticket(black_box(&ticket))));
    c.bench_function("render registration form", |b| b.iter(|| render_form(black_box(&form))));
}

criterion_group!(benches, documents);
criterion_main!(benches);
