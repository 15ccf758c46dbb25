"""The Python package as an integrator installs it: the wheel in a fresh virtual environment
(bindings/run-tests.sh), its version, its type information, its exceptions' messages and one
spelling of variant names."""

import importlib.metadata
import os
import pathlib
import subprocess
import sys

import baoming
from conftest import EXAM, UNREACHABLE


def test_the_package_is_the_installed_wheel():
    package = pathlib.Path(baoming.__file__).resolve().parent
    assert package.is_relative_to(pathlib.Path(sys.prefix).resolve()), (
        f"baoming comes from {package}, not from the virtual environment's site-packages"
    )
    assert (package / "py.typed").is_file(), "PEP 561 marker"
    assert (package / "_ffi" / "libbaoming_bindings.so").is_file(), "the native library beside its module"
    wheel = os.environ.get("BINDINGS_WHEEL")
    if wheel:
        assert pathlib.Path(wheel).name.startswith(f"baoming-{baoming.__version__}-")


def test_versions():
    assert baoming.__version__ == importlib.metadata.version("baoming") == baoming.library_version()
    assert baoming.protocol_version() == "1", "automerge-repo's network protocol version"


def mypy(tmp_path, source: str) -> subprocess.CompletedProcess:
    script = tmp_path / "usage.py"
    script.write_text(source)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / ".mypy_cache"), str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )


def test_type_checkers_see_the_types(tmp_path):
    ok = mypy(
        tmp_path,
        "import baoming\n"
        "def open_client(folder: str) -> baoming.BaomingClient:\n"
        "    client = baoming.BaomingClient.open(folder, 'https://baoming.example.org')\n"
        "    session: baoming.SessionInfo = client.log_in('a@example.com', 'secret')\n"
        "    summary: baoming.SyncSummary = client.sync_now()\n"
        "    return client\n",
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    wrong = mypy(tmp_path, "import baoming\ncount: int = baoming.library_version()\n")
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    assert 'expression has type "str", variable has type "int"' in wrong.stdout, wrong.stdout


def test_exceptions_carry_the_library_message(tmp_path):
    client = baoming.BaomingClient.open(str(tmp_path / "device"), UNREACHABLE)
    try:
        client.draft(EXAM)
    except baoming.BaomingError.SignInRequired as e:
        assert str(e) == "sign in first"
        assert repr(e) == "BaomingError.SignInRequired(sign in first)"
    else:
        raise AssertionError("a draft without a session")
    try:
        client.register("nobody@example.com", "correct horse battery 1")
    except baoming.BaomingError.Network as e:
        assert str(e).startswith("the server cannot be reached: ") and e.detail in str(e)
    else:
        raise AssertionError("register with the server unreachable")
    client.shutdown()
    try:
        client.exams()
    except baoming.BaomingError.Closed as e:
        assert str(e) == "the client is closed"
    else:
        raise AssertionError("a call after shutdown")


def test_errors_and_events_are_spelled_alike():
    errors = {n for n, v in vars(baoming.BaomingError).items() if isinstance(v, type)}
    events = {n for n, v in vars(baoming.Event).items() if isinstance(v, type)}
    assert {"SignInRequired", "WrongCredentials", "Network"} <= errors
    assert {"SignInRequired", "StatusChanged", "Synced"} <= events
    for name in errors | events:
        assert name[0].isupper() and "_" not in name, f"{name}: UpperCamelCase, as in Kotlin and Swift"
    assert isinstance(baoming.Event.SignInRequired(), baoming.Event)
