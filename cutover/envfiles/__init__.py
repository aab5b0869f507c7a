"""Phase 1: find and rewrite database values in .env files, compose files and shell scripts.

The editors change value spans only (see spans.py); api.py holds the functions commands.py exports.
May import only the base modules (`config`, `urls`, `envkeys`, `errors`).
"""
