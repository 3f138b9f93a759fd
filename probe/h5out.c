/* h5out.c - writes and resumes activation recordings (layout in h5out.h).
 * Every HDF5 call is checked; HDF5's own error printing is off and its
 * innermost message is folded into ours. */
#include "h5out.h"
#include "../model/quant.h"

#include <hdf5.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BATCH_BYTES (16u << 20)
#define BATCH_PROMPTS 4096

typedef struct strvec {
	char **v;
	size_t n, cap;
} strvec;

typedef struct vec {
	void *p;
	size_t n, cap, esz; /* elements */
} vec;

enum { P_TEXT, P_SUBJECT, P_TARGET, P_RELATION, P_ID, P_NSTR };
static const char *P_STR_NAME[P_NSTR] = {"text", "subject", "target", "relation", "id"};
enum { P_LINE, P_SPAN, P_TOKEN_START, P_N_TOKENS, P_ROW_START, P_N_ROWS, P_NNUM };
static const char *P_NUM_NAME[P_NNUM] = {"line", "subject_span", "token_start", "n_tokens", "row_start", "n_rows"};

struct h5rec {
	char *path;
	hid_t file, g_acts, g_rows, g_prompts, g_tokens;
	hid_t t_str, t_f16, t_act;  /* vlen UTF-8 string, IEEE half, the acts file type */
	int n_hooks, f16;
	h5rec_hook *hooks;
	hid_t *ds_acts;
	hid_t ds_row_prompt, ds_row_pos, ds_pstr[P_NSTR], ds_pnum[P_NNUM], ds_tok_id, ds_tok_text;
	long n_prompts;          /* committed (written and counted) */
	long long n_rows, n_tokens;
	/* the batch */
	vec row_prompt, row_pos, pnum[P_NNUM], tok_id;
	strvec pstr[P_NSTR], tok_text;
	long b_prompts;
	long long b_rows, b_tokens;
	double bytes;
	void *scratch;           /* one hook's rows of a pack, in the file's dtype */
	size_t scratch_cap;      /* bytes */
	pthread_t retire;        /* frees the file this one replaced (retire_old) */
	int retiring;
};

/* ---- small helpers ---- */

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
	if (n == 0)
		snprintf(data, 200, "%s", e->desc ? e->desc : "");
	return 0;
}

/* HDF5 clears its error stack at every API call, so the innermost message
 * of a failing call is saved at once (and the whole stack printed when
 * FACTPROBE_HDF5_ERRORS is set, for bug reports) */
static char h5_last[200];

static void h5_note(void)
{
	if (getenv("FACTPROBE_HDF5_ERRORS"))
		H5Eprint2(H5E_DEFAULT, stderr);
	h5_last[0] = 0;
	H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, h5_last);
}

static int h5fail(fp_error *err, const char *path, const char *what)
{
	char inner[200] = "";
	H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, inner);
	if (!inner[0])
		snprintf(inner, sizeof inner, "%s", h5_last);
	return fp_error_set(err, FP_ERR_IO, "'%s': %s%s%s", path, what, inner[0] ? ": " : "", inner);
}

static int vec_push(vec *v, const void *x, size_t n)
{
	if (v->n + n > v->cap) {
		size_t cap = v->cap ? v->cap : 256;
		while (cap < v->n + n)
			cap *= 2;
		void *p = realloc(v->p, cap * v->esz);
		if (!p)
			return -1;
		v->p = p, v->cap = cap;
	}
	memcpy((char *)v->p + v->n * v->esz, x, n * v->esz);
	v->n += n;
	return 0;
}

static int str_push(strvec *s, const char *x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 256;
		char **v = realloc(s->v, cap * sizeof *v);
		if (!v)
			return -1;
		s->v = v, s->cap = cap;
	}
	s->v[s->n] = strdup(x ? x : "");
	return s->v[s->n++] ? 0 : -1;
}

static void str_clear(strvec *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	s->n = 0;
}

static int attr_str(hid_t obj, const char *name, const char *val, hid_t t_str)
{
	hid_t sp = H5Screate(H5S_SCALAR);
	if (H5Aexists(obj, name) > 0)
		H5Adelete(obj, name);
	hid_t a = H5Acreate2(obj, name, t_str, sp, H5P_DEFAULT, H5P_DEFAULT);
	const char *v = val ? val : "";
	herr_t rc = a < 0 ? -1 : H5Awrite(a, t_str, &v);
	if (a >= 0)
		H5Aclose(a);
	H5Sclose(sp);
	return rc < 0 ? -1 : 0;
}

static int attr_i64(hid_t obj, const char *name, long long val)
{
	hid_t a;
	herr_t rc;
	if (H5Aexists(obj, name) > 0) {
		a = H5Aopen(obj, name, H5P_DEFAULT);
	} else {
		hid_t sp = H5Screate(H5S_SCALAR);
		a = H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
		H5Sclose(sp);
	}
	rc = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_LLONG, &val);
	if (a >= 0)
		H5Aclose(a);
	return rc < 0 ? -1 : 0;
}

static int read_attr_i64(hid_t obj, const char *name, long long *val)
{
	if (H5Aexists(obj, name) <= 0)
		return -1;
	hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
	herr_t rc = a < 0 ? -1 : H5Aread(a, H5T_NATIVE_LLONG, val);
	if (a >= 0)
		H5Aclose(a);
	return rc < 0 ? -1 : 0;
}

