#!/bin/sh
# Entrypoint of the RedUP Chat image (deploy/Dockerfile): one service per container.
#
#   docker-entrypoint.sh rooms|messages|delivery|edge   serve that service
#   docker-entrypoint.sh                                 serve $SERVICE
#   docker-entrypoint.sh migrate [rooms|messages|delivery|all]
#                                                        apply migrations and exit
#                                                        (default: $SERVICE, else all)
#   docker-entrypoint.sh healthcheck [args]              deploy/healthcheck.mjs
#   docker-entrypoint.sh <any other command>             run it (e.g. sh)
#
# The service replaces this shell (exec), so it is PID 1 and gets SIGTERM directly.
set -eu

APP_ROOT="${APP_ROOT:-$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)}"
NODE_FLAGS="--enable-source-maps"

usage() {
  cat >&2 <<'USAGE'
usage: docker-entrypoint.sh rooms|messages|delivery|edge
       docker-entrypoint.sh migrate [rooms|messages|delivery|all]
       docker-entrypoint.sh healthcheck [grpc <port> | http <port> <path>]
       SERVICE=<name> docker-entrypoint.sh
USAGE
}

# The compiled entry of each service, relative to APP_ROOT.
main_of() {
  case "$1" in
    rooms) echo "services/rooms/dist/main.js" ;;
    messages) echo "services/messages/dist/main.js" ;;
    delivery) echo "services/delivery/dist/main.js" ;;
    edge) echo "services/edge/dist/main.js" ;;
    *) return 1 ;;
  esac
}

# Services that own tables and so have a `migrate` command (the edge has none).
MIGRATABLE="rooms messages delivery"

serve() {
  if ! main=$(main_of "$1"); then
    echo "docker-entrypoint.sh: unknown service \"$1\"" >&2
    usage
    exit 64
  fi
  export SERVICE="$1"
  # shellcheck disable=SC2086 # NODE_FLAGS is a list of flags
  exec node $NODE_FLAGS "$APP_ROOT/$main"
}

migrate_one() {
  case " $MIGRATABLE " in
    *" $1 "*) ;;
    *)
      echo "docker-entrypoint.sh: \"$1\" has no migrations (one of: $MIGRATABLE, all)" >&2
      exit 64
      ;;
  esac
  main=$(main_of "$1")
  echo "migrating $1" >&2
  # shellcheck disable=SC2086
  node $NODE_FLAGS "$APP_ROOT/$main" migrate
}

migrate() {
  target="${1:-${SERVICE:-all}}"
  if [ "$target" = "all" ]; then
    # One after another; each takes the advisory lock the services share.
    for svc in $MIGRATABLE; do migrate_one "$svc"; done
  else
    migrate_one "$target"
  fi
}

# No arguments: the service named by SERVICE.
if [ "$#" -eq 0 ] && [ -n "${SERVICE:-}" ]; then
  set -- "$SERVICE"
fi
if [ "$#" -eq 0 ]; then
  echo "docker-entrypoint.sh: no service given (pass one as the command or set SERVICE)" >&2
  usage
  exit 64
fi

command="$1"
shift
case "$command" in
  rooms | messages | delivery | edge)
    serve "$command"
    ;;
  migrate)
    migrate "${1:-}"
    ;;
  healthcheck)
    exec node "$APP_ROOT/deploy/healthcheck.mjs" "$@"
    ;;
  help | -h | --help)
    usage
    ;;
  *)
    exec "$command" "$@"
    ;;
esac
