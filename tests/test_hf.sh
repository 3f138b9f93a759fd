#!/usr/bin/env bash
# test_hf.sh - the commands on a Hugging Face checkpoint: the default model's
# checkpoint (scripts/hf_checkpoint.sh: tensors byte-identical to transformers'
# save_pretrained, checked by test_hf; tokenizer files transformers wrote)
# against the GGUF it came from: the same token ids, the same predictions,
# and `record` of MLP hooks giving the same activations (h5py), with the
# checkpoint's provenance (model_sha256 of config.json + model.safetensors).
# Env: BUILD, FACTPROBE_TEST_MODEL.
. tests/lib.sh
lib_init test_hf
M=${FACTPROBE_TEST_MODEL:?set FACTPROBE_TEST_MODEL}
D=$(BUILD=$BUILD scripts/hf_checkpoint.sh "$M" F32) || { bad "scripts/hf_checkpoint.sh failed"; lib_finish; exit; }
Q='Q: What sport does Michael Jordan play?
A: This athlete plays the sport of'
# BOS: the GGUF adds none; transformers' conversion wrote add_bos_token true
# (bos_token <|im_start|>) into tokenizer_config.json, so the checkpoint adds
# it, as transformers does by default: the same ids need --no-bos on both
c=$("$FP" tokenize -m "$D" --tsv hi 2>&1 | sed -n 2p | cut -f2)
[ "$c" = 1 ] && ok "the checkpoint adds BOS <|im_start|> (id 1) as its tokenizer_config.json says" || bad "BOS: '$c'"

for s in "$Q" "Hello, world! 東京 😀" "  two  spaces and 12345 digits"; do
	a=$("$FP" tokenize -m "$M" --no-bos --tsv "$s" 2>&1)
	b=$("$FP" tokenize -m "$D" --no-bos --tsv "$s" 2>&1)
	if [ -n "$a" ] && [ "$a" = "$b" ]; then ok "tokenize '${s:0:20}...': the same $(($(echo "$a" | wc -l) - 1)) tokens from the GGUF and the checkpoint"
	else bad "tokenize '${s:0:20}...' differs"; diff <(echo "$a") <(echo "$b") | head -4; fi
done

"$FP" predict -m "$M" --no-bos -k 10 --tsv "$Q" >"$T/pg.tsv" 2>&1
"$FP" predict -m "$D" --no-bos -k 10 --tsv "$Q" >"$T/pd.tsv" 2>&1
check "predict -k 10: the same tokens, logits within 1e-5 relative" $PY - "$T/pg.tsv" "$T/pd.tsv" <<'PY'
import csv, sys
a, b = [list(csv.DictReader(open(p), delimiter="\t")) for p in sys.argv[1:3]]
assert len(a) == 10 and [r["token_id"] for r in a] == [r["token_id"] for r in b], (a[:2], b[:2])
la, lb = [float(r["logit"]) for r in a], [float(r["logit"]) for r in b]
d = max(abs(x - y) for x, y in zip(la, lb)) / max(abs(x) for x in la)
assert d <= 1e-5, d
print("top-1 %s, max logit difference %.2g relative (printed to 3 decimals)" % (a[0]["token"], d))
PY

head -6 datasets/athletes_sport.tsv >"$T/set.tsv"
H='blocks.0.mlp.hook_post,blocks.15.mlp.hook_post,blocks.29.mlp.hook_post,blocks.29.hook_resid_post'
"$FP" record -q -m "$M" --no-bos -p "$T/set.tsv" -o "$T/g.h5" --hooks "$H" --dtype f32 >/dev/null 2>"$T/e1" || bad "record on the GGUF: $(head -1 "$T/e1")"
"$FP" record -q -m "$D" --no-bos -p "$T/set.tsv" -o "$T/d.h5" --hooks "$H" --dtype f32 >/dev/null 2>"$T/e2" || bad "record on the checkpoint: $(head -1 "$T/e2")"
SHA=$(cat "$D/config.json" "$D/model.safetensors" | sha256sum | cut -c1-64)
check "record: the same activations from the GGUF and the checkpoint (h5py)" $PY - "$T/g.h5" "$T/d.h5" "$SHA" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = sorted(a["acts"].keys())
assert names == sorted(b["acts"].keys()) and len(names) == 4, names
worst = 0
for n in names:
    x, y = a["acts"][n][()], b["acts"][n][()]
    assert x.shape == y.shape, (n, x.shape, y.shape)
    worst = max(worst, float(np.abs(x - y).max() / np.abs(x).max()))
assert worst <= 1e-5, worst
sha = b.attrs["model_sha256"]
sha = sha.decode() if isinstance(sha, bytes) else sha
assert sha == sys.argv[3], (sha, sys.argv[3])
print("%d datasets of %d rows, max difference %.2g relative (tolerance 1e-5); model_sha256 = sha256(config.json + model.safetensors)"
      % (len(names), x.shape[0], worst))
PY
lib_finish
