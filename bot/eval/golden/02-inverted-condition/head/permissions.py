"""Who may do what with a post."""


def can_edit(user, post):
    """Admins and the post's author may edit it."""
    return user.is_admin or post.author_id == user.id


def can_delete(user, post):
    """Admins and the post's author may delete it."""
    if user.is_admin:
        return True
    return post.author_id != user.id
