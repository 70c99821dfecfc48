"""The buildspec emulator, now shared with the local pipeline: see ``local/pipeline/buildspec.py``."""

from local.pipeline.buildspec import (
    BuildResult,
    expand,
    parse_secret_reference,
    resolve_secrets,
    run_buildspec,
    write_stubs,
)

__all__ = ["BuildResult", "expand", "parse_secret_reference", "resolve_secrets", "run_buildspec", "write_stubs"]
