#!/usr/bin/env bash
# One argument a line, then where the script ran from and the lib file StackStorm copies with it.
for a in "$@"; do
  printf '%s\n' "$a"
done
printf 'cwd=%s\n' "$PWD"
printf 'lib=%s\n' "$(cat "$(dirname "$0")/lib/greeting.txt")"
