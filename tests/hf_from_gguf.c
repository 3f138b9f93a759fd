/* hf_from_gguf - writes a Hugging Face checkpoint directory from a llama,
 * qwen2 or qwen3 GGUF without torch (tests/hf_writer.h), for
 * scripts/hf_checkpoint.sh.
 * usage: hf_from_gguf MODEL.gguf OUT_DIR [F32|F16|BF16] [CONFIG.json]
 *        hf_from_gguf --manifest MODEL.gguf [F32|F16|BF16]   (prints the tensors' sha256) */
#include "hf_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	fp_error err = {0};
	char *man = NULL;
	if (argc >= 3 && !strcmp(argv[1], "--manifest")) {
		if (hfw_from_gguf(argv[2], NULL, argc > 3 ? argv[3] : "F32", NULL, &man, &err))
			return fprintf(stderr, "hf_from_gguf: %s\n", err.msg), 1;
		fputs(man, stdout);
		free(man);
		return 0;
	}
	if (argc < 3)
		return fprintf(stderr, "usage: %s MODEL.gguf OUT_DIR [F32|F16|BF16] [CONFIG.json]\n", argv[0]), 2;
	if (hfw_from_gguf(argv[1], argv[2], argc > 3 ? argv[3] : "F32", argc > 4 ? argv[4] : NULL, NULL, &err))
		return fprintf(stderr, "hf_from_gguf: %s\n", err.msg), 1;
	return 0;
}
