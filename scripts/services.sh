#!/usr/bin/env bash
# Make sure PostgreSQL and RabbitMQ run on this machine (Debian/Ubuntu), and that the action
# runtimes' interpreters (python3, node) and curl are there. Idempotent: when everything is
# present and answering it changes nothing; otherwise it installs what is missing with apt and
# starts it.
# Set ATTUNE_SKIP_RABBITMQ=1 to leave RabbitMQ alone (the default in-process bus needs none).
# Chromium is installed too, for the dashboard's browser tests (ATTUNE_SKIP_CHROMIUM=1: not).
set -euo pipefail

log() { printf 'services: %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 1; done
  log "nothing answers on 127.0.0.1:$1 after 60 s ($2)"; return 1
}
apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  command -v psql >/dev/null 2>&1 || { log "installing the PostgreSQL client"; apt_install postgresql-client; }
  if ! port_open 5432; then
    if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
      log "installing PostgreSQL"; apt_install postgresql postgresql-client
    fi
    log "starting PostgreSQL"
    for v in $(ls /etc/postgresql); do
      as_root pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>/dev/null ||
        as_root pg_ctlcluster "$v" main start || true
    done
    wait_port 5432 postgresql
  fi
  # The default ATTUNE_DATABASE_URL is postgres://postgres@127.0.0.1:5432/test: make it work on a
  # fresh install, whose TCP logins want a password. Local development only.
  if ! psql "postgresql://postgres@127.0.0.1:5432/postgres" -Atqc 'select 1' >/dev/null 2>&1; then
    hba=$(as_postgres psql -Atqc 'show hba_file')
    log "allowing password-less local TCP logins in $hba (development machine)"
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    as_postgres psql -Atqc 'select pg_reload_conf()' >/dev/null
  fi
  if ! psql "postgresql://postgres@127.0.0.1:5432/postgres" -Atqc "select 1 from pg_database where datname='test'" | grep -q 1; then
    log "creating database test"
    psql "postgresql://postgres@127.0.0.1:5432/postgres" -qc 'create database test'
  fi
  log "PostgreSQL ready on 127.0.0.1:5432"
}

ensure_rabbitmq() {
  if ! port_open 5672; then
    if ! command -v rabbitmq-server >/dev/null 2>&1; then
      log "installing RabbitMQ"; apt_install rabbitmq-server
    fi
    log "starting RabbitMQ"
    as_root rabbitmq-server -detached >/dev/null 2>&1 || as_root service rabbitmq-server start || true
    wait_port 5672 rabbitmq
  fi
  log "RabbitMQ ready on 127.0.0.1:5672"
}

# The demo talks to the API with curl; the runtimes (and their tests) run python3 and node.
command -v curl >/dev/null 2>&1 || { log "installing curl"; apt_install curl ca-certificates; }
command -v python3 >/dev/null 2>&1 || { log "installing python3"; apt_install python3; }
command -v node >/dev/null 2>&1 || { log "installing node"; apt_install nodejs; }
# The dashboard's browser tests (cmd/attune/e2e_dashboard_test.go) drive Debian's chromium;
# ATTUNE_SKIP_CHROMIUM=1 leaves it out (those tests then skip, saying so).
if [ "${ATTUNE_SKIP_CHROMIUM:-}" != 1 ] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  log "installing chromium (the dashboard's browser tests)"; apt_install chromium
fi

# Actions run as an unprivileged user of their own (attune serve/worker --run-as attune-run), so
# that they can read neither the server's environment nor its keys.
if [ "$(id -u)" = 0 ] && ! id attune-run >/dev/null 2>&1; then
  log "creating the user attune-run that actions run as"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin attune-run
fi
ensure_postgres
[ "${ATTUNE_SKIP_RABBITMQ:-}" = 1 ] || ensure_rabbitmq