/* malloc'ed copy of a string attribute, NULL if absent */
static char *read_attr_str(hid_t obj, const char *name, hid_t t_str)
{
	if (H5Aexists(obj, name) <= 0)
		return NULL;
	hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = a < 0 ? -1 : H5Aget_type(a);
	char *out = NULL;
	if (t >= 0 && H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0) {
		char *v = NULL;
		if (H5Aread(a, t_str, &v) >= 0 && v) {
			out = strdup(v);
			H5free_memory(v);
		}
	}
	if (t >= 0)
		H5Tclose(t);
	if (a >= 0)
		H5Aclose(a);
	return out;
}

/* Without filters, whole chunks are written straight from our buffers when
 * the chunk cache is off; with it HDF5 copies every chunk into a fresh
 * buffer first.  Compressed datasets keep a cache for the filter pipeline. */
static hid_t ds_access(int direct)
{
	hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
	if (direct)
		H5Pset_chunk_cache(dapl, 0, 0, 1.0);
	return dapl;
}

static hid_t ds_create(hid_t g, const char *name, hid_t type, int rank, hsize_t width, hsize_t chunk_rows, int gzip)
{
	hsize_t dims[2] = {0, width}, maxd[2] = {H5S_UNLIMITED, width}, chunk[2] = {chunk_rows, width};
	hid_t sp = H5Screate_simple(rank, dims, maxd), pl = H5Pcreate(H5P_DATASET_CREATE), ds = -1;
	hid_t dapl = ds_access(!gzip && rank == 2);
	if (sp >= 0 && pl >= 0 && H5Pset_chunk(pl, rank, chunk) >= 0 &&
	    (!gzip || (H5Pset_shuffle(pl) >= 0 && H5Pset_deflate(pl, (unsigned)gzip) >= 0)))
		ds = H5Dcreate2(g, name, type, sp, H5P_DEFAULT, pl, dapl);
	H5Pclose(dapl);
	if (pl >= 0)
		H5Pclose(pl);
	if (sp >= 0)
		H5Sclose(sp);
	return ds;
}

static long long ds_rows(hid_t ds);

/* writes n rows (of width columns; rank 1 when width is 0) at row `at`,
 * growing the dataset when needed but never shrinking it: rows past the
 * last checkpoint that a killed run left behind are simply overwritten
 * (shrinking would free chunks at the end of the file, which HDF5 1.10
 * then mishandles on the next flush) */
