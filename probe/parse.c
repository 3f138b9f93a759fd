/* parse.c - see parse.h. */
#include "parse.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ps_neuron(const char *s, size_t len, int n_layers, int d_mlp, int *layer, int *neuron, fp_error *err)
{
	char buf[64];
	if (len >= sizeof buf)
		return fp_error_set(err, FP_ERR_FORMAT, "'%.60s...' is not a neuron: write LAYER.NEURON, e.g. 12.345", s);
	memcpy(buf, s, len);
	buf[len] = 0;
	char *e;
	long a = strtol(buf, &e, 10);
	if (e == buf || *e != '.')
		return fp_error_set(err, FP_ERR_FORMAT, "'%s' is not a neuron: write LAYER.NEURON, e.g. 12.345", buf);
	const char *s2 = e + 1;
	long b = strtol(s2, &e, 10);
	if (e == s2 || *e)
		return fp_error_set(err, FP_ERR_FORMAT, "'%s' is not a neuron: write LAYER.NEURON, e.g. 12.345", buf);
	if (a < 0 || (n_layers > 0 && a >= n_layers))
		return fp_error_set(err, FP_ERR_INVALID, "layer %ld is out of range: the model has layers 0..%d", a,
				    n_layers - 1);
	if (b < 0 || (d_mlp > 0 && b >= d_mlp))
		return fp_error_set(err, FP_ERR_INVALID, "neuron %ld is out of range: layer %ld has neurons 0..%d", b, a,
				    d_mlp - 1);
	*layer = (int)a, *neuron = (int)b;
	return 0;
}

int ps_neuron_list(const char *s, int n_layers, int d_mlp, int max, int *layer, int *neuron, int *n, fp_error *err)
{
	*n = 0;
	for (const char *p = s;;) {
		size_t l = strcspn(p, ",");
		if (*n >= max)
			return fp_error_set(err, FP_ERR_INVALID, "more than %d neurons", max);
		int rc = ps_neuron(p, l, n_layers, d_mlp, &layer[*n], &neuron[*n], err);
		if (rc)
			return rc;
		++*n;
		if (!p[l])
			return 0;
		p += l + 1;
	}
}

int ps_hook_pattern(const char *s, int *kind, int *layer, fp_error *err)
{
	char buf[256];
	int star = 0;
	if (!strncmp(s, "hook_", 5) || !strncmp(s, "mlp.", 4) || !strncmp(s, "attn.", 5)) {
		snprintf(buf, sizeof buf, "blocks.0.%.200s", s);
		star = 1;
	} else if (!strncmp(s, "blocks.*.", 9)) {
		snprintf(buf, sizeof buf, "blocks.0.%.200s", s + 9);
		star = 1;
	} else {
		snprintf(buf, sizeof buf, "%.200s", s);
	}
	if (fp_hook_parse(buf, kind, layer) || !fp_hook_is_layer(*kind))
		return fp_error_set(err, FP_ERR_FORMAT,
				    "'%s' is not a per-layer hook: write e.g. blocks.*.hook_resid_post, "
				    "blocks.5.mlp.hook_post or hook_resid_mid", s);
	if (star)
		*layer = -1;
	return 0;
}

int ps_hook_pattern_model(const fp_model *m, const char *s, int *kind, int *layer, fp_error *err)
{
	int rc = ps_hook_pattern(s, kind, layer, err);
	if (rc)
		return rc;
	if (fp_hook_width(m, *kind) == 0)
		return fp_error_set(err, FP_ERR_UNSUPPORTED, "this model has no %s (a %s model)", s, m->cfg.arch_name);
	if (*layer >= m->cfg.n_layers)
		return fp_error_set(err, FP_ERR_INVALID, "'%s': layer %d is out of range; the model has layers 0..%d", s,
				    *layer, m->cfg.n_layers - 1);
	return 0;
}

