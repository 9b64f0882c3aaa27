#!/usr/bin/env bash
# The figures of docs/PERFORMANCE.md's "One pacer per client": --bwlimit
# against a metered sandbox on loopback, then a batch against a sandbox that
# answers 503 to half the upload requests, and 64 small files against one
# that answers 503 to all of them. BIN names the avupload binary (build the
# one to compare with `git worktree add /tmp/old main && (cd /tmp/old && go
# build -o /tmp/avupload-old ./cmd/avupload)`); --bwlimit rows need this
# branch's binary.
#
#   go build -o /tmp/avupload ./cmd/avupload && bash bench/pacer.sh /tmp/avupload
set -euo pipefail
bin=${1:?usage: pacer.sh AVUPLOAD_BINARY}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/flaky" ./bench/flaky
export APIVIDEO_API_KEY=flaky-api-key

serve() { # fail port
	"$work/flaky" -addr "127.0.0.1:$2" -fail "$1" -data-dir "$work/sb$2" >/dev/null 2>&1 &
	sleep 1
	export AVUPLOAD_BASE_URL=http://127.0.0.1:$2
}
stats() { curl -s "$AVUPLOAD_BASE_URL/_flaky/stats"; }
reset() { curl -s -XPOST "$AVUPLOAD_BASE_URL/_flaky/reset"; }

if "$bin" upload --help | grep -q -- --bwlimit; then
	for n in 30 120 300; do head -c $((n << 20)) /dev/urandom >"$work/f$n"; done
	serve 0 8191
	for spec in "5MiB f30" "20MiB f120" "50MiB f300" "0 f300"; do
		set -- $spec
		reset
		secs=$("$bin" upload --bwlimit "$1" --json "$work/$2" 2>/dev/null | python3 -c 'import sys,json; print(json.load(sys.stdin)["seconds"])')
		echo "--bwlimit $1, $2: $secs s end to end; server: $(stats)"
	done
fi

mkdir "$work/half" "$work/tiny"
for i in $(seq -w 1 16); do head -c $((15 << 20)) /dev/urandom >"$work/half/v$i.mp4"; done
for i in $(seq -w 1 64); do head -c 1000 /dev/urandom >"$work/tiny/t$i.mp4"; done
serve 0.5 8192
for r in 1 2 3; do
	reset
	"$bin" upload --jobs 8 --concurrency 4 --chunk-size 5MiB "$work/half" >/dev/null 2>&1 || true
	echo "503 to half, 16 files of 15 MiB, round $r: $(stats)"
done
serve 1 8193
reset
"$bin" upload --jobs 8 "$work/tiny" >/dev/null 2>&1 || true
echo "503 to all, 64 files of 1000 bytes: $(stats)"