static int ds_append(hid_t ds, hid_t memtype, long long at, size_t n, hsize_t width, const void *buf)
{
	if (!n)
		return 0;
	int rank = width ? 2 : 1;
	hsize_t size[2] = {(hsize_t)at + n, width}, start[2] = {(hsize_t)at, 0}, count[2] = {n, width};
	if ((long long)size[0] > ds_rows(ds) && H5Dset_extent(ds, size) < 0) {
		h5_note();
		return -1;
	}
	hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(rank, count, NULL);
	herr_t rc = -1;
	if (fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
		rc = H5Dwrite(ds, memtype, ms, fs, H5P_DEFAULT, buf);
	if (rc < 0)
		h5_note();
	if (ms >= 0)
		H5Sclose(ms);
	if (fs >= 0)
		H5Sclose(fs);
	return rc < 0 ? -1 : 0;
}

static long long ds_rows(hid_t ds)
{
	hsize_t d[2] = {0, 0};
	hid_t sp = H5Dget_space(ds);
	if (sp < 0)
		return -1;
	H5Sget_simple_extent_dims(sp, d, NULL);
	H5Sclose(sp);
	return (long long)d[0];
}

/* ---- lifecycle ---- */

static h5rec *rec_new(const char *path, const h5rec_hook *hooks, int n_hooks, int f16)
{
	h5rec *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->path = strdup(path);
	r->file = r->g_acts = r->g_rows = r->g_prompts = r->g_tokens = H5I_INVALID_HID;
	r->n_hooks = n_hooks;
	r->f16 = f16;
	r->hooks = malloc((size_t)n_hooks * sizeof *hooks);
	r->ds_acts = malloc((size_t)n_hooks * sizeof *r->ds_acts);
	if (!r->path || !r->hooks || !r->ds_acts) {
		free(r->path), free(r->hooks), free(r->ds_acts), free(r);
		return NULL;
	}
	memcpy(r->hooks, hooks, (size_t)n_hooks * sizeof *hooks);
	for (int i = 0; i < n_hooks; i++)
		r->ds_acts[i] = H5I_INVALID_HID;
	r->ds_row_prompt = r->ds_row_pos = r->ds_tok_id = r->ds_tok_text = H5I_INVALID_HID;
	for (int i = 0; i < P_NSTR; i++)
		r->ds_pstr[i] = H5I_INVALID_HID;
	for (int i = 0; i < P_NNUM; i++) {
		r->ds_pnum[i] = H5I_INVALID_HID;
		r->pnum[i].esz = i == P_LINE || i == P_TOKEN_START || i == P_ROW_START ? 8 : 4;
	}
	r->pnum[P_SPAN].esz = 8; /* two int32 */
	r->row_prompt.esz = r->row_pos.esz = r->tok_id.esz = 4;
	/* after a failed write HDF5's own exit handler can crash closing the
	 * file a second time; the OS closes it for us */
	H5dont_atexit();
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	r->t_str = H5Tcopy(H5T_C_S1);
	H5Tset_size(r->t_str, H5T_VARIABLE);
	H5Tset_cset(r->t_str, H5T_CSET_UTF8);
	/* IEEE 754 binary16: sign bit 15, exponent bits 10-14 (bias 15), mantissa bits 0-9 */
	r->t_f16 = H5Tcopy(H5T_IEEE_F32LE);
	H5Tset_fields(r->t_f16, 15, 10, 5, 0, 10);
	H5Tset_precision(r->t_f16, 16);
	H5Tset_size(r->t_f16, 2);
	H5Tset_ebias(r->t_f16, 15);
	r->t_act = f16 ? r->t_f16 : H5T_IEEE_F32LE;
	return r;
}

static void close_objects(h5rec *r);

static void *retire_main(void *arg)
{
	/* the lowest priority: the forward pass goes first */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	close((int)(intptr_t)arg);
	return NULL;
}

/* An existing file at path (record --force) is unlinked and freed on a
 * background thread rather than truncated by H5Fcreate: freeing its pages
 * takes a while (0.14 s for 376 MB here), and ext4 writes a file that was
 * truncated in place out to disk as a whole at its first close
 * (auto_da_alloc: 0.25 s more), where a new file's pages go out in the
 * background.  A file another process holds open through HDF5 (which locks
 * it, h5py too) is refused: H5Fcreate would truncate it under the reader
 * first and then fail on the lock.  Only a plain, writable file with one
 * link is unlinked; a symlink's target or a file with more links is left to
 * H5Fcreate, which truncates it in place as before. */
static int retire_old(h5rec *r, const char *path, fp_error *err)
{
	struct stat ls, fs;
	if (stat(path, &fs) || !S_ISREG(fs.st_mode) || lstat(path, &ls))
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return 0; /* H5Fcreate says why */
	if (flock(fd, LOCK_EX | LOCK_NB) && errno == EWOULDBLOCK) {
		close(fd);
		return fp_error_set(err, FP_ERR_IO, "'%s' is open in another process (it holds HDF5's lock on the file), "
				    "so it is not overwritten", path);
	}
	int plain = S_ISREG(ls.st_mode) && ls.st_nlink == 1 && !fstat(fd, &fs) && fs.st_dev == ls.st_dev &&
		    fs.st_ino == ls.st_ino && !access(path, W_OK);
	if (!plain || unlink(path)) {
		close(fd);
		return 0;
	}
	/* the last descriptor of an unlinked file frees it when closed */
	if (pthread_create(&r->retire, NULL, retire_main, (void *)(intptr_t)fd) == 0)
		r->retiring = 1;
	else
		close(fd);
	return 0;
}

static void rec_free(h5rec *r)
{
	if (!r)
		return;
	if (r->retiring)
		pthread_join(r->retire, NULL);
	close_objects(r);
	for (int i = 0; i < P_NSTR; i++) {
		str_clear(&r->pstr[i]);
		free(r->pstr[i].v);
	}
	for (int i = 0; i < P_NNUM; i++)
		free(r->pnum[i].p);
	str_clear(&r->tok_text);
	free(r->tok_text.v);
	free(r->row_prompt.p), free(r->row_pos.p), free(r->tok_id.p);
	free(r->scratch);
	H5Tclose(r->t_str);
	H5Tclose(r->t_f16);
	free(r->hooks), free(r->ds_acts), free(r->path);
	free(r);
}

/* metadata stays in memory between flushes: a crash cannot leave a
 * half-evicted index behind the last checkpoint */
static hid_t file_access(void)
{
	hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
	/* The default (1.8-compatible) format on purpose: the 1.10 format's
	 * superblock records "open for writing", so after kill -9 HDF5 refuses
	 * to open the file until h5clear is run. */
	H5AC_cache_config_t c;
	memset(&c, 0, sizeof c);
	c.version = H5AC__CURR_CACHE_CONFIG_VERSION;
	if (H5Pget_mdc_config(fapl, &c) >= 0) {
		c.evictions_enabled = 0;
		c.incr_mode = H5C_incr__off;
		c.flash_incr_mode = H5C_flash_incr__off;
		c.decr_mode = H5C_decr__off;
		c.set_initial_size = 1;
		c.initial_size = 16 << 20;
		c.max_size = 64 << 20;
		c.min_size = 1 << 20;
		H5Pset_mdc_config(fapl, &c);
	}
	return fapl;
}

static hsize_t chunk_rows_for(hsize_t row_bytes)
{
	hsize_t n = (256u << 10) / (row_bytes ? row_bytes : 1);
	return n < 16 ? 16 : n > 4096 ? 4096 : n;
}

/* the "hooks" attribute: recorded hook names, comma separated */
static void hook_list(const h5rec_hook *hooks, int n_hooks, char *buf, size_t n)
{
	size_t used = 0;
	buf[0] = 0;
	for (int i = 0; i < n_hooks && used + 70 < n; i++)
		used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? "," : "", hooks[i].name);
}

