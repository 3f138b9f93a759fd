/* test_gguf.c - the GGUF reader on well-formed files of both versions with
 * every metadata type, and on bad input: truncation at every byte, absurd
 * counts and sizes, and model files that are wrong in each way the loader
 * checks.  Every failure must be an error naming the file, never a crash
 * (run it under 'make asan'). */
#include "check.h"
#include "gguf_writer.h"
#include "tiny.h"
#include "../model/model.h"
#include "../model/quant.h"

#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

static uint8_t *build_all_types(uint32_t version, size_t *n)
{
	gw *w = gw_new();
	uint8_t u8 = 200, b = 1;
	int8_t i8 = -100;
	uint16_t u16 = 60000;
	int16_t i16 = -30000;
	uint64_t u64 = 1ull << 40;
	int64_t i64 = -(1ll << 40);
	double f64 = 2.718281828459045;
	gw_scalar(w, "t.u8", 0, &u8, 1);
	gw_scalar(w, "t.i8", 1, &i8, 1);
	gw_scalar(w, "t.u16", 2, &u16, 2);
	gw_scalar(w, "t.i16", 3, &i16, 2);
	gw_u32(w, "t.u32", 4000000000u);
	gw_i32(w, "t.i32", -2000000000);
	gw_f32(w, "t.f32", 0.5f);
	gw_scalar(w, "t.bool", 7, &b, 1);
	gw_str(w, "t.str", "héllo");
	gw_scalar(w, "t.u64", 10, &u64, 8);
	gw_scalar(w, "t.i64", 11, &i64, 8);
	gw_scalar(w, "t.f64", 12, &f64, 8);
	gw_u32(w, "general.alignment", 64);
	int16_t ai16[3] = {-1, 0, 1};
	float af32[2] = {1.5f, -2.5f};
	double af64[2] = {1e300, -1e-300};
	gw_arr(w, "t.arr_i16", 3, ai16, 3);
	gw_arr(w, "t.arr_f32", 6, af32, 2);
	gw_arr(w, "t.arr_f64", 12, af64, 2);
	gw_arr(w, "t.arr_empty", 4, NULL, 0);
	const char *strs[3] = {"a", "", "ccc"};
	gw_arr_str(w, "t.arr_str", strs, 3);
	float m[6] = {1, 2, 3, 4, 5, 6};
	uint64_t ne2[2] = {3, 2}, ne1[1] = {4};
	uint16_t h[4] = {0x3c00, 0x4000, 0x4200, 0x4400};
	gw_tensor(w, "mat", 2, ne2, GGML_F32, m, sizeof m);
	gw_tensor(w, "vec16", 1, ne1, GGML_F16, h, sizeof h);
	uint8_t *buf = gw_build(w, version, 64, n);
	gw_free(w);
	return buf;
}

