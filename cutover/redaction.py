"""Passwords out of every text cutover shows: URLs, key=value strings, percent-encoded ODBC.

Every message, log line, diff, report and checklist passes through `redact`; a `${NAME}`
reference is not a secret and stays readable.
"""

from __future__ import annotations

import re

REDACTED = "***"
# A `${NAME}` reference is not a secret: redaction leaves it readable.
_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")

# user:password@ inside any scheme://… text. The password runs to the last '@' before whitespace or
# a quote, so unencoded '@', '/' or '#' in a password are still covered (an '@' later in a path or
# query only hides more than needed).
_URL_PASSWORD = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s\"'`]*:)(?P<pw>[^\s\"'`]*)(?P<tail>@)"
)
# key=value forms: PWD=…; Password=…; password=… (ODBC, ADO.NET, JDBC properties, libpq conninfo,
# URL query). A bare value ends at ';', a quote, '&key=' or ' key=' (the next conninfo keyword).
_KV_PASSWORD = re.compile(
    r"(?i)(?P<head>\b(?:pwd|password|passwd)\s*=\s*)"
    r"(?P<pw>\{(?:[^}]|\}\})*\}|'(?:[^'\\]|''|\\.)*'|\"(?:[^\"]|\"\")*\"|"
    r"(?:(?!\s+[A-Za-z_][\w ]*=|&[A-Za-z_]\w*=)[^;\r\n\"'`])+)"
)
# The same inside a percent-encoded ODBC string (odbc_connect=DRIVER%3D…%3BPWD%3Dsecret%3B…).
_ENCODED_PASSWORD = re.compile(
    r"(?i)(?P<head>(?:%3B|[?&;\s]|^)(?:pwd|password)%3D)(?P<pw>(?:(?!%3B)[^&\s\"'`])+)"
)


def redact(text: str) -> str:
    """Replace every password in URLs or key=value strings inside `text` with ***."""
    return replace_passwords(text, REDACTED)


def replace_passwords(text: str, replacement: str) -> str:
    """Put `replacement` where every password in `text`
    is; ${NAME} references and {…}/quotes stay.
    """

    def swap(match: re.Match[str]) -> str:
        secret = match["pw"]
        if _REFERENCE.match(secret):
            shown = secret
        elif secret[:1] in "{'\"" and len(secret) > 1:
            shown = secret[0] + replacement + secret[-1]
        else:
            shown = replacement
        return match["head"] + shown + (match.groupdict().get("tail") or "")

    text = _KV_PASSWORD.sub(swap, text)
    text = _ENCODED_PASSWORD.sub(swap, text)
    return _URL_PASSWORD.sub(swap, text)


def is_reference(text: str) -> bool:
    """True when `text` is exactly one ${NAME} reference (safe to show, not a secret)."""
    return bool(_REFERENCE.match(text))
