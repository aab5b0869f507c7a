"""Model registry maintenance: create tables, register the default models."""

import os

import pyodbc  # noqa: F401  (the registry used pyodbc before pymssql)
from sqlalchemy import create_engine

URL = os.environ["MODEL_REGISTRY_URL"]
engine = create_engine(URL, fast_executemany=True, pool_pre_ping=True)
