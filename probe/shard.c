/* shard.c - contiguous, token-balanced blocks of a prompt set (shard.h). */
#include "shard.h"
#include "prompts.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int shard_parse(const char *s, int *i, int *n)
{
	char *end;
	long a = strtol(s, &end, 10), b;
	if (end == s || *end != '/')
		return -1;
	s = end + 1;
	b = strtol(s, &end, 10);
	if (end == s || *end || a < 0 || b < 1 || a >= b || b > 100000)
		return -1;
	*i = (int)a, *n = (int)b;
	return 0;
}

void shard_bounds(const long *cand, const long long *cum, long n_cand, long n_items, long long total, int n,
		  long *bounds)
{
	long k = 0;
	bounds[0] = 0;
	for (int b = 1; b < n; b++) {
		/* cum[k] * n >= b * total, in integers */
		while (k < n_cand && (__int128)cum[k] * n < (__int128)b * total)
			k++;
		bounds[b] = k < n_cand ? cand[k] : n_items;
		if (bounds[b] < bounds[b - 1])
			bounds[b] = bounds[b - 1];
	}
	bounds[n] = n_items;
}

void shard_plan_free(shard_plan *p)
{
	free(p->bounds), free(p->lines);
	p->bounds = p->lines = NULL;
}

int shard_plan_prompts(shard_plan *p, const char *path, const fp_model *m, int bos, int batch_tokens, int skip_bad,
		       int n, fp_error *err)
{
	memset(p, 0, sizeof *p);
	p->n = n;
	prompt_reader *pr = NULL;
	int rc = prompts_open(&pr, path, err);
	if (rc)
		return rc;
	long *cand = NULL, *cand_line = NULL, n_cand = 0, cap = 0, np = 0;
	long long *cum = NULL, tokens = 0, in_pack = 0;
	fp_prompt q;
	int got;
	while ((got = prompts_next(pr, &q, err)) != 0) {
		if (got < 0) {
			if (skip_bad)
				continue;
			rc = FP_ERR_INVALID;
			break;
		}
		int32_t *ids = NULL;
		int nt = 0;
		fp_error e2 = {0};
		int bad = fp_tokenize(m->tok, q.text, q.len, bos, &ids, &nt, &e2) != 0 || nt == 0 || nt > m->cfg.n_ctx;
		free(ids);
		if (bad) {
			if (skip_bad)
				continue;
			rc = fp_error_set(err, FP_ERR_INVALID, "'%s' line %ld, field 'prompt': %s", path, q.line,
					  e2.msg[0] ? e2.msg : nt == 0 ? "no tokens" : "longer than the model's context");
			break;
		}
		/* record's packing: a new pass when this prompt would overflow the last */
		if (np == 0 || batch_tokens == 0 || in_pack + nt > batch_tokens) {
			if (n_cand == cap) {
				cap = cap ? 2 * cap : 1024;
				long *a = realloc(cand, (size_t)cap * sizeof *a), *c = a ? realloc(cand_line, (size_t)cap * sizeof *c) : NULL;
				long long *b = c ? realloc(cum, (size_t)cap * sizeof *b) : NULL;
				if (a)
					cand = a;
				if (c)
					cand_line = c;
				if (b)
					cum = b;
				if (!a || !b || !c) {
					rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
					break;
				}
			}
			cand[n_cand] = np, cand_line[n_cand] = q.line, cum[n_cand++] = tokens;
			in_pack = 0;
		}
		in_pack += nt, tokens += nt, np++;
	}
	prompts_close(pr);
	p->bounds = malloc((size_t)(n + 1) * sizeof *p->bounds);
	p->lines = malloc((size_t)(n + 1) * sizeof *p->lines);
	if (!rc && (!p->bounds || !p->lines))
		rc = fp_error_set(err, FP_ERR_NOMEM, "out of memory");
	if (!rc) {
		p->n_prompts = np, p->n_tokens = tokens;
		shard_bounds(cand, cum, n_cand, np, tokens, n, p->bounds);
		/* every bound is a candidate or the end */
		for (int b = 0, k = 0; b <= n; b++) {
			while (k < n_cand && cand[k] < p->bounds[b])
				k++;
			p->lines[b] = k < n_cand && cand[k] == p->bounds[b] ? cand_line[k] : LONG_MAX;
		}
	}
	free(cand), free(cand_line), free(cum);
	if (rc)
		shard_plan_free(p);
	return rc;
}
