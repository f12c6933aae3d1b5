"""The orders views."""

from accounts import get_usr


def orders_page(request):
    """Render the orders page for the signed-in user."""
    user = get_usr(request.session["user_id"])
    if user is None:
        return {"status": 401}
    return {"status": 200, "user": user.name, "section": "orders"}


def orders_owner(request, record):
    """True when the signed-in user owns `record`."""
    user = get_usr(request.session["user_id"])
    return user is not None and record.owner_id == user.id
