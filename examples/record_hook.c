/* record_hook.c - runs a prompt through a model and prints one hook's values at the last token.
 * cc record_hook.c $(pkg-config --cflags --libs factprobe) -o record_hook
 * ./record_hook MODEL.gguf blocks.5.mlp.hook_post "Michael Jordan plays" */
#include <factprobe/model/model.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int on_hook(void *user, const fp_hook_event *ev) /* called at every hook of hook_mask's kinds */
{
	const int *want = user; /* {kind, layer} */
	if (ev->kind != want[0] || ev->layer != want[1])
		return 0;
	const float *last = ev->data + (size_t)(ev->n_pos - 1) * ev->width; /* one row per position */
	printf("%s: %d positions x %d; at the last:", ev->name, ev->n_pos, ev->width);
	for (int i = 0; i < ev->width; i++)
		printf(" %.9g", last[i]);
	printf("\n");
	return 0; /* nonzero would stop the pass; a hook may also overwrite ev->data */
}

int main(int argc, char **argv)
{
	fp_model *m;
	fp_error err = {0};
	int want[2], n;
	int32_t *ids;
	if (argc != 4 || fp_hook_parse(argv[2], &want[0], &want[1])) /* a TransformerLens name */
		return fprintf(stderr, "usage: %s MODEL.gguf HOOK PROMPT\n", argv[0]), 2;
	fp_forward_opts o = {.hook = on_hook, .user = want, .hook_mask = FP_HOOK_BIT(want[0])};
	if (fp_model_load(&m, argv[1], &err) || fp_tokenize(m->tok, argv[3], strlen(argv[3]), -1, &ids, &n, &err) ||
	    fp_model_forward(m, ids, n, &o, NULL, &err)) /* NULL: no logits wanted */
		return fprintf(stderr, "%s: %s\n", argv[0], err.msg), 1;
	free(ids), fp_model_free(m);
	return 0;
}