int h5rec_create(h5rec **out, const char *path, const h5rec_info *in, const h5rec_hook *hooks, int n_hooks,
		 fp_error *err)
{
	*out = NULL;
	h5rec *r = rec_new(path, hooks, n_hooks, in->f16);
	if (!r)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	int rc = retire_old(r, path, err);
	if (rc)
		goto fail;
	hid_t fapl = file_access();
	r->file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
	H5Pclose(fapl);
	if (r->file < 0) {
		rc = h5fail(err, path, "cannot create the file");
		goto fail;
	}
	hid_t f = r->file;
	r->g_acts = H5Gcreate2(f, "acts", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	r->g_rows = H5Gcreate2(f, "rows", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	r->g_prompts = H5Gcreate2(f, "prompts", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	r->g_tokens = H5Gcreate2(f, "tokens", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	int bad = r->g_acts < 0 || r->g_rows < 0 || r->g_prompts < 0 || r->g_tokens < 0;
	for (int i = 0; i < n_hooks && !bad; i++) {
		hsize_t w = (hsize_t)hooks[i].width;
		r->ds_acts[i] = ds_create(r->g_acts, hooks[i].name, r->t_act, 2, w, chunk_rows_for(w * (in->f16 ? 2 : 4)),
					  in->compress);
		bad |= r->ds_acts[i] < 0;
	}
	r->ds_row_prompt = ds_create(r->g_rows, "prompt", H5T_STD_I32LE, 1, 0, 4096, in->compress);
	r->ds_row_pos = ds_create(r->g_rows, "position", H5T_STD_I32LE, 1, 0, 4096, in->compress);
	r->ds_tok_id = ds_create(r->g_tokens, "id", H5T_STD_I32LE, 1, 0, 4096, in->compress);
	r->ds_tok_text = ds_create(r->g_tokens, "text", r->t_str, 1, 0, 1024, 0);
	bad |= r->ds_row_prompt < 0 || r->ds_row_pos < 0 || r->ds_tok_id < 0 || r->ds_tok_text < 0;
	for (int i = 0; i < P_NSTR; i++)
		bad |= (r->ds_pstr[i] = ds_create(r->g_prompts, P_STR_NAME[i], r->t_str, 1, 0, 256, 0)) < 0;
	for (int i = 0; i < P_NNUM; i++) {
		hid_t t = r->pnum[i].esz == 8 && i != P_SPAN ? H5T_STD_I64LE : H5T_STD_I32LE;
		bad |= (r->ds_pnum[i] = ds_create(r->g_prompts, P_NUM_NAME[i], t, i == P_SPAN ? 2 : 1, i == P_SPAN ? 2 : 0,
						  1024, 0)) < 0;
	}
	if (bad) {
		rc = h5fail(err, path, "cannot create the datasets");
		goto fail;
	}
	char hooklist[8192], created[64];
	hook_list(hooks, n_hooks, hooklist, sizeof hooklist);
	time_t now = time(NULL);
	strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	char batch[32];
	snprintf(batch, sizeof batch, "%d", in->batch_tokens);
	struct { const char *k, *v; } s[] = {
		{"format", H5REC_FORMAT}, {"factprobe_version", in->factprobe_version}, {"created", created},
		{"command_line", in->command_line}, {"model_file", in->model_file}, {"model_sha256", in->model_sha256},
		{"architecture", in->architecture}, {"tokenizer", in->tokenizer}, {"dtype", in->f16 ? "f16" : "f32"},
		{"positions", in->positions}, {"hooks", hooklist}, {"prompts_file", in->prompts_file},
		{"batch_tokens", batch},
	};
	struct { const char *k; long long v; } n[] = {
		{"format_version", H5REC_FORMAT_VERSION}, {"n_layers", in->n_layers}, {"d_model", in->d_model},
		{"d_mlp", in->d_mlp}, {"n_heads", in->n_heads}, {"n_kv_heads", in->n_kv_heads}, {"d_vocab", in->d_vocab},
		{"n_prompts", 0}, {"complete", 0},
	};
	for (size_t i = 0; i < sizeof s / sizeof s[0] && !bad; i++)
		bad |= attr_str(f, s[i].k, s[i].v, r->t_str);
	if (in->matmul && strcmp(in->matmul, "exact") && !bad)
		bad |= attr_str(f, "matmul", in->matmul, r->t_str);
	for (size_t i = 0; i < sizeof n / sizeof n[0] && !bad; i++)
		bad |= attr_i64(f, n[i].k, n[i].v);
	if (in->n_shards > 0 && !bad) {
		char sh[32];
		snprintf(sh, sizeof sh, "%d/%d", in->shard, in->n_shards);
		bad |= attr_str(f, "shard", sh, r->t_str) || attr_str(f, "prompts_sha256", in->prompts_sha256, r->t_str) ||
		       attr_i64(f, "prompt_start", in->prompt_start) || attr_i64(f, "prompt_end", in->prompt_end) ||
		       attr_i64(f, "prompts_total", in->prompts_total);
	}
	if (bad || H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) {
		rc = h5fail(err, path, "cannot write the file's attributes");
		goto fail;
	}
	*out = r;
	return 0;
fail:
	rec_free(r);
	return rc;
}

static hid_t open_ds(hid_t g, const char *name)
{
	if (H5Lexists(g, name, H5P_DEFAULT) <= 0)
		return H5I_INVALID_HID;
	hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
	if (ds < 0)
		return ds;
	/* reopen with the cache off when the dataset is unfiltered and 2-D */
	hid_t pl = H5Dget_create_plist(ds), sp = H5Dget_space(ds);
	int direct = H5Pget_nfilters(pl) == 0 && H5Sget_simple_extent_ndims(sp) == 2;
	H5Pclose(pl), H5Sclose(sp);
	if (!direct)
		return ds;
	H5Dclose(ds);
	hid_t dapl = ds_access(1);
	ds = H5Dopen2(g, name, dapl);
	H5Pclose(dapl);
	return ds;
}

/* opens the groups and datasets of r->file (resume, and reopening) */
static int open_objects(h5rec *r)
{
	r->g_acts = H5Gopen2(r->file, "acts", H5P_DEFAULT);
	r->g_rows = H5Gopen2(r->file, "rows", H5P_DEFAULT);
	r->g_prompts = H5Gopen2(r->file, "prompts", H5P_DEFAULT);
	r->g_tokens = H5Gopen2(r->file, "tokens", H5P_DEFAULT);
	int bad = r->g_acts < 0 || r->g_rows < 0 || r->g_prompts < 0 || r->g_tokens < 0;
	for (int i = 0; i < r->n_hooks && !bad; i++)
		bad |= (r->ds_acts[i] = open_ds(r->g_acts, r->hooks[i].name)) < 0;
	if (!bad) {
		r->ds_row_prompt = open_ds(r->g_rows, "prompt");
		r->ds_row_pos = open_ds(r->g_rows, "position");
		r->ds_tok_id = open_ds(r->g_tokens, "id");
		r->ds_tok_text = open_ds(r->g_tokens, "text");
		bad |= r->ds_row_prompt < 0 || r->ds_row_pos < 0 || r->ds_tok_id < 0 || r->ds_tok_text < 0;
		for (int i = 0; i < P_NSTR; i++)
			bad |= (r->ds_pstr[i] = open_ds(r->g_prompts, P_STR_NAME[i])) < 0;
		for (int i = 0; i < P_NNUM; i++)
			bad |= (r->ds_pnum[i] = open_ds(r->g_prompts, P_NUM_NAME[i])) < 0;
	}
	return bad ? -1 : 0;
}

/* closes every object and the file, keeping the batch buffers */
static void close_objects(h5rec *r)
{
	for (int i = 0; i < r->n_hooks; i++)
		if (r->ds_acts[i] >= 0)
			H5Dclose(r->ds_acts[i]), r->ds_acts[i] = H5I_INVALID_HID;
	hid_t *ds[] = {&r->ds_row_prompt, &r->ds_row_pos, &r->ds_tok_id, &r->ds_tok_text};
	for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++)
		if (*ds[i] >= 0)
			H5Dclose(*ds[i]), *ds[i] = H5I_INVALID_HID;
	for (int i = 0; i < P_NSTR; i++)
		if (r->ds_pstr[i] >= 0)
			H5Dclose(r->ds_pstr[i]), r->ds_pstr[i] = H5I_INVALID_HID;
	for (int i = 0; i < P_NNUM; i++)
		if (r->ds_pnum[i] >= 0)
			H5Dclose(r->ds_pnum[i]), r->ds_pnum[i] = H5I_INVALID_HID;
	hid_t *g[] = {&r->g_acts, &r->g_rows, &r->g_prompts, &r->g_tokens};
	for (size_t i = 0; i < 4; i++)
		if (*g[i] >= 0)
			H5Gclose(*g[i]), *g[i] = H5I_INVALID_HID;
	if (r->file >= 0)
		H5Fclose(r->file), r->file = H5I_INVALID_HID;
}

static int check_attr(h5rec *r, const char *name, const char *want, fp_error *err)
{
	char *have = read_attr_str(r->file, name, r->t_str);
	int same = have && !strcmp(have, want ? want : "");
	if (!same)
		fp_error_set(err, FP_ERR_INVALID,
			     "'%s': cannot resume: it was recorded with %s = '%s', this run has '%s' (use --force to start over)",
			     r->path, name, have ? have : "(none)", want ? want : "");
	free(have);
	return same ? 0 : FP_ERR_INVALID;
}

/* the products' mode: no attribute means exact (recordings before --matmul) */
static int check_matmul(h5rec *r, const char *want, fp_error *err)
{
	char *have = read_attr_str(r->file, "matmul", r->t_str);
	const char *h = have ? have : "exact", *w = want ? want : "exact";
	int same = !strcmp(h, w);
	if (!same)
		fp_error_set(err, FP_ERR_INVALID, "'%s': cannot resume: it was recorded with --matmul %s, this run has "
			     "--matmul %s (use --force to start over)", r->path, h, w);
	free(have);
	return same ? 0 : FP_ERR_INVALID;
}

/* copies rows [0, count) of src into dst (a fresh dataset), in slabs */
static int copy_rows(hid_t src, hid_t dst, hid_t memtype, hsize_t width, long long count, int vlen)
{
	size_t esz = vlen ? sizeof(char *) : H5Tget_size(memtype) * (width ? width : 1);
	long long step = (long long)((8u << 20) / esz) + 1;
	void *buf = malloc((size_t)(step < count ? step : count > 0 ? count : 1) * esz);
	int rank = width ? 2 : 1, rc = buf ? 0 : -1;
	for (long long at = 0; at < count && !rc; at += step) {
		hsize_t n = (hsize_t)(count - at < step ? count - at : step);
		hsize_t start[2] = {(hsize_t)at, 0}, cnt[2] = {n, width};
		hid_t fs = H5Dget_space(src), ms = H5Screate_simple(rank, cnt, NULL);
		rc = fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL) < 0 ||
		     H5Dread(src, memtype, ms, fs, H5P_DEFAULT, buf) < 0;
		if (rc)
			h5_note();
		if (!rc)
			rc = ds_append(dst, memtype, at, (size_t)n, width, buf);
		if (!rc && vlen)
			H5Dvlen_reclaim(memtype, ms, H5P_DEFAULT, buf);
		if (ms >= 0)
			H5Sclose(ms);
		if (fs >= 0)
			H5Sclose(fs);
	}
	free(buf);
	return rc;
}

/* Resuming never writes into the interrupted file: a kill inside a flush
 * can leave torn metadata past the last checkpoint (HDF5's flush is not
 * ordered for crashes), which a later write could trip over.  Instead the
 * committed prompts are copied into a fresh file that then replaces the old
 * one by rename, so the old file stays whole until the new one is. */
int h5rec_resume(h5rec **out, const char *path, const h5rec_info *in, const h5rec_hook *hooks, int n_hooks,
		 long *n_done, fp_error *err)
{
	*out = NULL;
	h5rec *old = rec_new(path, hooks, n_hooks, in->f16), *r = NULL;
	char *tmp = malloc(strlen(path) + 16);
	int rc = 0;
	if (!old || !tmp) {
		rec_free(old);
		free(tmp);
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	}
	sprintf(tmp, "%s.resume-tmp", path);
	hid_t fapl = file_access();
	old->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
	H5Pclose(fapl);
	if (old->file < 0) {
		if (H5Fis_hdf5(path) <= 0)
			rc = fp_error_set(err, FP_ERR_FORMAT, "'%s' is not an HDF5 file, so not a factprobe recording to resume",
					  path);
		else
			rc = h5fail(err, path, "cannot open the recording to resume it");
		goto fail;
	}
	char *fmt = read_attr_str(old->file, "format", old->t_str);
	int ok = fmt && !strcmp(fmt, H5REC_FORMAT);
	free(fmt);
	if (!ok) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s' is not a factprobe recording (no format attribute '%s')", path,
				  H5REC_FORMAT);
		goto fail;
	}
	char hooklist[8192], batch[32];
	hook_list(hooks, n_hooks, hooklist, sizeof hooklist);
	snprintf(batch, sizeof batch, "%d", in->batch_tokens);
	if ((rc = check_attr(old, "model_sha256", in->model_sha256, err)) ||
	    (rc = check_attr(old, "dtype", in->f16 ? "f16" : "f32", err)) ||
	    (rc = check_attr(old, "positions", in->positions, err)) || (rc = check_attr(old, "hooks", hooklist, err)) ||
	    (rc = check_attr(old, "batch_tokens", batch, err)) || (rc = check_matmul(old, in->matmul, err)))
		goto fail;
	if (in->n_shards > 0) {
		char sh[32];
		snprintf(sh, sizeof sh, "%d/%d", in->shard, in->n_shards);
		long long a = -1, b = -1;
		if ((rc = check_attr(old, "shard", sh, err)) || (rc = check_attr(old, "prompts_sha256", in->prompts_sha256, err)))
			goto fail;
		if (read_attr_i64(old->file, "prompt_start", &a) || read_attr_i64(old->file, "prompt_end", &b) ||
		    a != in->prompt_start || b != in->prompt_end) {
			rc = fp_error_set(err, FP_ERR_INVALID, "'%s': cannot resume: it holds prompts %lld-%lld of the set, this "
					  "run's shard %s has %ld-%ld (use --force to start over)", path, a, b, sh, in->prompt_start,
					  in->prompt_end);
			goto fail;
		}
	}
	long long np = 0;
	if (read_attr_i64(old->file, "n_prompts", &np) || np < 0) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': the n_prompts attribute is missing or bad", path);
		goto fail;
	}
	if (open_objects(old)) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': a dataset of the recording is missing", path);
		goto fail;
	}
	/* where the committed prompts end, from their own bookkeeping */
	long long rows = 0, toks = 0;
	if (np > 0) {
		long long pr[4];
		hsize_t at[1] = {(hsize_t)np - 1}, one[1] = {1};
		int which[4] = {P_ROW_START, P_N_ROWS, P_TOKEN_START, P_N_TOKENS}, k;
		for (k = 0; k < 4; k++) {
			hid_t fs = H5Dget_space(old->ds_pnum[which[k]]), ms = H5Screate_simple(1, one, NULL);
			herr_t e = -1;
			if (ds_rows(old->ds_pnum[which[k]]) >= np &&
			    H5Sselect_hyperslab(fs, H5S_SELECT_SET, at, NULL, one, NULL) >= 0)
				e = H5Dread(old->ds_pnum[which[k]], H5T_NATIVE_LLONG, ms, fs, H5P_DEFAULT, &pr[k]);
			H5Sclose(ms), H5Sclose(fs);
			if (e < 0)
				break;
		}
		if (k < 4) {
			rc = fp_error_set(err, FP_ERR_FORMAT, "'%s': n_prompts is %lld but the prompt tables are shorter", path, np);
			goto fail;
		}
		rows = pr[0] + pr[1], toks = pr[2] + pr[3];
	}
	if ((rc = h5rec_create(&r, tmp, in, hooks, n_hooks, err)))
		goto fail;
	int bad = 0;
	hid_t mt = in->f16 ? r->t_f16 : H5T_NATIVE_FLOAT;
	for (int i = 0; i < n_hooks && !bad; i++)
		bad |= copy_rows(old->ds_acts[i], r->ds_acts[i], mt, (hsize_t)hooks[i].width, rows, 0);
	bad = bad || copy_rows(old->ds_row_prompt, r->ds_row_prompt, H5T_NATIVE_INT32, 0, rows, 0) ||
	      copy_rows(old->ds_row_pos, r->ds_row_pos, H5T_NATIVE_INT32, 0, rows, 0) ||
	      copy_rows(old->ds_tok_id, r->ds_tok_id, H5T_NATIVE_INT32, 0, toks, 0) ||
	      copy_rows(old->ds_tok_text, r->ds_tok_text, r->t_str, 0, toks, 1);
	for (int i = 0; i < P_NSTR && !bad; i++)
		bad |= copy_rows(old->ds_pstr[i], r->ds_pstr[i], r->t_str, 0, np, 1);
	for (int i = 0; i < P_NNUM && !bad; i++) {
		hid_t t = i == P_SPAN || r->pnum[i].esz == 4 ? H5T_NATIVE_INT32 : H5T_NATIVE_LLONG;
		bad |= copy_rows(old->ds_pnum[i], r->ds_pnum[i], t, i == P_SPAN ? 2 : 0, np, 0);
	}
	if (bad) {
		rc = h5fail(err, path, "cannot copy its committed prompts to resume (the file is left as it was)");
		goto fail;
	}
	if (attr_i64(r->file, "n_prompts", np) < 0 || H5Fflush(r->file, H5F_SCOPE_GLOBAL) < 0) {
		rc = h5fail(err, tmp, "cannot write the resumed recording");
		goto fail;
	}
	rec_free(old);
	old = NULL;
	if (rename(tmp, path)) {
		rc = fp_error_set(err, FP_ERR_IO, "cannot replace '%s' by '%s': %s", path, tmp, strerror(errno));
		goto fail;
	}
	free(r->path);
	r->path = strdup(path);
	r->n_prompts = (long)np, r->n_rows = rows, r->n_tokens = toks;
	*n_done = (long)np;
	*out = r;
	free(tmp);
	return 0;
