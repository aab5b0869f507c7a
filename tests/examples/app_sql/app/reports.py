"""Admin reports and the audit trail, in SQLAlchemy text() written against SQLite."""

from sqlalchemy import text
from sqlalchemy.orm import Session


def log_export(session: Session) -> None:
    session.execute(
        text("INSERT INTO AuditLog (id, EventType) VALUES (:id, :event)"),
        {"id": 10, "event": "export"},
    )


def settings_set_to_one(session: Session):
    # value is TEXT: SQLite compares the number as the text '1'
    return session.execute(text("SELECT key FROM settings WHERE value = 1")).all()


def profiles_with_users(session: Session):
    return session.execute(
        text("SELECT p.*, u.email FROM UserProfiles p JOIN users u ON u.id = p.userId")
    ).all()
