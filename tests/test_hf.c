/* test_hf.c - Hugging Face checkpoint directories (model/hf.c,
 * model/safetensors.c):
 *   1. the safetensors reader on hostile headers: every truncation, offsets
 *      past the end or overlapping, sizes that disagree with shape x dtype,
 *      unknown dtypes, absurd header lengths: FP_ERR_FORMAT naming the field;
 *   2. tiny llama / qwen2 / qwen3 models written as GGUF and as checkpoints
 *      (tests/hf_writer.c: llama q/k rows un-permuted as transformers does,
 *      read back with half-split RoPE): the same logits; BF16 and F16
 *      checkpoints hold exactly the rounded values; sharded = unsharded;
 *      bad checkpoints (missing config field, unknown architecture, missing
 *      shard, I8 tensor, wrong shape, unsupported rope_scaling, an unused
 *      tensor) are one error naming the file and the field;
 *   3. with the default model: its checkpoint written without torch has
 *      tensors byte-identical (sha256) to the one transformers made from the
 *      GGUF (F32, BF16, F16); factprobe on it gives the GGUF's logits and MLP
 *      activations, and transformers' own logits and activations on
 *      transformers' checkpoints (fixtures from scripts/oracle_hf_checkpoint.py).
 * usage: test_hf FIXTURE_DIR [MODEL.gguf] */
#include "check.h"
#include "hf_writer.h"
#include "tiny.h"
#include "../model/model.h"
#include "../model/quant.h"
#include "../model/safetensors.h"

#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

/* ---- a safetensors writer for the tests ---- */

typedef struct wt {
	const char *name, *dtype;
	int nd;
	uint64_t shape[4];
	const void *data;
	size_t nbytes;
	long long off_fudge; /* added to the begin offset written (overlap tests) */
	long long end_fudge; /* added to the end offset written */
} wt;

static uint8_t *st_build(const wt *t, int n, size_t *size)
{
	json_t *h = json_object();
	long long off = 0;
	for (int i = 0; i < n; i++) {
		json_t *sh = json_array();
		for (int d = 0; d < t[i].nd; d++)
			json_array_append_new(sh, json_integer((json_int_t)t[i].shape[d]));
		json_object_set_new(h, t[i].name, json_pack("{s:s, s:o, s:[I, I]}", "dtype", t[i].dtype, "shape", sh,
							    "data_offsets", off + t[i].off_fudge,
							    off + (long long)t[i].nbytes + t[i].end_fudge));
		off += (long long)t[i].nbytes;
	}
	char *txt = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(h);
	size_t hl = strlen(txt), pad = (8 - hl % 8) % 8;
	*size = 8 + hl + pad + (size_t)off;
	uint8_t *b = calloc(1, *size);
	uint64_t hn = hl + pad;
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(hn >> (8 * i));
	memcpy(b + 8, txt, hl);
	memset(b + 8 + hl, ' ', pad);
	size_t p = 8 + hn;
	for (int i = 0; i < n; i++) {
		memcpy(b + p, t[i].data, t[i].nbytes);
		p += t[i].nbytes;
	}
	free(txt);
	return b;
}

static int st_write(const char *path, const wt *t, int n)
{
	size_t size;
	uint8_t *b = st_build(t, n, &size);
	FILE *f = fopen(path, "wb");
	int ok = f && fwrite(b, 1, size, f) == size;
	if (f)
		fclose(f);
	free(b);
	return ok ? 0 : -1;
}

