/* test_parse.c - probe/parse.c, the one parser each for neuron refs, hook
 * patterns, positions (--at) and BOS detection: the forms each accepts give
 * the values they name, the rest are errors of the right kind (FP_ERR_FORMAT
 * for syntax, a usage error; FP_ERR_INVALID or UNSUPPORTED for what does not
 * fit the model).  Models: tests/tiny.c's llama (byte-level BPE, BOS not
 * added) and its SentencePiece twin (BOS added). */
#include "check.h"
#include "tiny.h"
#include "../model/model.h"
#include "../probe/parse.h"

#include <stdlib.h>
#include <string.h>

static void test_neuron(void)
{
	int l = -9, n = -9, L[4], N[4], k = 0;
	fp_error err = {0};
	CHECK(ps_neuron("12.345", 6, 0, 0, &l, &n, &err) == 0 && l == 12 && n == 345, "12.345 is layer 12 neuron 345");
	CHECK(ps_neuron("1.5,2.7", 3, 2, 128, &l, &n, &err) == 0 && l == 1 && n == 5, "a ref ends at len");
	const char *bad[] = {"", "12", "12.", ".5", "a.5", "1.5x", "1..5", "1,5"};
	for (int i = 0; i < 8; i++)
		CHECK(ps_neuron(bad[i], strlen(bad[i]), 0, 0, &l, &n, &err) == FP_ERR_FORMAT &&
			      strstr(err.msg, "LAYER.NEURON"), "'%s' is a syntax error: %s", bad[i], err.msg);
	CHECK(ps_neuron("2.5", 3, 2, 128, &l, &n, &err) == FP_ERR_INVALID && strstr(err.msg, "layers 0..1"),
	      "layer 2 of 2 is out of range: %s", err.msg);
	CHECK(ps_neuron("1.128", 5, 2, 128, &l, &n, &err) == FP_ERR_INVALID && strstr(err.msg, "neurons 0..127"),
	      "neuron 128 of 128 is out of range: %s", err.msg);
	CHECK(ps_neuron("-1.3", 4, 2, 128, &l, &n, &err) == FP_ERR_INVALID, "a negative layer is out of range");
	CHECK(ps_neuron_list("0.1,1.127,0.0", 2, 128, 4, L, N, &k, &err) == 0 && k == 3 && L[1] == 1 && N[1] == 127 &&
		      L[2] == 0 && N[2] == 0, "a list of 3");
	CHECK(ps_neuron_list("0.1,0.2,0.3", 2, 128, 2, L, N, &k, &err) == FP_ERR_INVALID, "more than max: %s", err.msg);
	CHECK(ps_neuron_list("0.1,,0.3", 2, 128, 4, L, N, &k, &err) == FP_ERR_FORMAT, "an empty item: %s", err.msg);
	CHECK(ps_neuron_list("0.1,", 2, 128, 4, L, N, &k, &err) == FP_ERR_FORMAT, "a trailing comma: %s", err.msg);
}

static void test_hook(const fp_model *m)
{
	int kind, layer;
	fp_error err = {0};
	struct { const char *s; int kind, layer; } ok[] = {
		{"blocks.*.hook_resid_post", FP_HOOK_RESID_POST, -1}, {"hook_resid_post", FP_HOOK_RESID_POST, -1},
		{"mlp.hook_post", FP_HOOK_MLP_POST, -1},               {"blocks.1.mlp.hook_post", FP_HOOK_MLP_POST, 1},
		{"attn.hook_z", FP_HOOK_ATTN_Z, -1},                    {"blocks.0.hook_resid_pre", FP_HOOK_RESID_PRE, 0},
	};
	for (int i = 0; i < 6; i++)
		CHECK(ps_hook_pattern_model(m, ok[i].s, &kind, &layer, &err) == 0 && kind == ok[i].kind &&
			      layer == ok[i].layer, "'%s' is kind %d layer %d (got %d %d)", ok[i].s, ok[i].kind, ok[i].layer,
		      kind, layer);
	const char *bad[] = {"hook_embed", "ln_final.hook_normalized", "blocks.x.hook_resid_post", "resid", ""};
	for (int i = 0; i < 5; i++)
		CHECK(ps_hook_pattern(bad[i], &kind, &layer, &err) == FP_ERR_FORMAT, "'%s' is not a per-layer hook: %s",
		      bad[i], err.msg);
	CHECK(ps_hook_pattern("blocks.7.hook_resid_post", &kind, &layer, &err) == 0 && layer == 7,
	      "without a model any layer parses");
	CHECK(ps_hook_pattern_model(m, "blocks.2.hook_resid_post", &kind, &layer, &err) == FP_ERR_INVALID &&
		      strstr(err.msg, "0..1"), "layer 2 of a 2-layer model: %s", err.msg);
}

