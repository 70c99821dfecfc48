"""Steps of buildspec.yml that are easier to get right (and to test) in Python than in shell.

Run them from the repository root as modules (``python -m ci.fetch_model ...``), so they import the seed
code's own modules. Each prints what the build needs on stdout, explains a failure on stderr, and exits 1.
"""
