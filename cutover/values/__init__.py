"""Values: per-value coercions from what a source stores to what Postgres takes, and reject reasons.

Pure functions of one value, compiled once per column; the lowest layer that knows about data.
May import only `cutover.errors`.
"""
