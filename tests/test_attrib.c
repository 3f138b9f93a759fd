/* test_attrib.c - gradient attributions (probe/attrib.c, probe/trace_atp.c)
 * on the planted model (tests/tiny.h: neuron 1.5 reads 'J', writes 'Q'):
 *   - integrated gradients are complete: the attributions of every neuron
 *     add up to m(clean) - m(baseline), both measured by forward passes,
 *     within 1% at 20 steps (zero and corrupted baselines), and rank the
 *     planted neuron first;
 *   - attribution patching ranks the planted neuron first; its estimate is
 *     printed beside the measured ablation;
 *   - the attribution-patching trace has the exact trace's shape and finds
 *     the planted layer's MLP at 'J', and is exact where it must be (tokens
 *     before the subject: the corrupted probability). */
#include "check.h"
#include "tiny.h"
#include "../model/backward.h"
#include "../probe/analysis.h"
#include "../probe/attrib.h"
#include "../probe/trace.h"

#include <stdlib.h>
#include <string.h>

static int argmax(const float *x, int n)
{
	int b = 0;
	for (int i = 1; i < n; i++)
		if (x[i] > x[b])
			b = i;
	return b;
}

static void test_neurons(fp_model *m)
{
	int L = m->cfg.n_layers, F = m->cfg.d_mlp, NF = L * F, planted = 1 * F + 5;
	int32_t ids[3] = {'a', 'b', 'J'}, cids[3] = {'a', 'b', 'x'};
	int n = 3, pos = 2;
	fp_error err = {0};
	/* the logit difference Q - J: log p('Q') saturates at 0 on this model
	 * (p = 1 with the neuron, whose activation is 140), a step along the path
	 * that 20 steps cannot resolve (printed below) */
	fp_metric mt = {FP_METRIC_LOGIT_DIFF, 'Q', 'J', -1};
	float *attr = malloc((size_t)NF * sizeof *attr), *ref = malloc((size_t)NF * sizeof *ref);
	for (int b = 0; b < 2; b++) {
		const char *bn = b ? "corrupted ('abx')" : "zero";
		const float *rf = NULL;
		if (b) {
			CHECK(at_mlp_post_at(m, cids, n, pos, ref, &err) == 0, "corrupted activations: %s", err.msg);
			rf = ref;
		}
		double m_in = 0, m_base = 0, sum = 0;
		CHECK(at_neurons_ig(m, ids, n, &mt, pos, rf, 20, attr, &m_in, &m_base, &err) == 0, "ig: %s", err.msg);
		for (int i = 0; i < NF; i++)
			sum += attr[i];
		double gap = m_in - m_base;
		CHECK_CLOSE(fabs(sum - gap) / fabs(gap), 0.01,
			    "ig (%s baseline, 20 steps): attributions add up to %.5f, m(input) - m(baseline) = %.5f - %.5f = "
			    "%.5f, relative gap",
			    bn, sum, m_in, m_base, gap);
		int top = argmax(attr, NF);
		double second = -INFINITY;
		for (int i = 0; i < NF; i++)
			if (i != planted && attr[i] > second)
				second = attr[i];
		printf("     ig (%s): neuron 1.5 attribution %.4f, the next largest %.4f\n", bn, attr[planted], second);
		CHECK(top == planted, "ig (%s baseline) ranks neuron 1.5 first (got %d.%d)", bn, top / F, top % F);
		/* attribution patching, against the measured ablation */
		double clean = 0, res = 0;
		CHECK(at_neurons_atp(m, ids, n, &mt, pos, rf, NULL, attr, &clean, &err) == 0, "atp: %s", err.msg);
		top = argmax(attr, NF);
		CHECK(top == planted, "atp (%s reference) ranks neuron 1.5 first (got %d.%d)", bn, top / F, top % F);
		an_ablation ab = {1, 5, rf ? rf[planted] : 0.0f};
		int start[2] = {0, 1};
		CHECK(an_ablate_groups(m, ids, n, pos, pos + 1, &ab, start, 1, 'Q', 'J', 512, &res, &err) == 0, "ablate: %s",
		      err.msg);
		printf("     atp (%s): neuron 1.5 estimate %.4f, measured ablation %.4f (logit difference)\n", bn,
		       attr[planted], clean - res);
		CHECK(attr[planted] > 0 && clean - res > 0, "atp and the ablation agree in sign for neuron 1.5");
	}
	/* log p('Q'), saturated: the estimate and the integral's convergence */
	fp_metric lp = {FP_METRIC_LOGPROB, 'Q', 0, -1};
	int steps[2] = {20, 400};
	for (int i = 0; i < 2; i++) {
		double m_in = 0, m_base = 0, sum = 0;
		CHECK(at_neurons_ig(m, ids, n, &lp, pos, NULL, steps[i], attr, &m_in, &m_base, &err) == 0, "ig: %s", err.msg);
		for (int j = 0; j < NF; j++)
			sum += attr[j];
		printf("     ig of log p('Q') (zero baseline, %d steps): attributions add up to %.4f, m(input) - "
		       "m(baseline) = %.4f (relative gap %.3g)\n",
		       steps[i], sum, m_in - m_base, fabs(sum - (m_in - m_base)) / fabs(m_in - m_base));
		if (i == 1)
			CHECK_CLOSE(fabs(sum - (m_in - m_base)) / fabs(m_in - m_base), 0.01,
				    "ig of the saturated log p('Q') at 400 steps: relative gap");
	}
	double clean = 0;
	CHECK(at_neurons_atp(m, ids, n, &lp, pos, NULL, NULL, attr, &clean, &err) == 0, "atp: %s", err.msg);
	printf("     atp of log p('Q') = %.4g: neuron 1.5 estimate %.4g (saturated: the gradient vanishes at p = 1; "
	       "the measured ablation is about 68)\n",
	       clean, attr[planted]);
	/* bad input */
	CHECK(at_neurons_ig(m, ids, n, &mt, 5, NULL, 20, attr, NULL, NULL, &err) == FP_ERR_INVALID,
	      "a position past the prompt is an error: %s", err.msg);
	CHECK(at_neurons_ig(m, ids, n, &mt, pos, NULL, 0, attr, NULL, NULL, &err) == FP_ERR_INVALID,
	      "0 steps is an error: %s", err.msg);
	free(attr), free(ref);
}

