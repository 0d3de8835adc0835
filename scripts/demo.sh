#!/usr/bin/env bash
# Builds peerdesk and runs the demo: a signaling server and a test-scene host on this machine.
# Open the link it prints. Arguments are passed on (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --locked -p peerdesk
exec ./target/debug/peerdesk demo "$@"