static void test_reader(void)
{
	float a[6] = {1, 2, 3, 4, 5, 6};
	uint16_t b[4] = {0x3f80, 0x4000, 0xbf80, 0};
	wt t[2] = {{"a", "F32", 2, {2, 3}, a, 24, 0, 0}, {"b", "BF16", 1, {4}, b, 8, 0, 0}};
	size_t size;
	uint8_t *buf = st_build(t, 2, &size);
	st_file *f;
	fp_error err = {0};
	int rc = st_parse_buffer(&f, buf, size, "ok.safetensors", &err);
	CHECK(rc == 0, "a valid file parses: %s", err.msg);
	if (!rc) {
		const st_tensor *x = st_find(f, "a"), *y = st_find(f, "b");
		CHECK(x && y && x->ggml_type == GGML_F32 && y->ggml_type == GGML_BF16 && x->n_dims == 2 && x->shape[0] == 2 &&
		      x->shape[1] == 3 && !memcmp(x->data, a, 24) && bf16_to_f32(((const uint16_t *)y->data)[2]) == -1.0f,
		      "tensors, dtypes, shapes and data as written");
		st_close(f);
	}
	int fails = 0, crashes = 0;
	for (size_t cut = 0; cut < size; cut++) {
		fp_error e = {0};
		rc = st_parse_buffer(&f, buf, cut, "cut.safetensors", &e);
		if (rc != FP_ERR_FORMAT)
			fails++;
		if (!rc)
			st_close(f);
		crashes += !strstr(e.msg, "cut.safetensors");
	}
	CHECK(fails == 0 && crashes == 0, "every one of the %zu truncations is FP_ERR_FORMAT naming the file (%d not)", size,
	      fails + crashes);
	free(buf);

	static const struct { wt t1; const char *want; } BAD[] = {
		{{"b", "BF16", 1, {4}, NULL, 8, -8, -8}, "overlap"},
		{{"b", "BF16", 1, {4}, NULL, 8, 0, 8}, "run past the end"},
		{{"b", "BF16", 1, {3}, NULL, 8, 0, 0}, "need 6"},
		{{"b", "Q4_1", 1, {4}, NULL, 8, 0, 0}, "unknown dtype 'Q4_1'"},
		{{"b", "BF16", 1, {4}, NULL, 8, 16, 0}, "are not ordered"},
	};
	for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
		wt u[2] = {t[0], BAD[i].t1};
		u[1].data = b;
		buf = st_build(u, 2, &size);
		fp_error e = {0};
		rc = st_parse_buffer(&f, buf, size, "bad.safetensors", &e);
		CHECK(rc == FP_ERR_FORMAT && strstr(e.msg, "'bad.safetensors': tensor") && strstr(e.msg, BAD[i].want),
		      "bad header %zu: %s", i, e.msg);
		if (!rc)
			st_close(f);
		free(buf);
	}
	/* an I8 tensor parses (described) but is not computed with */
	int8_t q[8] = {0};
	wt i8 = {"q", "I8", 1, {8}, q, 8, 0, 0};
	buf = st_build(&i8, 1, &size);
	rc = st_parse_buffer(&f, buf, size, "i8.safetensors", &err);
	CHECK(rc == 0 && f->tensors[0].ggml_type == -1 && !strcmp(f->tensors[0].dtype, "I8"), "I8 is described, ggml_type -1");
	if (!rc)
		st_close(f);
	/* header length absurd, header not JSON */
	buf[0] = 0xff, buf[5] = 0x7f;
	rc = st_parse_buffer(&f, buf, size, "len.safetensors", &err);
	CHECK(rc == FP_ERR_FORMAT && strstr(err.msg, "header length"), "absurd header length: %s", err.msg);
	buf[0] = 8, buf[5] = 0;
	memcpy(buf + 8, "{{{{{{{{", 8);
	rc = st_parse_buffer(&f, buf, size, "json.safetensors", &err);
	CHECK(rc == FP_ERR_FORMAT && strstr(err.msg, "not valid JSON"), "not JSON: %s", err.msg);
	free(buf);
}

/* ---- tiny models ---- */

static double rel_diff(const float *a, const float *b, size_t n)
{
	double md = 0, mx = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - b[i]);
		md = d > md || isnan(d) ? d : md;
		mx = fabs(b[i]) > mx ? fabs(b[i]) : mx;
	}
	return mx > 0 ? md / mx : md;
}

static float *logits_of(fp_model *m, const int32_t *ids, int n)
{
	float *l = malloc((size_t)n * (size_t)m->cfg.n_vocab * sizeof(float));
	fp_forward_opts o = {.all_logits = 1};
	fp_error err = {0};
	if (fp_model_forward(m, ids, n, &o, l, &err)) {
		printf("forward: %s\n", err.msg);
		free(l);
		return NULL;
	}
	return l;
}

static int edit_config(const char *dir, const char *key, json_t *v)
{
	char p[512];
	snprintf(p, sizeof p, "%s/config.json", dir);
	json_t *c = json_load_file(p, 0, NULL);
	if (!c)
		return -1;
	if (v)
		json_object_set_new(c, key, v);
	else
		json_object_del(c, key);
	int rc = json_dump_file(c, p, JSON_INDENT(2));
	json_decref(c);
	return rc;
}

static int sh(const char *cmd)
{
	return system(cmd);
}

/* loads dir and expects an error containing want1 and want2 */
static void expect_error(const char *dir, const char *what, const char *want1, const char *want2)
{
	fp_model *m = NULL;
	fp_error err = {0};
	int rc = fp_model_load(&m, dir, &err);
	CHECK(rc != 0 && strstr(err.msg, want1) && strstr(err.msg, want2), "%s: one error naming %s and %s: %s", what,
	      want1, want2, err.msg);
	fp_model_free(m);
	/* the command: the same line, exit 1, no crash */
	const char *build = getenv("BUILD");
	char cmd[1024], line[1024] = "";
	snprintf(cmd, sizeof cmd, "%s/factprobe info -m '%s' 2>&1 >/dev/null; echo \"rc=$?\"", build ? build : "build", dir);
	FILE *p = popen(cmd, "r");
	char out[4096] = "";
	size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
	out[n] = 0;
	if (p)
		pclose(p);
	sscanf(out, "%1023[^\n]", line);
	CHECK(strstr(line, "factprobe info:") && strstr(line, want1) && strstr(out, "rc=1\n") && !strstr(out, "Sanitizer"),
	      "%s: factprobe info exits 1 with that line: %s", what, line);
}