static void test_trace(fp_model *m)
{
	int32_t ids[3] = {'a', 'b', 'J'};
	int n = 3;
	fp_error err = {0};
	tr_opts to = {7, 1, 10, 20.0, 1, NULL, 0, NULL, NULL};
	tr_result ex, ap;
	CHECK(tr_trace(m, ids, n, 2, 3, 'Q', &to, &ex, &err) == 0, "exact trace: %s", err.msg);
	CHECK(tr_trace_atp(m, ids, n, 2, 3, 'Q', &to, &ap, &err) == 0, "atp trace: %s", err.msg);
	CHECK(fabs(ex.high - ap.high) < 1e-6 && fabs(ex.low - ap.low) < 1e-6,
	      "the same clean (%.4f, %.4f) and corrupted (%.4f, %.4f) runs: the same noise", ex.high, ap.high, ex.low,
	      ap.low);
	int L = m->cfg.n_layers;
	for (int k = 0; k < TR_NKINDS; k++)
		for (int l = 0; l < L; l++)
			printf("     %s layer %d, tokens a b J: exact %.3f %.3f %.3f, atp %.3f %.3f %.3f\n", TR_KIND_NAME[k], l,
			       ex.score[k][l * n + 0], ex.score[k][l * n + 1], ex.score[k][l * n + 2], ap.score[k][l * n + 0],
			       ap.score[k][l * n + 1], ap.score[k][l * n + 2]);
	double worst = 0;
	for (int k = 0; k < TR_NKINDS; k++)
		for (int l = 0; l < L; l++)
			for (int t = 0; t < 2; t++)
				worst = fmax(worst, fabs(ap.score[k][l * n + t] - ap.low));
	CHECK_CLOSE(worst, 1e-6, "atp trace: tokens before the subject score the corrupted p");
	double ie0 = ap.score[TR_MLP][0 * n + 2] - ap.low, ie1 = ap.score[TR_MLP][1 * n + 2] - ap.low;
	CHECK(ie1 > 0.1 && ie1 > 3 * fabs(ie0), "atp trace: the MLP at 'J' matters in layer 1 (%.3f), not layer 0 (%.3f)",
	      ie1, ie0);
	tr_result_free(&ex), tr_result_free(&ap);
}

int main(void)
{
	tiny_opts o;
	tiny_defaults(&o, "llama");
	tiny_plant(&o);
	fp_model *m = NULL;
	fp_error err = {0};
	CHECK(tiny_load(&o, &m, &err) == 0, "planted model loads: %s", err.msg);
	if (m) {
		test_neurons(m);
		test_trace(m);
	}
	fp_model_free(m);
	return check_done("test_attrib");
}
