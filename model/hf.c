/* hf.c - Hugging Face checkpoint directories (hf.h): locating them, the
 * weights (one safetensors file or an index and its shards), config.json,
 * the family table, and the llama family (Llama, Mistral, Qwen2, Qwen3).
 * See hf_internal.h for how a family maps its tensors. */
#include "hf_internal.h"
#include "quant.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HF_MAX_DIM (1 << 20)
#define HF_MAX_LAYERS 4096

struct hf_ckpt {
	char *dir;
	char cfg_path[PATH_MAX + 16];
	json_t *config;
	st_file **shards;
	int n_shards;
	gguf_file *g;
	size_t g_cap;
	void **owned;
	size_t n_owned, cap_owned;
	const hf_family *fam;
	const char *arch;
};

/* ---- locating a checkpoint ---- */

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int has_file(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;
	return (size_t)snprintf(p, sizeof p, "%s/%s", dir, name) < sizeof p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* HUB/models--ORG--NAME (dir) -> its snapshot: refs/main, else the only one */
static int pick_snapshot(const char *repo, char *buf, size_t n, fp_error *err)
{
	char p[PATH_MAX], rev[256] = "";
	snprintf(p, sizeof p, "%s/refs/main", repo);
	FILE *f = fopen(p, "r");
	if (f) {
		if (!fgets(rev, sizeof rev, f))
			rev[0] = 0;
		fclose(f);
		rev[strcspn(rev, " \r\n")] = 0;
		if (!rev[0] || strchr(rev, '/') || !strcmp(rev, "..") || !strcmp(rev, "."))
			return fp_error_set(err, FP_ERR_FORMAT, "'%s': not a commit hash", p);
		if ((size_t)snprintf(buf, n, "%s/snapshots/%s", repo, rev) >= n)
			return fp_error_set(err, FP_ERR_INVALID, "'%s': path too long", repo);
		if (!is_dir(buf))
			return fp_error_set(err, FP_ERR_IO, "'%s' names snapshot %s, but '%s' is not there", p, rev, buf);
		return 0;
	}
	snprintf(p, sizeof p, "%s/snapshots", repo);
	DIR *d = opendir(p);
	if (!d)
		return fp_error_set(err, FP_ERR_IO, "'%s': no refs/main and no snapshots/ directory", repo);
	int count = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			count++;
			snprintf(rev, sizeof rev, "%s", e->d_name);
		}
	closedir(d);
	if (count != 1)
		return fp_error_set(err, FP_ERR_IO, "'%s': no refs/main and %d snapshots (cannot choose; pass -m %s/REV)",
				    repo, count, p);
	if ((size_t)snprintf(buf, n, "%s/%s", p, rev) >= n)
		return fp_error_set(err, FP_ERR_INVALID, "'%s': path too long", repo);
	return 0;
}

static void hub_dir(char *buf, size_t n)
{
	const char *c = getenv("HF_HUB_CACHE"), *h = getenv("HF_HOME"), *home = getenv("HOME");
	if (c && *c)
		snprintf(buf, n, "%s", c);
	else if (h && *h)
		snprintf(buf, n, "%s/hub", h);
	else
		snprintf(buf, n, "%s/.cache/huggingface/hub", home ? home : ".");
}

/* a directory: a checkpoint (config.json), or a models--ORG--NAME cache entry */
static int resolve_dir(const char *name, char *buf, size_t n, fp_error *err)
{
	if (has_file(name, "config.json")) {
		size_t len = strlen(name);
		while (len > 1 && name[len - 1] == '/')
			len--; /* "dir/" -> "dir": its last component names the model in results */
		if (len >= n)
			return fp_error_set(err, FP_ERR_INVALID, "'%s': path too long", name);
		snprintf(buf, n, "%.*s", (int)len, name);
		return 1;
	}
	char snap[PATH_MAX];
	snprintf(snap, sizeof snap, "%s/snapshots", name);
	if (is_dir(snap)) {
		int rc = pick_snapshot(name, buf, n, err);
		if (rc)
			return rc;
		if (!has_file(buf, "config.json"))
			return fp_error_set(err, FP_ERR_FORMAT, "'%s': no config.json in the snapshot", buf);
		return 1;
	}
	return fp_error_set(err, FP_ERR_FORMAT,
			    "'%s' is a directory without config.json (not a Hugging Face checkpoint or cache entry)", name);
}

