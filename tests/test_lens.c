/* test_lens.c - the logit lens over positions (an_lens_run, probe/lens.c) on
 * the planted model (neuron 1.5 reads 'J' and writes 'Q'): at the last
 * resid index the lens is the model's own output, so its top-k
 * probabilities equal the softmax of the forward pass's logits; 'Q' ranks
 * first at 'J' only after the planted layer; with no target the lens takes
 * the model's final top token. */
#include "check.h"
#include "tiny.h"
#include "../model/model.h"
#include "../probe/analysis.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	fp_model *m = NULL;
	fp_error err = {0};
	CHECK(tiny_load_plant(&m, &err) == 0, "planted model: %s", err.msg);
	if (!m)
		return check_done("test_lens");
	int32_t ids[3] = {'a', 'b', 'J'};
	int V = m->cfg.n_vocab, L = m->cfg.n_layers, pos[2] = {1, 2};
	an_run run;
	an_lens r;
	float *logits = malloc((size_t)V * sizeof *logits);
	CHECK(an_run_prompt(m, ids, 3, AN_RESID, &run, &err) == 0 && fp_model_forward(m, ids, 3, NULL, logits, &err) == 0,
	      "runs: %s", err.msg);
	CHECK(an_lens_run(m, &run, pos, 2, 4, 'Q', &r, &err) == 0 && r.R == L + 1 && r.k == 4, "lens at 2 positions");
	double mx = logits[0], sum = 0, diff = 0;
	for (int v = 1; v < V; v++)
		mx = logits[v] > mx ? logits[v] : mx;
	for (int v = 0; v < V; v++)
		sum += exp(logits[v] - mx);
	size_t last = (size_t)L * 2 + 1; /* resid index L, the second position ('J') */
	for (int j = 0; j < 4; j++)
		diff = fmax(diff, fabs(r.top_p[last * 4 + j] - exp(logits[r.top_id[last * 4 + j]] - mx) / sum));
	CHECK_CLOSE(diff, 1e-5, "the last resid index's top 4 probabilities against the forward pass's softmax");
	CHECK(r.trank[last] == 1 && r.trank[0 * 2 + 1] > 1, "'Q' ranks 1 at 'J' after the planted layer (%d) and not at "
							    "the embeddings (%d)", r.trank[last], r.trank[1]);
	an_lens_free(&r);
	CHECK(an_lens_run(m, &run, pos, 2, 1, -1, &r, &err) == 0 && r.target == r.top_id[last] && r.trank[last] == 1,
	      "no target: the model's final top token (%d) at the last position", r.target);
	an_lens_free(&r);
	an_run_free(&run);
	free(logits);
	fp_model_free(m);
	return check_done("test_lens");
}
