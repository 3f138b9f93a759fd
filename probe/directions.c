/* directions.c - see directions.h. */
#include "directions.h"
#include "analysis.h"
#include "h5util.h"
#include "parse.h"

#include <cblas.h>
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- concept directions ---- */


/* strips one pair of surrounding double quotes */
static char *unquote(const char *s)
{
	size_t n = strlen(s);
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
		return strndup(s + 1, n - 2);
	return strdup(s);
}

static int tokens_of(const fp_model *m, const char *text, int32_t **ids, int *n, const char *what, fp_error *err)
{
	if (fp_tokenize(m->tok, text, strlen(text), 0, ids, n, err))
		return err ? err->code : FP_ERR_INVALID;
	if (*n == 0) {
		free(*ids);
		return fp_error_set(err, FP_ERR_INVALID, "%s: '%s' has no tokens", what, text);
	}
	return 0;
}

static int read_dir_file(const fp_model *m, const char *path, const char *dset, an_dir *d, fp_error *err)
{
	const fp_config *c = &m->cfg;
	int L = c->n_layers;
	h5u_quiet();
	int rc = 0;
	hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), ds = -1, sp = -1;
	if (f < 0) {
		rc = fp_error_set(err, FP_ERR_IO, "cannot open '%s' as an HDF5 file", path);
		goto done;
	}
	if (H5Lexists(f, dset, H5P_DEFAULT) <= 0 || (ds = H5Dopen2(f, dset, H5P_DEFAULT)) < 0) {
		rc = fp_error_set(err, FP_ERR_INVALID, "'%s' has no dataset '%s'", path, dset);
		goto done;
	}
	sp = H5Dget_space(ds);
	hsize_t dims[3] = {0};
	int rank = H5Sget_simple_extent_ndims(sp);
	if (rank < 1 || rank > 2) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s:%s' has %d dimensions; a direction is [width] or [layers, width]",
				  path, dset, rank);
		goto done;
	}
	H5Sget_simple_extent_dims(sp, dims, NULL);
	hsize_t rows = rank == 2 ? dims[0] : 1, W = rank == 2 ? dims[1] : dims[0];
	if (W == 0 || W > (1u << 24) || rows == 0 || rows > 4096) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "'%s:%s' has an implausible shape", path, dset);
		goto done;
	}
	hid_t ty = H5Dget_type(ds);
	H5T_class_t cls = ty >= 0 ? H5Tget_class(ty) : H5T_NO_CLASS;
	if (ty >= 0)
		H5Tclose(ty);
	if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "cannot read '%s:%s' as numbers", path, dset);
		goto done;
	}
	/* the width of some hook of this model (dot and patch then check it
	 * against the hook they are given) */
	int hz = fp_hook_width(m, FP_HOOK_ATTN_Z);
	if (W != (hsize_t)c->d_model && W != (hsize_t)c->d_mlp && W != (hsize_t)hz && W != (hsize_t)c->n_vocab) {
		rc = fp_error_set(err, FP_ERR_INVALID,
				  "'%s:%s' is %llu wide, but this model's hooks are %d (d_model), %d (d_mlp), %d "
				  "(attn.hook_z) or %d (logits) wide", path, dset, (unsigned long long)W, c->d_model,
				  c->d_mlp, hz, c->n_vocab);
		goto done;
	}
	if (rank == 2 && rows != (hsize_t)L && rows != (hsize_t)L + 1) {
		rc = fp_error_set(err, FP_ERR_INVALID,
				  "'%s:%s' has %llu rows; a per-layer direction needs one per layer (%d, or %d from "
				  "resid_pre 0)", path, dset, (unsigned long long)rows, L, L + 1);
		goto done;
	}
	d->v = malloc(rows * W * sizeof(float));
	if (!d->v) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		goto done;
	}
	if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, d->v) < 0) {
		rc = fp_error_set(err, FP_ERR_FORMAT, "cannot read '%s:%s' as numbers", path, dset);
		goto done;
	}
	d->width = (int)W;
	d->per_layer = rank == 2;
	d->n_layers = (int)rows;
	d->layer_offset = rows == (hsize_t)L + 1 ? -1 : 0;
done:
	if (sp >= 0)
		H5Sclose(sp);
	if (ds >= 0)
		H5Dclose(ds);
	if (f >= 0)
		H5Fclose(f);
	h5u_loud();
	return rc;
}