int fp_hf_resolve(const char *name, char *buf, size_t n, fp_error *err)
{
	struct stat st;
	if (!name || !*name)
		return 0;
	if (stat(name, &st) == 0)
		return S_ISDIR(st.st_mode) ? resolve_dir(name, buf, n, err) : 0;
	/* a model id: ORG/NAME, or NAME when the cache has it */
	const char *slash = strchr(name, '/');
	size_t len = strlen(name);
	int id_like = name[0] != '.' && name[0] != '/' && name[0] != '~' && (!slash || !strchr(slash + 1, '/')) &&
		      !(len > 5 && !strcmp(name + len - 5, ".gguf")) && len < 200 && !strstr(name, "..") &&
		      (!slash || (slash > name && slash[1]));
	if (!id_like)
		return 0;
	char hub[PATH_MAX], repo[PATH_MAX + 256];
	hub_dir(hub, sizeof hub);
	int w = snprintf(repo, sizeof repo, "%s/models--", hub);
	for (const char *p = name; *p && w < (int)sizeof repo - 3; p++) {
		if (*p == '/')
			repo[w++] = '-', repo[w++] = '-';
		else
			repo[w++] = *p;
	}
	repo[w] = 0;
	if (!is_dir(repo)) {
		if (!slash)
			return 0; /* a plain name: left to the GGUF reader's "cannot open" */
		return fp_error_set(err, FP_ERR_IO,
				    "cannot open '%s': no such file or directory, and the Hugging Face cache has no model "
				    "%s (looked for '%s'; set HF_HUB_CACHE or HF_HOME; factprobe never downloads)",
				    name, name, repo);
	}
	int rc = pick_snapshot(repo, buf, n, err);
	if (rc)
		return rc;
	if (!has_file(buf, "config.json"))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': no config.json in the snapshot", buf);
	return 1;
}

/* ---- ownership ---- */

static void *own(hf_ckpt *h, void *p)
{
	if (!p)
		return NULL;
	if (h->n_owned == h->cap_owned) {
		size_t cap = h->cap_owned ? 2 * h->cap_owned : 256;
		void **o = realloc(h->owned, cap * sizeof *o);
		if (!o) {
			free(p);
			return NULL;
		}
		h->owned = o, h->cap_owned = cap;
	}
	return h->owned[h->n_owned++] = p;
}

void hf_close(hf_ckpt *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n_owned; i++)
		free(h->owned[i]);
	free(h->owned);
	for (int i = 0; i < h->n_shards; i++)
		st_close(h->shards[i]);
	free(h->shards);
	json_decref(h->config);
	free(h->dir);
	free(h);
}

/* ---- config.json ---- */

const char *hf_cfg_path(const hf_ckpt *h)
{
	return h->cfg_path;
}

json_t *hf_cfg_object(const hf_ckpt *h)
{
	return h->config;
}

json_t *hf_cfg_json(const hf_ckpt *h, const char *key)
{
	json_t *v = json_object_get(h->config, key);
	return v && !json_is_null(v) ? v : NULL;
}

static int missing(const hf_ckpt *h, const char *key, fp_error *err)
{
	return fp_error_set(err, FP_ERR_FORMAT, "'%s': missing field '%s' (required by %s)", h->cfg_path, key, h->arch);
}

int hf_cfg_int(const hf_ckpt *h, const char *key, int required, int dflt, int *out, fp_error *err)
{
	json_t *v = hf_cfg_json(h, key);
	if (!v) {
		*out = dflt;
		return required ? missing(h, key, err) : 0;
	}
	if (!json_is_integer(v))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': field '%s' is not an integer", h->cfg_path, key);
	json_int_t x = json_integer_value(v);
	if (x < 1 || x > HF_MAX_DIM)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': field '%s' = %lld is absurd (allowed 1..%d)", h->cfg_path, key,
				    (long long)x, HF_MAX_DIM);
	*out = (int)x;
	return 0;
}

int hf_cfg_float(const hf_ckpt *h, const char *key, int required, double dflt, float *out, fp_error *err)
{
	json_t *v = hf_cfg_json(h, key);
	if (!v) {
		*out = (float)dflt;
		return required ? missing(h, key, err) : 0;
	}
	if (!json_is_number(v) || !isfinite(json_number_value(v)))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': field '%s' is not a number", h->cfg_path, key);
	*out = (float)json_number_value(v);
	return 0;
}

int hf_cfg_bool(const hf_ckpt *h, const char *key, int dflt, int *out, fp_error *err)
{
	json_t *v = hf_cfg_json(h, key);
	if (!v) {
		*out = dflt;
		return 0;
	}
	if (!json_is_boolean(v))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': field '%s' is not true or false", h->cfg_path, key);
	*out = json_is_true(v);
	return 0;
}

