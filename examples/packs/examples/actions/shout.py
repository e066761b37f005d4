#!/usr/bin/env python3
"""Shout a message: the examples pack's action.

Attune passes the parameters as one JSON object on stdin (never argv or the environment,
which other processes can read: api_token is secret) and takes the JSON printed on stdout
as the result. Exit code 0 means success.
"""
import json
import sys


def main() -> int:
    params = json.load(sys.stdin)
    message = params.get("message")
    if not isinstance(message, str) or not message:
        print("shout: parameter message must be a non-empty string", file=sys.stderr)
        return 1
    result = {
        "shouted": message.upper() + "!",
        # Say whether a token arrived without ever printing it: stdout is recorded.
        "authenticated": bool(params.get("api_token")),
    }
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
