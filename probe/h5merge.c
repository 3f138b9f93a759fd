/* h5merge.c - joins the shards of one recording into a master file whose
 * datasets are HDF5 virtual datasets over the shards (layout in h5out.h). */
#include "h5out.h"
#include "h5util.h"

#include <hdf5.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct shard_in {
	const char *path;
	char *src;        /* the name the master stores for it */
	hid_t f;
	int idx, n;       /* shard idx of n */
	long long p0, p1, total, np, rows, toks;
} shard_in;

/* attributes two shards of one run share, checked in this order */
static const char *SAME[] = {"model_sha256", "prompts_sha256", "hooks", "dtype", "positions", "batch_tokens"};
/* copied from the first shard into the master, with the ones above */
static const char *COPY_STR[] = {"format", "factprobe_version", "created", "command_line", "model_file",
				 "architecture", "tokenizer", "prompts_file"};
static const char *COPY_INT[] = {"format_version", "n_layers", "d_model", "d_mlp", "n_heads", "n_kv_heads", "d_vocab"};
/* the datasets of one row per (r)ow, (t)oken or (p)rompt, mapped virtually */
static const struct { const char *name; char per; } VIRT[] = {
	{"rows/position", 'r'}, {"tokens/id", 't'}, {"tokens/text", 't'}, {"prompts/text", 'p'},
	{"prompts/subject", 'p'}, {"prompts/target", 'p'}, {"prompts/relation", 'p'}, {"prompts/id", 'p'},
	{"prompts/line", 'p'}, {"prompts/subject_span", 'p'}, {"prompts/n_tokens", 'p'}, {"prompts/n_rows", 'p'}};

#define ATTR_MAX 16384

static long long last_sum(hid_t f, const char *start, const char *count, long long np, int *bad)
{
	if (np == 0)
		return 0;
	long long v[2];
	const char *names[2] = {start, count};
	for (int k = 0; k < 2; k++) {
		hid_t ds = h5u_has(f, names[k]) ? H5Dopen2(f, names[k], H5P_DEFAULT) : -1;
		hid_t fs = ds >= 0 ? H5Dget_space(ds) : -1;
		hsize_t at[1] = {(hsize_t)np - 1}, one[1] = {1}, dims[1] = {0};
		hid_t ms = H5Screate_simple(1, one, NULL);
		herr_t e = -1;
		if (fs >= 0 && H5Sget_simple_extent_ndims(fs) == 1 && H5Sget_simple_extent_dims(fs, dims, NULL) == 1 &&
		    dims[0] >= (hsize_t)np && H5Sselect_hyperslab(fs, H5S_SELECT_SET, at, NULL, one, NULL) >= 0)
			e = H5Dread(ds, H5T_NATIVE_LLONG, ms, fs, H5P_DEFAULT, &v[k]);
		H5Sclose(ms);
		if (fs >= 0)
			H5Sclose(fs);
		if (ds >= 0)
			H5Dclose(ds);
		if (e < 0) {
			*bad = 1;
			return 0;
		}
	}
	return v[0] + v[1];
}

