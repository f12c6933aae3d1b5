"""Uploaded files, stored under one directory."""

from pathlib import Path

UPLOAD_DIR = Path("/srv/uploads")


def read_upload(filename):
    """The bytes of an uploaded file; `filename` comes from the request URL."""
    return (UPLOAD_DIR / filename).read_bytes()
