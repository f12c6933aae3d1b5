#!/bin/bash
# Build the release tarball.
set -e
tar -czf release.tar.gz -C "$BUILD_DIR" .
