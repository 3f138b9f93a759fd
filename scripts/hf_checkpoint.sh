#!/bin/sh
# hf_checkpoint.sh - a Hugging Face checkpoint directory made from a llama,
# qwen2 or qwen3 GGUF, cached under the factprobe cache keyed by the GGUF's
# sha256 (first 16 hex digits) and the dtype; prints the directory.
#
#   scripts/hf_checkpoint.sh [--transformers] MODEL.gguf [F32|BF16|F16]
#
# Default: written without torch by build/tests/hf_from_gguf
# (tests/hf_writer.c: factprobe's dequantisation, transformers' names,
# llama q/k rows un-permuted, f32 -> f16/bf16 rounded to nearest even), with
# config.json from tests/fixtures/hf_smollm2/ for the default model (what
# transformers wrote) or from the GGUF's metadata otherwise.  The default
# model also gets transformers' tokenizer files (tests/fixtures/hf_tok/smollm2);
# other models none.
# `make test` (test_hf) checks that its tensors are byte-identical to the
# ones transformers' save_pretrained writes (tests/fixtures/hf_smollm2/
# tensors-*.tsv).
# --transformers: the oracle conversion itself, by transformers in the
# hf-venv (scripts/hf_from_gguf_transformers.py: from_pretrained(gguf_file=)
# + save_pretrained, tokenizer included), into hf-tf-SHA-DTYPE.
set -eu
TF=0
[ "${1:-}" = --transformers ] && { TF=1; shift; }
GGUF=${1:?usage: $0 [--transformers] MODEL.gguf [F32|BF16|F16]}
DT=${2:-F32}
BUILD=${BUILD:-build}
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/factprobe"
KEY=$(sha256sum "$GGUF" | cut -c1-16)
case $DT in F32) TD=float32 ;; BF16) TD=bfloat16 ;; F16) TD=float16 ;; *) echo "$0: dtype $DT is not F32, BF16 or F16" >&2; exit 2 ;; esac
if [ $TF = 1 ]; then
	OUT="$CACHE/hf-tf-$KEY-$DT"
	[ -f "$OUT/config.json" ] || {
		"$CACHE/hf-venv/bin/python" scripts/hf_from_gguf_transformers.py "$GGUF" "$OUT.tmp" "$TD" >&2
		mv "$OUT.tmp" "$OUT"
	}
else
	OUT="$CACHE/hf-smollm2-$KEY-$DT"
	case $(basename "$GGUF") in SmolLM2-135M-Instruct.Q4_1.gguf) CFG=tests/fixtures/hf_smollm2/config.json ;; *) CFG= ; OUT="$CACHE/hf-$KEY-$DT" ;; esac
	[ -f "$OUT/config.json" ] || {
		[ -x "$BUILD/tests/hf_from_gguf" ] || make --no-print-directory "$BUILD/tests/hf_from_gguf" >&2
		rm -rf "$OUT.tmp"
		mkdir -p "$OUT.tmp"
		"$BUILD/tests/hf_from_gguf" "$GGUF" "$OUT.tmp" "$DT" $CFG
		mv "$OUT.tmp" "$OUT"
	}
	# the default model: transformers' own tokenizer files (committed by
	# the tokenizer.json tests, tests/fixtures/hf_tok/smollm2)
	TOK=tests/fixtures/hf_tok/smollm2
	if [ -n "$CFG" ] && [ ! -f "$OUT/tokenizer.json" ] && [ -f "$TOK/tokenizer.json.gz" ]; then
		gzip -dc "$TOK/tokenizer.json.gz" >"$OUT/tokenizer.json.tmp"
		cp "$TOK/tokenizer_config.json" "$TOK/special_tokens_map.json" "$OUT/"
		mv "$OUT/tokenizer.json.tmp" "$OUT/tokenizer.json"
	fi
fi
echo "$OUT"
