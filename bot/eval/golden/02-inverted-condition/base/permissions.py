"""Who may do what with a post."""


def can_edit(user, post):
    """Admins and the post's author may edit it."""
    return user.is_admin or post.author_id == user.id
