#!/bin/sh
set -eu
until pg_isready -h "$DB_HOST" -q; do
    sleep 1
done
exec gunicorn app:wsgi --bind 0.0.0.0:8000
