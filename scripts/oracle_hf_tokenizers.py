#!/usr/bin/env python3
"""oracle_hf_tokenizers.py - tokenizer.json fixtures and their expected ids.

Run with the hf oracle environment (tokenizers 0.22.1, transformers 4.57.1):
    ~/.cache/factprobe/hf-venv/bin/python scripts/oracle_hf_tokenizers.py [--train]

--train  writes the tiny tokenizers that are not there yet, trained by the
         `tokenizers` package on the project's own text (README.md,
         datasets/) with each family's normalizer / pre-tokenizer / decoder /
         post-processor, into tests/fixtures/hf_tok/<family>/ (committed;
         --retrain replaces them all, and the README being in the corpus,
         changes them).
Always (unless --no-convert): converts the cached GGUFs' tokenizers with
transformers (AutoTokenizer.from_pretrained(gguf_file=...), save_pretrained;
needs torch): SmolLM2's, committed gzipped as tests/fixtures/hf_tok/smollm2/,
and Gemma-3-270M's (a 14 MB Unigram tokenizer.json, not committed) into
~/.cache/factprobe/hf-tok-gemma-3-270m/.  Then writes
tests/fixtures/hf_tok/expected.json: for every family and every test string,
the ids of tokenizers' encode without special tokens (special tokens in the
text are not parsed: encode_special_tokens = True, factprobe's rule) and the
ids with the BOS the files ask for; where a tokenizer_config.json makes the
directory a checkpoint, both from transformers' AutoTokenizer instead
(split_special_tokens=True), which applies its add_bos_token and
add_prefix_space.
"""
import glob, gzip, json, os, shutil, sys, tempfile

import tokenizers
from tokenizers import Tokenizer, Regex, AddedToken
from tokenizers import models, normalizers, pre_tokenizers, decoders, processors, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "hf_tok")
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "factprobe")
GEMMA_DIR = os.path.join(CACHE, "hf-tok-gemma-3-270m")  # test_tokenizer_hf looks here

LLAMA3_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
             r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
            r"\s*[\r\n]+|\s+(?!\S)|\s+")


def corpus():
    files = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "datasets", "*")))
    return [open(f, encoding="utf-8").read() for f in files]


def train_bytelevel(pre, normalizer=None, vocab=700, specials=(), ignore_merges=False):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=vocab, special_tokens=list(specials), show_progress=False,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), tr)
    return tok


def train_spm(normalizer, pre, decoder, vocab=700):
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.decoder = decoder
    tr = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False,
                             limit_alphabet=120)
    tok.train_from_iterator(corpus(), tr)
    # the byte tokens of a SentencePiece model: <0x00> ... <0xFF>
    d = json.loads(tok.to_str())
    v = d["model"]["vocab"]
    n = len(v)
    for b in range(256):
        name = "<0x%02X>" % b
        if name not in v:
            v[name] = n
            n += 1
    return Tokenizer.from_str(json.dumps(d))


def train_misc():
    """the remaining pipeline steps: NFKD, Strip, Replace(Regex); Split with
    every behavior and invert; Digits in runs; Metaspace always; unknown
    characters as unfused <unk> (no byte fallback)"""
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFKD(), normalizers.Strip(left=True, right=True),
                                           normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex("[,;]"), behavior="removed"),
        pre_tokenizers.Split(" - ", behavior="merged_with_previous"),
        pre_tokenizers.Split(Regex(r"\p{P}"), behavior="contiguous"),
        pre_tokenizers.Split(Regex("[aeiou]"), behavior="merged_with_next", invert=True),
        pre_tokenizers.Digits(individual_digits=False),
        pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)])
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    tr = trainers.BpeTrainer(vocab_size=600, special_tokens=["<unk>"], show_progress=False, limit_alphabet=90)
    tok.train_from_iterator(corpus(), tr)
    tok.add_tokens([AddedToken("sport", single_word=True, lstrip=True, normalized=False)])
    return tok


def save(tok, family, config=None):
    d = os.path.join(OUT, family)
    if os.path.exists(os.path.join(d, "tokenizer.json")) and "--retrain" not in sys.argv:
        return
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, "tokenizer.json"))
    if config is not None:
        json.dump(config, open(os.path.join(d, "tokenizer_config.json"), "w"), indent=1)


