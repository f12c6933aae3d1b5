"""Queries on the orders table."""


def recent(conn, limit=20):
    """The latest orders."""
    return conn.execute("SELECT * FROM orders ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
