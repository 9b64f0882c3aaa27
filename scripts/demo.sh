#!/usr/bin/env bash
# make demo: the whole delegated-upload story against a local sandbox, with
# nothing to set up and nothing left behind.
#
#   1. build the CLI and start `avupload sandbox` in the background
#   2. mint an upload token with the API key
#   3. upload a few hundred MiB in chunks with the token alone
#   4. interrupt the upload part way (Ctrl-C), then resume it from its state file
#   5. list and delete the token
#   6. compare the sha256 the sandbox stored with the source's, and stop
#
# Runs unattended (CI has no terminal). Environment: GO (default go),
# DEMO_SIZE_MIB (default 300).
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
SIZE_MIB=${DEMO_SIZE_MIB:-300}
CHUNK=50MiB

work=$(mktemp -d "${TMPDIR:-/tmp}/avupload-demo.XXXXXX")
sandbox_pid=
upload_pid=
cleanup() {
	for pid in $upload_pid $sandbox_pid; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold= plain=; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
fail() { printf 'demo: %s\n' "$*" >&2; exit 1; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "Building the CLI"
show "$GO" build -o "$work/bin/avupload" ./cmd/avupload
export PATH="$work/bin:$PATH"

step "Starting the local sandbox (the 4th upload request will be rate-limited)"
avupload sandbox --addr 127.0.0.1:0 --data-dir "$work/sandbox" \
	--fault uploadWithUploadToken:4:status=429 >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
url=
for _ in $(seq 100); do
	url=$(sed -n 's/^sandbox listening on //p' "$work/sandbox.log")
	[ -n "$url" ] && break
	kill -0 "$sandbox_pid" 2>/dev/null || { cat "$work/sandbox.log" >&2; fail "the sandbox did not start"; }
	sleep 0.1
done
[ -n "$url" ] || fail "the sandbox printed no URL"
echo "sandbox listening on $url"
export APIVIDEO_API_KEY=sandbox-api-key # the sandbox's default key; keep real keys in the environment too

step "Minting an upload token (needs the API key)"
show avupload token create --ttl 1h --base-url "$url" --json | tee "$work/token.json"
token=$(sed -n 's/.*"token":"\([^"]*\)".*/\1/p' "$work/token.json")
[ -n "$token" ] || fail "no token in the answer"
export AVUPLOAD_TOKEN=$token # the uploader needs only this, never the API key

step "Generating a ${SIZE_MIB} MiB sample video"
head -c "$((SIZE_MIB << 20))" /dev/urandom >"$work/sample.mp4"
source_sha=$(sha256sum "$work/sample.mp4" | cut -d' ' -f1)
ls -lh "$work/sample.mp4" | awk '{print $5, $NF}'

upload=(avupload upload --base-url "$url" --chunk-size "$CHUNK" --state-file "$work/upload.state" "$work/sample.mp4")
# acked counts the chunks the state file records as acknowledged.
acked() {
	[ -e "$work/upload.state" ] || { echo 0; return; }
	# one {"index":N,"size":...,"sha256":...} entry per acknowledged chunk
	tr -d ' \n' <"$work/upload.state" | grep -o '"index":' | grep -c . || true
}

step "Uploading in $CHUNK chunks with the token alone; interrupting after 3 chunks"
echo "\$ avupload upload --chunk-size $CHUNK --state-file upload.state sample.mp4"
"${upload[@]}" &
upload_pid=$! # avupload itself, so that it gets the signal
for _ in $(seq 600); do
	[ "$(acked)" -ge 3 ] && break
	kill -0 "$upload_pid" 2>/dev/null || fail "the upload ended before it could be interrupted"
	sleep 0.1
done
[ "$(acked)" -ge 3 ] || fail "the upload did not acknowledge 3 chunks in time"
echo "^C (SIGINT while the client waits out the rate limit)"
kill -INT "$upload_pid"
status=0
wait "$upload_pid" || status=$?
upload_pid=
[ "$status" -eq 130 ] || fail "the interrupted upload exited with $status, want 130"
echo "exit status $status; $(acked) chunks recorded in upload.state"

step "Resuming: the same command again"
echo "\$ avupload upload --chunk-size $CHUNK --state-file upload.state sample.mp4"
"${upload[@]}" | tee "$work/result.txt"
[ ! -e "$work/upload.state" ] || fail "the state file is still there after success"
grep -q 'sent by an earlier run' "$work/result.txt" || fail "the rerun did not resume"

step "Listing, then deleting the token"
show avupload token list --base-url "$url"
show avupload token delete "$token" --base-url "$url"
show avupload token list --base-url "$url"

step "Comparing the sandbox's copy with the source"
curl -fsS "$url/_sandbox/videos" >"$work/videos.json"
video_sha=$(tr -d ' \n' <"$work/videos.json" | sed -n 's/.*"sha256":"\([0-9a-f]*\)".*/\1/p')
videos=$(tr -d ' \n' <"$work/videos.json" | grep -o '"videoId"' | wc -l)
printf 'source  sha256 %s  (sha256sum)\n' "$source_sha"
printf 'sandbox sha256 %s  (GET /_sandbox/videos)\n' "$video_sha"
[ "$videos" -eq 1 ] || fail "the sandbox holds $videos videos, want 1"
[ "$video_sha" = "$source_sha" ] || fail "the uploaded video differs from the source"

step "Stopping the sandbox"
kill -INT "$sandbox_pid"
wait "$sandbox_pid" || true
sandbox_pid=
tail -n 1 "$work/sandbox.log"
printf '\ndemo: OK, %s MiB uploaded, interrupted, resumed and verified in %ds\n' "$SIZE_MIB" "$SECONDS"
