# tests/commands.sh - the commands that test_weights.sh and test_matmul.sh
# each run in two modes and compare (source it after tests/lib.sh):
#   every_command FN   calls FN NAME CMD... for each command, with the model
#                      $M, the prompt $Q and the prompt set $T/set.tsv
every_command() {
	local f=$1
	$f "predict" predict -m "$M" "$Q" -k 10 --json
	$f "lens" lens -m "$M" "Michael Jordan plays the sport of" --target " basketball" --at all -k 3 --tsv
	$f "dot" dot -m "$M" "$Q" --direction 'tok: basketball' --at all --tsv
	$f "dot neuron direction" dot -m "$M" "$Q" --direction neuron:20.100 --tsv
	$f "neurons --rank act" neurons -m "$M" --target " basketball" --rank act -k 5 --tsv "$Q"
	$f "neurons --rank dla" neurons -m "$M" --target " basketball" --vs " football" --rank dla -k 5 --tsv "$Q"
	$f "neurons --rank weights" neurons -m "$M" --target " basketball" --rank weights -k 5 --tsv "$Q"
	$f "neurons --rank ablate" neurons -m "$M" --target " basketball" --rank ablate --candidates 8 -k 3 --tsv "$Q"
	$f "patch" patch -m "$M" --target " basketball" --clean "$Q" --corrupt "Q: What sport does Tom Brady play?
A: This athlete plays the sport of" --hook 'blocks.*.hook_resid_pre' --pos last --tsv
	$f "patch --ablate" patch -m "$M" --target " basketball" --ablate 20.100,21.7 "$Q" --tsv
	$f "trace" trace -m "$M" "Jordan plays the sport of" --subject "Jordan" --target " basketball" \
		--samples 1 --kind mlp --window 3 --tsv
	$f "top-examples" top-examples -m "$M" --neuron 20.100 -p "$T/set.tsv" -k 3 --tsv
	$f "superposition --model-rows" superposition -m "$M" --n 50 --dim 20 --steps 5 --model-rows --sample 300 --tsv
	$f "tokenize" tokenize -m "$M" "$Q"
}
