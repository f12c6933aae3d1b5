"""Defaults of the public API."""

PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
