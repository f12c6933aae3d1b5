"""Command aliases, like `co` for `checkout`."""

ALIASES = {"co": "checkout", "br": "branch"}


def resolve(name, aliases=None):
    """The command an alias stands for, following aliases of aliases (user-defined)."""
    aliases = ALIASES if aliases is None else aliases
    if name in aliases:
        return resolve(aliases[name], aliases)
    return name