static uint16_t bf16_round(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	u += 0x7fffu + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

/* a tiny model of one architecture: its GGUF and its checkpoints (F32, F16,
 * BF16 and, made from the F32 one, sharded), under tmpdir */
typedef struct tiny_ck {
	const char *arch;
	int tied;
	tiny_opts o;
	char gg[512], d32[512], d16[512], dbf[512], dsh[512];
} tiny_ck;

/* the tokens every tiny check runs ("Hello world!\nA") */
static const int32_t TINY_IDS[] = {72, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100, 33, 10, 65};
#define TINY_N ((int)(sizeof TINY_IDS / sizeof TINY_IDS[0]))

static int tiny_ck_write(tiny_ck *c, const char *arch, int tied)
{
	*c = (tiny_ck){.arch = arch, .tied = tied};
	tiny_defaults(&c->o, arch);
	c->o.tied = tied;
	c->o.wtype = GGML_F32;
	snprintf(c->gg, sizeof c->gg, "%s/%s%d.gguf", tmpdir, arch, tied);
	snprintf(c->d32, sizeof c->d32, "%s/%s%d-f32", tmpdir, arch, tied);
	snprintf(c->d16, sizeof c->d16, "%s/%s%d-f16", tmpdir, arch, tied);
	snprintf(c->dbf, sizeof c->dbf, "%s/%s%d-bf16", tmpdir, arch, tied);
	snprintf(c->dsh, sizeof c->dsh, "%s/%s%d-sharded", tmpdir, arch, tied);
	mkdir(c->d32, 0755), mkdir(c->d16, 0755), mkdir(c->dbf, 0755), mkdir(c->dsh, 0755);
	fp_error err = {0};
	int ok = tiny_write(&c->o, c->gg) == 0 && !hfw_from_gguf(c->gg, c->d32, "F32", NULL, NULL, &err) &&
		 !hfw_from_gguf(c->gg, c->d16, "F16", NULL, NULL, &err) &&
		 !hfw_from_gguf(c->gg, c->dbf, "BF16", NULL, NULL, &err);
	CHECK(ok, "%s (tied %d): GGUF and checkpoints written: %s", arch, tied, err.msg);
	return ok ? 0 : -1;
}

/* the logits of every checkpoint against the GGUF's (and BF16 read as f32
 * against BF16 kept native); returns the F32 checkpoint's logits */
static float *tiny_check_logits(const tiny_ck *c, fp_model *g, fp_model *h, fp_model *h16, fp_model *hbf,
				fp_model *hf32)
{
	const char *arch = c->arch;
	int n = TINY_N;
	size_t nl = (size_t)n * (size_t)g->cfg.n_vocab;
	float *lg = logits_of(g, TINY_IDS, n), *lh = logits_of(h, TINY_IDS, n), *l16 = logits_of(h16, TINY_IDS, n),
	      *lbf = logits_of(hbf, TINY_IDS, n), *lbf32 = logits_of(hf32, TINY_IDS, n);
	CHECK(h->cfg.tied_unembed == c->tied && h->cfg.rope_neox == 1, "%s: tied %d, half-split RoPE", arch, c->tied);
	if (lg && lh)
		CHECK_CLOSE(rel_diff(lh, lg, nl), 1e-5, "%s (tied %d) checkpoint F32 against its GGUF, logits at %d positions, relative",
			    arch, c->tied, n);
	if (lbf && lbf32)
		CHECK_CLOSE(rel_diff(lbf32, lbf, nl), 1e-6, "%s BF16 checkpoint, f32 weights against native, relative", arch);
	if (lbf && lg)
		CHECK_CLOSE(rel_diff(lbf, lg, nl), 5e-2, "%s BF16 checkpoint against the F32 GGUF (bf16 rounding), relative", arch);
	if (l16 && lg)
		CHECK_CLOSE(rel_diff(l16, lg, nl), 5e-3, "%s F16 checkpoint against the F32 GGUF (f16 rounding), relative", arch);
	free(lg), free(l16), free(lbf), free(lbf32);
	return lh;
}

/* the stored F16 / BF16 embeddings are exactly the rounded f32 ones */
static void tiny_check_rounding(const char *arch, const fp_model *h, const fp_model *h16, const fp_model *hbf)
{
	int bad16 = 0, badbf = 0, D = h->cfg.d_model;
	float *r = malloc((size_t)D * 4), *r16 = malloc((size_t)D * 4), *rbf = malloc((size_t)D * 4);
	for (int row = 0; r && r16 && rbf && row < h->cfg.n_vocab; row++) {
		fp_mat_row(&h->tok_embd, row, r), fp_mat_row(&h16->tok_embd, row, r16), fp_mat_row(&hbf->tok_embd, row, rbf);
		for (int i = 0; i < D; i++) {
			bad16 += r16[i] != fp16_to_f32(f32_to_fp16(r[i]));
			badbf += rbf[i] != bf16_to_f32(bf16_round(r[i]));
		}
	}
	CHECK(bad16 == 0 && badbf == 0 && h16->tok_embd.type == GGML_F16 && hbf->tok_embd.type == GGML_BF16,
	      "%s: F16 / BF16 embeddings kept in their type, equal to the rounded f32 values (%d, %d differ)", arch,
	      bad16, badbf);
	free(r), free(r16), free(rbf);
}

/* sharded: the F32 checkpoint's tensors split over two files and an index
 * give its logits lh; for llama tied, a missing shard is one error */
static void tiny_check_sharded(const tiny_ck *c, const float *lh, size_t nl)
{
	char p[600], cmd[4096];
	fp_error err = {0};
	snprintf(p, sizeof p, "%s/model.safetensors", c->d32);
	st_file *s = NULL;
	if (st_open(&s, p, &err))
		return;
	int nt = (int)s->n_tensors, k0 = 0, k1 = 0;
	wt *w0 = calloc((size_t)nt, sizeof *w0), *w1 = calloc((size_t)nt, sizeof *w1);
	json_t *wm = json_object();
	for (int i = 0; i < nt; i++) {
		const st_tensor *t = &s->tensors[i];
		wt *w = i % 2 ? &w1[k1++] : &w0[k0++];
		*w = (wt){t->name, t->dtype, t->n_dims, {t->shape[0], t->shape[1]}, t->data, t->nbytes, 0, 0};
		json_object_set_new(wm, t->name, json_string(i % 2 ? "model-00002-of-00002.safetensors"
								 : "model-00001-of-00002.safetensors"));
	}
	char s0[600], s1[600], ip[600];
	snprintf(s0, sizeof s0, "%s/model-00001-of-00002.safetensors", c->dsh);
	snprintf(s1, sizeof s1, "%s/model-00002-of-00002.safetensors", c->dsh);
	snprintf(ip, sizeof ip, "%s/model.safetensors.index.json", c->dsh);
	json_t *idx = json_pack("{s:{}, s:o}", "metadata", "weight_map", wm);
	snprintf(cmd, sizeof cmd, "cp '%s/config.json' '%s/'", c->d32, c->dsh);
	int ok = !st_write(s0, w0, k0) && !st_write(s1, w1, k1) && !json_dump_file(idx, ip, 0) && !sh(cmd);
	json_decref(idx);
	free(w0), free(w1);
	st_close(s);
	fp_model *hs = NULL;
	ok = ok && !fp_model_load(&hs, c->dsh, &err);
	CHECK(ok, "%s: sharded checkpoint loads: %s", c->arch, err.msg);
	float *ls = ok ? logits_of(hs, TINY_IDS, TINY_N) : NULL;
	if (ls && lh)
		CHECK_CLOSE(rel_diff(ls, lh, nl), 0, "%s: sharded against one file, logits", c->arch);
	free(ls);
	fp_model_free(hs);
	if (!strcmp(c->arch, "llama") && c->tied) {
		snprintf(cmd, sizeof cmd, "mv '%s' '%s.away'", s1, s1);
		sh(cmd);
		expect_error(c->dsh, "missing shard", "model.safetensors.index.json", "shard 'model-00002-of-00002.safetensors' is missing");
		snprintf(cmd, sizeof cmd, "mv '%s.away' '%s'", s1, s1);
		sh(cmd);
	}
}

/* a fresh copy of the F32 checkpoint at bad */
static void tiny_fresh(const tiny_ck *c, const char *bad)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", bad, c->d32, bad);
	sh(cmd);
}

