"""The simulator and the checkout's packages win over a stale editable install (as in tests/sim)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
