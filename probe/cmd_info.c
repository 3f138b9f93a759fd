/* cmd_info.c - `factprobe info`: what a model file holds. */
#include "cli.h"

#include "../model/q8mm.h"
#include "../model/qmm.h"
#include "../model/quant.h"

#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char HELP[] =
	"usage: factprobe info [-m MODEL] [--tsv | --json] [--metadata]\n\n"
	"Prints the architecture, dimensions, tokenizer and parameter counts by\n"
	"component (embeddings, attention, MLP, norms, unembedding) with each\n"
	"component's share of the total, and how the weights are held in memory\n"
	"(native: in the file's own types, or f32; see 'factprobe --help'),\n"
	"how much memory they take, and how products are computed (--matmul\n"
	"exact, or q8: how many matrices are multiplied with 8-bit activations).\n\n"
	"  -m, --model PATH  model: GGUF file or Hugging Face checkpoint (dir or ORG/NAME)\n"
	"                    (default: $FACTPROBE_MODEL or the default model)\n"
	"      --tsv         key<TAB>value rows with a header\n"
	"      --json        one JSON object\n"
	"      --metadata    also list every GGUF metadata key\n"
	"  -h, --help        this help\n";

/* what info shows, gathered once for every format */
typedef struct info_t {
	const fp_model *m;
	const char *base, *wmode;
	gguf_str name;
	struct { const char *key; long long v; } dims[8];
	struct { const char *key; unsigned long long v; } parts[6];
	size_t nd, np;
	char types[128];
	double wmb, tot;
} info_t;

/* TSV: key<TAB>value rows */
static const tb_col KV[] = {
	{"key", NULL, TB_STR, NULL, 0, NULL, 0, NULL},
	{"value", NULL, TB_STR, NULL, 0, NULL, 0, NULL},
};
/* text: the parameters by component, and the metadata */
static const tb_col PARAMS[] = {
	{NULL, NULL, TB_STR, "  %-11s", 0, NULL, 1, NULL},
	{NULL, NULL, TB_INT, " %14d", 0, NULL, 0, NULL},
	{NULL, NULL, TB_REAL, " %6.1f%%", 0, NULL, 0, NULL},
};
static const tb_col META[] = {
	{NULL, NULL, TB_STR, "  %s", 0, NULL, 1, NULL},
	{NULL, NULL, TB_STR, " = %s", 0, NULL, 1, NULL},
};

/* a TSV row: key, and the value printf formats */
static void __attribute__((format(printf, 3, 4))) kv(tb_table *t, const char *key, const char *fmt, ...)
{
	char v[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v, sizeof v, fmt, ap);
	va_end(ap);
	tb_str(t, key, strlen(key)), tb_str(t, v, strlen(v));
}