/* bad config.json fields, each from a fresh copy of the F32 checkpoint */
static void tiny_check_bad_config(const tiny_ck *c, const char *bad)
{
	tiny_fresh(c, bad);
	edit_config(bad, "hidden_size", NULL);
	expect_error(bad, "config without hidden_size", "config.json", "missing field 'hidden_size'");
	tiny_fresh(c, bad);
	edit_config(bad, "architectures", json_pack("[s]", "FooForCausalLM"));
	expect_error(bad, "unknown architecture", "architectures 'FooForCausalLM' is not supported", "LlamaForCausalLM");
	tiny_fresh(c, bad);
	edit_config(bad, "rope_scaling", json_pack("{s:s, s:f}", "rope_type", "yarn", "factor", 4.0));
	expect_error(bad, "rope_scaling yarn", "config.json", "rope_scaling of type 'yarn'");
	tiny_fresh(c, bad);
	edit_config(bad, "attention_bias", json_true());
	expect_error(bad, "attention_bias", "config.json", "attention_bias = true is not supported");
	tiny_fresh(c, bad);
	edit_config(bad, "intermediate_size", json_integer(c->o.d_mlp + 8));
	expect_error(bad, "wrong shape", "tensor 'model.layers.0.mlp.gate_proj.weight' has shape [128, 64]", "expected [136, 64]");
	tiny_fresh(c, bad);
	edit_config(bad, "vocab_size", json_string("many"));
	expect_error(bad, "vocab_size not an integer", "config.json", "field 'vocab_size' is not an integer");
}

/* bad weights: an I8 norm weight; an extra tensor nobody takes; a truncated
 * file; no weights at all */
