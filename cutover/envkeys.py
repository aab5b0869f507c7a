"""What env key names mean: split connection keys (`MSSQL_HOST`, `POSTGRES_PW`…), secrets, names.

Keys are read as words between underscores. A split key holds a database token (MSSQL, POSTGRES,
PG, SQLITE, DB, DATABASE…) before a role word (HOST, PORT, USER, PW…): `POSTGRES_DB` is the
database of a Postgres server, `REDIS_DB` is not a split key at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The role a key's last word(s) give it. "option" keys are MSSQL/SQLite-only settings.
_ROLES = {
    "HOST": "host",
    "HOSTNAME": "host",
    "SERVER": "host",
    "ADDR": "host",
    "ADDRESS": "host",
    "PORT": "port",
    "USER": "user",
    "USERNAME": "user",
    "UID": "user",
    "LOGIN": "user",
    "PASSWORD": "password",
    "PASSWD": "password",
    "PASS": "password",
    "PWD": "password",
    "PW": "password",
    "DATABASE": "database",
    "DB": "database",
    "DBNAME": "database",
    "NAME": "database",
    "CATALOG": "database",
    "DSN": "dsn",
    "URL": "url",
    "URI": "url",
    "CONNECTION_STRING": "url",
    "CONN_STR": "url",
    "CONNSTR": "url",
    "DRIVER": "option",
    "ENCRYPT": "option",
    "TRUST_SERVER_CERTIFICATE": "option",
    "TRUSTSERVERCERTIFICATE": "option",
    "INSTANCE": "option",
    "PATH": "option",
    "FILE": "option",
    "SSLMODE": "option",
}
_DB_TOKENS = {
    "MSSQL": "mssql",
    "SQLSERVER": "mssql",
    "AZURESQL": "mssql",
    "POSTGRES": "postgres",
    "POSTGRESQL": "postgres",
    "PG": "postgres",
    "PGSQL": "postgres",
    "SQLITE": "sqlite",
    "SQLITE3": "sqlite",
    "DB": "",
    "DATABASE": "",
}
_LIBPQ = {
    "PGHOST": "host",
    "PGPORT": "port",
    "PGUSER": "user",
    "PGPASSWORD": "password",
    "PGDATABASE": "database",
}
_SECRET_WORDS = {
    "PASSWORD",
    "PASSWD",
    "PASS",
    "PWD",
    "PW",
    "SECRET",
    "TOKEN",
    "KEY",
    "APIKEY",
    "CREDENTIAL",
    "CREDENTIALS",
    "SALT",
}
# MSSQL/SQL Server words replaced by Postgres ones when a split key is renamed.
_RENAMED_ROLE_WORDS = {
    "SERVER": "HOST",
    "HOSTNAME": "HOST",
    "ADDR": "HOST",
    "ADDRESS": "HOST",
    "UID": "USER",
    "LOGIN": "USER",
    "CATALOG": "DATABASE",
}


@dataclass(frozen=True)
class SplitKey:
    """A key read as part of a split connection: `prefix`
    (MSSQL_), `role` (host…), `kind` if the name says.
    """

    key: str
    prefix: str
    role: str
    kind: str  # sqlite | mssql | postgres | "" when the name does not say


def split_key(key: str) -> SplitKey | None:
    """The split-connection meaning of `key`, or None when it is not a database key."""
    upper = key.upper()
    if upper in _LIBPQ:
        return SplitKey(key, "PG", _LIBPQ[upper], "postgres")
    words = upper.split("_")
    for size in (3, 2, 1):
        if len(words) <= size:
            continue
        role = _ROLES.get("_".join(words[-size:]))
        if role is None:
            continue
        head = words[:-size]
        tokens = [i for i, w in enumerate(head) if w in _DB_TOKENS]
        if not tokens:
            return None
        kind = next((_DB_TOKENS[head[i]] for i in tokens if _DB_TOKENS[head[i]]), "")
        return SplitKey(key, "_".join(key.split("_")[: tokens[-1] + 1]) + "_", role, kind)
    return None


def role_of(key: str) -> str | None:
    """host, port, user, password, database, dsn, url or option — or None."""
    found = split_key(key)
    return found.role if found else None


def is_secret(key: str) -> bool:
    """True for keys whose values are secrets (passwords, tokens, API keys)."""
    words = set(key.upper().split("_"))
    return bool(words & _SECRET_WORDS) or key.upper().endswith(("PASSWORD", "SECRET", "TOKEN"))


def postgres_key(key: str) -> str:
    """The Postgres split key a source split key becomes: MSSQL_SERVER → POSTGRES_HOST; DB_HOST,
    PG keys kept.
    """
    found = split_key(key)
    if found is None or found.kind in ("", "postgres") or found.role == "option":
        return key  # generic DB_HOST-style keys are read by the app under that name: keep it
    role_word = key.upper().split("_")[-1]
    return "POSTGRES_" + _RENAMED_ROLE_WORDS.get(role_word, role_word)


def database_name(key: str) -> str:
    """A cutover.toml database name from an env key: RSL_DATABASE_URL → rsl, MODEL_REGISTRY_URL →
    model_registry.
    """
    stem = re.sub(r"(?i)(_?(DATABASE|DB))?_?(URL|URI|DSN|CONNECTION_STRING|CONN_STR)$", "", key)
    stem = re.sub(r"(?i)^(DATABASE|DB)$", "", stem)
    cleaned = re.sub(r"[^a-z0-9_]+", "_", stem.lower()).strip("_")
    return cleaned if cleaned and cleaned[0].isalpha() else f"db_{cleaned}" if cleaned else "main"
