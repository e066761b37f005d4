#!/usr/bin/env bash
# The demo: build Attune, start it on the local PostgreSQL with the core pack and the example
# pack, and show it working — a timer rule running core.echo every 2 s, a webhook with criteria
# running a Python action, a direct run — then the executions, their results and the event
# history of one of them. Attune keeps running afterwards until Ctrl-C (DEMO_EXIT=1: stop).
set -euo pipefail
cd "$(dirname "$0")/.."

export ATTUNE_DATABASE_SCHEMA=${ATTUNE_DATABASE_SCHEMA:-attune_demo}
export ATTUNE_HTTP_ADDR=${ATTUNE_HTTP_ADDR:-127.0.0.1:8080}
export ATTUNE_URL="http://$ATTUNE_HTTP_ADDR"
bin=bin/attune
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "building attune"
go build -buildvcs=auto -o "$bin" ./cmd/attune

# Refuse before anything is dropped when the port is taken (another demo, another server).
if curl -s -o /dev/null --max-time 2 "$ATTUNE_URL/healthz" 2>/dev/null || (exec 3<>"/dev/tcp/${ATTUNE_HTTP_ADDR%:*}/${ATTUNE_HTTP_ADDR##*:}") 2>/dev/null; then
  echo "demo: $ATTUNE_HTTP_ADDR is already in use (another attune serve?); stop it, or set ATTUNE_HTTP_ADDR to a free address" >&2
  exit 1
fi

say "starting from a clean schema ($ATTUNE_DATABASE_SCHEMA)"
psql "${ATTUNE_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}" -qc "DROP SCHEMA IF EXISTS $ATTUNE_DATABASE_SCHEMA CASCADE" 2>/dev/null
"$bin" migrate

# Actions run as the unprivileged attune-run when the demo runs as root (services.sh made the
# user), provided that user can read the example pack where it was cloned; otherwise, on this
# throw-away run, as root, and the demo says so.
contain=()
if [ "$(id -u)" = 0 ]; then
  if id attune-run >/dev/null 2>&1 && runuser -u attune-run -- test -r examples/packs/examples/actions/shout.py 2>/dev/null; then
    contain=(--run-as attune-run)
  else
    echo "note: the user attune-run cannot read $(pwd)/examples (a parent directory is private): actions run as root for this demo"
    contain=(--allow-root-actions)
  fi
fi
log=$(mktemp -t attune-demo.XXXX.log)
"$bin" serve "${contain[@]}" --pack examples/packs/examples >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "$ATTUNE_URL/readyz" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.2
done
curl -fsS "$ATTUNE_URL/readyz"; echo
echo "server log: $log"

say "firing the webhook examples.ping twice: one payload matches the rule's criteria, one does not"
curl -fsS -X POST "$ATTUNE_URL/api/v1/webhooks/examples.ping" -H 'Content-Type: application/json' \
  -d '{"level": "error", "msg": "disk /var is 97% full"}'; echo
curl -fsS -X POST "$ATTUNE_URL/api/v1/webhooks/examples.ping" -H 'Content-Type: application/json' \
  -d '{"level": "info", "msg": "disk check passed"}'; echo

say "running core.echo directly and waiting for it"
"$bin" run core.echo message="hello from the CLI" --wait

say "waiting 5 s for the interval timer (every 2 s) to fire a few times"
sleep 5

say "executions"
"$bin" execution list

say "the Python action's execution (examples.shout, started by the webhook rule)"
id=$("$bin" execution list --action examples.shout --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
"$bin" execution get "$id"

say "its event history (the log is the only truth)"
"$bin" execution history "$id"

say "verifying every hash chain of the log"
"$bin" audit verify

say "the dashboard"
dash_token=$("$bin" token create --name demo-dashboard --role operator)
echo "open $ATTUNE_URL/ in a browser and log in with this operator token:"
echo "  $dash_token"

if [ "${DEMO_EXIT:-}" = 1 ]; then exit 0; fi
say "Attune is running at $ATTUNE_URL (dashboard: $ATTUNE_URL/, token above; try: $bin execution list). Ctrl-C stops it."
wait $server
