/* fuzz_hooks.c - the small parsers of the command line, on arbitrary
 * strings against a tiny llama and a tiny gpt2 model: hook names
 * (fp_hook_parse), per-layer hook patterns (ps_hook_pattern, with and
 * without the model), layer ranges (record --layers: ps_layers) and hook
 * globs against a model's hooks (record --hooks: ps_hook_select), token
 * positions (--at: ps_at, ps_at_position), neuron refs and lists
 * (ps_neuron, ps_neuron_list) and integer options (cli_parse_int).  Byte 0
 * picks the parser and the model. */
#include "fuzz.h"
#include "../tiny.h"
#include "../../probe/cli.h"
#include "../../probe/h5out.h"
#include "../../probe/parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fp_model *models[2];

static void cleanup(void)
{
	fp_model_free(models[0]);
	fp_model_free(models[1]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *arch[2] = {"llama", "gpt2"};
	for (int i = 0; i < 2; i++) {
		tiny_opts o;
		tiny_defaults(&o, arch[i]);
		o.n_layers = 3;
		fp_error err = {0};
		if (tiny_load(&o, &models[i], &err)) {
			fprintf(stderr, "fuzz_hooks: %s\n", err.msg);
			abort();
		}
	}
	atexit(cleanup);
	/* the parsers print their errors; libFuzzer keeps its own copy of
	 * stderr for its reports, and sanitizers write to fd 2 directly */
	FILE *null = fopen("/dev/null", "w");
	if (null)
		stderr = null;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	int which = data[0] % 6;
	unsigned extra = (unsigned)data[0] >> 4;
	const fp_model *m = models[(data[0] >> 3) & 1];
	int L = m->cfg.n_layers, F = m->cfg.d_mlp;
	fuzz_mem_begin();
	char *s = fuzz_cstr(data + 1, size - 1);
	int kind = -1, layer = -2, mode = -1, pos = 0;
	fp_error err = {0};
	switch (which) {
	case 0:
		if (fp_hook_parse(s, &kind, &layer) == 0) {
			char name[64];
			int k2, l2;
			if (kind < 0 || kind >= FP_HOOK_KIND_COUNT || layer < -1 || layer > 4096 ||
			    (fp_hook_is_layer(kind) != (layer >= 0)))
				abort();
			/* a parsed name prints to a name that parses the same */
			fp_hook_name(kind, layer, name, sizeof name);
			if (fp_hook_parse(name, &k2, &l2) || k2 != kind || l2 != layer)
				abort();
		}
		break;
	case 1:
		if (ps_hook_pattern(s, &kind, &layer, &err) == 0 && (!fp_hook_is_layer(kind) || layer < -1))
			abort();
		if (ps_hook_pattern_model(m, s, &kind, &layer, &err) == 0)
			if (!fp_hook_is_layer(kind) || !fp_hook_width(m, kind) || layer < -1 || layer >= L)
				abort();
		break;
	case 2: {
		int n = 1 + (int)(extra % 8);
		char *sel = malloc((size_t)n);
		if (ps_layers(s, n, sel, &err) == 0)
			for (int i = 0; i < n; i++)
				if (sel[i] != 0 && sel[i] != 1)
					abort();
		free(sel);
		/* the same text as hook globs, at the model's blocks 0 and 2 */
		char lsel[3] = {1, 0, 1};
		h5rec_hook hooks[64];
		int nh = -1;
		if (ps_hook_select(m, s, extra & 1 ? lsel : NULL, hooks, 64, &nh, &err) == 0) {
			if (nh < 0 || nh > 64)
				abort();
			for (int i = 0; i < nh; i++)
				if (hooks[i].width != fp_hook_width(m, hooks[i].kind) || hooks[i].layer < -1 || hooks[i].layer >= L ||
				    (hooks[i].layer >= 0 && (extra & 1) && !lsel[hooks[i].layer]))
					abort();
		}
		break;
	}
	case 3:
		if (ps_at(s, extra, &mode, &pos, &err) == 0) {
			if (mode < AT_ALL || mode > AT_POS || !(extra & (1u << mode)))
				abort();
			int p = -2;
			if (ps_at_position(mode, pos, 7, mode == AT_SUBJECT_LAST ? 3 : -1, &p, &err) == 0 && (p < 0 || p >= 7))
				abort();
		}
		break;
	case 4: {
		int l = -1, nn = -1;
		if (ps_neuron(s, size - 1, L, F, &l, &nn, &err) == 0 && (l < 0 || l >= L || nn < 0 || nn >= F))
			abort();
		int ls[8], ns[8], n = -1;
		if (ps_neuron_list(s, L, F, 8, ls, ns, &n, &err) == 0) {
			if (n < 0 || n > 8)
				abort();
			for (int i = 0; i < n; i++)
				if (ls[i] < 0 || ls[i] >= L || ns[i] < 0 || ns[i] >= F)
					abort();
		}
		break;
	}
	default: {
		int v = 0;
		if (cli_parse_int("fuzz", "--x", s, -5, 1000, &v) == 0 && (v < -5 || v > 1000))
			abort();
	}
	}
	free(s);
	fuzz_mem_end(size, 0);
	return 0;
}
