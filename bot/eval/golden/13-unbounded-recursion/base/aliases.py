"""Command aliases, like `co` for `checkout`."""

ALIASES = {"co": "checkout", "br": "branch"}
