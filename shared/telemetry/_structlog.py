"""structlog, imported without Rich (about 6 MB and 66 modules per service process).

``structlog.dev`` imports Rich whenever it is installed (kubefed-ng depends on it for the demo's
tables) only to offer Rich tracebacks in its console renderer; our processors format exceptions
before any renderer runs (``format_exc_info``), so services never use them. Rich is hidden from that
one import unless it is loaded already; it stays importable for everything else.
"""

from __future__ import annotations

import sys

_hide_rich = "rich" not in sys.modules
if _hide_rich:
    sys.modules["rich"] = None  # type: ignore[assignment]  # makes ``import rich`` raise ImportError
try:
    import structlog
finally:
    if _hide_rich:
        del sys.modules["rich"]

__all__ = ["structlog"]