/* opens one shard and reads what merging needs */
static int shard_open(shard_in *s, const char *path, fp_error *err)
{
	char buf[256];
	long long v;
	s->path = path;
	s->f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	if (s->f < 0)
		return fp_error_set(err, FP_ERR_IO, "cannot open '%s' as an HDF5 file (missing, or not HDF5)", path);
	if (h5u_attr_read_str(s->f, "format", buf, sizeof buf) || strcmp(buf, H5REC_FORMAT))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s' is not a recording from 'factprobe record'", path);
	if (h5u_attr_read_str(s->f, "shard", buf, sizeof buf) || sscanf(buf, "%d/%d", &s->idx, &s->n) != 2)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s' is not a shard (recorded without --shard)", path);
	const char *need[] = {"prompt_start", "prompt_end", "prompts_total", "n_prompts", "complete"};
	long long *dst[] = {&s->p0, &s->p1, &s->total, &s->np, &v};
	for (int i = 0; i < 5; i++)
		if (h5u_attr_read_i64(s->f, need[i], dst[i]))
			return fp_error_set(err, FP_ERR_FORMAT, "'%s' lacks the root attribute '%s'", path, need[i]);
	if (v != 1)
		return fp_error_set(err, FP_ERR_INVALID,
				    "'%s' is an unfinished shard (%lld of its %lld prompts): finish it with the same "
				    "'factprobe record' command and --resume", path, s->np, s->p1 - s->p0);
	if (s->p0 < 0 || s->p1 < s->p0 || s->p1 > s->total || s->np != s->p1 - s->p0)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s' holds %lld prompts, but its range is prompts %lld-%lld of %lld",
				    path, s->np, s->p0, s->p1, s->total);
	int bad = 0;
	s->rows = last_sum(s->f, "prompts/row_start", "prompts/n_rows", s->np, &bad);
	s->toks = last_sum(s->f, "prompts/token_start", "prompts/n_tokens", s->np, &bad);
	if (bad)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s': its prompt tables are missing or shorter than n_prompts", path);
	return 0;
}

/* a (slab-wise) copy of rows [0, n) of a shard's 1-D integer dataset into
 * the master's at row `at`, each value plus `add` */
static int copy_shifted(hid_t src, hid_t dst, long long n, long long at, long long add)
{
	const long long step = 1 << 20;
	long long *buf = malloc((size_t)(n < step ? (n > 0 ? n : 1) : step) * sizeof *buf);
	int rc = buf ? 0 : -1;
	for (long long i = 0; i < n && !rc; i += step) {
		hsize_t cnt[1] = {(hsize_t)(n - i < step ? n - i : step)}, s0[1] = {(hsize_t)i}, d0[1] = {(hsize_t)(at + i)};
		hid_t fs = H5Dget_space(src), ds = H5Dget_space(dst), ms = H5Screate_simple(1, cnt, NULL);
		rc = H5Sselect_hyperslab(fs, H5S_SELECT_SET, s0, NULL, cnt, NULL) < 0 ||
		     H5Dread(src, H5T_NATIVE_LLONG, ms, fs, H5P_DEFAULT, buf) < 0;
		for (hsize_t k = 0; !rc && k < cnt[0]; k++)
			buf[k] += add;
		rc = rc || H5Sselect_hyperslab(ds, H5S_SELECT_SET, d0, NULL, cnt, NULL) < 0 ||
		     H5Dwrite(dst, H5T_NATIVE_LLONG, ms, ds, H5P_DEFAULT, buf) < 0;
		H5Sclose(ms), H5Sclose(ds), H5Sclose(fs);
	}
	free(buf);
	return rc;
}

/* the master's plain (shifted) copy of name: rows/prompt by prompt offset,
 * prompts/row_start by row offset, prompts/token_start by token offset */
