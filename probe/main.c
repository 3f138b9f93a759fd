/* main.c - the factprobe command: one table of subcommands, each in its own
 * cmd_*.c file exposing cmd_NAME(argc, argv). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const cli_command COMMANDS[] = {
	{"info", cmd_info, "architecture, dimensions and parameter counts of a model"},
	{"tokenize", cmd_tokenize, "token ids and pieces of a text"},
	{"predict", cmd_predict, "the most likely next tokens after a prompt"},
	{"record", cmd_record, "record activations of a prompt set to HDF5"},
	{"merge", cmd_merge, "join the shards of a recording (record --shard) into one file"},
	{"dot", cmd_dot, "dot product and cosine of each layer's residual with a concept direction"},
	{"lens", cmd_lens, "logit lens: the top tokens and a target's rank at every layer"},
	{"neurons", cmd_neurons, "rank MLP neurons for a fact (activation, DLA, ablation, weights, gradients)"},
	{"grad", cmd_grad, "the gradient of log p (or p, a logit difference) w.r.t. hooks, to HDF5"},
	{"top-examples", cmd_top_examples, "where a neuron fires most in a corpus"},
	{"patch", cmd_patch, "activation patching between two prompts; zero or mean ablation of neurons"},
	{"plot", cmd_plot, "draw a result file with gnuplot (pdf, png, svg, LaTeX)"},
	{"superposition", cmd_superposition, "how close to perpendicular N vectors in D dimensions can be"},
	{"trace", cmd_trace, "causal tracing (ROME): where restoring a clean state brings the fact back"},
};
#define N_COMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static void usage(FILE *f)
{
	fprintf(f, "usage: factprobe COMMAND [OPTIONS] [ARGS]\n\n"
		   "factprobe shows where and how a transformer language model stores facts.\n\n"
		   "commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-14s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
	fprintf(f, "\n'factprobe COMMAND --help' describes a command's options.\n"
		   "The model is -m PATH, else $FACTPROBE_MODEL, else the default model\n"
		   "(SmolLM2-135M-Instruct Q4_1, fetched by 'make model' into\n"
		   "${XDG_CACHE_HOME:-$HOME/.cache}/factprobe/).  Two names stand for the\n"
		   "models 'make model' fetches there: -m smollm2 (the default) and\n"
		   "-m gemma3-270m (Gemma-3-270M Q4_K_M).  PATH may also be a Hugging Face\n"
		   "checkpoint directory (config.json + safetensors + tokenizer.json), a\n"
		   "cache entry .../models--ORG--NAME[/snapshots/REV], or a model id ORG/NAME\n"
		   "found offline in $HF_HUB_CACHE, else $HF_HOME/hub, else\n"
		   "~/.cache/huggingface/hub (nothing is downloaded).\n\n"
		   "Every command that loads a model also takes --weights auto|native|f32\n"
		   "(or $FACTPROBE_WEIGHTS): native keeps the weight matrices memory-mapped\n"
		   "in the file's own types (Q4_K, Q8_0, F16, ...) and dequantises each just\n"
		   "before its matrix product; f32 dequantises every weight once at load\n"
		   "(about 4 bytes per parameter); auto (the default) is f32 when that takes\n"
		   "at most 2 GiB (models up to about 500M parameters: faster), else native.\n"
		   "Both give the same numbers; 'factprobe info' shows the mode and the\n"
		   "memory it takes.\n\n"
		   "Every command that loads a model also takes --matmul exact|q8 (or\n"
		   "$FACTPROBE_MATMUL): exact (the default) multiplies in f32; q8 multiplies\n"
		   "as llama.cpp does, the activations quantised to 8 bits (Q8_K for the\n"
		   "K-quants, Q8_0/Q8_1 for Q4_0..Q8_0) times the weights' own integers:\n"
		   "faster, approximate (on the default model one recorded hook's activations\n"
		   "differ from exact's by up to 6.3%% of their norm, |q8 - exact| / |exact|,\n"
		   "single values by up to 12%% of the hook's largest, log-probs by up to\n"
		   "0.5 nats; see the README).  q8 keeps the weights in their own types (auto\n"
		   "means native; --weights f32 is refused; a model with no quantised matrix\n"
		   "runs exact, with a warning); F32/F16/BF16 matrices, attention scores and\n"
		   "norms stay exact,\n"
		   "and gradients (grad, neurons --rank atp|ig, trace --method atp) are taken\n"
		   "through the q8 forward pass with exact backward products\n"
		   "(straight-through).\n");
}

/* factprobe's global options: taken out of argv wherever they stand
 * (before any "--"), so that every command accepts them */
