"""The candidate's journey through the generated Python bindings, against the real server:
register and log in, cache the catalog, edit the draft offline with validation issues shown,
prepare a photo, sync, submit, status and seats; and the error paths: wrong password, a refused
edit from a second device, the server unreachable, a live sync whose session ends. After
submission: pay on the payment platform's page, refresh until paid, the registration form, the
admission ticket's typed refusals, the center's announcements, on-site confirmation and
arrangement (as the operator, over HTTP) and the ticket itself."""

import datetime
import threading
import time

import pytest

import baoming
from conftest import EXAM, UNREACHABLE, pay_on_page, resident_id, sample_photo

PASSWORD = "correct horse battery 1"


class Recorder(baoming.Listener):
    """Collects the client's events (delivered on its own threads)."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def on_event(self, event):
        with self.lock:
            self.events.append(event)

    def seen(self, predicate):
        with self.lock:
            return [e for e in self.events if predicate(e)]


def fill_answers(client):
    client.accept_agreement(EXAM)
    for key, value in [
        ("name", "张三丰"),
        ("gender", "male"),
        ("birth_date", "1990-01-01"),
        ("id_document", "resident_id:" + resident_id("11010519900101031")),
        ("ethnicity", "han"),
        ("mobile", "13800138000"),
        ("education", "bachelor"),
        ("occupation", "student"),
    ]:
        client.set_field(EXAM, key, value)


def codes(issues):
    return sorted({i.code for i in issues})


def test_the_candidate_journey(server, tmp_path):
    device_a = str(tmp_path / "device-a")
    device_b = str(tmp_path / "device-b")

    # Online: register, cache the catalog.
    a = baoming.BaomingClient.open(device_a, server.url)
    with pytest.raises(baoming.BaomingError.NoCatalog):
        a.exams()
    session = a.register("journey@example.com", PASSWORD)
    assert session.account_id and session.token
    assert a.account_id() == session.account_id
    assert a.refresh_catalog() is True
    assert a.refresh_catalog() is False, "the cached catalog is current (ETag)"

    # Log out, a wrong password, then log in again.
    a.log_out()
    assert a.account_id() is None
    with pytest.raises(baoming.BaomingError.SignInRequired):
        a.draft(EXAM)
    with pytest.raises(baoming.BaomingError.WrongCredentials):
        a.log_in("journey@example.com", "not the password")
    session = a.log_in("journey@example.com", PASSWORD)
    a.shutdown()

    # A second device of the same candidate syncs the empty registration now.
    b = baoming.BaomingClient.open(device_b, server.url)
    b.log_in("journey@example.com", PASSWORD)
    b.refresh_catalog()
    b.open_registration(EXAM)
    b.sync_now()
    b.shutdown()

    # Offline: the same folder with a server that cannot be reached. The token comes back
    # from where the app keeps it (the keychain / keystore).
    a = baoming.BaomingClient.open(device_a, UNREACHABLE)
    a.resume_session(session.account_id, session.token)
    exam = a.exam(EXAM)
    assert exam.agreement_version and exam.fields and exam.centers
    chaoyang = next(c for c in exam.centers if c.id == "bj-chaoyang")
    fee = next(s.fee_fen for s in chaoyang.subjects if s.code == "15")
    a.open_registration(EXAM)
    first = codes(a.validate(EXAM))
    for expected in ["agreement_missing", "field_required", "center_missing", "photo_missing"]:
        assert expected in first, first
    fill_answers(a)
    a.set_field(EXAM, "mobile", "12345")
    assert "field_invalid" in codes(a.validate(EXAM))
    a.set_field(EXAM, "mobile", "13800138000")
    assert a.choose_center(EXAM, "bj-chaoyang") == []
    a.add_subject(EXAM, "15")
    a.declare(EXAM)
    assert codes(a.validate(EXAM)) == ["photo_missing"]

    # The photo: the phone picture as it is, then prepared.
    picture = sample_photo()
    prepared = a.prepare_photo(EXAM, picture)
    verdict = a.check_photo(EXAM, prepared.jpeg)
    assert verdict.passed and verdict.problems == [], verdict
    assert (verdict.width, verdict.height) == (prepared.width, prepared.height)
    with pytest.raises(baoming.BaomingError.PhotoRejected) as bad:
        a.attach_photo(EXAM, b"not a jpeg at all")
    assert bad.value.problems
    sha = a.attach_photo(EXAM, prepared.jpeg)
    assert a.draft(EXAM).photo_sha256 == sha
    assert a.validate(EXAM) == []

    # Submit while offline: queued, and the sync fails with a typed network error.
    queued = a.submit(EXAM)
    assert queued.action == "submit" and queued.idempotency_key
    assert [q.action for q in a.queued_actions()] == ["submit"]
    with pytest.raises(baoming.BaomingError.Network):
        a.sync_now(20_000)
    draft = a.draft(EXAM)
    assert draft.center == "bj-chaoyang" and draft.subjects == ["15"] and draft.declared
    a.shutdown()

    # Back online: the photo is uploaded, the draft synced, the submission sent.
    a = baoming.BaomingClient.open(device_a, server.url)
    recorder = Recorder()
    a.set_listener(recorder)
    a.resume_session(session.account_id, session.token)
    a.open_registration(EXAM)
    summary = a.sync_now(60_000)
    assert [(o.action, o.done) for o in summary.actions_finished] == [("submit", True)], summary
    assert summary.actions_waiting == 0
    status = a.status(EXAM)
    assert status.status == "submitted" and status.center == "bj-chaoyang"
    assert status.seats == ["15"] and status.amount_fen == fee
    assert a.local_status(EXAM).status == "submitted"
    assert recorder.seen(lambda e: e.is_photo_uploaded() and e.sha256 == sha)
    assert recorder.seen(lambda e: e.is_action_finished() and e.outcome.done)
    assert recorder.seen(lambda e: e.is_status_changed() and e.status == "submitted")
    seats = {c.center: c for c in a.seats(EXAM)}
    assert seats["bj-chaoyang"].free == seats["bj-chaoyang"].capacity - 1
    # The submission locks the center on this device too.
    with pytest.raises(baoming.BaomingError.NotEditable):
        a.choose_center(EXAM, "bj-haidian")
    a.shutdown()

    # Device B still believes the draft is editable: the subject it adds is refused by the
    # server (subjects are locked once submitted), the draft returns to the server's state and
    # the edit is listed.
    b = baoming.BaomingClient.open(device_b, server.url)
    b_recorder = Recorder()
    b.set_listener(b_recorder)
    b.log_in("journey@example.com", PASSWORD)
    b.open_registration(EXAM)
    b.add_subject(EXAM, "65")
    summary = b.sync_now()
    rejected = b.rejected_edits(EXAM)
    assert [r.path for r in rejected] == ["draft.subjects"], rejected
    assert [r.path for r in summary.rejected] == ["draft.subjects"], summary
    draft = b.draft(EXAM)
    assert draft.center == "bj-chaoyang" and draft.subjects == ["15"], draft
    assert b.local_status(EXAM).status == "submitted"
    assert b_recorder.seen(lambda e: e.is_edits_rejected())
    b.dismiss_rejected_edits(EXAM)
    assert b.rejected_edits(EXAM) == []
    b.shutdown()

    # Pay: the order and its page, paid on the page as a browser would, then "I have paid,
    # refresh" until the platform confirms.
    a = baoming.BaomingClient.open(device_a, server.url)
    a.resume_session(session.account_id, session.token)
    with pytest.raises(baoming.BaomingError.NotPaid) as not_paid:
        a.registration_form_pdf(EXAM)
    assert not_paid.value.status == "submitted"
    order = a.pay(EXAM)
    assert "/gateway.do?" in order.url and order.state == "open", order
    assert order.amount_fen == fee and order.order_id
    assert order.expires_at_ms > time.time() * 1000
    assert order.status.status == "awaiting_payment" and order.status.deadline_ms == order.expires_at_ms
    assert order.status.payment_reference == order.order_id
    assert a.pay(EXAM).order_id == order.order_id, "the open order is answered again"
    assert a.refresh_payment(EXAM).status == "awaiting_payment", "the page was not even opened"
    assert pay_on_page(order.url) == 200
    paid = a.refresh_payment(EXAM)
    give_up = time.monotonic() + 30
    while paid.status != "paid" and time.monotonic() < give_up:
        time.sleep(0.2)
        paid = a.refresh_payment(EXAM)
    assert paid.status == "paid", paid
    assert paid.receipt_trade_no and paid.paid_at_ms and paid.payment_reference == order.order_id
    status = a.status(EXAM)
    assert (status.status, status.amount_fen) == ("paid", fee)
    assert (status.payment_reference, status.receipt_trade_no) == (order.order_id, paid.receipt_trade_no)

    # The registration form now; the admission ticket only inside the printing window.
    form = a.registration_form_pdf(EXAM)
    assert form.startswith(b"%PDF-") and len(form) < 1_000_000, len(form)
    with pytest.raises(baoming.BaomingError.PrintingWindowClosed) as closed:
        a.admission_ticket_pdf(EXAM)
    assert closed.value.opens_ms > time.time() * 1000

    # The center publishes a notice: the candidate's announcements show it.
    center = f"/api/operator/exams/{EXAM}/centers/bj-chaoyang"
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    notice = {
        "title": "考场开放时间",
        "body": "考试当天8:00开放入场。",
        "opens": (now - datetime.timedelta(minutes=5)).isoformat(),
        "closes": (now + datetime.timedelta(days=1)).isoformat(),
        "requires_onsite_confirmation": False,
    }
    code, body = server.operator("POST", center + "/notices", notice)
    assert code == 201, body
    news = a.announcements(EXAM)
    assert news.center == "bj-chaoyang" and news.onsite_required and news.onsite_notice_zh
    assert [(n.title, n.body) for n in news.notices] == [(notice["title"], notice["body"])]

    # Printing opens (the administrator moves the window to now): the ticket needs the on-site
    # confirmation this center requires, then the center's room arrangement.
    server.import_open_catalog(printing_now=True)
    a.refresh_catalog()
    with pytest.raises(baoming.BaomingError.NotEligible) as not_eligible:
        a.admission_ticket_pdf(EXAM)
    assert not_eligible.value.reason == "not_confirmed_on_site", not_eligible.value
    code, body = server.operator(
        "POST",
        center + "/confirm",
        {"name": "张三丰", "id_document": resident_id("11010519900101031")},
        {"idempotency-key": "bindings-journey-confirm"},
    )
    assert code == 200, body
    assert a.status(EXAM).status == "confirmed"
    with pytest.raises(baoming.BaomingError.NotEligible) as not_eligible:
        a.admission_ticket_pdf(EXAM)
    assert not_eligible.value.reason == "not_arranged", not_eligible.value
    code, arrangement = server.operator("POST", center + "/arrangement")
    assert code == 200, arrangement
    (arranged,) = arrangement["candidates"]
    ticket = a.admission_ticket_pdf(EXAM)
    assert ticket.startswith(b"%PDF-") and len(ticket) < 1_000_000, len(ticket)
    assert a.status(EXAM).ticket_number == arranged["ticket_number"]
    # Opened on the device and synced, the registration gets the number in its own copy,
    # announced with the status event.
    a_recorder = Recorder()
    a.set_listener(a_recorder)
    a.open_registration(EXAM)
    a.sync_now(20_000)
    assert a_recorder.seen(
        lambda e: e.is_status_changed() and e.ticket_number == arranged["ticket_number"]
    )
    assert a.local_status(EXAM).ticket_number == arranged["ticket_number"]

    # The ticket on screen: its number and the signed code the printed QR carries. A staff
    # device verifies it offline with the exam's key from the cached catalog; a code changed by
    # one character, or forged, is refused.
    shown = a.admission_ticket_code(EXAM)
    assert shown.ticket_number == arranged["ticket_number"], shown
    key = a.exam(EXAM).public_key
    assert len(key) == 32
    verified = baoming.verify_ticket(shown.code, key)
    assert verified.exam == EXAM and verified.ticket_number == shown.ticket_number, verified
    assert verified.name == "张三丰" and verified.center == "bj-chaoyang", verified
    assert [s.subject for s in verified.sittings] == ["15"], verified
    at = len(shown.code) - 40
    tampered = shown.code[:at] + ("B" if shown.code[at] != "B" else "C") + shown.code[at + 1 :]
    for bad in [tampered, "BMT1:" + "A" * 120]:
        with pytest.raises(baoming.BaomingError.InvalidTicket) as refused:
            baoming.verify_ticket(bad, key)
        assert refused.value.code.startswith("ticket_"), refused.value
    a.shutdown()


def test_account_errors_and_password_change(server, tmp_path):
    c = baoming.BaomingClient.open(str(tmp_path / "device"), server.url)
    c.register("13900139000", PASSWORD)
    with pytest.raises(baoming.BaomingError.Server) as taken:
        c.register("13900139000", PASSWORD)
    assert taken.value.status == 409, taken.value
    c.change_password(PASSWORD, "an even better passphrase 2")
    with pytest.raises(baoming.BaomingError.WrongCredentials):
        c.log_in("13900139000", PASSWORD)
    c.log_in("13900139000", "an even better passphrase 2")
    c.request_password_recovery("13900139000")
    captcha = c.captcha()
    assert captcha.id and captcha.png[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(baoming.BaomingError.ActionNotQueued):
        c.open_registration(EXAM)
        c.submit(EXAM)
    # A token the server does not know: the next online call asks to sign in again.
    c.resume_session("someone-else", "0" * 64)
    with pytest.raises(baoming.BaomingError.SignInRequired):
        c.status(EXAM)
    c.shutdown()


def wait_for(recorder, predicate, within):
    """Polls the events (they arrive on the client's threads) until one matches."""
    give_up = time.monotonic() + within
    while not recorder.seen(predicate):
        assert time.monotonic() < give_up, f"no such event within {within} s: {recorder.events}"
        time.sleep(0.02)


def test_the_live_sync_asks_to_sign_in_again_when_its_session_ends(server, tmp_path):
    a = baoming.BaomingClient.open(str(tmp_path / "device-a"), server.url)
    a.register("ended@example.com", PASSWORD)
    b = baoming.BaomingClient.open(str(tmp_path / "device-b"), server.url)
    b.log_in("ended@example.com", PASSWORD)
    b.refresh_catalog()
    b.open_registration(EXAM)
    events = Recorder()
    b.set_listener(events)
    b.start_live()
    wait_for(events, lambda e: e.is_synced(), within=30)
    # Another device changes the password: b's session ends, its live sync is closed by the
    # server and the app is told to sign in again, within a second.
    a.change_password(PASSWORD, "an even better passphrase 3")
    wait_for(events, lambda e: isinstance(e, baoming.Event.SignInRequired), within=1)
    with pytest.raises(baoming.BaomingError.SignInRequired):
        b.sync_now(10_000)
    b.shutdown()
    a.shutdown()


def test_the_server_unreachable_is_a_typed_network_error(tmp_path):
    c = baoming.BaomingClient.open(str(tmp_path / "device"), UNREACHABLE)
    with pytest.raises(baoming.BaomingError.Network):
        c.register("nobody@example.com", PASSWORD)
    with pytest.raises(baoming.BaomingError.Network):
        c.refresh_catalog()
    with pytest.raises(baoming.BaomingError.InvalidInput):
        baoming.BaomingClient.open(str(tmp_path / "other"), "ftp://example.invalid")
    c.shutdown()


def test_a_ticket_that_is_not_one_does_not_verify():
    with pytest.raises(baoming.BaomingError.InvalidTicket) as e:
        baoming.verify_ticket("hello", bytes(32))
    assert e.value.code == "ticket_format"