static void tiny_check_bad_weights(const tiny_ck *c, const char *bad)
{
	char p[700], cmd[2048];
	fp_error err = {0};
	snprintf(p, sizeof p, "%s/model.safetensors", c->d32);
	st_file *s = NULL;
	if (!st_open(&s, p, &err)) {
		int nt = (int)s->n_tensors;
		wt *w = calloc((size_t)nt + 1, sizeof *w);
		for (int i = 0; i < nt; i++) {
			const st_tensor *t = &s->tensors[i];
			w[i] = (wt){t->name, t->dtype, t->n_dims, {t->shape[0], t->shape[1]}, t->data, t->nbytes, 0, 0};
			if (!strcmp(t->name, "model.norm.weight"))
				w[i].dtype = "I8", w[i].shape[0] *= 4;
		}
		tiny_fresh(c, bad);
		snprintf(p, sizeof p, "%s/model.safetensors", bad);
		st_write(p, w, nt);
		expect_error(bad, "I8 tensor", "model.safetensors': tensor 'model.norm.weight' has", "dtype I8");
		for (int i = 0; i < nt; i++)
			if (!strcmp(w[i].name, "model.norm.weight"))
				w[i].dtype = "F32", w[i].shape[0] /= 4;
		st_write(p, w, nt);
		fp_model *okm = NULL;
		CHECK(!fp_model_load(&okm, bad, &err), "the same file with F32 again loads: %s", err.msg);
		fp_model_free(okm);
		float extra[4] = {0};
		w[nt] = (wt){"model.layers.0.self_attn.q_proj.bias", "F32", 1, {4}, extra, 16, 0, 0};
		st_write(p, w, nt + 1);
		expect_error(bad, "unused tensor", "tensor 'model.layers.0.self_attn.q_proj.bias' is not used", "model.safetensors");
		st_write(p, w, nt);
		snprintf(cmd, sizeof cmd, "truncate -s -100 '%s'", p);
		sh(cmd);
		expect_error(bad, "truncated file", "model.safetensors", "run past the end");
		free(w);
		st_close(s);
	}
	tiny_fresh(c, bad);
	snprintf(cmd, sizeof cmd, "rm '%s/model.safetensors'", bad);
	sh(cmd);
	expect_error(bad, "no weights", "no model.safetensors or model.safetensors.index.json", "");
}

/* the HF cache layout and model ids, offline */
static void tiny_check_hub(const tiny_ck *c)
{
	char hub[600], snap[900], ref[900], got[4096], cmd[4096];
	const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
	fp_error err = {0};
	snprintf(hub, sizeof hub, "%s/hub", tmpdir);
	snprintf(snap, sizeof snap, "%s/models--tiny-org--tiny-llama/snapshots/abc123", hub);
	snprintf(cmd, sizeof cmd, "mkdir -p '%s/models--tiny-org--tiny-llama/refs' '%s' && cp '%s'/* '%s/' && "
		 "printf abc123 > '%s/models--tiny-org--tiny-llama/refs/main'", hub, snap, c->d32, snap, hub);
	sh(cmd);
	snprintf(ref, sizeof ref, "%s/models--tiny-org--tiny-llama", hub);
	setenv("HF_HUB_CACHE", hub, 1);
	int r1 = fp_hf_resolve("tiny-org/tiny-llama", got, sizeof got, &err);
	CHECK(r1 == 1 && !strcmp(got, snap), "ORG/NAME resolves through refs/main to the snapshot: %s", got);
	r1 = fp_hf_resolve(ref, got, sizeof got, &err);
	CHECK(r1 == 1 && !strcmp(got, snap), "a models--ORG--NAME directory resolves to its snapshot: %s", got);
	fp_model *mm = NULL;
	CHECK(!fp_model_load(&mm, "tiny-org/tiny-llama", &err) && mm->cfg.n_layers == c->o.n_layers,
	      "fp_model_load takes ORG/NAME from the cache: %s", err.msg);
	fp_model_free(mm);
	r1 = fp_hf_resolve("tiny-org/absent", got, sizeof got, &err);
	CHECK(r1 == FP_ERR_IO && strstr(err.msg, "models--tiny-org--absent") && strstr(err.msg, hub),
	      "a model not in the cache: an error saying where it looked: %s", err.msg);
	unsetenv("HF_HUB_CACHE");
	snprintf(cmd, sizeof cmd, "HF_HOME='%s/nohome' HF_HUB_CACHE= %s/factprobe info -m tiny-org/tiny-llama 2>&1 | head -1 | grep -q 'nohome/hub/models--tiny-org--tiny-llama'",
		 tmpdir, build);
	CHECK(sh(cmd) == 0, "HF_HOME/hub is where -m ORG/NAME looks without HF_HUB_CACHE");
	snprintf(cmd, sizeof cmd, "HF_HUB_CACHE='%s' %s/factprobe info -m tiny-org/tiny-llama | grep -q 'layers'", hub, build);
	CHECK(sh(cmd) == 0, "factprobe info -m ORG/NAME");
	snprintf(cmd, sizeof cmd, "%s/factprobe predict -m '%s' hello 2>&1 | head -1 | grep -q 'tokenizer.json'", build, c->d32);
	CHECK(sh(cmd) == 0, "a command that needs text names the tokenizer problem");
}

/* one architecture: its checkpoints against its GGUF; for llama tied, also
 * the bad checkpoints and the HF cache */
