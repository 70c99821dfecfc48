"""Entry point of ``pulumi preview --policy-pack policy``: serves every rule in rules.py to the Pulumi engine.

Pulumi runs this file as a script (``python -m pulumi.policy``, which calls ``runpy.run_path`` on this directory)
with only this directory on ``sys.path``. The pack imports its rules as the ``policy`` package, the same module
the tests import, so the repository root goes on the path first. ``PolicyPack`` then serves the policies until
the engine stops it.
"""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from policy.pack import PACK_NAME, policies

# Every policy sets its own level (rules.RULES); the pack default only matters for a policy that would not.
PolicyPack(name=PACK_NAME, policies=policies(), enforcement_level=EnforcementLevel.MANDATORY)
