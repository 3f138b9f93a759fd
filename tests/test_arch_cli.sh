#!/usr/bin/env bash
# tests/test_arch_cli.sh - every command end to end on the tiny model of each
# newer architecture (qwen2, qwen3, gemma2, gemma3, phi3, gptneox, gptj): record of
# every hook, dot, lens, neurons ranked by activation, DLA, weights and
# ablation, trace, patch and top-examples each run, exit 0 and print what
# they should.  The numbers themselves are checked elsewhere (test_arch,
# test_analysis, test_forward); this is the smoke test that nothing assumes
# llama or gpt2; then the commands on the tiny Hugging Face checkpoints.
# Prints "test_arch_cli: N passed, M failed".  Env: BUILD.
set -u
. "$(dirname "$0")/lib.sh"
lib_init test_arch_cli

# smoke DESC CMD...: exit 0 and some output
smoke() {
	local d=$1; shift
	run "$@"
	if [ "$RC" -eq 0 ] && [ -s "$T/out" ]; then ok "$d"; else bad "$d: exit $RC, $(head -c 300 "$T/err")"; fi
}

"$BUILD/tests/make_tiny" "$T" >/dev/null
printf 'prompt\tsubject\ttarget\nthe ball is in\tball\t the\nhello world and\tworld\t the\n' >"$T/set.tsv"
printf 'the basketball is 12\nhello world\nthe end of the park\n' >"$T/corpus.txt"
for a in qwen2 qwen3 gemma2 gemma3 phi3 gptneox gptj; do
	M="$T/arch/tiny-$a.gguf"
	[ "$a" = gptj ] && M="$T/tiny-gptj.gguf"
	smoke "$a: info" "$FP" info -m "$M"
	run "$FP" record -q -m "$M" -p "$T/set.tsv" -o "$T/$a.h5" --dtype f32 --positions all --hooks '*'
	n=$(h5ls -r "$T/$a.h5" 2>/dev/null | grep -c 'Dataset')
	[ "$RC" -eq 0 ] && [ "$n" -gt 10 ] && ok "$a: record of every hook ($n datasets)" || bad "$a: record: exit $RC, $(cat "$T/err")"
	smoke "$a: dot" "$FP" dot -m "$M" "the ball is" --direction tok:" the" --tsv
	smoke "$a: lens" "$FP" lens -m "$M" "the ball is" --target " the" --tsv
	smoke "$a: lens --from" "$FP" lens -m "$M" --from "$T/$a.h5" --prompt 0 -k 3 --tsv
	for r in act dla weights ablate; do
		smoke "$a: neurons --rank $r" "$FP" neurons -m "$M" --target " the" --rank $r -k 3 --tsv "the ball is"
	done
	smoke "$a: trace" "$FP" trace -m "$M" "the ball is in" --subject ball --target " the" --samples 2 --window 1 --tsv
	smoke "$a: patch" "$FP" patch -m "$M" --target " the" --hook 'blocks.*.hook_resid_post' --clean "the ball is" \
		--corrupt "the bell is" --pos last --tsv
	smoke "$a: top-examples" "$FP" top-examples -m "$M" --neuron 1.5 -p "$T/corpus.txt" -k 2 --tsv
done
# the extra hook points of the families with norms after attention and the MLP
run "$FP" record -q -m "$T/arch/tiny-gemma3.gguf" -p "$T/set.tsv" -o "$T/pn.h5" --force --dtype f32 \
	--hooks 'blocks.*.hook_attn_out_pre_norm,blocks.*.hook_mlp_out_pre_norm'
[ "$RC" -eq 0 ] && ok "gemma3: record blocks.*.hook_attn_out_pre_norm and hook_mlp_out_pre_norm" || bad "pre_norm hooks: $(cat "$T/err")"
run "$FP" record -q -m "$T/arch/tiny-qwen2.gguf" -p "$T/set.tsv" -o "$T/pn2.h5" --hooks 'blocks.*.hook_attn_out_pre_norm'
[ "$RC" -ne 0 ] && grep -q "matches no hook" "$T/err" && ok "qwen2 (no post norms): hook_attn_out_pre_norm is refused: $(head -1 "$T/err")" \
	|| bad "qwen2 pre_norm hook: exit $RC, $(cat "$T/err")"
# the tiny Hugging Face checkpoint of every family (tests/fixtures/hf, checked
# against transformers by test_hf_arch): the commands on a directory, its
# tokenizer.json included
printf 'prompt\tsubject\ttarget\nMichael Jordan plays the sport of\tMichael Jordan\t of\n' >"$T/hf.tsv"
for d in tests/fixtures/hf/*/; do
	a=$(basename "$d")
	smoke "hf $a: info" "$FP" info -m "$d"
	smoke "hf $a: predict" "$FP" predict -m "$d" -k 3 --tsv "Michael Jordan plays the sport of"
	run "$FP" record -q -m "$d" -p "$T/hf.tsv" -o "$T/hf-$a.h5" --dtype f32 --hooks '*'
	n=$(h5ls -r "$T/hf-$a.h5" 2>/dev/null | grep -c 'Dataset')
	[ "$RC" -eq 0 ] && [ "$n" -gt 10 ] && ok "hf $a: record of every hook ($n datasets)" || bad "hf $a: record: exit $RC, $(cat "$T/err")"
	smoke "hf $a: neurons --rank dla" "$FP" neurons -m "$d" --target " of" --rank dla -k 3 --tsv "Michael Jordan plays the sport"
	smoke "hf $a: lens" "$FP" lens -m "$d" "Michael Jordan plays the sport" --target " of" --tsv
	smoke "hf $a: trace" "$FP" trace -m "$d" "Michael Jordan plays the sport" --subject Jordan --target " of" \
		--samples 2 --window 1 --tsv
done
lib_finish
