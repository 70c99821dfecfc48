"""One builder per stack role; ``infra.program`` picks the builder for the stack's role."""