const char *hf_cfg_str(const hf_ckpt *h, const char *key)
{
	json_t *v = hf_cfg_json(h, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int hf_cfg_str_in(const hf_ckpt *h, const char *key, const char *const *allowed, fp_error *err)
{
	json_t *v = hf_cfg_json(h, key);
	if (!v)
		return 0;
	char list[256] = "";
	for (int i = 0; allowed[i]; i++) {
		if (json_is_string(v) && !strcmp(json_string_value(v), allowed[i]))
			return 0;
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", allowed[i]);
	}
	if (!json_is_string(v))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': field '%s' is not a string (supported: %s)", h->cfg_path, key,
				    list);
	return fp_error_set(err, FP_ERR_UNSUPPORTED, "'%s': %s '%.40s' is not supported by factprobe (supported: %s)",
			    h->cfg_path, key, json_string_value(v), list);
}

int hf_cfg_refuse_true(const hf_ckpt *h, const char *key, const char *why, fp_error *err)
{
	json_t *v = hf_cfg_json(h, key);
	if (!v || json_is_false(v) || (json_is_integer(v) && json_integer_value(v) == 0))
		return 0;
	return fp_error_set(err, FP_ERR_UNSUPPORTED, "'%s': %s = %s is not supported by factprobe (%s; supported: false)",
			    h->cfg_path, key, json_is_true(v) ? "true" : "a non-false value", why);
}

int hf_cfg_llama_like(hf_ckpt *h, fp_config *c, fp_error *err)
{
	int rc;
	const char *p = h->cfg_path;
	if ((rc = hf_cfg_int(h, "num_hidden_layers", 1, 0, &c->n_layers, err)) ||
	    (rc = hf_cfg_int(h, "hidden_size", 1, 0, &c->d_model, err)) ||
	    (rc = hf_cfg_int(h, "intermediate_size", 1, 0, &c->d_mlp, err)) ||
	    (rc = hf_cfg_int(h, "num_attention_heads", 1, 0, &c->n_heads, err)) ||
	    (rc = hf_cfg_int(h, "num_key_value_heads", 0, c->n_heads, &c->n_kv_heads, err)) ||
	    (rc = hf_cfg_int(h, "vocab_size", 1, 0, &c->n_vocab, err)) ||
	    (rc = hf_cfg_int(h, "max_position_embeddings", 0, 2048, &c->n_ctx, err)))
		return rc;
	if (c->n_layers > HF_MAX_LAYERS)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': num_hidden_layers = %d is absurd", p, c->n_layers);
	if ((rc = hf_cfg_int(h, "head_dim", 0, c->d_model / c->n_heads, &c->d_head, err)))
		return rc;
	if (!hf_cfg_json(h, "head_dim") && c->d_model % c->n_heads)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': hidden_size %d is not a multiple of num_attention_heads %d",
				    p, c->d_model, c->n_heads);
	if (c->n_heads % c->n_kv_heads)
		return fp_error_set(err, FP_ERR_FORMAT,
				    "'%s': num_attention_heads %d is not a multiple of num_key_value_heads %d", p, c->n_heads,
				    c->n_kv_heads);
	if ((long)c->n_heads * c->d_head > HF_MAX_DIM || c->d_head % 2)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': %d heads of %d is absurd (head_dim must be even)", p,
				    c->n_heads, c->d_head);
	float eps, theta;
	if ((rc = hf_cfg_float(h, "rms_norm_eps", 0, 1e-6, &eps, err)) ||
	    (rc = hf_cfg_float(h, "rope_theta", 0, 10000.0, &theta, err)))
		return rc;
	if (!(eps > 0 && eps < 1))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': rms_norm_eps = %g is not in (0, 1)", p, eps);
	if (!(theta > 1))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': rope_theta = %g must be > 1", p, theta);
	c->norm_eps = eps;
	c->rope_base = theta;
	c->rope_dim = c->d_head;
	c->rope_neox = 1; /* Hugging Face's rotate_half on unpermuted q, k */
	c->rope_scale = 1.0f;
	c->gated_mlp = 1;
	c->mlp_act = FP_ACT_SILU;
	c->layer_norm = 0;
	c->embed_scale = 1.0f;
	c->attn_scale = 1.0f / sqrtf((float)c->d_head);
	return 0;
}

/* ---- tensors ---- */

static const st_tensor *find_in(const hf_ckpt *h, const char *name, const st_file **file)
{
	for (int i = 0; i < h->n_shards; i++) {
		const st_tensor *t = st_find(h->shards[i], name);
		if (t) {
			*file = h->shards[i];
			return t;
		}
	}
	return NULL;
}

const st_tensor *hf_tensor(const hf_ckpt *h, const char *hf_name)
{
	const st_file *f;
	return find_in(h, hf_name, &f);
}

