#!/bin/sh
# Regenerate configure, Makefile.in and config.h.in from configure.ac/Makefile.am.
set -eu
cd "$(dirname "$0")"
autoreconf -fi
