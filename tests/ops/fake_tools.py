"""Stand-ins for the other programs the runbooks call, so a block runs without touching the real ones: ``make``
(the target must exist in the Makefile and every ``VAR=`` must be a variable it reads), ``git``, ``curl`` and
``uv`` (recorded, with what ``curl`` reads on stdin, so a test can check a secret went there and not in argv).

    python -m tests.ops.fake_tools <program> [arguments]     records to FAKE_TOOLS_LOG (JSON lines)
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def check_make(arguments: Sequence[str]) -> str | None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    for argument in arguments:
        if "=" in argument:
            name = argument.split("=", 1)[0]
            if f"$({name})" not in makefile:
                return f"make: the Makefile never reads {name}"
        elif argument not in targets:
            return f"make: *** No rule to make target '{argument}'.  Stop."
    return None


def main(argv: Sequence[str]) -> int:
    program, *arguments = argv
    stdin = sys.stdin.read() if program == "curl" and ("-" in arguments or "@-" in arguments) else None
    problem = check_make(arguments) if program == "make" else None
    log = os.environ.get("FAKE_TOOLS_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as file:
            entry = {
                "program": program,
                "argv": list(arguments),
                "stdin": stdin,
                "profile": os.environ.get("AWS_PROFILE"),
            }
            file.write(json.dumps(entry) + "\n")
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if program == "curl":
        print('{"ok": true}')
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