void hf_ignore(hf_ckpt *h, const char *hf_name)
{
	const st_tensor *t = hf_tensor(h, hf_name);
	if (t)
		((st_tensor *)t)->used = 1;
}

static void fmt_shape(char *buf, size_t n, const uint64_t *s, int nd)
{
	size_t u = (size_t)snprintf(buf, n, "[");
	for (int d = 0; d < nd && u < n; d++)
		u += (size_t)snprintf(buf + u, n - u, "%s%llu", d ? ", " : "", (unsigned long long)s[d]);
	if (u < n)
		snprintf(buf + u, n - u, "]");
}

/* finds and checks a tensor; *tp NULL for an absent optional one */
static int check(hf_ckpt *h, const char *hf_name, uint64_t rows, uint64_t cols, int flags, const st_tensor **tp,
		 fp_error *err)
{
	const st_file *f = NULL;
	const st_tensor *t = find_in(h, hf_name, &f);
	*tp = NULL;
	if (!t) {
		if (flags & HF_OPTIONAL)
			return 0;
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': missing tensor '%s' (required by %s)", h->dir, hf_name,
				    h->arch);
	}
	if (t->ggml_type < 0)
		return fp_error_set(err, FP_ERR_UNSUPPORTED,
				    "'%s': tensor '%s' has dtype %s, which factprobe does not read (supported: F32, F16, BF16)",
				    f->path, hf_name, t->dtype);
	uint64_t want[2] = {rows, cols};
	int nd = cols ? 2 : 1;
	if (t->n_dims != nd || t->shape[0] != rows || (cols && t->shape[1] != cols)) {
		char found[160], exp[64];
		fmt_shape(found, sizeof found, t->shape, t->n_dims);
		fmt_shape(exp, sizeof exp, want, nd);
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': tensor '%s' has shape %s, expected %s (from config.json)",
				    f->path, hf_name, found, exp);
	}
	((st_tensor *)t)->used = 1;
	*tp = t;
	return 0;
}

static gguf_tensor *add_tensor(hf_ckpt *h, const char *gguf_name, uint64_t rows, uint64_t cols, fp_error *err)
{
	gguf_file *g = h->g;
	if (g->n_tensors == h->g_cap) {
		size_t cap = h->g_cap ? 2 * h->g_cap : 256;
		gguf_tensor *t = realloc(g->tensors, cap * sizeof *t);
		if (!t)
			return fp_error_set(err, FP_ERR_NOMEM, "out of memory"), NULL;
		g->tensors = t, h->g_cap = cap;
	}
	if (gguf_find_tensor(g, gguf_name))
		return fp_error_set(err, FP_ERR_INVALID, "'%s': tensor '%s' mapped twice", h->dir, gguf_name), NULL;
	char *name = own(h, strdup(gguf_name));
	if (!name)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory"), NULL;
	gguf_tensor *t = &g->tensors[g->n_tensors++];
	memset(t, 0, sizeof *t);
	t->name.ptr = name, t->name.len = strlen(name);
	t->n_dims = cols ? 2 : 1;
	t->ne[0] = cols ? cols : rows, t->ne[1] = cols ? rows : 1, t->ne[2] = t->ne[3] = 1;
	t->n_elem = rows * (cols ? cols : 1);
	return t;
}

float *hf_alloc_f32(hf_ckpt *h, size_t n, fp_error *err)
{
	float *p = own(h, calloc(n ? n : 1, sizeof(float)));
	if (!p)
		fp_error_set(err, FP_ERR_NOMEM, "'%s': cannot allocate %.1f MB", h->dir, n * 4.0 / 1e6);
	return p;
}

float *hf_f32(hf_ckpt *h, const char *hf_name, uint64_t rows, uint64_t cols, int flags, fp_error *err)
{
	const st_tensor *t;
	if (err)
		err->code = 0;
	if (check(h, hf_name, rows, cols, flags, &t, err) || !t)
		return NULL;
	float *p = hf_alloc_f32(h, (size_t)t->n_elem, err);
	if (p && quant_dequantize((uint32_t)t->ggml_type, t->data, p, t->n_elem)) {
		fp_error_set(err, FP_ERR_FORMAT, "'%s': cannot convert tensor '%s'", h->dir, hf_name);
		return NULL;
	}
	return p;
}

int hf_put(hf_ckpt *h, const char *gguf_name, const float *data, uint64_t rows, uint64_t cols, fp_error *err)
{
	gguf_tensor *t = add_tensor(h, gguf_name, rows, cols, err);
	if (!t)
		return err ? err->code : FP_ERR_NOMEM;
	t->type = GGML_F32;
	t->nbytes = t->n_elem * 4;
	t->data = (const uint8_t *)data;
	return 0;
}

