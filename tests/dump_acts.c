/* dump_acts.c - the reference for the recording tests: runs each prompt of a
 * plain-text file (one per line) through an in-memory forward pass and writes
 * the activations of one hook at every position, concatenated over prompts,
 * as raw little-endian f32.  usage: dump_acts MODEL.gguf PROMPTS.txt HOOK OUT.f32 */
#include "../model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct grab {
	int kind, layer;
	FILE *out;
} grab;

static int grab_hook(void *user, const fp_hook_event *ev)
{
	grab *g = user;
	if (ev->kind == g->kind && ev->layer == g->layer)
		fwrite(ev->data, sizeof(float), (size_t)ev->n_pos * ev->width, g->out);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: dump_acts MODEL.gguf PROMPTS.txt HOOK OUT.f32\n");
		return 2;
	}
	fp_model *m;
	fp_error e = {0};
	grab g;
	if (fp_model_load(&m, argv[1], &e) || fp_hook_parse(argv[3], &g.kind, &g.layer)) {
		fprintf(stderr, "dump_acts: %s\n", e.msg[0] ? e.msg : "bad hook name");
		return 1;
	}
	FILE *in = fopen(argv[2], "r");
	g.out = fopen(argv[4], "wb");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	fp_forward_opts o = {.hook = grab_hook, .user = &g, .hook_mask = FP_HOOK_BIT(g.kind), .all_logits = g.kind == FP_HOOK_LOGITS};
	while (in && g.out && (n = getline(&line, &cap, in)) > 0) {
		if (line[n - 1] == '\n')
			line[--n] = 0;
		int32_t *ids;
		int nt;
		if (fp_tokenize(m->tok, line, (size_t)n, -1, &ids, &nt, &e) || fp_model_forward(m, ids, nt, &o, NULL, &e)) {
			fprintf(stderr, "dump_acts: %s\n", e.msg);
			return 1;
		}
		free(ids);
	}
	free(line);
	if (in)
		fclose(in);
	if (g.out)
		fclose(g.out);
	fp_model_free(m);
	return 0;
}
