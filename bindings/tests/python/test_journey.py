"""The candidate's journey through the generated Python bindings, against the real server:
register and log in, cache the catalog, edit the draft offline with validation issues shown,
prepare a photo, sync, submit, status and seats; and the error paths: wrong password, a refused
edit from a second device, the server unreachable."""

import os
import threading

import pytest

import baoming
from conftest import EXAM, resident_id, sample_photo

UNREACHABLE = "http://127.0.0.1:9"  # discard port: nothing listens
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
        a.log_in("journey@example.com", "not the password", None, None)
    session = a.log_in("journey@example.com", PASSWORD, None, None)
    a.shutdown()

    # A second device of the same candidate syncs the empty registration now.
    b = baoming.BaomingClient.open(device_b, server.url)
    b.log_in("journey@example.com", PASSWORD, None, None)
    b.refresh_catalog()
    b.open_registration(EXAM)
    b.sync_now(60_000)
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
    b.log_in("journey@example.com", PASSWORD, None, None)
    b.open_registration(EXAM)
    b.add_subject(EXAM, "65")
    summary = b.sync_now(60_000)
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


def test_account_errors_and_password_change(server, tmp_path):
    c = baoming.BaomingClient.open(str(tmp_path / "device"), server.url)
    c.register("13900139000", PASSWORD)
    with pytest.raises(baoming.BaomingError.Server) as taken:
        c.register("13900139000", PASSWORD)
    assert taken.value.status == 409, taken.value
    c.change_password(PASSWORD, "an even better passphrase 2")
    with pytest.raises(baoming.BaomingError.WrongCredentials):
        c.log_in("13900139000", PASSWORD, None, None)
    c.log_in("13900139000", "an even better passphrase 2", None, None)
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