static int write_shifted(hid_t f, const char *name, hid_t type, char per, char shift, shard_in *s, int n)
{
	long long total = 0, at = 0;
	for (int i = 0; i < n; i++)
		total += per == 'r' ? s[i].rows : s[i].np;
	hsize_t dims[1] = {(hsize_t)total};
	hid_t sp = H5Screate_simple(1, dims, NULL), lcpl = H5Pcreate(H5P_LINK_CREATE);
	H5Pset_create_intermediate_group(lcpl, 1);
	hid_t dst = H5Dcreate2(f, name, type, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
	H5Pclose(lcpl), H5Sclose(sp);
	int rc = dst < 0;
	long long off_p = 0, off_r = 0, off_t = 0;
	for (int i = 0; i < n && !rc; i++) {
		long long cnt = per == 'r' ? s[i].rows : s[i].np;
		hid_t src = H5Dopen2(s[i].f, name, H5P_DEFAULT);
		rc = src < 0 || copy_shifted(src, dst, cnt, at, shift == 'p' ? off_p : shift == 'r' ? off_r : off_t);
		if (src >= 0)
			H5Dclose(src);
		at += cnt, off_p += s[i].np, off_r += s[i].rows, off_t += s[i].toks;
	}
	if (dst >= 0)
		H5Dclose(dst);
	return rc;
}

/* a virtual dataset: the shards' first rows (per row, token or prompt) one
 * after another; type and width from the first shard */
static int write_virtual(hid_t f, const char *name, char per, shard_in *s, int n)
{
	hid_t src0 = H5Dopen2(s[0].f, name, H5P_DEFAULT);
	if (src0 < 0)
		return -1;
	hid_t type = H5Dget_type(src0), sp0 = H5Dget_space(src0);
	int rank = H5Sget_simple_extent_ndims(sp0);
	hsize_t d0[2] = {0, 1};
	H5Sget_simple_extent_dims(sp0, d0, NULL);
	H5Sclose(sp0), H5Dclose(src0);
	long long total = 0;
	for (int i = 0; i < n; i++)
		total += per == 'r' ? s[i].rows : per == 't' ? s[i].toks : s[i].np;
	hsize_t vd[2] = {(hsize_t)total, d0[1]};
	hid_t vs = H5Screate_simple(rank, vd, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
	int rc = rank < 1 || rank > 2;
	long long at = 0;
	for (int i = 0; i < n && !rc; i++) {
		long long cnt = per == 'r' ? s[i].rows : per == 't' ? s[i].toks : s[i].np;
		if (!cnt)
			continue;
		hid_t src = H5Dopen2(s[i].f, name, H5P_DEFAULT), ss = src >= 0 ? H5Dget_space(src) : -1;
		hsize_t sd[2] = {0, 0}, start[2] = {0, 0}, vstart[2] = {(hsize_t)at, 0}, count[2] = {(hsize_t)cnt, d0[1]};
		rc = ss < 0 || H5Sget_simple_extent_ndims(ss) != rank || H5Sget_simple_extent_dims(ss, sd, NULL) < 0 ||
		     sd[0] < (hsize_t)cnt || (rank == 2 && sd[1] != d0[1]);
		rc = rc || H5Sselect_hyperslab(ss, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
		     H5Sselect_hyperslab(vs, H5S_SELECT_SET, vstart, NULL, count, NULL) < 0 ||
		     H5Pset_virtual(dcpl, vs, s[i].src, name, ss) < 0;
		if (ss >= 0)
			H5Sclose(ss);
		if (src >= 0)
			H5Dclose(src);
		at += cnt;
	}
	hid_t ds = -1;
	if (!rc) {
		H5Sselect_all(vs);
		hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
		H5Pset_create_intermediate_group(lcpl, 1);
		ds = H5Dcreate2(f, name, type, vs, lcpl, dcpl, H5P_DEFAULT);
		H5Pclose(lcpl);
		rc = ds < 0;
	}
	if (ds >= 0)
		H5Dclose(ds);
	H5Pclose(dcpl), H5Sclose(vs), H5Tclose(type);
	return rc;
}

/* the name the master keeps for a shard: its file name when it lies in the
 * master's directory, else its absolute path */
static char *source_name(const char *out, const char *shard)
{
	char *o = strdup(out), *s = strdup(shard), od[PATH_MAX], sd[PATH_MAX], *res = NULL;
	if (o && s && realpath(dirname(o), od) && realpath(shard, sd)) {
		char *base = strrchr(sd, '/');
		*base = 0;
		res = !strcmp(od, sd[0] ? sd : "/") ? strdup(base + 1) : (*base = '/', strdup(sd));
	}
	free(o), free(s);
	return res;
}

static int by_range(const void *a, const void *b)
{
	const shard_in *x = a, *y = b;
	return x->p0 != y->p0 ? (x->p0 < y->p0 ? -1 : 1) : x->p1 != y->p1 ? (x->p1 < y->p1 ? -1 : 1) : 0;
}

/* the shards belong together and cover the prompt set once */
static int check_set(shard_in *s, int n, fp_error *err)
{
	char *a = malloc(ATTR_MAX), *b = malloc(ATTR_MAX);
	int rc = a && b ? 0 : fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	for (int i = 1; i < n && !rc; i++) {
		if (s[i].n != s[0].n || s[i].total != s[0].total) {
			rc = fp_error_set(err, FP_ERR_INVALID, "'%s' is shard %d/%d of %lld prompts, '%s' shard %d/%d of %lld: "
					  "not one run", s[i].path, s[i].idx, s[i].n, s[i].total, s[0].path, s[0].idx, s[0].n,
					  s[0].total);
			break;
		}
		/* and matmul ("q8"; absent: exact) */
		for (size_t k = 0; k <= sizeof SAME / sizeof SAME[0] && !rc; k++) {
			const char *name = k < sizeof SAME / sizeof SAME[0] ? SAME[k] : "matmul";
			if (h5u_attr_read_str(s[0].f, name, a, ATTR_MAX) && k == sizeof SAME / sizeof SAME[0])
				snprintf(a, ATTR_MAX, "exact");
			if (h5u_attr_read_str(s[i].f, name, b, ATTR_MAX) && k == sizeof SAME / sizeof SAME[0])
				snprintf(b, ATTR_MAX, "exact");
			if (strcmp(a, b))
				rc = fp_error_set(err, FP_ERR_INVALID, "'%s' and '%s' are not shards of one run: %s '%.200s' and "
						  "'%.200s'", s[0].path, s[i].path, name, a, b);
		}
	}
	free(a), free(b);
	if (rc)
		return rc;
	qsort(s, (size_t)n, sizeof *s, by_range);
	long long at = 0;
	for (int i = 0; i < n; i++) {
		if (i && s[i].idx == s[i - 1].idx)
			return fp_error_set(err, FP_ERR_INVALID, "'%s' and '%s' are both shard %d/%d", s[i - 1].path, s[i].path,
					    s[i].idx, s[i].n);
		if (s[i].p0 < at)
			return fp_error_set(err, FP_ERR_INVALID, "'%s' (prompts %lld-%lld) and '%s' (prompts %lld-%lld) overlap",
					    s[i - 1].path, s[i - 1].p0, s[i - 1].p1, s[i].path, s[i].p0, s[i].p1);
		if (s[i].p0 > at)
			return fp_error_set(err, FP_ERR_INVALID, "prompts %lld-%lld of %lld are in none of the shards given "
					    "(before '%s', shard %d/%d): a shard is missing", at, s[i].p0, s[i].total, s[i].path,
					    s[i].idx, s[i].n);
		at = s[i].p1;
	}
	if (at < s[0].total)
		return fp_error_set(err, FP_ERR_INVALID, "prompts %lld-%lld of %lld are in none of the shards given (after "
				    "'%s'): a shard is missing", at, s[0].total, s[0].total, s[n - 1].path);
	if (n != s[0].n)
		return fp_error_set(err, FP_ERR_INVALID, "the run has %d shards, %d given (an empty shard is missing)", s[0].n, n);
	return 0;
}

static int write_master(hid_t f, shard_in *s, int n, const char *command_line)
{
	char *buf = malloc(ATTR_MAX);
	int rc = !buf;
	long long v, np = 0;
	for (size_t k = 0; k < sizeof COPY_STR / sizeof COPY_STR[0] && !rc; k++)
		rc = h5u_attr_read_str(s[0].f, COPY_STR[k], buf, ATTR_MAX) ||
		     h5u_attr_str(f, NULL, COPY_STR[k], command_line && !strcmp(COPY_STR[k], "command_line") ? command_line : buf);
	/* the shards' command line stays readable beside the one that wrote the master */
	rc = rc || h5u_attr_read_str(s[0].f, "command_line", buf, ATTR_MAX) ||
	     h5u_attr_str(f, NULL, "record_command_line", buf);
	for (size_t k = 0; k < sizeof SAME / sizeof SAME[0] && !rc; k++)
		rc = h5u_attr_read_str(s[0].f, SAME[k], buf, ATTR_MAX) || h5u_attr_str(f, NULL, SAME[k], buf);
	if (!rc && !h5u_attr_read_str(s[0].f, "matmul", buf, ATTR_MAX)) /* --matmul q8 */
		rc = h5u_attr_str(f, NULL, "matmul", buf);
	for (size_t k = 0; k < sizeof COPY_INT / sizeof COPY_INT[0] && !rc; k++)
		rc = h5u_attr_read_i64(s[0].f, COPY_INT[k], &v) || h5u_attr_i64(f, NULL, COPY_INT[k], v);
	size_t used = 0;
	for (int i = 0; i < n && !rc; i++) {
		np += s[i].np;
		used += (size_t)snprintf(buf + used, used < ATTR_MAX ? ATTR_MAX - used : 0, "%s%s", i ? "," : "", s[i].src);
	}
	rc = rc || used >= ATTR_MAX || h5u_attr_str(f, NULL, "shard_files", buf) ||
	     h5u_attr_i64(f, NULL, "n_prompts", np) || h5u_attr_i64(f, NULL, "complete", 1);
	free(buf);
	/* every hook's activations, then the tables */
	hid_t g = rc ? -1 : H5Gopen2(s[0].f, "acts", H5P_DEFAULT);
	H5G_info_t gi;
	rc = rc || g < 0 || H5Gget_info(g, &gi) < 0;
	for (hsize_t i = 0; !rc && i < gi.nlinks; i++) {
		char name[300] = "acts/";
		rc = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name + 5, sizeof name - 5, H5P_DEFAULT) <= 0 ||
		     write_virtual(f, name, 'r', s, n);
	}
	if (g >= 0)
		H5Gclose(g);
	for (size_t k = 0; k < sizeof VIRT / sizeof VIRT[0] && !rc; k++)
		rc = write_virtual(f, VIRT[k].name, VIRT[k].per, s, n);
	rc = rc || write_shifted(f, "rows/prompt", H5T_STD_I32LE, 'r', 'p', s, n) ||
	     write_shifted(f, "prompts/row_start", H5T_STD_I64LE, 'p', 'r', s, n) ||
	     write_shifted(f, "prompts/token_start", H5T_STD_I64LE, 'p', 't', s, n);
	return rc;
}

int h5rec_merge(const char *out, char *const *shards, int n, const char *command_line, fp_error *err)
{
	if (n < 1)
		return fp_error_set(err, FP_ERR_INVALID, "no shards to merge");
	shard_in *s = calloc((size_t)n, sizeof *s);
	char *tmp = malloc(strlen(out) + 16);
	int rc = s && tmp ? 0 : fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	h5u_quiet();
	for (int i = 0; i < n && s; i++)
		s[i].f = H5I_INVALID_HID;
	for (int i = 0; i < n && !rc; i++)
		rc = shard_open(&s[i], shards[i], err);
	for (int i = 0; i < n && !rc; i++)
		if (!(s[i].src = source_name(out, shards[i])))
			rc = fp_error_set(err, FP_ERR_IO, "cannot resolve the path of '%s' or of '%s'", shards[i], out);
	if (!rc)
		rc = check_set(s, n, err);
	if (!rc) {
		sprintf(tmp, "%s.merge-tmp", out);
		hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
		if (f < 0)
			rc = fp_error_set(err, FP_ERR_IO, "cannot create '%s'", tmp);
		else {
			int bad = write_master(f, s, n, command_line);
			bad |= H5Fclose(f) < 0;
			if (bad)
				rc = fp_error_set(err, FP_ERR_IO, "cannot write the master file '%s'", tmp);
			else if (rename(tmp, out))
				rc = fp_error_set(err, FP_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, out, strerror(errno));
			if (rc)
				unlink(tmp);
		}
	}
	for (int i = 0; s && i < n; i++) {
		if (s[i].f >= 0)
			H5Fclose(s[i].f);
		free(s[i].src);
	}
	h5u_loud();
	free(s), free(tmp);
	return rc;
}
