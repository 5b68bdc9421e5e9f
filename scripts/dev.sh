#!/usr/bin/env bash
# `make dev-up` / `make dev-down`: a local control plane, the Control Hub emulator and the operator,
# running in the background for a person to use with kubectl.
#
#   up    starts target/debug/controlhub-dev in the background; waits for target/dev/env
#   down  stops it (and with it every process it started)
#
# Contract: target/dev/env exports KUBECONFIG, CONTROLHUB_URL, CONTROLHUB_ADMIN_FILE;
# each process logs to target/dev/<process>.log.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dev="$root/target/dev"
pidfile="$dev/controlhub-dev.pid"

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "${1:-}" in
up)
  if running; then echo "already running (pid $(cat "$pidfile")); source $dev/env"; exit 0; fi
  mkdir -p "$dev"
  rm -f "$dev/env"
  K8S_BIN_DIR="$("$root/scripts/k8s-tools.sh" --dir)" \
    setsid nohup "$root/target/debug/controlhub-dev" up --dir "$dev" >"$dev/controlhub-dev.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 300); do
    [ -f "$dev/env" ] && break
    if ! running; then echo "controlhub-dev exited; its log:" >&2; tail -n 40 "$dev/controlhub-dev.log" >&2; exit 1; fi
    sleep 0.5
  done
  [ -f "$dev/env" ] || { echo "timed out waiting for $dev/env" >&2; exit 1; }
  echo "dev environment is up. Use it with:"
  echo "  source target/dev/env && kubectl get apicredentials -A"
  echo "logs: target/dev/*.log; stop with: make dev-down"
  ;;
down)
  if running; then
    pid=$(cat "$pidfile")
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    echo "stopped"
  else
    echo "not running"
  fi
  rm -f "$pidfile" "$dev/env"
  ;;
*) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