static void test_layers_hooks(const fp_model *m)
{
	char sel[4];
	fp_error err = {0};
	CHECK(ps_layers("0-1,3", 4, sel, &err) == 0 && sel[0] && sel[1] && !sel[2] && sel[3], "0-1,3 of 4 blocks");
	const char *bad[] = {"4", "1-0", "-1", "1,x", "a", "0--1"};
	for (int i = 0; i < 6; i++)
		CHECK(ps_layers(bad[i], 4, sel, &err) == FP_ERR_FORMAT && strstr(err.msg, "0-3"), "'%s' of 4 blocks: %s",
		      bad[i], err.msg);
	h5rec_hook h[64];
	int n = 0;
	CHECK(ps_hook_select(m, "blocks.*.mlp.hook_post,hook_embed", NULL, h, 64, &n, &err) == 0 && n == 3 &&
		      !strcmp(h[0].name, "blocks.0.mlp.hook_post") && h[1].layer == 1 && h[2].kind == FP_HOOK_EMBED &&
		      h[2].layer == -1 && h[0].width == m->cfg.d_mlp && h[2].width == m->cfg.d_model,
	      "mlp.hook_post at both blocks, then hook_embed (%d hooks)", n);
	char only1[2] = {0, 1};
	CHECK(ps_hook_select(m, "blocks.?.hook_resid_post,blocks.1.hook_resid_post", only1, h, 64, &n, &err) == 0 &&
		      n == 1 && h[0].layer == 1, "? and a selected block; a hook matched twice is listed once (%d)", n);
	CHECK(ps_hook_select(m, "blocks.*.mlp.hook_post,nope", NULL, h, 64, &n, &err) == FP_ERR_INVALID &&
		      strstr(err.msg, "'nope' matches no hook"), "a pattern matching nothing: %s", err.msg);
	CHECK(ps_hook_select(m, "*", NULL, h, 3, &n, &err) == FP_ERR_INVALID, "more hooks than room: %s", err.msg);
}

static void test_at(void)
{
	int mode, pos, p;
	fp_error err = {0};
	unsigned all = 0xf;
	CHECK(ps_at("last", all, &mode, &pos, &err) == 0 && mode == AT_LAST, "last");
	CHECK(ps_at("subject-last", all, &mode, &pos, &err) == 0 && mode == AT_SUBJECT_LAST, "subject-last");
	CHECK(ps_at("all", all, &mode, &pos, &err) == 0 && mode == AT_ALL, "all");
	CHECK(ps_at("-2", all, &mode, &pos, &err) == 0 && mode == AT_POS && pos == -2, "-2");
	CHECK(ps_at("all", 1u << AT_LAST, &mode, &pos, &err) == FP_ERR_FORMAT && !strcmp(err.msg, "--at takes last, not 'all'"),
	      "a mode not allowed: %s", err.msg);
	CHECK(ps_at("3x", all, &mode, &pos, &err) == FP_ERR_FORMAT && strstr(err.msg, "or a token index"), "3x: %s",
	      err.msg);
	CHECK(ps_at_position(AT_LAST, 0, 5, -1, &p, &err) == 0 && p == 4, "last of 5 is 4");
	CHECK(ps_at_position(AT_POS, -5, 5, -1, &p, &err) == 0 && p == 0, "-5 of 5 is 0");
	CHECK(ps_at_position(AT_POS, 4, 5, -1, &p, &err) == 0 && p == 4, "4 of 5 is 4");
	CHECK(ps_at_position(AT_POS, 5, 5, -1, &p, &err) == FP_ERR_INVALID && strstr(err.msg, "outside"), "5 of 5: %s",
	      err.msg);
	CHECK(ps_at_position(AT_POS, -6, 5, -1, &p, &err) == FP_ERR_INVALID, "-6 of 5 is outside");
	CHECK(ps_at_position(AT_SUBJECT_LAST, 0, 5, 3, &p, &err) == 0 && p == 2, "subject [.., 3) ends at 2");
	CHECK(ps_at_position(AT_SUBJECT_LAST, 0, 5, -1, &p, &err) == FP_ERR_INVALID && strstr(err.msg, "needs a subject"),
	      "subject-last without a subject: %s", err.msg);
	CHECK(!strcmp(ps_at_name(AT_SUBJECT_LAST), "subject-last") && !strcmp(ps_at_name(9), "?"), "names");
}

static void test_bos(const fp_model *bpe, const fp_model *spm)
{
	fp_error err = {0};
	int32_t *ids = NULL;
	int n = 0;
	int bos = fp_tokenizer_bos(spm->tok);
	CHECK(fp_tokenize(spm->tok, "ab", 2, -1, &ids, &n, &err) == 0 && n > 0 && ids[0] == bos,
	      "the SentencePiece tokenizer adds BOS %d", bos);
	CHECK(ps_has_bos(spm, ids, n, -1) == 1 && ps_has_bos(spm, ids, n, 1) == 1 && ps_has_bos(spm, ids, n, 0) == 0,
	      "its BOS: by default and when asked for, not when refused");
	CHECK(ps_has_bos(spm, ids + 1, n - 1, -1) == 0, "a sequence not starting with BOS has none");
	free(ids);
	int32_t b[2] = {fp_tokenizer_bos(bpe->tok), 'a'};
	CHECK(ps_has_bos(bpe, b, 2, -1) == 0 && ps_has_bos(bpe, b, 2, 1) == 1,
	      "byte-level BPE that adds no BOS: a leading BOS id counts only when one was asked for");
	CHECK(ps_has_bos(bpe, b, 0, 1) == 0, "an empty sequence has none");
}

int main(void)
{
	tiny_opts o, os;
	tiny_defaults(&o, "llama");
	tiny_defaults(&os, "llama");
	os.spm_vocab = 1;
	fp_model *m = NULL, *ms = NULL;
	fp_error err = {0};
	CHECK(tiny_load(&o, &m, &err) == 0 && tiny_load(&os, &ms, &err) == 0, "tiny models load: %s", err.msg);
	test_neuron();
	test_at();
	if (m && ms) {
		test_hook(m);
		test_layers_hooks(m);
		test_bos(m, ms);
	}
	fp_model_free(m), fp_model_free(ms);
	return check_done("test_parse");
}
