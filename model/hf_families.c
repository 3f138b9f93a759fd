/* hf_families.c - the Hugging Face architecture families beyond the llama
 * family of hf.c (see hf_internal.h).  Each entry: config.json's
 * architectures[0], its config function and its weights function. */
#include "hf_internal.h"

const hf_family hf_families_more[] = {
	{NULL, NULL, NULL},
};
