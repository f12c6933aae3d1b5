"""Queries on the orders table."""


def recent(conn, limit=20):
    """The latest orders."""
    return conn.execute("SELECT * FROM orders ORDER BY id DESC LIMIT ?", (limit,)).fetchall()


def by_reference(conn, reference):
    """The order with this customer-facing reference (typed by the customer)."""
    sql = "SELECT * FROM orders WHERE reference = '" + reference + "'"
    return conn.execute(sql).fetchone()