int ps_layers(const char *s, int n_layers, char *sel, fp_error *err)
{
	const char *p = s;
	int ok = 1;
	memset(sel, 0, (size_t)n_layers);
	while (*p && ok) {
		char *end;
		long a = strtol(p, &end, 10), b = a;
		ok = end != p;
		p = end;
		if (ok && *p == '-') {
			b = strtol(p + 1, &end, 10);
			ok = end != p + 1;
			p = end;
		}
		ok = ok && a >= 0 && b >= a && b < n_layers;
		for (long l = a; ok && l <= b; l++)
			sel[l] = 1;
		if (ok && *p == ',')
			p++;
		else if (*p)
			ok = 0;
	}
	return ok ? 0
		  : fp_error_set(err, FP_ERR_FORMAT, "'%s' is not a range of blocks 0-%d (like 0-29, 5,7,9 or 0-3,10)", s,
				 n_layers - 1);
}

int ps_hook_select(const fp_model *m, const char *spec, const char *sel, h5rec_hook *out, int max, int *n,
		   fp_error *err)
{
	int L = m->cfg.n_layers, rc = 0;
	char *s = strdup(spec), *save = NULL;
	*n = 0;
	if (!s)
		return fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	for (char *pat = strtok_r(s, ",", &save); pat && !rc; pat = strtok_r(NULL, ",", &save)) {
		int matched = 0;
		for (int kd = 0; kd < FP_HOOK_KIND_COUNT && !rc; kd++) {
			if (!fp_hook_width(m, kd))
				continue;
			for (int l = fp_hook_is_layer(kd) ? 0 : -1; l < (fp_hook_is_layer(kd) ? L : 0) && !rc; l++) {
				char name[64];
				fp_hook_name(kd, l, name, sizeof name);
				if (fnmatch(pat, name, 0))
					continue;
				matched = 1;
				int dup = l >= 0 && sel && !sel[l];
				for (int h = 0; h < *n && !dup; h++)
					dup = out[h].kind == kd && out[h].layer == l;
				if (dup)
					continue;
				if (*n >= max) {
					rc = fp_error_set(err, FP_ERR_INVALID, "more than %d hooks", max);
					break;
				}
				h5rec_hook *h = &out[(*n)++];
				snprintf(h->name, sizeof h->name, "%s", name);
				h->kind = kd, h->layer = l, h->width = fp_hook_width(m, kd);
			}
		}
		if (!matched && !rc)
			rc = fp_error_set(err, FP_ERR_INVALID, "'%s' matches no hook of this %s model", pat, m->cfg.arch_name);
	}
	free(s);
	return rc;
}

static const char *const AT_NAME[] = {"all", "last", "subject-last", "position"};

int ps_at(const char *s, unsigned allowed, int *mode, int *pos, fp_error *err)
{
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, AT_NAME[i]) && (allowed & (1u << i))) {
			*mode = i, *pos = 0;
			return 0;
		}
	char *end;
	long v = strtol(s, &end, 10);
	if ((allowed & (1u << AT_POS)) && end != s && !*end && v > -100000 && v < 100000) {
		*mode = AT_POS, *pos = (int)v;
		return 0;
	}
	char list[80] = "";
	for (int i = 0; i < 3; i++)
		if (allowed & (1u << i))
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? ", " : "", AT_NAME[i]);
	return fp_error_set(err, FP_ERR_FORMAT, "--at takes %s%s, not '%s'", list,
			    allowed & (1u << AT_POS) ? " or a token index" : "", s);
}

int ps_at_position(int mode, int pos, int n, int s1, int *out, fp_error *err)
{
	switch (mode) {
	case AT_SUBJECT_LAST:
		if (s1 <= 0)
			return fp_error_set(err, FP_ERR_INVALID,
					    "--at subject-last needs a subject (--subject TEXT, or a 'subject' column)");
		*out = s1 - 1;
		return 0;
	case AT_POS: {
		int p = pos < 0 ? n + pos : pos;
		if (p < 0 || p >= n)
			return fp_error_set(err, FP_ERR_INVALID,
					    "--at %d is outside the prompt's %d tokens (0..%d, or -1..-%d from the end)", pos,
					    n, n - 1, n);
		*out = p;
		return 0;
	}
	default: *out = n - 1; return 0;
	}
}

const char *ps_at_name(int mode)
{
	return mode >= 0 && mode < 4 ? AT_NAME[mode] : "?";
}

int ps_has_bos(const fp_model *m, const int32_t *ids, int n, int add_bos)
{
	int bos = fp_tokenizer_bos(m->tok);
	return n > 0 && bos >= 0 && ids[0] == bos && (add_bos == 1 || (add_bos < 0 && fp_tokenizer_adds_bos(m->tok)));
}
