#!/bin/bash
# Build the release tarball.
set -e
rm -rf $BUILD_DIR/*
make build OUT=$BUILD_DIR
tar -czf release.tar.gz -C "$BUILD_DIR" .
