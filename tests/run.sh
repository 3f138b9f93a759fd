#!/usr/bin/env bash
# tests/run.sh - the whole suite: the C test programs, then end-to-end checks
# of the factprobe command (output formats, --help, and bad input: one clear
# error naming the file or field, a nonzero exit, never a crash).
# Prints one closing line "N passed, M failed".  Env: BUILD (build dir),
# FACTPROBE_TEST_MODEL (the default model; required), FACTPROBE_TEST_GEMMA
# (Gemma-3-270M, for test_arch; required).
# With --fast (make test-fast): only the C test programs that need no model.
set -u
. "$(dirname "$0")/lib.sh"
lib_init run
MODEL=${FACTPROBE_TEST_MODEL:-}
GEMMA=${FACTPROBE_TEST_GEMMA:-}
C_TESTS="test_stats test_parse test_table test_select test_superpos test_factset test_project test_lens test_neurons test_recorder test_results test_quant test_qmm test_gguf test_tokenizer test_tokenizer_hf test_forward test_oracle test_analysis test_prompts test_progress test_arch"
if [ "${1:-}" = --fast ]; then
	MODEL=
	C_TESTS="test_stats test_parse test_table test_select test_superpos test_factset test_project test_lens test_neurons test_recorder test_results test_quant test_qmm test_gguf test_tokenizer test_tokenizer_hf test_forward test_analysis test_prompts test_progress"
fi

# --- the C test programs --------------------------------------------------
# the backward pass and gradient attributions (synthetic models only)
C_TESTS="$C_TESTS test_grad test_attrib"
# Hugging Face checkpoints (tiny ones always; the default model's when given)
C_TESTS="$C_TESTS test_hf test_hf_arch"
# products with 8-bit activations (model/q8mm.c; synthetic weights, a gguf fixture)
C_TESTS="$C_TESTS test_q8mm"
for t in $C_TESTS; do
	echo "== $t"
	arg=$MODEL
	[ "$t" = test_arch ] && arg=$GEMMA
	out=$(FACTPROBE_TEST_MODEL="$MODEL" "$BUILD/tests/$t" tests/fixtures "$arg" 2>&1)
	rc=$?
	echo "$out" | grep -v '^ok ' | grep -v '^     ' | grep -v ': [0-9]* passed, [0-9]* failed$'
	echo "$out" | grep -c '^ok ' | xargs -I{} echo "   ({} checks printed ok)"
	line=$(echo "$out" | grep -E '^test_[a-z0-9_]+: [0-9]+ passed, [0-9]+ failed$' | tail -1)
	if [ -z "$line" ]; then
		bad "$t did not finish (exit $rc)"
		echo "$out" | tail -20
		continue
	fi
	p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
	f=$(echo "$line" | sed -E 's/.*passed, ([0-9]+) failed/\1/')
	PASS=$((PASS + p))
	FAIL=$((FAIL + f))
	[ "$rc" -eq 0 ] || [ "$f" -gt 0 ] || bad "$t exited $rc"
	echo "   $line"
done