/* tok:WORD (is_tok) or emb:TEXT */
static int dir_token(fp_model *m, char *arg, int is_tok, int multi, an_dir *d, fp_error *err)
{
	int D = m->cfg.d_model, rc = 0;
	int32_t *ids = NULL;
	int n = 0;
	if ((rc = tokens_of(m, arg, &ids, &n, is_tok ? "tok:" : "emb:", err)))
		return rc;
	if (is_tok && n > 1 && multi == 0) {
		fp_error e2 = {0};
		an_target_token(m, arg, -1, &(int){0}, &e2);
		rc = fp_error_set(err, FP_ERR_INVALID, "tok:%s; or say --multi mean|first", e2.msg);
		free(ids);
		return rc;
	}
	int use = is_tok && multi == 2 ? 1 : n;
	d->width = D;
	d->v = calloc((size_t)D, sizeof *d->v);
	if (!d->v) {
		free(ids);
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		return rc;
	}
	const fp_mat *M = is_tok ? &m->unembed : &m->tok_embd;
	float *row = malloc((size_t)D * sizeof *row);
	if (!row) {
		free(ids);
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		return rc;
	}
	for (int i = 0; i < use; i++) {
		fp_mat_row(M, ids[i], row);
		for (int k = 0; k < D; k++)
			d->v[k] += row[k] / use;
	}
	free(row);
	if (use == 1)
		snprintf(d->label, sizeof d->label, "%s:\"%s\" (%s of token %d)", is_tok ? "tok" : "emb", arg,
			 is_tok ? "unembedding row" : "input embedding", ids[0]);
	else
		snprintf(d->label, sizeof d->label, "%s:\"%s\" (mean %s of its %d tokens)", is_tok ? "tok" : "emb",
			 arg, is_tok ? "unembedding row" : "input embedding", use);
	free(ids);
	return 0;
}

/* neuron:L.N (its W_out column) or neuron-in:L.N (its W_in row) */
static int dir_neuron(fp_model *m, char *arg, int in, an_dir *d, fp_error *err)
{
	int D = m->cfg.d_model, rc = 0;
	int l = 0, nn = 0;
	if ((rc = ps_neuron(arg, strlen(arg), m->cfg.n_layers, m->cfg.d_mlp, &l, &nn, err)))
		return rc;
	d->width = D;
	d->v = malloc((size_t)D * sizeof *d->v);
	if (!d->v) {
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		return rc;
	}
	if (in)
		fp_mat_row(&m->layers[l].w_up, nn, d->v);
	else
		fp_mat_col(&m->layers[l].w_down, nn, d->v);
	snprintf(d->label, sizeof d->label, "%s:%d.%d (%s)", in ? "neuron-in" : "neuron", l, nn,
		 in ? "the neuron's input row, W_in" : "the neuron's output row, W_out");
	return 0;
}

/* mean-diff:A,B@HOOK */
static int dir_mean_diff(fp_model *m, char *arg, an_dir *d, fp_error *err)
{
	int D = m->cfg.d_model, F = m->cfg.d_mlp, L = m->cfg.n_layers, rc = 0;
	char *at = strrchr(arg, '@'), *comma = strchr(arg, ',');
	if (!at || !comma || comma > at) {
		rc = fp_error_set(err, FP_ERR_INVALID,
				  "mean-diff:%s: write mean-diff:A.txt,B.txt@HOOK, e.g. "
				  "mean-diff:pos.txt,neg.txt@blocks.*.hook_resid_post", arg);
		return rc;
	}
	*at = 0, *comma = 0;
	const char *fa = arg, *fb = comma + 1, *hook = at + 1;
	int kind, layer;
	if (ps_hook_pattern(hook, &kind, &layer, NULL) ||
	    !(kind == FP_HOOK_RESID_PRE || kind == FP_HOOK_RESID_POST || kind == FP_HOOK_RESID_MID ||
	      kind == FP_HOOK_MLP_POST)) {
		rc = fp_error_set(err, FP_ERR_INVALID,
				  "mean-diff: '%s' is not a hook it can use: blocks.*.hook_resid_pre, "
				  "hook_resid_mid, hook_resid_post or mlp.hook_post", hook);
		return rc;
	}
	if (layer >= L) {
		rc = fp_error_set(err, FP_ERR_INVALID, "mean-diff: layer %d is out of range (0..%d)", layer, L - 1);
		return rc;
	}
	int W = kind == FP_HOOK_MLP_POST ? F : D;
	float *ma = malloc((size_t)L * W * sizeof *ma), *mb = malloc((size_t)L * W * sizeof *mb);
	long na = 0, nb = 0;
	if (!ma || !mb)
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	else if (!(rc = an_prompts_mean(m, fa, kind, 0, ma, W, &na, err)))
		rc = an_prompts_mean(m, fb, kind, 0, mb, W, &nb, err);
	if (!rc) {
		for (size_t i = 0; i < (size_t)L * W; i++)
			ma[i] -= mb[i];
		d->width = W;
		if (layer < 0) {
			d->per_layer = 1;
			d->n_layers = L;
			d->layer_offset = 0;
			d->v = ma;
			ma = NULL;
		} else {
			d->v = malloc((size_t)W * sizeof *d->v);
			if (d->v)
				memcpy(d->v, ma + (size_t)layer * W, (size_t)W * sizeof(float));
			else
				rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
		}
		snprintf(d->label, sizeof d->label,
			 "mean-diff:%s,%s@%s (mean last-token activation of %ld prompts minus %ld)", fa, fb, hook,
			 na, nb);
	}
	free(ma), free(mb);
	if (rc)
		return rc;
	return 0;
}

