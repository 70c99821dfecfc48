"""Code shared by the functions: kept small on purpose (structured logging only, for now)."""
