"""Guardrails shared by the test suite and the Pulumi policy pack."""