/* the architecture's sentences (text) and keys (JSON) */
static void info_arch(tb_doc *d, const fp_model *m)
{
	const fp_config *cf = &m->cfg;
	static const char *ACT[] = {"SwiGLU", "GELU-tanh", "GELU"};
	tb_say(d, "architecture  %s (%s, %s, %s%s MLP%s%s%s)\n", cf->arch_name, cf->layer_norm ? "LayerNorm" : "RMSNorm",
	       cf->rope_dim > 0 ? "RoPE" : "learned positions", cf->gated_mlp && cf->mlp_act != FP_ACT_SILU ? "gated " : "",
	       ACT[cf->mlp_act], cf->qk_norm ? ", Q/K norms" : "", cf->post_norms ? ", post-attention and post-MLP norms" : "",
	       cf->parallel_resid ? ", parallel attention and MLP" : "");
	tb_say(d, "dimensions    %d layers, d_model %d, d_mlp %d, %d heads (%d kv heads) of %d, vocab %d, context %d\n",
	       cf->n_layers, cf->d_model, cf->d_mlp, cf->n_heads, cf->n_kv_heads, cf->d_head, cf->n_vocab, cf->n_ctx);
	tb_doc_real(d, "norm_eps", cf->norm_eps);
	if (cf->rope_dim > 0) {
		tb_doc_real(d, "rope_base", cf->rope_base);
		tb_doc_int(d, "rope_dim", cf->rope_dim);
		tb_doc_str(d, "rope_scaling", m->rope_freqs || cf->rope_l3_factor > 0 ? "llama3"
					      : cf->rope_scale != 1.0f ? "linear" : "none");
		tb_say(d, "rope          base %g over %d of %d dims per head, %s pairs%s\n", cf->rope_base, cf->rope_dim,
		       cf->d_head, cf->rope_neox ? "half-split" : "adjacent",
		       m->rope_freqs ? ", Llama 3 scaling (rope_freqs divisors)"
		       : cf->rope_l3_factor > 0 ? ", Llama 3 scaling" : cf->rope_scale != 1.0f ? ", linear scaling" : "");
	}
	if (cf->n_swa > 0) {
		int ns = 0;
		for (int l = 0; l < cf->n_layers; l++)
			ns += fp_config_layer_swa(cf, l);
		tb_say(d, "attention     sliding window of %d on %d of %d layers", cf->n_swa, ns, cf->n_layers);
		if (cf->rope_base_swa > 0)
			tb_say(d, " (their RoPE base %g)", cf->rope_base_swa);
		tb_say(d, "\n");
	}
	if (cf->attn_softcap > 0 || cf->final_softcap > 0)
		tb_say(d, "soft-capping  attention scores %g, logits %g (0: none)\n", cf->attn_softcap, cf->final_softcap);
	tb_say(d, "norm eps      %g\n", cf->norm_eps);
	tb_say(d, "unembedding   %s%s\n", cf->tied_unembed ? "tied to the token embedding" : "separate (output.weight)",
	       m->unembed_b ? ", with a bias (output.bias)" : "");
	tb_doc_bool(d, "tied_unembed", cf->tied_unembed);
}

/* the parameters by component: JSON's params object, TSV's params_ rows, text's table */
static void info_params(tb_doc *d, const info_t *I, tb_table *tsv)
{
	const fp_param_counts *p = &I->m->params;
	tb_table t;
	tb_doc_open(d, "params");
	tb_say(d, "\nparameters    %14s %7s\n", "count", "share");
	tb_doc_table(d, &t, PARAMS, 3, 0);
	for (size_t i = 0; i < I->np; i++) {
		char k[32];
		tb_doc_int(d, I->parts[i].key, (long long)I->parts[i].v);
		snprintf(k, sizeof k, "params_%s", I->parts[i].key);
		kv(tsv, k, "%llu", I->parts[i].v);
		if (I->parts[i].v || i < 4)
			tb_str(&t, I->parts[i].key, strlen(I->parts[i].key)), tb_int(&t, (long long)I->parts[i].v),
				tb_real(&t, 100.0 * I->parts[i].v / I->tot);
	}
	tb_doc_int(d, "total", (long long)p->total);
	tb_doc_close(d);
	kv(tsv, "params_total", "%llu", (unsigned long long)p->total);
	tb_str(&t, "total", 5), tb_int(&t, (long long)p->total), tb_real(&t, 100.0);
	json_decref(tb_end(&t));
}

/* every GGUF metadata key: JSON's metadata object, text's list */
static void info_meta(tb_doc *d, const fp_model *m)
{
	tb_table t;
	tb_say(d, "\nmetadata (%llu keys)\n", (unsigned long long)m->gguf->n_kv);
	tb_doc_open(d, "metadata");
	tb_doc_table(d, &t, META, 2, 0);
	for (uint64_t i = 0; i < m->gguf->n_kv; i++) {
		char val[512], *k = gguf_strdup(m->gguf->kv[i].key);
		gguf_kv_format(&m->gguf->kv[i], val, sizeof val);
		if (k)
			tb_doc_str(d, k, val);
		tb_str(&t, m->gguf->kv[i].key.ptr, m->gguf->kv[i].key.len), tb_str(&t, val, strlen(val));
		free(k);
	}
	json_decref(tb_end(&t));
	tb_doc_close(d);
}

