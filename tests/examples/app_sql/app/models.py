"""ORM models."""

from sqlalchemy import Column, Integer, String
from sqlalchemy.dialects.sqlite import JSON
from sqlalchemy.orm import declarative_base

Base = declarative_base()


class User(Base):
    __tablename__ = "users"
    id = Column(Integer, primary_key=True)
    name = Column(String)
    metadata_ = Column("metadata", JSON)


def not_sql(logger):
    logger.execute("restart the worker")  # not SQL: a job runner's execute
