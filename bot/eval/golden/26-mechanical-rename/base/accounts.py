"""User accounts."""

_USERS = {}


def get_usr(user_id):
    """The user with this id, or None."""
    return _USERS.get(user_id)


def register(user):
    """Remember a user."""
    _USERS[user.id] = user