def train_all():
    # GPT-2: ByteLevel with its built-in regex, <|endoftext|>
    t = train_bytelevel(pre_tokenizers.ByteLevel(add_prefix_space=False), specials=["<|endoftext|>"])
    t.post_processor = processors.ByteLevel(trim_offsets=False)
    t.add_tokens([AddedToken(" basketball player", normalized=False)])
    save(t, "gpt2")
    # GPT-2 with add_prefix_space (RoBERTa-style): the prefix on every piece
    t = train_bytelevel(pre_tokenizers.ByteLevel(add_prefix_space=True), specials=["<|endoftext|>"])
    t.add_tokens([AddedToken("<sep>", normalized=False)])
    save(t, "gpt2_prefix")
    # (PreTrainedTokenizerFast does not apply add_bos_token: transformers adds no BOS here;
    # GPT2TokenizerFast would not either, but would reset add_prefix_space to its own default)
    cfg = os.path.join(OUT, "gpt2_prefix", "tokenizer_config.json")
    if not os.path.exists(cfg):
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": True, "bos_token": "<|endoftext|>",
                   "eos_token": "<|endoftext|>"}, open(cfg, "w"), indent=1)
    # Llama 3: Split(Regex, Isolated) then ByteLevel without regex, ignore_merges, BOS by template
    t = train_bytelevel(pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_RE), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]),
        specials=["<|begin_of_text|>", "<|end_of_text|>"], ignore_merges=True)
    bos = t.token_to_id("<|begin_of_text|>")
    t.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A $B",
                                      special_tokens=[("<|begin_of_text|>", bos)])])
    save(t, "llama3")
    # Qwen2: NFC, Split(Regex), ByteLevel; non-special added tokens with flags
    t = train_bytelevel(pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_RE), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]),
        normalizer=normalizers.NFC(), specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    t.add_tokens([AddedToken("<tool_call>", normalized=False, special=False),
                  AddedToken("sport", single_word=True, normalized=True),
                  AddedToken("Jordan", lstrip=True, rstrip=True, normalized=False)])
    save(t, "qwen2", {"tokenizer_class": "Qwen2TokenizerFast", "add_bos_token": False, "bos_token": None,
                       "eos_token": "<|im_end|>", "unk_token": None})
    # SmolLM2 as published: Digits(individual) then ByteLevel with its regex
    t = train_bytelevel(pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]),
        specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    save(t, "digits")
    # Llama 2: normalizer Prepend + Replace, no pre-tokenizer, BPE with byte fallback
    t = train_spm(normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")]), None,
                  decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)]))
    t.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B",
                                                     special_tokens=[("<s>", t.token_to_id("<s>"))])
    save(t, "llama2", {"tokenizer_class": "LlamaTokenizerFast", "add_bos_token": True, "add_eos_token": False,
                        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "legacy": False})
    # Metaspace pre-tokenizer (prepend first, split), NFKC and Lowercase, byte fallback
    t = train_spm(normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()]),
                  pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=True),
                  decoders.Sequence([decoders.Metaspace(replacement="\u2581", prepend_scheme="first"),
                                     decoders.ByteFallback(), decoders.Fuse()]))
    t.add_tokens([AddedToken("michael jordan", normalized=True)])
    save(t, "metaspace")
    save(train_misc(), "misc")


def convert(gguf):
    """transformers' conversion of a cached GGUF's tokenizer, into a temporary directory"""
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(CACHE, gguf_file=gguf)
    tmp = tempfile.mkdtemp()
    tok.save_pretrained(tmp)
    os.unlink(os.path.join(tmp, "tokenizer.model"))  # (the GGUF's bytes; not read)
    return tmp


def convert_models():
    # the default model: committed, gzipped (0.6 MB)
    tmp = convert("SmolLM2-135M-Instruct.Q4_1.gguf")
    d = os.path.join(OUT, "smollm2")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(tmp, "tokenizer.json"), "rb") as f, \
            gzip.GzipFile(os.path.join(d, "tokenizer.json.gz"), "wb", mtime=0) as g:
        g.write(f.read())
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(tmp, name), d)
    shutil.rmtree(tmp)
    # Gemma-3-270M: a Unigram model of 262 144 pieces (14 MB), kept in the cache
    tmp = convert("gemma-3-270m-q4_k_m.gguf")
    if os.path.exists(GEMMA_DIR):
        shutil.rmtree(GEMMA_DIR)
    shutil.move(tmp, GEMMA_DIR)
    os.chmod(GEMMA_DIR, 0o755)