fail:
	rec_free(old);
	if (r) {
		rec_free(r);
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

int h5rec_last_text(h5rec *r, char **text, fp_error *err)
{
	*text = NULL;
	if (r->n_prompts == 0)
		return 0;
	hsize_t at[1] = {(hsize_t)r->n_prompts - 1}, one[1] = {1};
	hid_t fs = H5Dget_space(r->ds_pstr[P_TEXT]), ms = H5Screate_simple(1, one, NULL);
	char *v = NULL;
	herr_t e = -1;
	if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, at, NULL, one, NULL) >= 0)
		e = H5Dread(r->ds_pstr[P_TEXT], r->t_str, ms, fs, H5P_DEFAULT, &v);
	H5Sclose(ms), H5Sclose(fs);
	if (e < 0 || !v)
		return h5fail(err, r->path, "cannot read the last prompt");
	*text = strdup(v);
	H5free_memory(v);
	return 0;
}

static int write_batch(h5rec *r, fp_error *err)
{
	int bad = 0; /* the activations are already written (h5rec_write_rows) */
	bad |= ds_append(r->ds_row_prompt, H5T_NATIVE_INT32, r->n_rows, (size_t)r->b_rows, 0, r->row_prompt.p);
	bad |= ds_append(r->ds_row_pos, H5T_NATIVE_INT32, r->n_rows, (size_t)r->b_rows, 0, r->row_pos.p);
	bad |= ds_append(r->ds_tok_id, H5T_NATIVE_INT32, r->n_tokens, (size_t)r->b_tokens, 0, r->tok_id.p);
	bad |= ds_append(r->ds_tok_text, r->t_str, r->n_tokens, (size_t)r->b_tokens, 0, r->tok_text.v);
	for (int i = 0; i < P_NSTR; i++)
		bad |= ds_append(r->ds_pstr[i], r->t_str, r->n_prompts, (size_t)r->b_prompts, 0, r->pstr[i].v);
	for (int i = 0; i < P_NNUM; i++) {
		hid_t t = i == P_SPAN || r->pnum[i].esz == 4 ? H5T_NATIVE_INT32 : H5T_NATIVE_LLONG;
		bad |= ds_append(r->ds_pnum[i], t, r->n_prompts, (size_t)r->b_prompts, i == P_SPAN ? 2 : 0, r->pnum[i].p);
	}
	if (bad)
		return h5fail(err, r->path, "cannot write activations");
	r->n_rows += r->b_rows, r->n_tokens += r->b_tokens;
	return 0;
}

