"""Uploaded files, stored under one directory."""

from pathlib import Path

UPLOAD_DIR = Path("/srv/uploads")
