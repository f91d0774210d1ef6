#!/bin/sh
# Entrypoint of the gateway image (Dockerfile): adjusts two things the container cannot know from
# a .env written for the host, then replaces itself with the command (CMD: node dist/main.js), so
# that node receives SIGTERM itself. Every line it prints starts with "docker-entrypoint:".
#
# 1. OPENAI_API_BASE naming localhost. Inside a container localhost is the container itself.
#    docker-compose.yml sets LLM_SIMULATOR_BASE and LOOPBACK_LLM_HOST: a localhost base on port
#    9000 (v1's default, where `npm run local` starts the LLM simulator) then becomes
#    LLM_SIMULATOR_BASE, one on any other port that port on LOOPBACK_LLM_HOST (the host). Without
#    them (docker run, Kubernetes, where a sidecar on localhost is legitimate) the base is kept.
# 2. USER_ID / GROUP_ID, as v1's entrypoint: started as root, the process runs as that uid/gid
#    (each defaults to the image's non-root user, node, 1000); a missing user or group entry is
#    added. The gateway writes no file (its state lives in Redis), so nothing is chowned: v1's
#    `chown -R /usr/src` changed the owner of the bind-mounted prompts/ and .hydra-conf/ on the
#    host; these are left as they are, and USER_ID only needs to read them. Started as another
#    user (docker run --user, Kubernetes runAsUser), the process keeps that user.
set -eu

say() {
  printf 'docker-entrypoint: %s\n' "$*" >&2
}

is_loopback_host() {
  case $1 in
    localhost | 127.* | 0.0.0.0 | '[::1]') return 0 ;;
    *) return 1 ;;
  esac
}

rewrite_loopback_llm_base() {
  base=${OPENAI_API_BASE:-}
  case $base in
    http://* | https://*) ;;
    *) return 0 ;;
  esac
  scheme=${base%%://*}
  rest=${base#*://}
  authority=${rest%%/*}
  path=${rest#"$authority"}
  case $authority in
    \[*\]:*) host=${authority%%]:*}] port=${authority##*]:} ;;
    \[*\]) host=$authority port= ;;
    *:*) host=${authority%%:*} port=${authority#*:} ;;
    *) host=$authority port= ;;
  esac
  is_loopback_host "$host" || return 0
  if [ "$port" = 9000 ] && [ -n "${LLM_SIMULATOR_BASE:-}" ]; then
    target=$LLM_SIMULATOR_BASE
    why='the LLM simulator'
  elif [ -n "${LOOPBACK_LLM_HOST:-}" ]; then
    target="$scheme://$LOOPBACK_LLM_HOST${port:+:$port}$path"
    why='the host'
  else
    return 0
  fi
  say "OPENAI_API_BASE=$base names this container itself; using $target ($why)"
  OPENAI_API_BASE=$target
  export OPENAI_API_BASE
}

is_number() {
  case $1 in
    '' | *[!0-9]*) return 1 ;;
    *) return 0 ;;
  esac
}

# The image's non-root user (node, from the node base image).
IMAGE_UID=1000
IMAGE_GID=1000

run_as_requested_user() {
  for name in USER_ID GROUP_ID; do
    eval "value=\${$name:-}"
    if [ -n "$value" ] && ! is_number "$value"; then
      say "$name must be a number (a uid or gid), got \"$value\""
      exit 64
    fi
  done
  current_uid=$(id -u)
  if [ "$current_uid" != 0 ]; then
    current_gid=$(id -g)
    if [ "${USER_ID:-$current_uid}" != "$current_uid" ] || [ "${GROUP_ID:-$current_gid}" != "$current_gid" ]; then
      say "USER_ID/GROUP_ID ignored: the container was started as uid $current_uid, gid $current_gid, not root"
    fi
    exec "$@"
  fi
  uid=${USER_ID:-$IMAGE_UID}
  gid=${GROUP_ID:-$IMAGE_GID}
  # Names for logs and tools; setpriv itself needs no entry, so a failure here is only reported.
  if ! getent group "$gid" >/dev/null; then
    groupadd --gid "$gid" "llm-gateway-$gid" || say "could not add a group for gid $gid; running without a name for it"
  fi
  if ! getent passwd "$uid" >/dev/null; then
    useradd --uid "$uid" --gid "$gid" --no-create-home --home-dir /tmp --shell /usr/sbin/nologin \
      --no-log-init "llm-gateway-$uid" || say "could not add a user for uid $uid; running without a name for it"
  fi
  home=$(getent passwd "$uid" | cut -d: -f6) || home=
  [ -n "$home" ] && [ -d "$home" ] || home=/tmp
  HOME=$home
  export HOME
  exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"
}

rewrite_loopback_llm_base
run_as_requested_user "$@"
