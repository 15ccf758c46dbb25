//! Profiles: identity documents are validated, one document belongs to one account (also when
//! requests race, as do registrations of one login), and personal data is sealed at rest.

use serde_json::json;

use baoming_core::api::accounts::{Profile, SessionAnswer};
use baoming_core::api::error::ErrorCode;
use baoming_core::id_document::Gender;
use baoming_server::state::App;
use baoming_server::store::Tree;
use baoming_server::store::audit;

use super::support::{CANDIDATE_PASSWORD as PASSWORD, Response, TestApp, resident_id};
use super::{call, count, j, register};

#[tokio::test]
async fn profile_validates_id_documents_and_keeps_one_account_per_document() {
    let t = TestApp::new();
    let a = register(&t.app, "sun.qi@example.org").await;
    let b = register(&t.app, "zhou.ba@example.org").await;
    call(&t.app, "GET", "/api/account/profile", Some(&a), None).await.refused(404, ErrorCode::NotFound);

    let id = resident_id("11010519491231002");
    bad_documents_are_refused_and_nothing_stored(&t.app, &a, &id).await;

    let body = json!({"legal_name": "孙七", "id_kind": "resident_id", "id_number": id.to_lowercase(), "phone": "13800138000"});
    let stored: Profile =
        call(&t.app, "PUT", "/api/account/profile", Some(&a), j(body.clone())).await.typed();
    assert_eq!((stored.birth_date.as_deref(), stored.gender), (Some("1949-12-31"), Some(Gender::Female)));
    let read: Profile = call(&t.app, "GET", "/api/account/profile", Some(&a), None).await.typed();
    assert_eq!(read.legal_name, "孙七");
    // Setting the same profile again is fine (same account, same document).
    call(&t.app, "PUT", "/api/account/profile", Some(&a), j(body.clone())).await.typed::<Profile>();

    let r = call(&t.app, "PUT", "/api/account/profile", Some(&b), j(body)).await;
    r.refused(409, ErrorCode::IdDocumentTaken);
    let r = call(&t.app, "GET", "/api/account/profile", Some(&b), None).await;
    assert_eq!(r.error_code(), (404, ErrorCode::NotFound), "the refused profile was not stored");

    // Personal data is sealed at rest.
    let raw: Vec<u8> = t
        .app
        .db
        .store()
        .scan_prefix(Tree::Accounts, b"")
        .expect("scan")
        .into_iter()
        .flat_map(|(_, v)| v)
        .collect();
    assert!(!raw.windows(id.len()).any(|w| w == id.as_bytes()), "ID number sealed");
    assert!(!raw.windows("孙七".len()).any(|w| w == "孙七".as_bytes()), "name sealed");

    // Moving account A to another document frees the first one for B.
    let other = resident_id("44030419900101123");
    let r = call(
        &t.app,
        "PUT",
        "/api/account/profile",
        Some(&a),
        j(json!({"legal_name": "孙七", "id_kind": "resident_id", "id_number": other})),
    )
    .await;
    r.typed::<Profile>();
    let r = call(
        &t.app,
        "PUT",
        "/api/account/profile",
        Some(&b),
        j(json!({"legal_name": "周八", "id_kind": "resident_id", "id_number": id})),
    )
    .await;
    r.typed::<Profile>();
    assert_eq!(count(&t.app, Tree::AccountByIdDocument), 2);
}

/// Phase of the profile test: a wrong check digit, a wrong length, an unknown document kind, an
/// empty name and a bad phone number are each refused with their typed error, and no document
/// is taken.
async fn bad_documents_are_refused_and_nothing_stored(app: &App, a: &str, id: &str) {
    let mut wrong = id.to_owned();
    let last = if wrong.ends_with('0') { '1' } else { '0' };
    wrong.pop();
    wrong.push(last);
    let bad_cases = [
        (json!({"legal_name": "孙七", "id_kind": "resident_id", "id_number": wrong}), ErrorCode::IdChecksum),
        (json!({"legal_name": "孙七", "id_kind": "resident_id", "id_number": "1234"}), ErrorCode::IdLength),
        (
            json!({"legal_name": "孙七", "id_kind": "driving_licence", "id_number": id}),
            ErrorCode::IdUnknownKind,
        ),
        (json!({"legal_name": "", "id_kind": "resident_id", "id_number": id}), ErrorCode::LegalNameInvalid),
        (
            json!({"legal_name": "孙七", "id_kind": "resident_id", "id_number": id, "phone": "123"}),
            ErrorCode::LoginInvalid,
        ),
    ];
    for (body, code) in bad_cases {
        let r = call(app, "PUT", "/api/account/profile", Some(a), j(body)).await;
        r.refused(422, code);
    }
    assert_eq!(count(app, Tree::AccountByIdDocument), 0, "nothing stored");
}

/// How many of the racing requests `tasks` won (answered with a `T`); every other must have lost
/// with 409 `loser`.
async fn winners<T: serde::de::DeserializeOwned + serde::Serialize>(
    tasks: Vec<tokio::task::JoinHandle<Response>>,
    loser: ErrorCode,
) -> usize {
    let mut won = 0;
    for task in tasks {
        let r = task.await.expect("join");
        if (200..300).contains(&r.status) {
            r.typed::<T>();
            won += 1;
        } else {
            r.refused(409, loser);
        }
    }
    won
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_registrations_and_profiles_keep_uniqueness() {
    let t = TestApp::new();
    let body = j(json!({"login": "race@example.org", "password": PASSWORD}));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (app, body) = (t.app.clone(), body.clone());
        tasks.push(tokio::spawn(async move { call(&app, "POST", "/api/accounts", None, body).await }));
    }
    assert_eq!(winners::<SessionAnswer>(tasks, ErrorCode::LoginTaken).await, 1, "one registration wins");
    assert_eq!(count(&t.app, Tree::Accounts), 1);

    let mut tokens = Vec::new();
    for i in 0..6 {
        tokens.push(register(&t.app, &format!("racer{i}@example.org")).await);
    }
    let id = resident_id("31011519851205002");
    let mut tasks = Vec::new();
    for token in tokens {
        let (app, id) = (t.app.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let body = j(json!({"legal_name": "赛跑", "id_kind": "resident_id", "id_number": id}));
            call(&app, "PUT", "/api/account/profile", Some(&token), body).await
        }));
    }
    assert_eq!(
        winners::<Profile>(tasks, ErrorCode::IdDocumentTaken).await,
        1,
        "one profile takes the document"
    );
    assert_eq!(count(&t.app, Tree::AccountByIdDocument), 1);
    audit::verify(t.app.db.store()).expect("audit intact under concurrency");
}
