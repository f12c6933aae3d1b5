"""Queries on the users table."""


def by_id(conn, user_id):
    """The user with this id, or None."""
    cur = conn.execute("SELECT id, name FROM users WHERE id = ?", (user_id,))
    return cur.fetchone()


def search(conn, name):
    """Users whose name contains `name` (from the search box)."""
    query = f"SELECT id, name FROM users WHERE name LIKE '%{name}%'"
    return conn.execute(query).fetchall()
