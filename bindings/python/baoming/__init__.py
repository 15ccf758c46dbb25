"""Baoming's device client: a candidate's exam registration drafts, kept on the device and
synced with a Baoming server, offline first.

Everything is generated from the Rust library (uniffi) into ``baoming._ffi``, with the native
library beside it; this package re-exports it. Start with ``BaomingClient.open(folder, url)``;
errors are ``BaomingError.<Variant>`` (``str(e)`` is the library's message), events
``Event.<Variant>`` (same spelling as the errors and as Kotlin and Swift). See the bindings
README for the journey, threading and lifecycle.
"""

from ._ffi.baoming import *  # noqa: F403  (the generated bindings; their __all__ below)
from ._ffi.baoming import __all__ as _generated
from ._ffi.baoming import library_version

__version__: str = library_version()
"""The package's version: the native library's own (``library_version()``)."""

__all__ = [*_generated, "__version__"]