int hf_map(hf_ckpt *h, const char *gguf_name, const char *hf_name, uint64_t rows, uint64_t cols, int flags,
	   fp_error *err)
{
	const st_tensor *t;
	int rc = check(h, hf_name, rows, cols, flags, &t, err);
	if (rc || !t)
		return rc;
	size_t esz = t->ggml_type == GGML_F32 ? 4 : 2;
	if ((uintptr_t)t->data % esz) {
		/* data not aligned to its element (a header length that is not a
		 * multiple of 8): an aligned f32 copy */
		float *p = hf_f32(h, hf_name, rows, cols, flags, err);
		return p ? hf_put(h, gguf_name, p, rows, cols, err) : err->code;
	}
	gguf_tensor *g = add_tensor(h, gguf_name, rows, cols, err);
	if (!g)
		return err->code;
	g->type = (uint32_t)t->ggml_type;
	g->nbytes = t->nbytes;
	g->data = t->data;
	return 0;
}

/* ---- the weights files ---- */

static int add_shard(hf_ckpt *h, const char *file, fp_error *err)
{
	char p[PATH_MAX];
	if ((size_t)snprintf(p, sizeof p, "%s/%s", h->dir, file) >= sizeof p)
		return fp_error_set(err, FP_ERR_INVALID, "'%s': path too long", h->dir);
	st_file **s = realloc(h->shards, (size_t)(h->n_shards + 1) * sizeof *s);
	if (!s)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	h->shards = s;
	int rc = st_open(&h->shards[h->n_shards], p, err);
	if (!rc)
		h->n_shards++;
	return rc;
}

static int open_weights(hf_ckpt *h, fp_error *err)
{
	char ip[PATH_MAX];
	snprintf(ip, sizeof ip, "%s/model.safetensors.index.json", h->dir);
	if (!has_file(h->dir, "model.safetensors.index.json")) {
		if (!has_file(h->dir, "model.safetensors"))
			return fp_error_set(err, FP_ERR_IO,
					    "'%s': no model.safetensors or model.safetensors.index.json (factprobe reads "
					    "safetensors only; pytorch_model.bin can be converted with "
					    "save_pretrained(..., safe_serialization=True))", h->dir);
		return add_shard(h, "model.safetensors", err);
	}
	json_error_t je;
	json_t *root = json_load_file(ip, JSON_REJECT_DUPLICATES, &je), *wm = root ? json_object_get(root, "weight_map") : NULL;
	int rc = 0;
	if (!root)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': not valid JSON (line %d: %s)", ip, je.line, je.text);
	if (!json_is_object(wm)) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': missing field 'weight_map' (an object)", ip);
		goto done;
	}
	const char *key;
	json_t *v;
	/* open each shard once, in order of first mention */
	json_object_foreach(wm, key, v) {
		const char *s = json_string_value(v);
		if (!s || !*s || strchr(s, '/') || !strcmp(s, "..") || !strcmp(s, ".")) {
			rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': weight_map entry '%s' is not a file name in the directory",
					  ip, key);
			goto done;
		}
		int seen = 0;
		for (int i = 0; i < h->n_shards && !seen; i++) {
			const char *b = strrchr(h->shards[i]->path, '/');
			seen = !strcmp(b + 1, s);
		}
		if (seen)
			continue;
		if (!has_file(h->dir, s)) {
			rc = fp_error_set(err, FP_ERR_IO, "'%s': shard '%s' is missing (weight_map names it for tensor '%s')",
					  ip, s, key);
			goto done;
		}
		if ((rc = add_shard(h, s, err)))
			goto done;
	}
	json_object_foreach(wm, key, v) {
		const st_file *f = NULL;
		const char *s = json_string_value(v);
		const st_tensor *t = find_in(h, key, &f);
		if (!t || strcmp(strrchr(f->path, '/') + 1, s)) {
			rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': tensor '%s' is not in shard '%s', where weight_map puts it",
					  ip, key, s);
			goto done;
		}
	}
done:
	json_decref(root);
	return rc;
}

/* ---- the llama family ---- */

static const char *const ACT_SILU[] = {"silu", NULL};