int an_dir_parse(fp_model *m, const char *spec, int multi, int normalize, an_dir **out, fp_error *err)
{
	int rc = 0;
	an_dir *d = calloc(1, sizeof *d);
	char *arg = NULL;
	*out = NULL;
	if (!d)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	const char *colon = strchr(spec, ':');
	if (!colon) {
		rc = fp_error_set(err, FP_ERR_INVALID,
				  "direction '%s' has no kind: use tok:WORD, emb:TEXT, neuron:L.N, neuron-in:L.N, "
				  "mean-diff:A,B@HOOK or file:PATH.h5:/dataset", spec);
		goto done;
	}
	size_t kl = (size_t)(colon - spec);
	arg = unquote(colon + 1);
#define KIND(s) (kl == strlen(s) && !strncmp(spec, s, kl))
	if (KIND("tok") || KIND("emb")) {
		rc = dir_token(m, arg, KIND("tok"), multi, d, err);
	} else if (KIND("neuron") || KIND("neuron-in")) {
		rc = dir_neuron(m, arg, KIND("neuron-in"), d, err);
	} else if (KIND("mean-diff")) {
		rc = dir_mean_diff(m, arg, d, err);
	} else if (KIND("file")) {
		char *sep = strstr(arg, ":/");
		if (!sep) {
			rc = fp_error_set(err, FP_ERR_INVALID, "file:%s: write file:PATH.h5:/dataset", arg);
			goto done;
		}
		*sep = 0;
		if ((rc = read_dir_file(m, arg, sep + 1, d, err)))
			goto done;
		snprintf(d->label, sizeof d->label, "file:%s:%s (%s)", arg, sep + 1,
			 d->per_layer ? "one vector per layer" : "one vector");
	} else {
		rc = fp_error_set(err, FP_ERR_INVALID,
				  "unknown direction kind '%.*s': use tok, emb, neuron, neuron-in, mean-diff or file",
				  (int)kl, spec);
		goto done;
	}
#undef KIND
	if (rc)
		goto done;
	d->normalized = normalize;
	int rows = d->per_layer ? d->n_layers : 1;
	for (int r = 0; r < rows; r++) {
		float *v = d->v + (size_t)r * d->width;
		double ss = 0;
		for (int k = 0; k < d->width; k++)
			ss += (double)v[k] * v[k];
		if (ss == 0 && !d->per_layer) {
			rc = fp_error_set(err, FP_ERR_INVALID, "direction %s is the zero vector", spec);
			goto done;
		}
		if (normalize && ss > 0)
			for (int k = 0; k < d->width; k++)
				v[k] = (float)(v[k] / sqrt(ss));
	}
	if (!d->per_layer)
		d->n_layers = 1;
done:
	free(arg);
	if (rc)
		an_dir_free(d);
	else
		*out = d;
	return rc;
}

const float *an_dir_at(const an_dir *d, int layer)
{
	if (!d->per_layer || layer < 0)
		return d->per_layer ? NULL : d->v;
	int i = layer - d->layer_offset;
	return i >= 0 && i < d->n_layers ? d->v + (size_t)i * d->width : NULL;
}

void an_dir_free(an_dir *d)
{
	if (d) {
		free(d->v);
		free(d);
	}
}
