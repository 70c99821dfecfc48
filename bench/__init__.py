"""Benchmarks: figures to read and compare across machines, never pass/fail checks."""
