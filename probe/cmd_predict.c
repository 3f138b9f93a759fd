/* cmd_predict.c - `factprobe predict PROMPT`: the next-token distribution at
 * the last position. */
#include "analysis.h"
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char HELP[] =
	"usage: factprobe predict [-m MODEL] [-k N] [--bos | --no-bos] [--tsv | --json] PROMPT\n\n"
	"Runs PROMPT (or standard input when PROMPT is '-') through the model and\n"
	"prints the N most likely next tokens at the final position, with their\n"
	"probability (softmax over the whole vocabulary) and raw logit.\n\n"
	"  -m, --model PATH  model: GGUF file or Hugging Face checkpoint (dir or ORG/NAME)\n"
	"                    (default: $FACTPROBE_MODEL or the default model)\n"
	"  -k, --top N       how many predictions (default 10)\n"
	"      --bos         prepend the BOS token\n"
	"      --no-bos      do not (default: what the model's metadata says)\n"
	"      --tsv         columns: rank token_id token prob logit (token text with\n"
	"                    tabs, newlines and backslashes escaped)\n"
	"      --json        {\"prompt\", \"n_tokens\", \"predictions\": [{rank, token_id,\n"
	"                    token, prob, logprob, logit}]}\n"
	"  -h, --help        this help\n\n"
	"example: factprobe predict \"Michael Jordan plays the sport of\"\n";

int cmd_predict(int argc, char **argv)
{
	static const struct option opts[] = {
		{"model", required_argument, 0, 'm'}, {"top", required_argument, 0, 'k'},
		{"tsv", no_argument, 0, 'T'}, {"json", no_argument, 0, 'J'}, {"bos", no_argument, 0, 'B'},
		{"no-bos", no_argument, 0, 'N'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	const char *model = NULL;
	int fmt = FMT_TEXT, bos = -1, k = 10, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:k:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model = optarg; break;
		case 'k':
			if (cli_parse_int("predict", "-k", optarg, 1, 1 << 20, &k))
				return 2;
			break;
		case 'T': fmt = FMT_TSV; break;
		case 'J': fmt = FMT_JSON; break;
		case 'B': bos = 1; break;
		case 'N': bos = 0; break;
		case 'h': cli_help(HELP); return 0;
		default: return cli_bad_option("predict", c, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("predict", "expects exactly one PROMPT argument (use '-' for standard input)");
	size_t len;
	char *text = cli_text_arg("predict", argv[optind], &len);
	if (!text)
		return 1;
	fp_model *m = cli_load_model("predict", model);
	int32_t *ids = NULL;
	float *logits = NULL;
	int *order = NULL, n = 0, rc = 0;
	fp_error err = {0};
	if (!m) {
		rc = 1;
		goto done;
	}
	int V = m->cfg.n_vocab;
	if (k > V)
		k = V;
	if (fp_tokenize(m->tok, text, len, bos, &ids, &n, &err)) {
		rc = cli_error("predict", "%s", err.msg);
		goto done;
	}
	if (n == 0) {
		rc = cli_error("predict", "the prompt is empty (no tokens); give some text or use --bos");
		goto done;
	}
	logits = malloc((size_t)V * sizeof *logits);
	order = malloc((size_t)k * sizeof *order);
	if (!logits || !order) {
		rc = cli_error("predict", "out of memory");
		goto done;
	}
	if (fp_model_forward(m, ids, n, NULL, logits, &err)) {
		rc = cli_error("predict", "%s", err.msg);
		goto done;
	}
	double lse = an_logsumexp(logits, V);
	an_top_k(logits, V, k, order);
	static const tb_col cols[] = {
		{"rank", "rank", TB_INT, "%4d", 0, NULL, 0, NULL},
		{"token_id", "token_id", TB_INT, " %7d", 0, "id", 0, NULL},
		{"token", "token", TB_STR, "  %-24s", 0, NULL, 0, NULL},
		{"prob", "prob", TB_REAL, " %9.4f", 0, NULL, 0, NULL},
		{NULL, "logprob", TB_REAL, NULL, 0, NULL, 0, NULL},
		{"logit", "logit", TB_REAL, " %9.3f", 0, NULL, 0, NULL},
	};
	tb_doc d;
	tb_table t;
	tb_doc_begin(&d, stdout, fmt);
	tb_doc_strn(&d, "prompt", text, len);
	tb_doc_int(&d, "n_tokens", n);
	tb_say(&d, "prompt ");
	tb_say_quoted(&d, text, len);
	tb_say(&d, " (%d tokens)\n", n);
	tb_doc_table(&d, &t, cols, 6, 1);
	for (int r = 0; r < k; r++) {
		char dec[1024];
		int id = order[r], dl = fp_token_decode(m->tok, id, dec, sizeof dec);
		double lp = logits[id] - lse;
		tb_int(&t, r + 1);
		tb_int(&t, id);
		tb_str(&t, dec, (size_t)dl < sizeof dec ? (size_t)dl : sizeof dec - 1);
		tb_real(&t, exp(lp));
		tb_real(&t, lp);
		tb_real(&t, logits[id]);
	}
	tb_doc_set(&d, "predictions", tb_end(&t));
	tb_doc_end(&d);
done:
	free(ids);
	free(logits);
	free(order);
	free(text);
	fp_model_free(m);
	return rc;
}