/* Reserves disk space for the batch before HDF5 touches the file: if the
 * disk is full the file is still exactly its last checkpoint, whereas a
 * write failing halfway through a flush can leave a superblock that points
 * past the end of the file. */
static int reserve_bytes(h5rec *r, double extra, fp_error *err);

static int reserve(h5rec *r, fp_error *err)
{
	return reserve_bytes(r, 0, err);
}

static int reserve_bytes(h5rec *r, double extra, fp_error *err)
{
	void *handle = NULL;
	haddr_t eoa = 0;
	if (H5Fget_vfd_handle(r->file, H5P_DEFAULT, &handle) < 0 || !handle || H5Fget_eoa(r->file, &eoa) < 0)
		return 0; /* not the POSIX driver: nothing to reserve through */
	int fd = *(int *)handle;
	double need = ((double)r->b_rows * 8 + (double)r->b_tokens * 64 + (double)r->b_prompts * 1024 + (1 << 20) +
		       extra) * 1.25;
	/* from the end of what HDF5 has allocated: space reserved before and not
	 * yet used counts, so reservations do not pile up */
	int e = posix_fallocate(fd, (off_t)eoa, (off_t)need);
	if (e == EINVAL || e == EOPNOTSUPP)
		return 0; /* the file system cannot reserve: go on without */
	if (e)
		return fp_error_set(err, FP_ERR_IO,
				    "'%s': cannot reserve %.1f MB for the next batch: %s (the file keeps its %ld complete prompts)",
				    r->path, need / 1e6, strerror(e), r->n_prompts);
	return 0;
}