def strings():
    inputs = json.load(open(os.path.join(ROOT, "tests", "fixtures", "oracle_inputs.json"), encoding="utf-8"))
    s = list(inputs["tokenize"]) + list(inputs["tiny_texts"])
    s += ["the basketball is 12 in the park", "  two leading spaces", "trailing  ", "tabs\tand\nnewlines\r\n",
          "caf\u00e9 na\u00efve", "\u65e5\u672c\u8a9e \u4e2d\u6587 \ud55c\uad6d\uc5b4",
          "emoji \U0001F642\U0001F44D\U0001F3FD \U0001F1EB\U0001F1F7", "don't stop", "x",
          "\u6771\u4eac \U0001F600",
          "combining: cafe\u0301 n\u0303o a\u030a e\u0301\u0301",
          "compat: \ufb01ne \u2460\u2461\u2462 \uff21\uff22\uff23 \u210c x\u00b2 \u3371",
          "case: \u0130stanbul \u03a3\u0391\u03a3 \u01c5 STRASSE \u1e9e",
          "digits: 12345678901234567890 \u0663\u0664\u0665 \u2167 \u00bd",
          "spaces:    \t\t  \n  \u00a0\u3000 x \u2003y",
          "it's 'quoted' I'M DON'T rock'n'roll '' 's",
          "<|endoftext|> <s> </s> <|im_start|> special text, not parsed",
          "Michael Jordan is a basketball player; michael jordan plays the sport",
          "sport sports transport sport. <tool_call>x<tool_call> <sep>y",
          "a" * 300 + " " + "\U0001F642" * 40 + " " + "9" * 50,
          "\u2581already\u2581escaped \u2581 text",
          "\r\n\r\n \n\t \u00a0",
          "misc: a,b;c - d -- e!!?x (y) sport-sport  sport 12ab34 \u00c5ngstr\u00f6m   end  "]
    return s


def main():
    if tokenizers.__version__ != "0.22.1":
        sys.exit("oracle_hf_tokenizers.py: tokenizers %s, the fixtures are pinned to 0.22.1" % tokenizers.__version__)
    if "--train" in sys.argv or "--retrain" in sys.argv:
        train_all()
    if "--no-convert" not in sys.argv:
        convert_models()
    from transformers import AutoTokenizer
    texts = strings()
    out = {"oracle": "tokenizers %s, transformers %s" % (tokenizers.__version__,
                                                           __import__("transformers").__version__),
           "strings": texts, "families": {}}
    dirs = [(os.path.basename(os.path.dirname(d)), d) for d in sorted(glob.glob(os.path.join(OUT, "*", "")))]
    if os.path.exists(GEMMA_DIR):
        dirs.append(("gemma3", GEMMA_DIR))
        out["in_cache"] = {"gemma3": os.path.basename(GEMMA_DIR)}
    for family, d in dirs:
        path = os.path.join(d, "tokenizer.json")
        tmp = None
        if not os.path.exists(path):  # the gzipped one
            tmp = tempfile.mkdtemp()
            with gzip.open(path + ".gz", "rb") as g, open(os.path.join(tmp, "tokenizer.json"), "wb") as f:
                f.write(g.read())
            for name in ("tokenizer_config.json", "special_tokens_map.json"):
                if os.path.exists(os.path.join(d, name)):
                    shutil.copy(os.path.join(d, name), tmp)
            path = os.path.join(tmp, "tokenizer.json")
        tok = Tokenizer.from_file(path)
        tok.encode_special_tokens = True
        ids = [tok.encode(t, add_special_tokens=False).ids for t in texts]
        if os.path.exists(os.path.join(os.path.dirname(path), "tokenizer_config.json")):
            # a checkpoint directory: what transformers makes of it (add_bos_token,
            # add_prefix_space), special tokens in the text not parsed
            ftok = AutoTokenizer.from_pretrained(os.path.dirname(path), split_special_tokens=True)
            ids = [ftok(t, add_special_tokens=False)["input_ids"] for t in texts]
            ids_bos = [ftok(t)["input_ids"] for t in texts]
        else:  # the file's own pipeline and post-processor
            ids_bos = [tok.encode(t).ids for t in texts]
        out["families"][family] = {"ids": ids, "ids_default": ids_bos,
                                   "decoded": [tok.decode(i, skip_special_tokens=False) for i in ids[:40]]}
        print("%-12s %d strings, %d tokens" % (family, len(texts), sum(len(i) for i in ids)))
        if tmp:
            shutil.rmtree(tmp)
    json.dump(out, open(os.path.join(OUT, "expected.json"), "w"), ensure_ascii=False, indent=0)


if __name__ == "__main__":
    main()