static int cfg_llama_common(hf_ckpt *h, fp_config *c, int arch, fp_error *err)
{
	int rc, tie;
	c->arch = arch;
	snprintf(c->arch_name, sizeof c->arch_name, "%s", FP_ARCH_NAMES[arch]);
	if ((rc = hf_cfg_llama_like(h, c, err)) || (rc = hf_cfg_str_in(h, "hidden_act", ACT_SILU, err)) ||
	    (rc = hf_cfg_rope_scaling(h, c, HF_ROPE_LINEAR | HF_ROPE_LLAMA3, err)) ||
	    (rc = hf_cfg_refuse_true(h, "mlp_bias", "biases on the MLP projections", err)) ||
	    (rc = hf_cfg_bool(h, "tie_word_embeddings", 0, &tie, err)))
		return rc;
	c->tied_unembed = tie;
	json_t *prf = hf_cfg_json(h, "partial_rotary_factor");
	if (prf && !(json_is_number(prf) && json_number_value(prf) == 1.0))
		return fp_error_set(err, FP_ERR_UNSUPPORTED, "'%s': partial_rotary_factor other than 1 is not supported for %s",
				    h->cfg_path, h->arch);
	return 0;
}

static int cfg_llama(hf_ckpt *h, fp_config *c, fp_error *err)
{
	int rc = cfg_llama_common(h, c, FP_ARCH_LLAMA, err);
	return rc ? rc : hf_cfg_refuse_true(h, "attention_bias", "biases on the attention projections", err);
}

static int cfg_mistral(hf_ckpt *h, fp_config *c, fp_error *err)
{
	int rc = cfg_llama_common(h, c, FP_ARCH_LLAMA, err);
	if (rc || (rc = hf_cfg_refuse_true(h, "attention_bias", "biases on the attention projections", err)))
		return rc;
	/* sliding_window: every layer attends to keys with q - k < window */
	if (hf_cfg_json(h, "sliding_window")) {
		if ((rc = hf_cfg_int(h, "sliding_window", 1, 0, &c->n_swa, err)))
			return rc;
		c->swa_period = 1;
	}
	return 0;
}

/* Qwen2 and Qwen3: sliding windows only when use_sliding_window (refused) */
static int cfg_qwen_common(hf_ckpt *h, fp_error *err)
{
	int rc = hf_cfg_refuse_true(h, "use_sliding_window", "sliding-window layers", err);
	json_t *lt = hf_cfg_json(h, "layer_types"), *e;
	size_t i;
	if (rc)
		return rc;
	json_array_foreach(lt, i, e) {
		if (!json_is_string(e) || strcmp(json_string_value(e), "full_attention"))
			return fp_error_set(err, FP_ERR_UNSUPPORTED,
					    "'%s': layer_types[%zu] = '%.30s' is not supported (supported: full_attention)",
					    h->cfg_path, i, json_is_string(e) ? json_string_value(e) : "?");
	}
	return 0;
}

static int cfg_qwen2(hf_ckpt *h, fp_config *c, fp_error *err)
{
	int rc = cfg_llama_common(h, c, FP_ARCH_QWEN2, err);
	return rc ? rc : cfg_qwen_common(h, err);
}

static int cfg_qwen3(hf_ckpt *h, fp_config *c, fp_error *err)
{
	int rc = cfg_llama_common(h, c, FP_ARCH_QWEN3, err);
	if (rc || (rc = cfg_qwen_common(h, err)) ||
	    (rc = hf_cfg_refuse_true(h, "attention_bias", "biases on the attention projections", err)))
		return rc;
	c->qk_norm = 1;
	return 0;
}