/* the weight matrices of the products (the blocks' and the unembedding) */
static int n_mats(const fp_model *m)
{
	int n = 1;
	for (int l = 0; l < m->cfg.n_layers; l++) {
		const fp_mat *ls[7];
		n += fp_layer_mats(&m->layers[l], ls);
	}
	return n;
}

/* what the model holds in fmt: text, TSV or JSON */
static void info_emit(const info_t *I, int fmt, int meta)
{
	const fp_model *m = I->m;
	const fp_config *cf = &m->cfg;
	const char *tok = !m->tok ? "none" : fp_tokenizer_kind(m->tok) == FP_TOK_SPM ? "spm" : "bpe";
	const char *pre = m->tok ? fp_tokenizer_pre(m->tok) : "none";
	tb_doc d;
	tb_table tsv;
	tb_doc_begin(&d, stdout, fmt);
	tb_doc_table(&d, &tsv, KV, 2, 0);
	tb_doc_str(&d, "file", I->base);
	tb_doc_strn(&d, "name", I->name.ptr, I->name.len);
	tb_doc_str(&d, "architecture", cf->arch_name);
	kv(&tsv, "file", "%s", I->base), kv(&tsv, "architecture", "%s", cf->arch_name);
	tb_say(&d, "model         %s (", I->base);
	tb_say_plain(&d, I->name.ptr, I->name.len);
	tb_say(&d, ")\n");
	for (size_t i = 0; i < I->nd; i++)
		tb_doc_int(&d, I->dims[i].key, I->dims[i].v), kv(&tsv, I->dims[i].key, "%lld", I->dims[i].v);
	info_arch(&d, m);
	tb_doc_str(&d, "weights", I->wmode);
	tb_doc_int(&d, "weight_bytes", (long long)fp_model_weight_bytes(m));
	tb_doc_str(&d, "tensor_types", I->types);
	if (m->weights == FP_WEIGHTS_NATIVE)
		tb_say(&d, "weights       native: matrices in the file's types (%s), dequantised just before each matrix "
			   "product; %.0f MB (%.0f MB mapped from the file, %.1f MB of f32 vectors)\n",
		       I->types, I->wmb, m->mapped_bytes / 1e6, m->block_floats * 4.0 / 1e6);
	else
		tb_say(&d, "weights       f32: dequantised at load from %s; %.0f MB\n", I->types, I->wmb);
	tb_doc_str(&d, "matmul", fp_matmul_name(m->matmul));
	if (m->matmul == FP_MATMUL_Q8) {
		tb_doc_int(&d, "q8_matrices", m->q8_matrices);
		tb_say(&d, "matmul        q8: %d of %d matrices multiplied with 8-bit activations as llama.cpp does "
		       "(%s; approximate), the rest exact\n", m->q8_matrices, n_mats(m), q8mm_isa());
	} else {
		tb_say(&d, "matmul        exact: every product in f32\n");
	}
	int nq = m->weights == FP_WEIGHTS_NATIVE ? fp_model_qmm_matrices(m) : 0;
	if (nq)
		tb_say(&d, "short prompts %d matrices multiplied straight from their blocks for up to 16 positions "
		       "(no f32 copy; %s)\n", nq, qmm_isa());
	const char *ct = getenv("OPENBLAS_CORETYPE");
	int nt;
	const char *core = fp_blas_core(&nt);
	tb_say(&d, "blas          OpenBLAS, %s kernels, %d threads%s%s%s\n", core, nt,
	       ct ? " (chosen by OPENBLAS_CORETYPE=" : "", ct ? ct : "", ct ? " in the environment)" : "");
	if (m->tok) {
		tb_doc_str(&d, "tokenizer", tok);
		tb_doc_str(&d, "pre_tokenizer", pre);
		tb_doc_bool(&d, "add_bos", fp_tokenizer_adds_bos(m->tok));
		tb_say(&d, "tokenizer     %s, pre-tokenizer %s, %s BOS\n",
		       fp_tokenizer_kind(m->tok) == FP_TOK_SPM ? "SentencePiece-style BPE" : "byte-level BPE", pre,
		       fp_tokenizer_adds_bos(m->tok) ? "adds" : "no");
	} else { /* a checkpoint without a usable tokenizer */
		tb_doc_set(&d, "tokenizer", json_null());
		tb_doc_str(&d, "tokenizer_error", m->tok_error.msg);
		tb_say(&d, "tokenizer     none: %s\n", m->tok_error.msg);
	}
	kv(&tsv, "tokenizer", "%s", tok), kv(&tsv, "pre_tokenizer", "%s", pre);
	info_params(&d, I, &tsv);
	tb_doc_real(&d, "mlp_share", m->params.mlp / I->tot);
	kv(&tsv, "mlp_share", "%.4f", m->params.mlp / I->tot);
	kv(&tsv, "weights", "%s", I->wmode), kv(&tsv, "weight_bytes", "%zu", fp_model_weight_bytes(m));
	kv(&tsv, "tensor_types", "%s", I->types);
	kv(&tsv, "matmul", "%s", fp_matmul_name(m->matmul));
	if (m->matmul == FP_MATMUL_Q8)
		kv(&tsv, "q8_matrices", "%d", m->q8_matrices);
	json_decref(tb_end(&tsv));
	tb_say(&d, "\nMLP share of all parameters: %.1f%%\n", 100.0 * m->params.mlp / I->tot);
	if (meta)
		info_meta(&d, m);
	tb_doc_end(&d);
}

