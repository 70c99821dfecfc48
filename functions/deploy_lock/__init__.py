"""The per-environment deploy lock of the pipeline (see README.md)."""
