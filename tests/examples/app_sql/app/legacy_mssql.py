"""The nightly export, written when the app ran on SQL Server."""

import pyodbc

EXPORT_SQL = "SELECT TOP 5 [name], ISNULL([score], 0) AS score FROM dbo.[users] ORDER BY [score] DESC"


def export(dsn: str):
    conn = pyodbc.connect(dsn)
    cursor = conn.cursor()
    cursor.fast_executemany = True
    cursor.execute(EXPORT_SQL)
    rows = cursor.fetchall()
    cursor.execute("SELECT COUNT(*) FROM dbo.messages WHERE created_at < GETDATE()")
    return rows, cursor.fetchone()[0]