static void test_well_formed(uint32_t version)
{
	size_t n;
	uint8_t *buf = build_all_types(version, &n);
	gguf_file *f = NULL;
	fp_error err = {0};
	CHECK(gguf_parse_buffer(&f, buf, n, "all.gguf", &err) == 0, "v%u file parses: %s", version, err.msg);
	if (!f) {
		free(buf);
		return;
	}
	uint64_t u;
	int64_t s;
	uint32_t u32;
	float fl;
	int bl;
	gguf_str str;
	CHECK(f->version == version && f->n_kv == 18 && f->n_tensors == 2 && f->alignment == 64, "v%u header", version);
	CHECK(gguf_get_u64(f, "t.u8", &u, NULL) == 0 && u == 200, "u8");
	CHECK(gguf_get_i64(f, "t.i8", &s, NULL) == 0 && s == -100, "i8");
	CHECK(gguf_get_u64(f, "t.u16", &u, NULL) == 0 && u == 60000, "u16");
	CHECK(gguf_get_i64(f, "t.i16", &s, NULL) == 0 && s == -30000, "i16");
	CHECK(gguf_get_u32(f, "t.u32", &u32, NULL) == 0 && u32 == 4000000000u, "u32");
	CHECK(gguf_get_i64(f, "t.i32", &s, NULL) == 0 && s == -2000000000, "i32");
	CHECK(gguf_get_f32(f, "t.f32", &fl, NULL) == 0 && fl == 0.5f, "f32");
	CHECK(gguf_get_bool(f, "t.bool", &bl, NULL) == 0 && bl == 1, "bool");
	CHECK(gguf_get_str(f, "t.str", &str, NULL) == 0 && str.len == 6 && !memcmp(str.ptr, "héllo", 6), "string");
	CHECK(gguf_get_u64(f, "t.u64", &u, NULL) == 0 && u == 1ull << 40, "u64");
	CHECK(gguf_get_i64(f, "t.i64", &s, NULL) == 0 && s == -(1ll << 40), "i64");
	CHECK(gguf_kv_num(gguf_find_key(f, "t.f64"), 0) == 2.718281828459045, "f64");
	const gguf_kv *kv = gguf_find_key(f, "t.arr_i16");
	CHECK(kv && kv->arr_n == 3 && gguf_kv_num(kv, 0) == -1 && gguf_kv_num(kv, 2) == 1, "array of i16");
	kv = gguf_find_key(f, "t.arr_f64");
	CHECK(kv && gguf_kv_num(kv, 0) == 1e300 && gguf_kv_num(kv, 1) == -1e-300, "array of f64");
	kv = gguf_find_key(f, "t.arr_f32");
	CHECK(kv && gguf_kv_num(kv, 1) == -2.5, "array of f32");
	kv = gguf_find_key(f, "t.arr_empty");
	CHECK(kv && kv->arr_n == 0, "empty array");
	kv = gguf_find_key(f, "t.arr_str");
	CHECK(kv && kv->arr_n == 3 && kv->strs[1].len == 0 && kv->strs[2].len == 3 && !memcmp(kv->strs[2].ptr, "ccc", 3),
	      "array of strings");
	/* type mismatches are errors, absent keys are -1 */
	CHECK(gguf_get_u32(f, "t.i32", &u32, &err) == FP_ERR_FORMAT && strstr(err.msg, "t.i32"), "negative into u32: %s",
	      err.msg);
	CHECK(gguf_get_u32(f, "t.u64", &u32, &err) == FP_ERR_FORMAT, "2^40 does not fit u32");
	CHECK(gguf_get_str(f, "t.u8", &str, &err) == FP_ERR_FORMAT, "u8 is not a string");
	CHECK(gguf_get_u32(f, "no.such.key", &u32, &err) == -1, "absent key");
	const gguf_tensor *t = gguf_find_tensor(f, "mat"), *t2 = gguf_find_tensor(f, "vec16");
	CHECK(t && t->ne[0] == 3 && t->ne[1] == 2 && t->n_elem == 6 && t->nbytes == 24 && t->type == GGML_F32, "tensor info");
	CHECK(t && ((const float *)(const void *)t->data)[5] == 6.0f, "tensor data");
	CHECK(t2 && (t2->data - f->map) % 64 == 0 && (t->data - f->map) % 64 == 0, "tensor data aligned to 64");
	float v[4];
	CHECK(t2 && quant_dequantize(t2->type, t2->data, v, 4) == 0 && v[3] == 4.0f, "f16 tensor reads back");
	gguf_close(f);

	/* truncation at every byte: an error naming the file, never a crash */
	int all_fail = 1, all_named = 1;
	for (size_t len = 0; len < n; len++) {
		uint8_t *cut = malloc(len ? len : 1);
		memcpy(cut, buf, len);
		gguf_file *g = NULL;
		fp_error e = {0};
		int rc = gguf_parse_buffer(&g, cut, len, "cut.gguf", &e);
		if (rc == 0 && len < n) {
			/* only the padding after the last tensor may be cut harmlessly */
			const gguf_tensor *last = &g->tensors[g->n_tensors - 1];
			if ((size_t)(last->data - g->map) + last->nbytes > len)
				all_fail = 0;
		}
		if (rc && !strstr(e.msg, "cut.gguf"))
			all_named = 0;
		gguf_close(g);
		free(cut);
	}
	CHECK(all_fail, "v%u: every truncation (%zu lengths) that loses data is an error", version, n);
	CHECK(all_named, "v%u: every truncation error names the file", version);
	free(buf);
}

