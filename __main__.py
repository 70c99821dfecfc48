"""Pulumi entry point: builds the stack for this stack's role (config ``mlops:role``)."""

from infra.program import main

main()