int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{"model", required_argument, 0, 'm'}, {"tsv", no_argument, 0, 'T'}, {"json", no_argument, 0, 'J'},
		{"metadata", no_argument, 0, 'M'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	const char *model = NULL;
	int fmt = FMT_TEXT, meta = 0, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model = optarg; break;
		case 'T': fmt = FMT_TSV; break;
		case 'J': fmt = FMT_JSON; break;
		case 'M': meta = 1; break;
		case 'h': cli_help(HELP); return 0;
		default: return cli_bad_option("info", c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("info", "unexpected argument '%s'", argv[optind]);
	fp_model *m = cli_load_model("info", model);
	if (!m)
		return 1;
	info_t I = {.m = m, .nd = 8, .np = 6};
	const fp_config *cf = &m->cfg;
	const fp_param_counts *p = &m->params;
	const char *path = m->gguf->path, *base = strrchr(path, '/');
	I.base = base && !m->hf ? base + 1 : path; /* a checkpoint: the whole directory */
	I.name = (gguf_str){"", 0};
	gguf_get_str(m->gguf, "general.name", &I.name, NULL);
	long long dv[8] = {cf->n_layers, cf->d_model, cf->d_mlp, cf->n_heads, cf->n_kv_heads, cf->d_head, cf->n_vocab, cf->n_ctx};
	static const char *DK[8] = {"n_layers", "d_model", "d_mlp", "n_heads", "n_kv_heads", "d_head", "d_vocab", "n_ctx"};
	unsigned long long pv[6] = {p->embed, p->attn, p->mlp, p->norm, p->unembed, p->other};
	static const char *PK[6] = {"embed", "attn", "mlp", "norm", "unembed", "other"};
	for (int i = 0; i < 8; i++)
		I.dims[i].key = DK[i], I.dims[i].v = dv[i];
	for (int i = 0; i < 6; i++)
		I.parts[i].key = PK[i], I.parts[i].v = pv[i];
	int seen[GGML_TYPE_MAX] = {0};
	for (uint64_t i = 0; i < m->gguf->n_tensors; i++) {
		uint32_t t = m->gguf->tensors[i].type;
		if (t < GGML_TYPE_MAX && !seen[t] && ggml_type_name(t) && strlen(I.types) + 12 < sizeof I.types) {
			seen[t] = 1;
			snprintf(I.types + strlen(I.types), sizeof I.types - strlen(I.types), "%s%s", *I.types ? " " : "",
				 ggml_type_name(t));
		}
	}
	I.wmode = fp_weights_name(m->weights);
	I.wmb = fp_model_weight_bytes(m) / 1e6;
	I.tot = p->total ? (double)p->total : 1;
	info_emit(&I, fmt, meta);
	fp_model_free(m);
	return 0;
}
