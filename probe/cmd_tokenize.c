/* cmd_tokenize.c - `factprobe tokenize TEXT`: ids and pieces. */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char HELP[] =
	"usage: factprobe tokenize [-m MODEL] [--bos | --no-bos] [--tsv | --json] TEXT\n\n"
	"Tokenizes TEXT (or standard input when TEXT is '-') with the model's own\n"
	"tokenizer and prints, per token, its position, id, the vocabulary piece as\n"
	"stored, and the text it stands for.  Special tokens written in TEXT (such\n"
	"as <|im_start|>) are tokenized as plain text.  Invalid UTF-8 is an error.\n\n"
	"  -m, --model PATH  model: GGUF file or Hugging Face checkpoint (dir or ORG/NAME)\n"
	"                    (default: $FACTPROBE_MODEL or the default model)\n"
	"      --bos         prepend the BOS token\n"
	"      --no-bos      do not (default: what the model's metadata says)\n"
	"      --tsv         columns: pos token_id piece text (tabs/newlines escaped)\n"
	"      --json        {\"ids\": [...], \"tokens\": [...]}\n"
	"  -h, --help        this help\n";

int cmd_tokenize(int argc, char **argv)
{
	static const struct option opts[] = {
		{"model", required_argument, 0, 'm'}, {"tsv", no_argument, 0, 'T'}, {"json", no_argument, 0, 'J'},
		{"bos", no_argument, 0, 'B'}, {"no-bos", no_argument, 0, 'N'}, {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0}};
	const char *model = NULL;
	int fmt = FMT_TEXT, bos = -1, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model = optarg; break;
		case 'T': fmt = FMT_TSV; break;
		case 'J': fmt = FMT_JSON; break;
		case 'B': bos = 1; break;
		case 'N': bos = 0; break;
		case 'h': cli_help(HELP); return 0;
		default: return cli_bad_option("tokenize", c, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("tokenize", "expects exactly one TEXT argument (use '-' for standard input)");
	size_t len;
	char *text = cli_text_arg("tokenize", argv[optind], &len);
	if (!text)
		return 1;
	fp_model *m = cli_load_model("tokenize", model);
	if (!m) {
		free(text);
		return 1;
	}
	int32_t *ids = NULL;
	int n = 0, rc = 0;
	fp_error err = {0};
	if (fp_tokenize(m->tok, text, len, bos, &ids, &n, &err)) {
		rc = cli_error("tokenize", "%s", err.msg);
		goto done;
	}
	static const tb_col cols[] = {
		{"pos", NULL, TB_INT, "%5d", 0, NULL, 0, NULL},
		{"token_id", "ids", TB_INT, " %7d", 0, NULL, 0, NULL},
		{"piece", NULL, TB_STR, NULL, 0, NULL, 0, NULL},
		{"text", "tokens", TB_STR, "  %s", .bytes = 1},
	};
	tb_table t;
	if (fmt == FMT_TEXT)
		printf("%d tokens\n", n);
	tb_begin(&t, stdout, fmt, cols, 4, 0);
	for (int i = 0; i < n; i++) {
		char dec[1024];
		size_t plen;
		const char *piece = fp_token_piece(m->tok, ids[i], &plen);
		int dl = fp_token_decode(m->tok, ids[i], dec, sizeof dec);
		tb_int(&t, i);
		tb_int(&t, ids[i]);
		tb_str(&t, piece, plen);
		tb_str(&t, dec, (size_t)dl < sizeof dec ? (size_t)dl : sizeof dec - 1);
	}
	json_t *o = tb_end_columns(&t);
	if (o) {
		json_dumpf(o, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(o);
	}
done:
	free(ids);
	free(text);
	fp_model_free(m);
	return rc;
}
