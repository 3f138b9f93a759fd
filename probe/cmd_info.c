/* cmd_info.c - `factprobe info`: what a model file holds. */
#include "cli.h"

#include "../model/quant.h"

#include <getopt.h>
#include <jansson.h>
#include <string.h>

static const char HELP[] =
	"usage: factprobe info [-m MODEL] [--tsv | --json] [--metadata]\n\n"
	"Prints the architecture, dimensions, tokenizer and parameter counts by\n"
	"component (embeddings, attention, MLP, norms, unembedding) with each\n"
	"component's share of the total, and how the weights are held in memory\n"
	"(native: in the file's own types, or f32; see 'factprobe --help') and\n"
	"how much memory they take.\n\n"
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

static void info_json(const info_t *I, int meta)
{
	const fp_model *m = I->m;
	const fp_config *cf = &m->cfg;
	const fp_param_counts *p = &m->params;
	const char *base = I->base, *wmode = I->wmode, *types = I->types;
	size_t nd = I->nd, np = I->np;
	double tot = I->tot;
	json_t *o = json_object(), *pj = json_object();
	json_object_set_new(o, "file", json_string(base));
	json_object_set_new(o, "name", json_stringn(I->name.ptr, I->name.len));
	json_object_set_new(o, "architecture", json_string(cf->arch_name));
	for (size_t i = 0; i < nd; i++)
		json_object_set_new(o, I->dims[i].key, json_integer(I->dims[i].v));
	json_object_set_new(o, "norm_eps", json_real(cf->norm_eps));
	if (cf->rope_dim > 0) {
		json_object_set_new(o, "rope_base", json_real(cf->rope_base));
		json_object_set_new(o, "rope_dim", json_integer(cf->rope_dim));
		json_object_set_new(o, "rope_scaling", json_string(m->rope_freqs || cf->rope_l3_factor > 0 ? "llama3"
								   : cf->rope_scale != 1.0f ? "linear" : "none"));
	}
	json_object_set_new(o, "tied_unembed", json_boolean(cf->tied_unembed));
	json_object_set_new(o, "weights", json_string(wmode));
	json_object_set_new(o, "weight_bytes", json_integer((json_int_t)fp_model_weight_bytes(m)));
	json_object_set_new(o, "tensor_types", json_string(types));
	if (m->tok) {
		json_object_set_new(o, "tokenizer", json_string(fp_tokenizer_kind(m->tok) == FP_TOK_SPM ? "spm" : "bpe"));
		json_object_set_new(o, "pre_tokenizer", json_string(fp_tokenizer_pre(m->tok)));
		json_object_set_new(o, "add_bos", json_boolean(fp_tokenizer_adds_bos(m->tok)));
	} else {
		json_object_set_new(o, "tokenizer", json_null());
		json_object_set_new(o, "tokenizer_error", json_string(m->tok_error.msg));
	}
	for (size_t i = 0; i < np; i++)
		json_object_set_new(pj, I->parts[i].key, json_integer((json_int_t)I->parts[i].v));
	json_object_set_new(pj, "total", json_integer((json_int_t)p->total));
	json_object_set_new(o, "params", pj);
	json_object_set_new(o, "mlp_share", json_real(p->mlp / tot));
	if (meta) {
		json_t *md = json_object();
		for (uint64_t i = 0; i < m->gguf->n_kv; i++) {
			char val[512], *k = gguf_strdup(m->gguf->kv[i].key), *v;
			gguf_kv_format(&m->gguf->kv[i], val, sizeof val);
			v = tb_utf8_clean(val, strlen(val));
			if (k && v)
				json_object_set_new(md, k, json_string(v));
			free(k), free(v);
		}
		json_object_set_new(o, "metadata", md);
	}
	json_dumpf(o, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(o);
}

static void info_tsv(const info_t *I)
{
	const fp_model *m = I->m;
	const fp_config *cf = &m->cfg;
	const fp_param_counts *p = &m->params;
	const char *base = I->base, *wmode = I->wmode, *types = I->types;
	size_t nd = I->nd, np = I->np;
	double tot = I->tot;
	printf("key\tvalue\n");
	printf("file\t%s\narchitecture\t%s\n", base, cf->arch_name);
	for (size_t i = 0; i < nd; i++)
		printf("%s\t%lld\n", I->dims[i].key, I->dims[i].v);
	printf("tokenizer\t%s\npre_tokenizer\t%s\n", !m->tok ? "none" : fp_tokenizer_kind(m->tok) == FP_TOK_SPM ? "spm" : "bpe",
	       m->tok ? fp_tokenizer_pre(m->tok) : "none");
	for (size_t i = 0; i < np; i++)
		printf("params_%s\t%llu\n", I->parts[i].key, I->parts[i].v);
	printf("params_total\t%llu\nmlp_share\t%.4f\n", (unsigned long long)p->total, p->mlp / tot);
	printf("weights\t%s\nweight_bytes\t%zu\ntensor_types\t%s\n", wmode, fp_model_weight_bytes(m), types);
}

static void info_text(const info_t *I, int meta)
{
	const fp_model *m = I->m;
	const fp_config *cf = &m->cfg;
	const fp_param_counts *p = &m->params;
	const char *base = I->base, *types = I->types;
	size_t np = I->np;
	double tot = I->tot, wmb = I->wmb;
	printf("model         %s (%.*s)\n", base, (int)I->name.len, I->name.ptr);
	static const char *ACT[] = {"SwiGLU", "GELU-tanh", "GELU"};
	printf("architecture  %s (%s, %s, %s%s MLP%s%s%s)\n", cf->arch_name, cf->layer_norm ? "LayerNorm" : "RMSNorm",
	       cf->rope_dim > 0 ? "RoPE" : "learned positions",
	       cf->gated_mlp && cf->mlp_act != FP_ACT_SILU ? "gated " : "", ACT[cf->mlp_act],
	       cf->qk_norm ? ", Q/K norms" : "", cf->post_norms ? ", post-attention and post-MLP norms" : "",
	       cf->parallel_resid ? ", parallel attention and MLP" : "");
	printf("dimensions    %d layers, d_model %d, d_mlp %d, %d heads (%d kv heads) of %d, vocab %d, context %d\n",
	       cf->n_layers, cf->d_model, cf->d_mlp, cf->n_heads, cf->n_kv_heads, cf->d_head, cf->n_vocab, cf->n_ctx);
	if (cf->rope_dim > 0)
		printf("rope          base %g over %d of %d dims per head, %s pairs%s\n", cf->rope_base, cf->rope_dim,
		       cf->d_head, cf->rope_neox ? "half-split" : "adjacent",
		       m->rope_freqs ? ", Llama 3 scaling (rope_freqs divisors)"
		       : cf->rope_l3_factor > 0 ? ", Llama 3 scaling" : cf->rope_scale != 1.0f ? ", linear scaling" : "");
	if (cf->n_swa > 0) {
		int ns = 0;
		for (int l = 0; l < cf->n_layers; l++)
			ns += fp_config_layer_swa(cf, l);
		printf("attention     sliding window of %d on %d of %d layers", cf->n_swa, ns, cf->n_layers);
		if (cf->rope_base_swa > 0)
			printf(" (their RoPE base %g)", cf->rope_base_swa);
		printf("\n");
	}
	if (cf->attn_softcap > 0 || cf->final_softcap > 0)
		printf("soft-capping  attention scores %g, logits %g (0: none)\n", cf->attn_softcap, cf->final_softcap);
	printf("norm eps      %g\n", cf->norm_eps);
	printf("unembedding   %s%s\n", cf->tied_unembed ? "tied to the token embedding" : "separate (output.weight)",
	       m->unembed_b ? ", with a bias (output.bias)" : "");
	if (m->weights == FP_WEIGHTS_NATIVE)
		printf("weights       native: matrices in the file's types (%s), dequantised just before each matrix "
		       "product; %.0f MB (%.0f MB mapped from the file, %.1f MB of f32 vectors)\n", types, wmb,
		       m->mapped_bytes / 1e6, m->block_floats * 4.0 / 1e6);
	else
		printf("weights       f32: dequantised at load from %s; %.0f MB\n", types, wmb);
	if (m->tok)
		printf("tokenizer     %s, pre-tokenizer %s, %s BOS\n",
		       fp_tokenizer_kind(m->tok) == FP_TOK_SPM ? "SentencePiece-style BPE" : "byte-level BPE",
		       fp_tokenizer_pre(m->tok), fp_tokenizer_adds_bos(m->tok) ? "adds" : "no");
	else
		printf("tokenizer     none: %s\n", m->tok_error.msg);
	printf("\nparameters    %14s %7s\n", "count", "share");
	for (size_t i = 0; i < np; i++)
		if (I->parts[i].v || i < 4)
			printf("  %-11s %14llu %6.1f%%\n", I->parts[i].key, I->parts[i].v, 100.0 * I->parts[i].v / tot);
	printf("  %-11s %14llu %6.1f%%\n", "total", (unsigned long long)p->total, 100.0);
	printf("\nMLP share of all parameters: %.1f%%\n", 100.0 * p->mlp / tot);
	if (meta) {
		printf("\nmetadata (%llu keys)\n", (unsigned long long)m->gguf->n_kv);
		for (uint64_t i = 0; i < m->gguf->n_kv; i++) {
			char val[512];
			gguf_kv_format(&m->gguf->kv[i], val, sizeof val);
			printf("  %.*s = %s\n", (int)m->gguf->kv[i].key.len, m->gguf->kv[i].key.ptr, val);
		}
	}
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
		case 'h': fputs(HELP, stdout); return 0;
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
	if (fmt == FMT_JSON)
		info_json(&I, meta);
	else if (fmt == FMT_TSV)
		info_tsv(&I);
	else
		info_text(&I, meta);
	fp_model_free(m);
	return 0;
}