static void test_tiny_arch(const char *arch, int tied)
{
	tiny_ck c;
	if (tiny_ck_write(&c, arch, tied))
		return;
	fp_error err = {0};
	fp_model *g = NULL, *h = NULL, *h16 = NULL, *hbf = NULL, *hf32 = NULL;
	/* F16 and BF16 in their type (native: auto would pick f32 for a model this small) */
	int ok = !fp_model_load(&g, c.gg, &err) && !fp_model_load(&h, c.d32, &err) &&
		 !fp_model_load_mode(&h16, c.d16, FP_WEIGHTS_NATIVE, &err) &&
		 !fp_model_load_mode(&hbf, c.dbf, FP_WEIGHTS_NATIVE, &err) &&
		 !fp_model_load_mode(&hf32, c.dbf, FP_WEIGHTS_F32, &err);
	CHECK(ok, "%s: all load: %s", arch, err.msg);
	if (ok) {
		float *lh = tiny_check_logits(&c, g, h, h16, hbf, hf32);
		tiny_check_rounding(arch, h, h16, hbf);
		tiny_check_sharded(&c, lh, (size_t)TINY_N * (size_t)g->cfg.n_vocab);
		free(lh);
	}
	fp_model_free(g), fp_model_free(h), fp_model_free(h16), fp_model_free(hbf), fp_model_free(hf32);
	if (strcmp(arch, "llama") || !tied)
		return;
	char bad[600];
	snprintf(bad, sizeof bad, "%s/bad", tmpdir);
	tiny_check_bad_config(&c, bad);
	tiny_check_bad_weights(&c, bad);
	tiny_check_hub(&c);
}

/* MistralForCausalLM's sliding_window, known by construction on one layer
 * (RoPE is relative, so each position of a one-layer model with a window
 * of W sees what the last position of its own last W tokens sees alone);
 * a window at least as long as the prompt changes nothing */
static void test_mistral_window(void)
{
	tiny_opts o;
	tiny_defaults(&o, "llama");
	o.n_layers = 1, o.wtype = GGML_F32;
	char gg[512], d[512];
	snprintf(gg, sizeof gg, "%s/mistral.gguf", tmpdir);
	snprintf(d, sizeof d, "%s/mistral", tmpdir);
	mkdir(d, 0755);
	fp_error err = {0};
	int ok = !tiny_write(&o, gg) && !hfw_from_gguf(gg, d, "F32", NULL, NULL, &err) &&
		 !edit_config(d, "architectures", json_pack("[s]", "MistralForCausalLM")) &&
		 !edit_config(d, "sliding_window", json_integer(3));
	fp_model *w = NULL, *full = NULL;
	ok = ok && !fp_model_load(&w, d, &err) && !edit_config(d, "sliding_window", json_integer(64)) &&
	     !fp_model_load(&full, d, &err);
	CHECK(ok, "Mistral checkpoints (window 3 and 64) load: %s", err.msg);
	if (!ok) {
		fp_model_free(w), fp_model_free(full);
		return;
	}
	int32_t ids[] = {72, 101, 108, 108, 111, 32, 119, 111, 114, 108};
	int n = 10, V = w->cfg.n_vocab;
	float *lw = logits_of(w, ids, n), *lf = logits_of(full, ids, n), *alone = malloc((size_t)V * 4);
	double worst = 0, first3 = rel_diff(lw, lf, 3 * (size_t)V), later = rel_diff(lw + 3 * V, lf + 3 * V, 7 * (size_t)V);
	fp_forward_opts fo = {0};
	for (int p = 3; p < n; p++) {
		fp_model_forward(full, ids + p - 2, 3, &fo, alone, &err);
		double dd = rel_diff(lw + (size_t)p * V, alone, (size_t)V);
		worst = dd > worst ? dd : worst;
	}
	CHECK(w->cfg.n_swa == 3 && fp_config_layer_swa(&w->cfg, 0), "Mistral: sliding_window 3 on every layer");
	CHECK_CLOSE(first3, 1e-6, "Mistral window 3: positions 0-2 as without a window");
	CHECK(later > 1e-3, "Mistral window 3: later positions differ from the full attention (%.3g)", later);
	CHECK_CLOSE(worst, 1e-5, "Mistral window 3, one layer: position p equals the last position of tokens p-2..p alone, relative");
	free(lw), free(lf), free(alone);
	fp_model_free(w), fp_model_free(full);
}

/* ---- the default model ---- */

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = malloc((size_t)n + 1);
	s[fread(s, 1, (size_t)n, f)] = 0;
	fclose(f);
	return s;
}

/* "NAME\tDTYPE\t[shape]\tsha256\n" for every tensor of DIR/model.safetensors,
 * sorted by name: what is on disk */