int h5rec_checkpoint(h5rec *r, fp_error *err)
{
	int rc;
	if (r->b_prompts == 0)
		return 0;
	if ((rc = reserve(r, err)) || (rc = write_batch(r, err)))
		return rc;
	/* data first; the count that makes it visible second */
	if (H5Fflush(r->file, H5F_SCOPE_GLOBAL) < 0)
		return h5fail(err, r->path, "cannot flush the file");
	if (attr_i64(r->file, "n_prompts", r->n_prompts + r->b_prompts) < 0 || H5Fflush(r->file, H5F_SCOPE_GLOBAL) < 0)
		return h5fail(err, r->path, "cannot record the prompt count");
	r->n_prompts += r->b_prompts;
	r->b_prompts = 0, r->b_rows = 0, r->b_tokens = 0;
	/* everything is on disk and clean: close and reopen, which empties the
	 * metadata cache (it may not evict between checkpoints, so it would
	 * otherwise grow with the file) */
	close_objects(r);
	H5garbage_collect();
	hid_t fapl = file_access();
	r->file = H5Fopen(r->path, H5F_ACC_RDWR, fapl);
	H5Pclose(fapl);
	if (r->file < 0 || open_objects(r))
		return h5fail(err, r->path, "cannot reopen the file after a checkpoint");
	r->row_prompt.n = r->row_pos.n = r->tok_id.n = 0;
	for (int i = 0; i < P_NNUM; i++)
		r->pnum[i].n = 0;
	for (int i = 0; i < P_NSTR; i++)
		str_clear(&r->pstr[i]);
	str_clear(&r->tok_text);
	return 0;
}

