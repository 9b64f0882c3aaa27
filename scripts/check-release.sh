#!/usr/bin/env bash
# check-release.sh DIR [COMMIT]: checks what `make release` wrote in DIR.
# Every archive and SBOM matches SHA256SUMS, which lists nothing else; each
# platform has its archive, holding the binary, and its CycloneDX SBOM; the
# linux/amd64 binary runs on this machine (when it is one) and its
# --version names COMMIT's first 12 characters, when given. CI runs it on a
# temporary folder after `make release`; nothing is published.
set -euo pipefail
dir=${1:?usage: check-release.sh DIR [COMMIT]}
commit=${2:-}
cd "$dir"
fail() { echo "check-release: $*" >&2; exit 1; }

sha256sum --check --strict SHA256SUMS
listed=$(awk '{print $2}' SHA256SUMS | sort)
present=$(ls | grep -v '^SHA256SUMS$' | sort)
[ "$listed" = "$present" ] || fail "SHA256SUMS lists $(echo $listed) but $dir holds $(echo $present)"

for p in linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64 windows_arm64; do
	exe=avupload ext=tar.gz
	if [[ $p == windows_* ]]; then exe=avupload.exe ext=zip; fi
	archive=$(ls avupload_*_"$p".$ext 2>/dev/null) || fail "no archive for $p"
	stem=${archive%."$ext"}
	# The listing first: grep -q ending early would fail the pipe.
	listing=
	if [ "$ext" = tar.gz ]; then
		listing=$(tar -tzf "$archive")
	elif command -v unzip >/dev/null; then
		listing=$(unzip -Z1 "$archive")
	fi
	if [ -n "$listing" ]; then
		grep -qx "$stem/$exe" <<<"$listing" || fail "$archive does not hold $stem/$exe"
	fi
	grep -q '"bomFormat": *"CycloneDX"' "$stem.cdx.json" || fail "$stem.cdx.json is not a CycloneDX SBOM"
	grep -q '"name": *"github.com/avupload/avupload"' "$stem.cdx.json" || fail "$stem.cdx.json does not describe avupload"
done
echo "check-release: every archive and SBOM matches SHA256SUMS"

[ "$(uname -s)/$(uname -m)" = Linux/x86_64 ] || { echo "check-release: not linux/amd64, the binaries are not run"; exit 0; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
archive=$(ls avupload_*_linux_amd64.tar.gz)
tar -xzf "$archive" -C "$work"
bin=$work/${archive%.tar.gz}/avupload
version=$("$bin" --version)
echo "$version"
[[ $version == "avupload version "* ]] || fail "--version says: $version"
if [ -n "$commit" ]; then
	[[ $version == *"(${commit:0:12}"* ]] || fail "--version does not name the commit ${commit:0:12}: $version"
fi
"$bin" --help >/dev/null || fail "--help failed"
# `avupload version`, where the command has it.
if "$bin" version --help >/dev/null 2>&1; then
	"$bin" version || fail "avupload version failed"
fi
echo "check-release: the linux/amd64 binary runs"