static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *dir_manifest(const char *dir)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/model.safetensors", dir);
	st_file *f = NULL;
	fp_error err = {0};
	if (st_open(&f, p, &err))
		return printf("%s\n", err.msg), NULL;
	char **lines = calloc(f->n_tensors, sizeof *lines), *out = calloc(f->n_tensors + 1, 256);
	for (size_t i = 0; i < f->n_tensors; i++) {
		const st_tensor *t = &f->tensors[i];
		unsigned char md[32];
		unsigned l;
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		EVP_DigestInit_ex(c, EVP_sha256(), NULL);
		EVP_DigestUpdate(c, t->data, t->nbytes);
		EVP_DigestFinal_ex(c, md, &l);
		EVP_MD_CTX_free(c);
		lines[i] = malloc(256);
		int u = snprintf(lines[i], 256, "%s\t%s\t[", t->name, t->dtype);
		for (int d = 0; d < t->n_dims; d++)
			u += snprintf(lines[i] + u, 256 - (size_t)u, "%s%llu", d ? ", " : "", (unsigned long long)t->shape[d]);
		u += snprintf(lines[i] + u, 256 - (size_t)u, "]\t");
		for (int k = 0; k < 32; k++)
			u += snprintf(lines[i] + u, 256 - (size_t)u, "%02x", md[k]);
		snprintf(lines[i] + u, 256 - (size_t)u, "\n");
	}
	qsort(lines, f->n_tensors, sizeof *lines, line_cmp);
	for (size_t i = 0; i < f->n_tensors; i++)
		strcat(out, lines[i]), free(lines[i]);
	free(lines);
	st_close(f);
	return out;
}

typedef struct grab {
	int layers[3];
	float *post[3];
	int F;
} grab;

static int on_hook(void *user, const fp_hook_event *ev)
{
	grab *g = user;
	for (int i = 0; i < 3; i++)
		if (ev->layer == g->layers[i] && ev->kind == FP_HOOK_MLP_POST) {
			free(g->post[i]);
			g->post[i] = malloc((size_t)ev->n_pos * (size_t)ev->width * 4);
			memcpy(g->post[i], ev->data, (size_t)ev->n_pos * (size_t)ev->width * 4);
		}
	return 0;
}

