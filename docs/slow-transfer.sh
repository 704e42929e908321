#!/bin/sh
# Regenerates docs/slow-transfer.svg, the picture in README.md's "Debugging a slow
# transfer": 16 MiB with `stt send --trace` through the tests' impairment relay (1% loss,
# 5 ms each way), then `stt trace summary` and `stt trace plot`. Run from anywhere:
#     sh docs/slow-transfer.sh
set -eu
cd "$(dirname "$0")/.."
cargo build --release -q -p stt-cli --bin stt
cargo build --release -q -p stt-tests --example impaired_relay
stt=target/release/stt
dir=$(mktemp -d)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
export XDG_CONFIG_HOME="$dir/config" STT_KNOWN_PEERS="$dir/known_peers"
"$stt" network new -o "$dir/network.seed" 2>/dev/null
head -c 16777216 /dev/urandom > "$dir/payload.bin"
mkdir "$dir/out"
"$stt" listen --network "$dir/network.seed" --bind 127.0.0.1:0 --out "$dir/out" \
    > "$dir/listen.out" 2>"$dir/listen.err" &
pids="$pids $!"
# The listener names its address on stderr once bound.
for _ in $(seq 50); do
    addr=$(grep -o '127\.0\.0\.1:[0-9]*' "$dir/listen.err" | head -n 1 || true)
    [ -n "$addr" ] && break
    sleep 0.1
done
[ -n "$addr" ] || { echo "the listener did not start:" >&2; cat "$dir/listen.err" >&2; exit 1; }
target/release/examples/impaired_relay "$addr" --loss 0.01 --delay-ms 5 --seed 7 > "$dir/relay.addr" &
pids="$pids $!"
for _ in $(seq 50); do [ -s "$dir/relay.addr" ] && break; sleep 0.1; done
"$stt" send "$dir/payload.bin" --network "$dir/network.seed" --to "$(cat "$dir/relay.addr")" \
    --trace "$dir/send.jsonl" --quiet
"$stt" trace summary "$dir/send.jsonl"
"$stt" trace plot "$dir/send.jsonl" -o docs/slow-transfer.svg
