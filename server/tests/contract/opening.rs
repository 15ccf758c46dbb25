//! The journey's opening: the server's health and its own refusals, the administrator's import
//! of a catalog open now (and of two broken ones), and the public catalog's reads.

use super::*;

/// Health and readiness, an unknown path and a method the path does not take.
pub(super) fn health_and_the_servers_own_refusals(addr: SocketAddr) {
    assert_eq!(strict::<Health>(&get(addr, paths::HEALTHZ, None), 200).status, HealthStatus::Ok);
    assert_eq!(strict::<Health>(&get(addr, paths::READYZ, None), 200).status, HealthStatus::Ready);
    refused(&get(addr, "/api/nowhere", None), 404, ErrorCode::NotFound);
    refused(&call(addr, "DELETE", paths::CAPTCHA, None, None), 405, ErrorCode::MethodNotAllowed);
}

/// The administrator signs in and imports the demo catalog open now; a catalog that is not one
/// and one that is not UTF-8 are refused. Returns the administrator's session.
pub(super) fn the_administrator_imports_a_catalog_open_now(addr: SocketAddr) -> OperatorSessionAnswer {
    let admin_session = login(addr, "admin");
    assert_eq!(admin_session.operator.role, Role::Administrator);
    let admin = admin_session.token.clone();
    import(addr, &admin, &support::open_demo_catalog());
    refused(
        &bytes(addr, "PUT", paths::OPERATOR_CATALOG, Some(&admin), None, b"exam = 3"),
        422,
        ErrorCode::CatalogInvalid,
    );
    refused(
        &bytes(addr, "PUT", paths::OPERATOR_CATALOG, Some(&admin), None, &[0xff, 0xfe]),
        422,
        ErrorCode::CatalogEncoding,
    );
    admin_session
}

/// The public catalog: the exams, the exam and each of its parts, a center, a center's seats and
/// unknown exams and parts. Returns the seats of [`SMALL`].
pub(super) fn the_public_catalog(addr: SocketAddr) -> CenterSeats {
    let catalog: CatalogAnswer = strict(&get(addr, paths::CATALOG, None), 200);
    assert_eq!(catalog.exams[0].id, EXAM);
    let exams: Vec<ExamSummary> = strict(&get(addr, paths::EXAMS, None), 200);
    assert_eq!(exams[0].id, EXAM);
    let exam: ExamAnswer = strict(&get(addr, &paths::exam(EXAM), None), 200);
    assert!(exam.public_key.is_some(), "the exam publishes its ticket key");
    for part in ExamPart::ALL {
        let r = get(addr, &paths::exam_part(EXAM, part), None);
        match part {
            ExamPart::Agreement => drop(strict::<AgreementAnswer>(&r, 200)),
            ExamPart::Announcements => drop(strict::<AnnouncementsAnswer>(&r, 200)),
            ExamPart::Guide => drop(strict::<GuideAnswer>(&r, 200)),
            ExamPart::Form => drop(strict::<FormAnswer>(&r, 200)),
            ExamPart::Subjects => drop(strict::<SubjectsAnswer>(&r, 200)),
            ExamPart::Slots => drop(strict::<SlotsAnswer>(&r, 200)),
            ExamPart::Centers => drop(strict::<CentersAnswer>(&r, 200)),
            ExamPart::Availability => {
                let a: ExamAvailability = strict(&r, 200);
                assert!(a.centers.iter().all(|c| c.held == 0 && !c.cancelled));
            }
        }
    }
    let center: CenterDetail = strict(&get(addr, &paths::exam_center(EXAM, ROOMS), None), 200);
    assert_eq!(center.center.id, ROOMS);
    let seats: CenterSeats = strict(&get(addr, &paths::center_availability(EXAM, SMALL), None), 200);
    assert_eq!(seats.total_capacity, 8);
    refused(&get(addr, &paths::exam("nope"), None), 404, ErrorCode::NotFound);
    refused(&get(addr, &format!("{}/nope", paths::exam(EXAM)), None), 404, ErrorCode::NotFound);
    seats
}