static int w_llama(hf_ckpt *h, const fp_config *c, fp_error *err)
{
	static const hf_layer_tensor LAYER[] = {
		{"attn_norm.weight", "input_layernorm.weight", HF_DIM_D, HF_DIM_NONE, HF_AS_IS},
		{"attn_q.weight", "self_attn.q_proj.weight", HF_DIM_QE, HF_DIM_D, HF_AS_IS},
		{"attn_k.weight", "self_attn.k_proj.weight", HF_DIM_KE, HF_DIM_D, HF_AS_IS},
		{"attn_v.weight", "self_attn.v_proj.weight", HF_DIM_KE, HF_DIM_D, HF_AS_IS},
		{"attn_output.weight", "self_attn.o_proj.weight", HF_DIM_D, HF_DIM_QE, HF_AS_IS},
		{"ffn_norm.weight", "post_attention_layernorm.weight", HF_DIM_D, HF_DIM_NONE, HF_AS_IS},
		{"ffn_gate.weight", "mlp.gate_proj.weight", HF_DIM_F, HF_DIM_D, HF_AS_IS},
		{"ffn_up.weight", "mlp.up_proj.weight", HF_DIM_F, HF_DIM_D, HF_AS_IS},
		{"ffn_down.weight", "mlp.down_proj.weight", HF_DIM_D, HF_DIM_F, HF_AS_IS},
	};
	static const hf_layer_tensor QKV_BIAS[] = { /* qwen2 */
		{"attn_q.bias", "self_attn.q_proj.bias", HF_DIM_QE, HF_DIM_NONE, HF_AS_IS},
		{"attn_k.bias", "self_attn.k_proj.bias", HF_DIM_KE, HF_DIM_NONE, HF_AS_IS},
		{"attn_v.bias", "self_attn.v_proj.bias", HF_DIM_KE, HF_DIM_NONE, HF_AS_IS},
	};
	static const hf_layer_tensor QK_NORM[] = { /* qwen3 */
		{"attn_q_norm.weight", "self_attn.q_norm.weight", HF_DIM_E, HF_DIM_NONE, HF_AS_IS},
		{"attn_k_norm.weight", "self_attn.k_norm.weight", HF_DIM_E, HF_DIM_NONE, HF_AS_IS},
	};
	const char *P = "model.layers.";
	uint64_t D = (uint64_t)c->d_model, V = (uint64_t)c->n_vocab;
	int rc;
	if ((rc = hf_map(h, "token_embd.weight", "model.embed_tokens.weight", V, D, 0, err)) ||
	    (rc = hf_map(h, "output_norm.weight", "model.norm.weight", D, 0, 0, err)))
		return rc;
	if (!c->tied_unembed) {
		if ((rc = hf_map(h, "output.weight", "lm_head.weight", V, D, 0, err)))
			return rc;
	} else {
		/* tied: transformers uses the embedding and ignores a stored copy */
		hf_ignore(h, "lm_head.weight");
	}
	for (int l = 0; l < c->n_layers; l++)
		if ((rc = hf_map_layer(h, c, P, l, LAYER, HF_COUNT(LAYER), err)) ||
		    (c->arch == FP_ARCH_QWEN2 && (rc = hf_map_layer(h, c, P, l, QKV_BIAS, HF_COUNT(QKV_BIAS), err))) ||
		    (c->qk_norm && (rc = hf_map_layer(h, c, P, l, QK_NORM, HF_COUNT(QK_NORM), err))))
			return rc;
	return 0;
}

static const hf_family LLAMA_FAMILIES[] = {
	{"LlamaForCausalLM", cfg_llama, w_llama},
	{"MistralForCausalLM", cfg_mistral, w_llama},
	{"Qwen2ForCausalLM", cfg_qwen2, w_llama},
	{"Qwen3ForCausalLM", cfg_qwen3, w_llama},
	{NULL, NULL, NULL},
};

static const hf_family *const FAMILY_LISTS[] = {LLAMA_FAMILIES, hf_families_more};

static const hf_family *find_family(const char *arch, char *list, size_t n)
{
	list[0] = 0;
	for (size_t k = 0; k < sizeof FAMILY_LISTS / sizeof FAMILY_LISTS[0]; k++)
		for (const hf_family *f = FAMILY_LISTS[k]; f->arch; f++) {
			if (arch && !strcmp(arch, f->arch))
				return f;
			snprintf(list + strlen(list), n - strlen(list), "%s%s", list[0] ? ", " : "", f->arch);
		}
	return NULL;
}

/* ---- metadata: config.json's scalars as GGUF key-values (for info) ---- */

static int add_kv(hf_ckpt *h, const char *key, json_t *v, fp_error *err)
{
	gguf_file *g = h->g;
	uint8_t *d = NULL;
	uint32_t type;
	if (json_is_string(v)) {
		uint64_t len = strlen(json_string_value(v));
		if ((d = own(h, malloc(8 + len))))
			memcpy(d, &len, 8), memcpy(d + 8, json_string_value(v), len);
		type = GGUF_VT_STRING;
	} else if (json_is_integer(v)) {
		int64_t x = json_integer_value(v);
		if ((d = own(h, malloc(8))))
			memcpy(d, &x, 8);
		type = GGUF_VT_I64;
	} else if (json_is_real(v)) {
		double x = json_real_value(v);
		if ((d = own(h, malloc(8))))
			memcpy(d, &x, 8);
		type = GGUF_VT_F64;
	} else if (json_is_boolean(v)) {
		if ((d = own(h, malloc(1))))
			d[0] = json_is_true(v);
		type = GGUF_VT_BOOL;
	} else {
		return 0;
	}
	char *k = own(h, strdup(key));
	gguf_kv *kv = realloc(g->kv, (size_t)(g->n_kv + 1) * sizeof *kv);
	if (!d || !k || !kv)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	g->kv = kv;
	kv += g->n_kv++;
	memset(kv, 0, sizeof *kv);
	kv->key.ptr = k, kv->key.len = strlen(k);
	kv->type = type;
	kv->data = d;
	return 0;
}