typedef struct global_opt {
	const char *name, *env, *values; /* "--weights", "FACTPROBE_WEIGHTS", "auto, native or f32" */
	int (*parse)(const char *s);     /* -1: not a valid value */
	int *dest;
	const char **from, *env_from;    /* set to env_from ("$FACTPROBE_WEIGHTS=") when the value is the variable's */
} global_opt;

/* Takes --NAME MODE / --NAME=MODE of each global option out of argv.
 * Returns 0, or 2 after a usage error. */
static int take_global_options(int *argc, char **argv, const global_opt *g, int ng)
{
	const char *val[4] = {0}, *from[4] = {0};
	for (int k = 0; k < ng; k++) {
		const char *env = getenv(g[k].env);
		val[k] = env && *env ? env : NULL, from[k] = NULL;
	}
	int out = 1;
	for (int i = 1; i < *argc; i++) {
		if (!strcmp(argv[i], "--")) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		int k = 0;
		size_t n = 0;
		for (; k < ng; k++) {
			n = strlen(g[k].name);
			if (!strncmp(argv[i], g[k].name, n) && (argv[i][n] == 0 || argv[i][n] == '='))
				break;
		}
		if (k == ng) {
			argv[out++] = argv[i];
			continue;
		}
		if (argv[i][n] == '=') {
			val[k] = argv[i] + n + 1;
		} else if (i + 1 < *argc) {
			val[k] = argv[++i];
		} else {
			fprintf(stderr, "factprobe: option '%s' needs a value (%s)\n", g[k].name, g[k].values);
			return 2;
		}
		from[k] = g[k].name;
	}
	argv[out] = NULL;
	*argc = out;
	for (int k = 0; k < ng; k++) {
		if (!val[k])
			continue;
		int mode = g[k].parse(val[k]);
		if (mode < 0) {
			if (from[k])
				fprintf(stderr, "factprobe: %s '%s' is not %s\n", from[k], val[k], g[k].values);
			else
				fprintf(stderr, "factprobe: $%s '%s' is not %s\n", g[k].env, val[k], g[k].values);
			return 2;
		}
		*g[k].dest = mode;
		if (!from[k])
			*g[k].from = g[k].env_from;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const global_opt g[2] = {
		{"--weights", "FACTPROBE_WEIGHTS", "auto, native or f32", fp_weights_parse, &cli_weights, &cli_weights_from,
		 "$FACTPROBE_WEIGHTS="},
		{"--matmul", "FACTPROBE_MATMUL", "exact or q8", fp_matmul_parse, &cli_matmul, &cli_matmul_from,
		 "$FACTPROBE_MATMUL="},
	};
	if (take_global_options(&argc, argv, g, 2))
		return 2;
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		if (argc > 2 && strcmp(argv[1], "help") == 0) {
			char *sub[] = {argv[2], "--help", NULL};
			for (size_t i = 0; i < N_COMMANDS; i++)
				if (!strcmp(argv[2], COMMANDS[i].name))
					return COMMANDS[i].run(2, sub);
		}
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("factprobe %s\n", FACTPROBE_VERSION);
		return 0;
	}
	cli_set_command_line(argc - 1, argv + 1);
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(argv[1], COMMANDS[i].name))
			return COMMANDS[i].run(argc - 1, argv + 1);
	fprintf(stderr, "factprobe: '%s' is not a command\n", argv[1]);
	cli_hint("'factprobe --help' lists the commands");
	return 2;
}
