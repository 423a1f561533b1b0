#!/usr/bin/env bash
# Plumb's main job on this host: a collector with its embedded bbolt, an
# agent watching /etc (plus this host's packages and kernel state), and a
# live view of drift as it happens. Ctrl-C stops all three.
#
# State lives in ./demo-data; delete it to start over with a new baseline.
set -euo pipefail
cd "$(dirname "$0")/.."

ADDR=${PLUMB_DEMO_ADDR:-127.0.0.1:7700}
WATCH=${PLUMB_DEMO_WATCH:-/etc}
DATA=${PLUMB_DEMO_DATA:-$PWD/demo-data}
HTTP=${PLUMB_DEMO_HTTP:-127.0.0.1:7701}
mkdir -p "$DATA"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# TLS and tokens as in production: the collector makes its CA and a first
# admin token in its data dir; the agent enrolls with a join token.
./bin/plumb-collector --listen "$ADDR" --http-listen "$HTTP" --data "$DATA/collector" \
  --log-level warn 2>>"$DATA/collector.log" &
pids+=($!)
ctl() {
  ./bin/plumbctl --collector "$ADDR" --ca-file "$DATA/collector/ca.crt" \
    --token-file "$DATA/collector/admin.token" "$@"
}

for _ in $(seq 50); do
  ctl hosts >/dev/null 2>&1 && break
  sleep 0.1
done
join=$(ctl -o json token create --ttl 10m)
token=$(printf '%s\n' "$join" | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p')
pin=$(printf '%s\n' "$join" | sed -n 's/.*"ca_pin": *"\([^"]*\)".*/\1/p')

./bin/plumb-agent --collector "$ADDR" --state "$DATA/agent" \
  --join-token "$token" --ca-pin "$pin" \
  --watch "$WATCH" --log-level warn 2>>"$DATA/agent.log" &
pids+=($!)

echo "Plumb demo: collector on $ADDR, agent watching $WATCH (logs in $DATA)."
echo "Waiting for the first snapshot to become the baseline..."
# Connected too: with demo-data from an earlier run, the baseline is
# there before this run's agent is.
for _ in $(seq 600); do
  hosts=$(ctl -o json hosts 2>/dev/null || true)
  if grep -q '"has_baseline": *true' <<<"$hosts" && grep -q '"connected": *true' <<<"$hosts"; then
    break
  fi
  sleep 0.1
done
ctl hosts 2>/dev/null || true
cat <<MSG

Baseline recorded. Drift appears below as it happens. Try, in another shell:
  sudo sh -c 'echo "# plumb demo" >> $WATCH/hosts'     # modified
  sudo touch $WATCH/plumb-demo                           # added
  sudo rm $WATCH/plumb-demo                              # resolved
Query it:  ./bin/plumbctl --collector $ADDR --ca-file $DATA/collector/ca.crt --token-file $DATA/collector/admin.token drift
Accept it: (the same flags) accept --host HOST --reason "why"
Dashboard: https://$HTTP/ — sign in with the token in $DATA/collector/admin.token
  (the collector's own CA signs its certificate: $DATA/collector/ca.crt)
Ctrl-C stops the demo.

MSG
ctl drift --watch 2>/dev/null &
pids+=($!)
wait "${pids[0]}"
