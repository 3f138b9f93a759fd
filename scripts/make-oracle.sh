#!/bin/sh
# Regenerates the oracle fixtures in tests/fixtures (for the default model,
# Gemma-3-270M and the tiny models of every architecture) from implementations
# we did not write (run by 'make oracle'; the fixtures are committed, so tests
# never need these packages):
#   llama.cpp through llama-cpp-python (built from source by pip, ~10 min)
#   transformers loading the same GGUF (torch from PyPI, ~3 GB): oracle_hf.py
#   (default model, tiny gpt2) and oracle_tf_arch.py (newer architectures and
#   Gemma-3-270M: logits, every residual state, every mlp.hook_post)
# Each lives in its own virtual environment under the factprobe cache,
# with versions pinned here.
set -eu
BUILD=${1:-build}
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/factprobe"
MODEL="$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA="$CACHE/gemma-3-270m-q4_k_m.gguf"
FIX=tests/fixtures
LC="$CACHE/oracle-venv"
HF="$CACHE/hf-venv"

[ -f "$MODEL" ] || scripts/fetch-model.sh smollm2
[ -f "$GEMMA" ] || scripts/fetch-model.sh gemma3-270m
if [ ! -x "$LC/bin/python" ] || ! "$LC/bin/python" -c "import llama_cpp" 2>/dev/null; then
	python3 -m venv "$LC"
	"$LC/bin/pip" install -q "numpy==2.4.6" "gguf==0.17.1"
	CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$LC/bin/pip" install -q "llama-cpp-python==0.3.36"
fi
if [ ! -x "$HF/bin/python" ] ||
   ! "$HF/bin/python" -c "import torch, transformers; assert transformers.__version__ == '4.57.1'" 2>/dev/null; then
	[ -x "$HF/bin/python" ] || python3 -m venv "$HF"
	"$HF/bin/pip" install -q "torch==2.5.1" "transformers==4.57.1" "tokenizers==0.22.1" "safetensors==0.6.2" \
		"accelerate==1.10.1" "gguf==0.17.1" "numpy==2.3.5" "sentencepiece==0.2.3" "protobuf==7.36.2"
fi
TINY=$(mktemp -d)
trap 'rm -rf "$TINY"' EXIT
"$BUILD/tests/make_tiny" "$TINY" >/dev/null
"$LC/bin/python" scripts/oracle_llamacpp.py "$MODEL" "$TINY" "$FIX"
"$LC/bin/python" scripts/oracle_arch.py "$GEMMA" "$TINY" "$FIX"
# every quantised weight type q8mm multiplies, on tiny models (test_oracle's q8 table)
"$LC/bin/python" scripts/oracle_qtype.py "$TINY" "$FIX"
# both real models' largest logits, for --matmul q8 (test_oracle's q8 table)
"$LC/bin/python" scripts/oracle_q8.py "$MODEL" "$GEMMA" "$FIX"
"$HF/bin/python" scripts/oracle_hf.py "$MODEL" "$TINY" "$FIX" 2>&1 | grep -v -E "de-quantizing|^Some weights|TRAIN this model"
# tokenizer.json fixtures: expected ids from tokenizers 0.22.1 (the script
# checks the version), SmolLM2's tokenizer.json converted by transformers;
# --train would also retrain the committed tiny tokenizers
"$HF/bin/python" scripts/oracle_hf_tokenizers.py
# the newer architectures and Gemma-3-270M, every layer (after oracle_arch.py: the same token ids)
TQDM_DISABLE=1 TRANSFORMERS_VERBOSITY=error "$HF/bin/python" scripts/oracle_tf_arch.py "$GEMMA" "$TINY" "$FIX"
# tiny random Hugging Face checkpoints of every family with transformers' outputs (test_hf_arch)
TQDM_DISABLE=1 TRANSFORMERS_VERBOSITY=error "$HF/bin/python" scripts/make-hf-tiny.py "$FIX/hf"
# Hugging Face checkpoints: transformers converts the default model's GGUF
# into checkpoints (F32, BF16, F16; cached by the GGUF's sha256), then its
# config, tensor hashes, logits and MLP activations on them (test_hf)
D32=$(scripts/hf_checkpoint.sh --transformers "$MODEL" F32)
DBF=$(scripts/hf_checkpoint.sh --transformers "$MODEL" BF16)
D16=$(scripts/hf_checkpoint.sh --transformers "$MODEL" F16)
"$HF/bin/python" scripts/oracle_hf_checkpoint.py "$FIX/hf_smollm2" "$D32" "$DBF" "$D16" 2>&1 | grep -v deprecated
echo "oracle fixtures written to $FIX"