/* parses buf with the u64/u32 at byte `at` replaced; expects an error containing `want` */
static void expect_corrupt(const uint8_t *buf, size_t n, size_t at, uint64_t val, int width, const char *want,
			   const char *what)
{
	uint8_t *c = malloc(n);
	memcpy(c, buf, n);
	memcpy(c + at, &val, (size_t)width);
	gguf_file *f = NULL;
	fp_error e = {0};
	int rc = gguf_parse_buffer(&f, c, n, "bad.gguf", &e);
	CHECK(rc != 0 && strstr(e.msg, want) && strstr(e.msg, "bad.gguf"), "%s -> \"%s\"", what, e.msg);
	gguf_close(f);
	free(c);
}

static void test_corrupt(void)
{
	/* one kv "k" = array of 2 u32, one tensor "t" [32] F32 */
	gw *w = gw_new();
	uint32_t arr[2] = {1, 2};
	float data[32] = {0};
	uint64_t ne[1] = {32};
	gw_arr(w, "k", 4, arr, 2);
	gw_tensor(w, "t", 1, ne, GGML_F32, data, sizeof data);
	size_t n;
	uint8_t *buf = gw_build(w, 3, 32, &n);
	gw_free(w);
	/* layout: 0 magic, 4 version, 8 n_tensors, 16 n_kv, 24 key len, 32 "k", 33 type, 37 elem type,
	 * 41 count, 49 elems, 57 name len, 65 "t", 66 n_dims, 70 ne0, 78 type, 82 offset */
	expect_corrupt(buf, n, 0, 0x46554746, 4, "not a GGUF file", "bad magic");
	expect_corrupt(buf, n, 4, 1, 4, "version 1", "version 1");
	expect_corrupt(buf, n, 4, 4, 4, "version 4", "version 4");
	expect_corrupt(buf, n, 8, 1ull << 60, 8, "claims", "2^60 tensors");
	expect_corrupt(buf, n, 16, 1ull << 62, 8, "claims", "2^62 metadata entries");
	expect_corrupt(buf, n, 24, UINT64_MAX, 8, "truncated", "key length 2^64-1");
	expect_corrupt(buf, n, 33, 99, 4, "unknown value type", "value type 99");
	expect_corrupt(buf, n, 37, 9, 4, "array of array", "array of arrays");
	expect_corrupt(buf, n, 41, 1ull << 61, 8, "claims", "array count 2^61");
	expect_corrupt(buf, n, 57, 1ull << 40, 8, "truncated", "tensor name length 2^40");
	expect_corrupt(buf, n, 66, 5, 4, "dimensions", "5 dimensions");
	expect_corrupt(buf, n, 70, 1ull << 63, 8, "absurd shape", "dimension 2^63");
	expect_corrupt(buf, n, 78, 99, 4, "unknown ggml type 99", "ggml type 99");
	expect_corrupt(buf, n, 78, GGML_Q4_K, 4, "multiple of the block size", "a row of 32 values as Q4_K (blocks of 256)");
	expect_corrupt(buf, n, 70, 33, 8, "runs past the end", "33 floats where 32 are stored");
	expect_corrupt(buf, n, 82, 4, 8, "not a multiple of the alignment", "misaligned offset");
	expect_corrupt(buf, n, 82, 1ull << 62, 8, "runs past the end", "offset 2^62");
	free(buf);

	/* alignment that is not a power of two, and of the wrong type */
	w = gw_new();
	gw_u32(w, "general.alignment", 3);
	buf = gw_build(w, 3, 32, &n);
	gguf_file *f = NULL;
	fp_error e = {0};
	CHECK(gguf_parse_buffer(&f, buf, n, "a.gguf", &e) != 0 && strstr(e.msg, "power of two"), "alignment 3: %s", e.msg);
	gw_free(w), free(buf);
	w = gw_new();
	gw_str(w, "general.alignment", "32");
	buf = gw_build(w, 3, 32, &n);
	CHECK(gguf_parse_buffer(&f, buf, n, "a.gguf", &e) != 0 && strstr(e.msg, "must be u32"), "string alignment: %s", e.msg);
	gw_free(w), free(buf);
	/* duplicate tensor names */
	w = gw_new();
	gw_tensor(w, "t", 1, ne, GGML_F32, data, sizeof data);
	gw_tensor(w, "t", 1, ne, GGML_F32, data, sizeof data);
	buf = gw_build(w, 3, 32, &n);
	CHECK(gguf_parse_buffer(&f, buf, n, "d.gguf", &e) != 0 && strstr(e.msg, "duplicate tensor name 't'"),
	      "duplicate tensor: %s", e.msg);
	gw_free(w), free(buf);
}