static void test_default_model(const char *fix, const char *gguf)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/hf_smollm2/oracle.json", fix);
	json_t *orc = json_load_file(p, 0, NULL);
	snprintf(p, sizeof p, "%s/hf_smollm2/oracle.f32", fix);
	FILE *ff = fopen(p, "rb");
	CHECK(orc && ff, "fixtures hf_smollm2/oracle.json and oracle.f32 present");
	if (!orc || !ff)
		return;
	fseek(ff, 0, SEEK_END);
	size_t nval = (size_t)ftell(ff) / 4;
	fseek(ff, 0, SEEK_SET);
	float *val = malloc(nval * 4);
	nval = fread(val, 4, nval, ff);
	fclose(ff);
	int cs = (int)json_integer_value(json_object_get(orc, "col_stride"));
	int ns = (int)json_integer_value(json_object_get(orc, "neuron_stride"));
	grab gr = {{0}, {NULL}, 0};
	for (int i = 0; i < 3; i++)
		gr.layers[i] = (int)json_integer_value(json_array_get(json_object_get(orc, "layers"), (size_t)i));

	fp_model *g = NULL;
	fp_error err = {0};
	CHECK(!fp_model_load(&g, gguf, &err), "GGUF loads: %s", err.msg);
	if (!g)
		return;
	static const char *const DT[3] = {"F32", "BF16", "F16"};
	for (int di = 0; di < 3; di++) {
		const char *dt = DT[di];
		char dir[4096];
		char *man = NULL, *want;
		/* the checkpoint written without torch, cached by the GGUF's sha256 */
		char cmd[8192];
		snprintf(cmd, sizeof cmd, "scripts/hf_checkpoint.sh '%s' %s", gguf, dt);
		FILE *pp = popen(cmd, "r");
		dir[0] = 0;
		if (pp) {
			if (fgets(dir, sizeof dir, pp))
				dir[strcspn(dir, "\n")] = 0;
			pclose(pp);
		}
		CHECK(dir[0] && !access(dir, F_OK), "%s checkpoint from scripts/hf_checkpoint.sh: %s", dt, dir);
		man = dir_manifest(dir);
		snprintf(p, sizeof p, "%s/hf_smollm2/tensors-%s.tsv", fix, dt);
		want = read_text(p);
		int lines = 0;
		for (char *c = want; c && *c; c++)
			lines += *c == '\n';
		CHECK(man && want && !strcmp(man, want),
		      "%s: all %d tensors (names, dtypes, shapes, sha256 of the bytes) equal transformers' save_pretrained", dt,
		      lines);
		free(man), free(want);
		fp_model *h = NULL;
		CHECK(!fp_model_load(&h, dir, &err), "%s checkpoint loads: %s", dt, err.msg);
		if (!h)
			continue;
		double worst_l = 0, worst_a = 0, worst_gl = 0, worst_ga = 0;
		int nruns = 0, top_same = 0, ids_same = 0, dir_ids_same = 0;
		size_t i;
		json_t *run;
		json_array_foreach(json_object_get(orc, "runs"), i, run) {
			if (strcmp(json_string_value(json_object_get(run, "dtype")), dt))
				continue;
			json_t *ja = json_object_get(run, "ids");
			int n = (int)json_array_size(ja), V = h->cfg.n_vocab, F = h->cfg.d_mlp;
			int32_t *ids = malloc((size_t)n * 4);
			for (int k = 0; k < n; k++)
				ids[k] = (int32_t)json_integer_value(json_array_get(ja, (size_t)k));
			/* the GGUF tokenizer gives transformers' ids */
			const char *text = json_string_value(json_object_get(run, "prompt"));
			int32_t *tid = NULL;
			int tn = 0;
			if (!fp_tokenize(g->tok, text, strlen(text), 0, &tid, &tn, &err) && tn == n && !memcmp(tid, ids, (size_t)n * 4))
				ids_same++;
			free(tid);
			/* and the checkpoint's own tokenizer.json (transformers') */
			if (h->tok && !fp_tokenize(h->tok, text, strlen(text), 0, &tid, &tn, &err) && tn == n &&
			    !memcmp(tid, ids, (size_t)n * 4))
				dir_ids_same++;
			free(tid);
			fp_forward_opts o = {.all_logits = 1, .hook = on_hook, .user = &gr, .hook_mask = FP_HOOK_BIT(FP_HOOK_MLP_POST)};
			float *lh = malloc((size_t)n * V * 4), *lg = malloc((size_t)n * V * 4), *hpost[3];
			fp_model_forward(h, ids, n, &o, lh, &err);
			for (int k = 0; k < 3; k++)
				hpost[k] = gr.post[k], gr.post[k] = NULL;
			if (di == 0) {
				/* against factprobe on the GGUF: every logit, every neuron */
				fp_model_forward(g, ids, n, &o, lg, &err);
				double d = rel_diff(lh, lg, (size_t)n * V);
				worst_gl = d > worst_gl ? d : worst_gl;
				for (int k = 0; k < 3; k++) {
					d = rel_diff(hpost[k], gr.post[k], (size_t)n * F);
					worst_ga = d > worst_ga ? d : worst_ga;
				}
			}
			/* against transformers on its own checkpoint */
			size_t off = (size_t)json_integer_value(json_object_get(run, "offset")), nc = (size_t)(V + cs - 1) / cs,
			       nn = (size_t)(F + ns - 1) / ns, need = n * nc + 3 * n * nn;
			if (off + need <= nval) {
				float *sub = malloc(need * 4);
				for (int t = 0; t < n; t++)
					for (size_t c = 0; c < nc; c++)
						sub[t * nc + c] = lh[(size_t)t * V + c * cs];
				double d = rel_diff(sub, val + off, n * nc);
				worst_l = d > worst_l ? d : worst_l;
				for (int k = 0; k < 3; k++) {
					for (int t = 0; t < n; t++)
						for (size_t c = 0; c < nn; c++)
							sub[t * nn + c] = hpost[k][(size_t)t * F + c * ns];
					d = rel_diff(sub, val + off + n * nc + k * n * nn, n * nn);
					worst_a = d > worst_a ? d : worst_a;
				}
				free(sub);
				int best = 0;
				for (int v = 1; v < V; v++)
					best = lh[(size_t)(n - 1) * V + v] > lh[(size_t)(n - 1) * V + best] ? v : best;
				top_same += best == json_integer_value(json_object_get(run, "top1_last"));
			}
			nruns++;
			for (int k = 0; k < 3; k++)
				free(hpost[k]);
			free(lh), free(lg), free(ids);
		}
		CHECK(nruns == 3 && ids_same == 3 && dir_ids_same == 3,
		      "%s: 3 prompts; transformers' ids from the GGUF tokenizer for %d, from the checkpoint's tokenizer.json for %d",
		      dt, ids_same, dir_ids_same);
		if (di == 0) {
			CHECK_CLOSE(worst_gl, 1e-5, "SmolLM2 F32 checkpoint against the GGUF, all logits at every position, relative");
			CHECK_CLOSE(worst_ga, 1e-5, "SmolLM2 F32 checkpoint against the GGUF, mlp.hook_post of layers %d %d %d, relative",
				    gr.layers[0], gr.layers[1], gr.layers[2]);
		}
		CHECK_CLOSE(worst_l, 1e-5, "SmolLM2 %s checkpoint against transformers on it, logits (every %dth id, every position), relative",
			    dt, cs);
		CHECK_CLOSE(worst_a, 1e-5, "SmolLM2 %s checkpoint against transformers, mlp.hook_post (down_proj input) of layers %d %d %d, relative",
			    dt, gr.layers[0], gr.layers[1], gr.layers[2]);
		CHECK(top_same == nruns, "%s: the top next token equals transformers' in %d/%d prompts", dt, top_same, nruns);
		fp_model_free(h);
	}
	for (int k = 0; k < 3; k++)
		free(gr.post[k]);
	fp_model_free(g);
	free(val);
	json_decref(orc);
}

int main(int argc, char **argv)
{
	const char *fix = argc > 1 ? argv[1] : "tests/fixtures";
	const char *model = argc > 2 && *argv[2] ? argv[2] : getenv("FACTPROBE_TEST_MODEL");
	snprintf(tmpdir, sizeof tmpdir, "/tmp/fp-test-hf-XXXXXX");
	if (!mkdtemp(tmpdir))
		return perror("mkdtemp"), 1;
	test_reader();
	test_tiny_arch("llama", 1);
	test_tiny_arch("llama", 0);
	test_tiny_arch("qwen2", 0);
	test_tiny_arch("qwen3", 1);
	test_mistral_window();
	if (model && *model)
		test_default_model(fix, model);
	else
		printf("(no model: the default-model checks are skipped)\n");
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	sh(cmd);
	return check_done("test_hf");
}