static int config_kv(hf_ckpt *h, fp_error *err)
{
	char name[256];
	const char *s = strstr(h->dir, "/models--"), *e;
	if (s && (e = strstr(s, "/snapshots/"))) {
		/* the cache's models--ORG--NAME: ORG/NAME */
		size_t u = 0;
		for (const char *p = s + 9; p < e && u < sizeof name - 1; p++) {
			if (p[0] == '-' && p[1] == '-')
				name[u++] = '/', p++;
			else
				name[u++] = *p;
		}
		name[u] = 0;
	} else {
		size_t len = strlen(h->dir);
		while (len > 1 && h->dir[len - 1] == '/')
			len--;
		const char *b = h->dir + len;
		while (b > h->dir && b[-1] != '/')
			b--;
		snprintf(name, sizeof name, "%.*s", (int)(h->dir + len - b), b);
	}
	json_t *a = json_string(h->arch), *nm = json_string(name);
	int rc = a && nm ? add_kv(h, "general.architecture", a, err) || add_kv(h, "general.name", nm, err)
			 : fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	json_decref(a), json_decref(nm);
	if (rc)
		return err->code;
	const char *key, *k2;
	json_t *v, *v2;
	char full[256];
	json_object_foreach(h->config, key, v) {
		if (json_is_object(v)) {
			json_object_foreach(v, k2, v2) {
				snprintf(full, sizeof full, "hf.%s.%s", key, k2);
				if ((rc = add_kv(h, full, v2, err)))
					return rc;
			}
		} else {
			snprintf(full, sizeof full, "hf.%s", key);
			if ((rc = add_kv(h, full, v, err)))
				return rc;
		}
	}
	return 0;
}

/* ---- opening ---- */

int hf_open(hf_ckpt **out, const char *dir, fp_config *cfg, gguf_file **gout, fp_error *err)
{
	int rc;
	*out = NULL, *gout = NULL;
	hf_ckpt *h = calloc(1, sizeof *h);
	if (!h || !(h->dir = strdup(dir)) || !(h->g = calloc(1, sizeof *h->g)) || !(h->g->path = strdup(dir))) {
		if (h)
			free(h->g), free(h->dir);
		free(h);
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	}
	h->arch = "?";
	snprintf(h->cfg_path, sizeof h->cfg_path, "%s/config.json", dir);
	json_error_t je;
	if (!(h->config = json_load_file(h->cfg_path, JSON_REJECT_DUPLICATES, &je))) {
		rc = fp_error_set(err, access(h->cfg_path, R_OK) ? FP_ERR_IO : FP_ERR_FORMAT, "'%s': %s (line %d)",
				  h->cfg_path, je.text, je.line);
		goto fail;
	}
	if (!json_is_object(h->config)) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': not a JSON object", h->cfg_path);
		goto fail;
	}
	json_t *archs = hf_cfg_json(h, "architectures");
	const char *arch = json_string_value(json_array_get(archs, 0));
	char list[1024];
	h->fam = find_family(arch, list, sizeof list);
	if (!arch) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': missing field 'architectures' (a list such as "
				  "[\"LlamaForCausalLM\"]; supported: %s)", h->cfg_path, list);
		goto fail;
	}
	if (!h->fam) {
		rc = fp_error_set(err, FP_ERR_UNSUPPORTED,
				  "'%s': architectures '%.60s' is not supported by factprobe (supported: %s)", h->cfg_path,
				  arch, list);
		goto fail;
	}
	h->arch = h->fam->arch;
	memset(cfg, 0, sizeof *cfg);
	if ((rc = h->fam->config(h, cfg, err)) || (rc = open_weights(h, err)) || (rc = config_kv(h, err)) ||
	    (rc = h->fam->weights(h, cfg, err)))
		goto fail;
	/* a tensor the family did not take would be silently ignored: refuse */
	for (int i = 0; i < h->n_shards; i++)
		for (size_t j = 0; j < h->shards[i]->n_tensors; j++) {
			const st_tensor *t = &h->shards[i]->tensors[j];
			if (!t->used && !strstr(t->name, "rotary_emb.inv_freq")) {
				rc = fp_error_set(err, FP_ERR_UNSUPPORTED,
						  "'%s': tensor '%s' is not used by factprobe's %s (a feature config.json "
						  "does not declare, or one factprobe does not implement)",
						  h->shards[i]->path, t->name, h->arch);
				goto fail;
			}
		}
	*out = h, *gout = h->g;
	return 0;
fail:
	gguf_close(h->g);
	hf_close(h);
	return rc;
}
