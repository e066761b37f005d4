#!/usr/bin/env bash
# Parameters arrive as JSON on stdin.
version=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
echo "building $version"
sleep 2
echo "built $version"
