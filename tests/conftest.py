"""Shared test setup: the repository root and the seed code folder are importable."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED_CODE = ROOT / "seed_code"

for path in (ROOT, SEED_CODE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
