#!/usr/bin/env bash
# Prints each argument on its own line, so a test sees exactly what the runner passed.
for arg in "$@"; do
  echo "$arg"
done