static void test_files(void)
{
	gguf_file *f = NULL;
	fp_error e = {0};
	CHECK(gguf_open(&f, "/nonexistent/model.gguf", &e) == FP_ERR_IO && strstr(e.msg, "/nonexistent/model.gguf") &&
	      strstr(e.msg, "No such file"), "missing file: %s", e.msg);
	CHECK(gguf_open(&f, "/tmp", &e) == FP_ERR_IO && strstr(e.msg, "not a regular file"), "directory: %s", e.msg);
	char path[] = "/tmp/fp-test-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0 && write(fd, "hello, I am not a model at all, just text\n", 42) == 42, "temp file");
	close(fd);
	CHECK(gguf_open(&f, path, &e) == FP_ERR_FORMAT && strstr(e.msg, "not a GGUF file") && strstr(e.msg, path),
	      "text file: %s", e.msg);
	fd = open(path, O_WRONLY | O_TRUNC);
	close(fd);
	CHECK(gguf_open(&f, path, &e) == FP_ERR_FORMAT && strstr(e.msg, "0 bytes"), "empty file: %s", e.msg);
	unlink(path);
}

static void expect_model_error(tiny_opts *o, const char *want, const char *what)
{
	char path[] = "/tmp/fp-test-XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	tiny_write(o, path);
	fp_model *m = NULL;
	fp_error e = {0};
	int rc = fp_model_load(&m, path, &e);
	CHECK(rc != 0 && m == NULL && strstr(e.msg, want) && strstr(e.msg, path), "%s -> \"%s\"", what, e.msg);
	fp_model_free(m);
	unlink(path);
}

static void test_model_errors(void)
{
	tiny_opts o;
	tiny_defaults(&o, "llama");
	o.arch_override = "bert";
	expect_model_error(&o, "architecture 'bert' is not supported", "unknown architecture");
	expect_model_error(&o, "supported: llama, gpt2, qwen2, qwen3, gemma2, gemma3, phi3, gptneox", "unknown architecture "
			   "lists the supported ones");
	tiny_defaults(&o, "gemma3");
	o.d_head = 32;
	o.widen = "blk.0.attn_q_norm.weight";
	expect_model_error(&o, "tensor 'blk.0.attn_q_norm.weight' has shape [64, 1], expected [32, 1]",
			   "gemma3 Q norm wider than key_length");
	tiny_defaults(&o, "qwen2");
	o.widen = "blk.1.attn_k.weight";
	expect_model_error(&o, "tensor 'blk.1.attn_k.weight' has shape [96, 32], expected [64, 32]",
			   "qwen2 K projection wider than embedding_length");
	tiny_defaults(&o, "qwen2");
	o.omit = "blk.0.attn_v.bias";
	expect_model_error(&o, "missing tensor 'blk.0.attn_v.bias' (required by qwen2)", "qwen2 without its V bias");
	tiny_defaults(&o, "phi3");
	o.widen = "blk.0.ffn_up.weight";
	expect_model_error(&o, "tensor 'blk.0.ffn_up.weight' has shape [96, 256], expected [64, 256]",
			   "phi3 fused gate+up of the wrong width");
	tiny_defaults(&o, "llama");
	o.omit = "blk.1.ffn_down.weight";
	expect_model_error(&o, "missing tensor 'blk.1.ffn_down.weight'", "missing tensor");
	tiny_defaults(&o, "gpt2");
	o.omit = "position_embd.weight";
	expect_model_error(&o, "missing tensor 'position_embd.weight'", "gpt2 without positions");
	tiny_defaults(&o, "llama");
	o.d_mlp = 256; /* a Q2_K row needs 256 values */
	o.q2k = "blk.0.ffn_down.weight";
	expect_model_error(&o, "tensor 'blk.0.ffn_down.weight' has type Q2_K", "unsupported tensor type");
	tiny_defaults(&o, "llama");
	o.layers_override = 1000000000u;
	expect_model_error(&o, "block_count", "absurd layer count");
	tiny_defaults(&o, "llama");
	o.layers_override = 3; /* file has 2 layers of tensors */
	expect_model_error(&o, "missing tensor 'blk.2.", "more layers than tensors");
}

int main(void)
{
	test_well_formed(3);
	test_well_formed(2);
	test_corrupt();
	test_files();
	test_model_errors();
	return check_done("test_gguf");
}
