"""User avatars on disk."""

import os

AVATAR_DIR = "/var/lib/app/avatars"
