"""One ComponentResource per file; each takes a typed args dataclass."""
