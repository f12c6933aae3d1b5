"""Queries on the users table."""


def by_id(conn, user_id):
    """The user with this id, or None."""
    cur = conn.execute("SELECT id, name FROM users WHERE id = ?", (user_id,))
    return cur.fetchone()