# --- the fuzz harnesses over their committed corpora (seeds and every
# input that once broke a parser); `make fuzz` runs them under libFuzzer --
echo "== fuzz corpora"
for src in tests/fuzz/fuzz_*.c; do
	n=$(basename "$src" .c)
	n=${n#fuzz_}
	[ "$n" = util ] && continue
	out=$(FACTPROBE_TEST_MODEL="$MODEL" "$BUILD/fuzz/replay-$n" "tests/fuzz/$n" 2>&1)
	rc=$?
	line=$(echo "$out" | tail -1)
	if [ "$rc" -eq 0 ] && echo "$line" | grep -Eq "^replay-$n: [1-9][0-9]* inputs, 0 crashes\$"; then
		ok "fuzz corpus tests/fuzz/$n: $line"
	else
		bad "fuzz corpus tests/fuzz/$n: exit $rc"
		echo "$out" | tail -20
	fi
done

if [ "${1:-}" = --fast ]; then
	echo
	echo "$PASS passed, $FAIL failed (the C tests that need no model; 'make test' runs everything)"
	[ "$FAIL" -eq 0 ]
	exit
fi

# --- recording to HDF5, and the query commands ---------------------------------
for t in test_record test_shard test_query test_plot test_install test_arch_cli test_weights test_matmul test_grad_cli test_bad test_hf; do
	echo "== $t"
	out=$(BUILD="$BUILD" FACTPROBE_TEST_MODEL="$MODEL" tests/$t.sh 2>&1)
	echo "$out" | grep -v '^ok ' | grep -v ': [0-9]* passed, [0-9]* failed$'
	echo "$out" | grep -c '^ok ' | xargs -I{} echo "   ({} checks printed ok)"
	line=$(echo "$out" | grep -E "^$t: [0-9]+ passed, [0-9]+ failed\$" | tail -1)
	if [ -n "$line" ]; then
		PASS=$((PASS + $(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')))
		FAIL=$((FAIL + $(echo "$line" | sed -E 's/.*passed, ([0-9]+) failed/\1/')))
		echo "   $line"
	else
		bad "$t did not finish"
	fi
done

# --- the command line -----------------------------------------------------
echo "== factprobe command"
"$BUILD/tests/make_tiny" "$T" >/dev/null
TINY="$T/tiny-llama.gguf"

run "$FP"
[ "$RC" -eq 2 ] && echo "$ERR" | grep -q "usage: factprobe" && ok "no command: usage, exit 2" || bad "no command: exit $RC"
run "$FP" --help
[ "$RC" -eq 0 ] && echo "$OUT" | grep -q "predict" && ok "--help lists the commands" || bad "--help: exit $RC"
expect_error "unknown command" "'frobnicate' is not a command" "$FP" frobnicate
for c in info tokenize predict record; do
	run "$FP" "$c" --help
	[ "$RC" -eq 0 ] && echo "$OUT" | grep -q "usage: factprobe $c" && ok "$c --help" || bad "$c --help: exit $RC"
	run "$FP" help "$c"
	[ "$RC" -eq 0 ] && echo "$OUT" | grep -q "usage: factprobe $c" && ok "help $c" || bad "help $c: exit $RC"
done

# formats on a tiny model
run "$FP" info -m "$TINY" --json
[ "$RC" -eq 0 ] && echo "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["architecture"]=="llama" and d["n_layers"]==2 and abs(sum(d["params"][k] for k in ("embed","attn","mlp","norm","unembed","other"))-d["params"]["total"])==0' \
	&& ok "info --json parses and its parameter counts add up" || bad "info --json: $OUT"
run "$FP" info -m "$TINY" --tsv
[ "$RC" -eq 0 ] && [ "$(echo "$OUT" | head -1)" = "$(printf 'key\tvalue')" ] && ok "info --tsv header" || bad "info --tsv"
run "$FP" tokenize -m "$TINY" --tsv "the basketball	tab"
[ "$RC" -eq 0 ] && [ "$(echo "$OUT" | head -1)" = "$(printf 'pos\ttoken_id\tpiece\ttext')" ] && \
	[ "$(echo "$OUT" | awk -F'\t' 'NF != 4' | wc -l)" -eq 0 ] && ok "tokenize --tsv: header and 4 columns on every row (tab escaped)" || bad "tokenize --tsv: $OUT"
# pieces of characters: the TSV stays UTF-8 (bytes as \xNN) and JSON gives the bytes too
"$FP" tokenize -m "$TINY" --tsv '東京 😀\' >"$T/tok.tsv" 2>&1
"$FP" tokenize -m "$TINY" --json '東京 😀\' >"$T/tok.json" 2>&1
python3 - "$T/tok.tsv" "$T/tok.json" <<'PY' && ok "tokenize of '東京 😀\\': Python's csv reads the TSV, whose \\xNN cells give back the text's bytes; json gives them as tokens_bytes" || bad "tokenize UTF-8 pieces: $(cat "$T/tok.tsv" "$T/tok.json")"
import csv, json, re, sys
want = "東京 😀\\".encode()
rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8", newline=""), delimiter="\t", quoting=csv.QUOTE_NONE))
unesc = lambda s: re.sub(rb"\\(x[0-9a-f]{2}|.)", lambda m: bytes([int(m.group(1)[1:], 16)]) if len(m.group(1)) == 3 else
                         {b"t": b"\t", b"n": b"\n", b"r": b"\r", b"\\": b"\\"}[m.group(1)], s.encode())
got = b"".join(unesc(r["text"]) for r in rows)
assert got == want and len(rows) == len(want), (got, want)
d = json.load(open(sys.argv[2], encoding="utf-8"))
assert b"".join(bytes.fromhex(h) for h in d["tokens_bytes"]) == want and len(d["tokens"]) == len(d["ids"]) == len(want)
PY
run "$FP" predict -m "$TINY" -k 7 --tsv "the basketball"
[ "$RC" -eq 0 ] && [ "$(echo "$OUT" | head -1)" = "$(printf 'rank\ttoken_id\ttoken\tprob\tlogit')" ] && \
	[ "$(echo "$OUT" | wc -l)" -eq 8 ] && [ "$(echo "$OUT" | awk -F'\t' 'NF != 5' | wc -l)" -eq 0 ] \
	&& ok "predict --tsv: header, 7 rows of 5 columns" || bad "predict --tsv: $OUT"
NV=$("$FP" info -m "$TINY" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["d_vocab"])')
run "$FP" predict -m "$TINY" -k 1000 --json "the basketball"
[ "$RC" -eq 0 ] && echo "$OUT" | NV=$NV python3 -c '
import json,os,sys; d=json.load(sys.stdin); p=d["predictions"]
assert len(p)==int(os.environ["NV"]) and all(p[i]["prob"]>=p[i+1]["prob"] for i in range(len(p)-1))
assert abs(sum(x["prob"] for x in p)-1) < 1e-4' && ok "predict --json: whole vocabulary, sorted, probabilities sum to 1" || bad "predict --json"
echo "the basketball" | "$FP" predict -m "$TINY" --tsv - >"$T/a" && "$FP" predict -m "$TINY" --tsv "the basketball
" >"$T/b" && cmp -s "$T/a" "$T/b" && ok "predict reads the prompt from standard input with '-'" || bad "predict -"

# bad input
expect_error "missing model file" "cannot open '/nonexistent/x.gguf'" "$FP" predict -m /nonexistent/x.gguf hi
printf 'just some text, not a model' >"$T/text.gguf"
expect_error "not a GGUF file" "not a GGUF file" "$FP" info -m "$T/text.gguf"
# a directory is read as a Hugging Face checkpoint (issue 13): without config.json it is neither
expect_error "a directory" "is a directory without config.json" "$FP" info -m "$T"
expect_error "-k not a number" "-k expects an integer" "$FP" predict -m "$TINY" -k abc hi
expect_error "-k 0" "-k expects an integer from 1" "$FP" predict -m "$TINY" -k 0 hi
expect_error "missing prompt" "expects exactly one PROMPT" "$FP" predict -m "$TINY"
expect_error "unknown option" "unknown option '--frob'" "$FP" predict -m "$TINY" --frob hi
expect_error "option without its value" "option '-m' needs a value" "$FP" info -m
expect_error "empty prompt" "the prompt is empty" "$FP" predict -m "$TINY" ""
long=$(python3 -c 'print("the " * 100)')
expect_error "prompt longer than the context" "longer than the model's context of 64" "$FP" predict -m "$TINY" "$long"
printf 'ok \xff bad' >"$T/bad.txt"
expect_error "invalid UTF-8 prompt" "invalid UTF-8 at byte 3" sh -c "'$FP' predict -m '$TINY' - <'$T/bad.txt'"
expect_error "invalid UTF-8 text to tokenize" "invalid UTF-8 at byte 3" sh -c "'$FP' tokenize -m '$TINY' - <'$T/bad.txt'"
expect_error "FACTPROBE_MODEL pointing nowhere" "cannot open '/nowhere.gguf'" env FACTPROBE_MODEL=/nowhere.gguf "$FP" info
run env -u FACTPROBE_MODEL HOME="$T/nohome" XDG_CACHE_HOME= "$FP" info
[ "$RC" -eq 1 ] && echo "$ERR" | grep -q "make model" && ok "default model missing: error with a hint to run 'make model'" || bad "default model missing: $ERR"

# the real model: truncated at many points, each one clear error
if [ -n "$MODEL" ] && [ -f "$MODEL" ]; then
	size=$(stat -c %s "$MODEL")
	allgood=1
	for cut in 3 8 23 24 100 1000 5000 100000 1000000 1700000 10000000 50000000 $((size - 1000)) $((size - 1)); do
		head -c "$cut" "$MODEL" >"$T/cut.gguf"
		run "$FP" info -m "$T/cut.gguf"
		if ! { [ "$RC" -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && echo "$ERR" | grep -q "cut.gguf"; }; then
			allgood=0
			bad "default model cut to $cut bytes: exit $RC, $ERR"
		fi
	done
	[ "$allgood" = 1 ] && ok "default model truncated at 14 points (3 bytes .. size-1): one error line naming the file, exit 1 each"
	run "$FP" predict -m "$MODEL" -k 1 --tsv "Q: What sport does Michael Jordan play?
A: This athlete plays the sport of"
	[ "$RC" -eq 0 ] && echo "$OUT" | sed -n 2p | cut -f3 | grep -qx " basketball" \
		&& ok "factprobe predict (Q/A prompt) on the default model: ' basketball' first ($(echo "$OUT" | sed -n 2p | cut -f4))" \
		|| bad "default model Q/A prompt: $OUT"
else
	bad "the default model is missing (FACTPROBE_TEST_MODEL='$MODEL'); run 'make model'"
fi

echo
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
