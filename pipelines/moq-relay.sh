#!/usr/bin/env bash
# A Media over QUIC relay (moq-relay, built from this workspace) on this
# machine, for moq-publish.sh and moq-watch.sh: listens on
# 127.0.0.1:MOQ_PORT (UDP), with a certificate made now (ECDSA P-256, valid
# one day) in MOQ_DIR, whose SHA-256 the other recipes pin. Runs until
# Ctrl-C.
# Who may watch: anyone who can reach 127.0.0.1, that is this machine's own
# users, may publish and watch any broadcast (--auth-public '**'). Do not
# bind it to another address without real access control (moq-relay's
# --auth-url; see docs/moq.md): MOQ_HOST is for addresses inside a network
# namespace of a test's own (scripts/moq-join.sh).
# Variables (defaults): MOQ_PORT=4443 MOQ_DIR=/tmp/streamkit-moq MOQ_HOST=127.0.0.1
set -euo pipefail
source "$(dirname "$0")/_env.sh"
relay="$(moq_relay_bin)"
mkdir -p "$MOQ_DIR"
chmod 700 "$MOQ_DIR"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 1 -nodes \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:$MOQ_HOST" \
    -keyout "$MOQ_DIR/key.pem" -out "$MOQ_DIR/cert.pem" 2>/dev/null
openssl x509 -in "$MOQ_DIR/cert.pem" -noout -fingerprint -sha256 |
    cut -d= -f2 | tr -d : | tr 'A-F' 'a-f' >"$MOQ_DIR/fingerprint"
echo "moq-relay: $MOQ_URL (UDP $MOQ_HOST:$MOQ_PORT), certificate SHA-256 $(cat "$MOQ_DIR/fingerprint")"
echo "moq-relay: anyone who reaches $MOQ_HOST may publish and watch; Ctrl-C stops it"
exec "$relay" --listen "$MOQ_HOST:$MOQ_PORT" \
    --listen-tls-cert "$MOQ_DIR/cert.pem" --listen-tls-key "$MOQ_DIR/key.pem" \
    --auth-public '**' --log-level "${LOG_LEVEL:-warn}"
