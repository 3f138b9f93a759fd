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
		   "memory it takes.\n");
}

/* Takes --weights MODE / --weights=MODE out of argv (before any "--"), so
 * that every command accepts it.  Returns 0, or 2 after a usage error. */
static int take_weights_option(int *argc, char **argv)
{
	const char *env = getenv("FACTPROBE_WEIGHTS"), *val = env && *env ? env : NULL, *from = "$FACTPROBE_WEIGHTS";
	int out = 1;
	for (int i = 1; i < *argc; i++) {
		if (!strcmp(argv[i], "--")) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (!strcmp(argv[i], "--weights") || !strncmp(argv[i], "--weights=", 10)) {
			if (argv[i][9] == '=') {
				val = argv[i] + 10;
			} else if (i + 1 < *argc) {
				val = argv[++i];
			} else {
				fprintf(stderr, "factprobe: option '--weights' needs a value (auto, native or f32)\n");
				return 2;
			}
			from = "--weights";
			continue;
		}
		argv[out++] = argv[i];
	}
	argv[out] = NULL;
	*argc = out;
	if (val) {
		int mode = fp_weights_parse(val);
		if (mode < 0) {
			fprintf(stderr, "factprobe: %s '%s' is not auto, native or f32\n", from, val);
			return 2;
		}
		cli_weights = mode;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (take_weights_option(&argc, argv))
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