int h5rec_reserve(h5rec *r, long n_rows, fp_error *err)
{
	double bytes = 0;
	for (int i = 0; i < r->n_hooks; i++)
		bytes += (double)n_rows * (double)h5rec_row_bytes(r, i);
	return reserve_bytes(r, bytes, err);
}

size_t h5rec_row_bytes(const h5rec *r, int h)
{
	return (size_t)r->hooks[h].width * (r->f16 ? 2 : 4);
}

void h5rec_convert_rows(const h5rec *r, int h, long n_rows, const float *src, const int32_t *rows, void *dst)
{
	size_t w = (size_t)r->hooks[h].width;
	for (long k = 0; k < n_rows; k++) {
		const float *row = src + (size_t)(rows ? rows[k] : k) * w;
		if (r->f16)
			quant_f32_to_fp16_row(row, (uint16_t *)dst + (size_t)k * w, w);
		else
			memcpy((float *)dst + (size_t)k * w, row, w * sizeof(float));
	}
}

int h5rec_write_converted(h5rec *r, int h, long n_rows, const void *data, fp_error *err)
{
	size_t w = (size_t)r->hooks[h].width;
	if (ds_append(r->ds_acts[h], r->f16 ? r->t_f16 : H5T_NATIVE_FLOAT, r->n_rows + r->b_rows, (size_t)n_rows, w, data))
		return h5fail(err, r->path, "cannot write activations");
	r->bytes += (double)n_rows * (double)h5rec_row_bytes(r, h);
	return 0;
}

int h5rec_write_rows(h5rec *r, int h, long n_rows, const float *src, const int32_t *rows, fp_error *err)
{
	size_t need = (size_t)n_rows * h5rec_row_bytes(r, h);
	if (need > r->scratch_cap) {
		void *q = realloc(r->scratch, need);
		if (!q)
			return fp_error_set(err, FP_ERR_NOMEM, "out of memory for %ld rows", n_rows);
		r->scratch = q, r->scratch_cap = need;
	}
	h5rec_convert_rows(r, h, n_rows, src, rows, r->scratch);
	return h5rec_write_converted(r, h, n_rows, r->scratch, err);
}

int h5rec_add(h5rec *r, const h5rec_prompt *p, fp_error *err)
{
	long idx = r->n_prompts + r->b_prompts;
	long long row_start = r->n_rows + r->b_rows, tok_start = r->n_tokens + r->b_tokens, line = p->line;
	int32_t span[2] = {p->subj_start, p->subj_end}, nt = p->n_tokens, nr = p->n_rows;
	int bad = 0;
	for (int k = 0; k < p->n_rows; k++) {
		int32_t pi = (int32_t)idx;
		bad |= vec_push(&r->row_prompt, &pi, 1) | vec_push(&r->row_pos, &p->positions[k], 1);
	}
	bad |= vec_push(&r->tok_id, p->ids, (size_t)p->n_tokens);
	for (int k = 0; k < p->n_tokens; k++)
		bad |= str_push(&r->tok_text, p->token_text[k]);
	const char *s[P_NSTR] = {p->text, p->subject, p->target, p->relation, p->id};
	for (int i = 0; i < P_NSTR; i++)
		bad |= str_push(&r->pstr[i], s[i]);
	bad |= vec_push(&r->pnum[P_LINE], &line, 1) | vec_push(&r->pnum[P_SPAN], span, 1);
	bad |= vec_push(&r->pnum[P_TOKEN_START], &tok_start, 1) | vec_push(&r->pnum[P_N_TOKENS], &nt, 1);
	bad |= vec_push(&r->pnum[P_ROW_START], &row_start, 1) | vec_push(&r->pnum[P_N_ROWS], &nr, 1);
	if (bad)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory buffering activations");
	r->b_prompts++, r->b_rows += p->n_rows, r->b_tokens += p->n_tokens;
	return 0;
}

int h5rec_batch_full(const h5rec *r)
{
	return r->b_tokens * 64.0 >= BATCH_BYTES || r->b_prompts >= BATCH_PROMPTS;
}

/* HDF5 does not know about reserve()'s tail, so it is cut off here */
static void trim_reserved(h5rec *r, char **path, hsize_t *size)
{
	*path = NULL;
	if (H5Fget_filesize(r->file, size) >= 0)
		*path = strdup(r->path);
}

int h5rec_close(h5rec *r, int complete, fp_error *err)
{
	int rc = h5rec_checkpoint(r, err);
	if (!rc && (attr_i64(r->file, "complete", complete ? 1 : 0) < 0 || H5Fflush(r->file, H5F_SCOPE_GLOBAL) < 0))
		rc = h5fail(err, r->path, "cannot mark the recording complete");
	char *path;
	hsize_t size;
	trim_reserved(r, &path, &size);
	rec_free(r);
	if (path && !rc && truncate(path, (off_t)size) != 0)
		rc = fp_error_set(err, FP_ERR_IO, "'%s': cannot trim the reserved space: %s", path, strerror(errno));
	free(path);
	return rc;
}

void h5rec_abandon(h5rec *r)
{
	/* no trimming here: after a failure the in-memory end of allocation is
	 * not to be trusted, and the reserved tail does no harm */
	rec_free(r);
}

long h5rec_n_prompts(const h5rec *r)
{
	return r->n_prompts + r->b_prompts;
}

double h5rec_bytes(const h5rec *r)
{
	return r->bytes;
}
