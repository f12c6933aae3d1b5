#!/bin/bash
# Nightly backup of the uploads directory.
set -euo pipefail
SRC=/srv/uploads
DEST="/backups/uploads-$(date +%F).tar.gz"
tar -czf "$DEST" -C "$SRC" .
find /backups -name 'uploads-*.tar.gz' -mtime +14 -delete
