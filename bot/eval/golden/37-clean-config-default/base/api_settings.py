"""Defaults of the public API."""

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
