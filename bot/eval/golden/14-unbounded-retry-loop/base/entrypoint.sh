#!/bin/sh
set -eu
exec gunicorn app:wsgi --bind 0.0.0.0:8000
