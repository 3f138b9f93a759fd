/* test_project.c - probe/project.c, a hook's vectors against a direction:
 * dot, cosine and norm of vectors worked out by hand; on the planted model
 * (neuron 1.5 reads 'J' and writes 'Q' by construction) the residual stream
 * at 'J' turns to neuron 1.5's write direction after layer 1 and not before;
 * a prompt set's running sums equal the per-position values summed. */
#include "check.h"
#include "tiny.h"
#include "../model/model.h"
#include "../probe/project.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	float x[2] = {3, 4}, v[2] = {2, 0}, z[2] = {0, 0};
	double d, c, nx;
	pj_dotcos(x, v, 2, &d, &c, &nx);
	CHECK(d == 6 && fabs(c - 0.6) < 1e-15 && nx == 5, "(3,4).(2,0): dot 6, cos 0.6, |x| 5 (%g %g %g)", d, c, nx);
	pj_dotcos(z, v, 2, &d, &c, &nx);
	CHECK(d == 0 && c == 0 && nx == 0, "a zero vector: cos 0");
	fp_model *m = NULL;
	fp_error err = {0};
	an_dir *dir = NULL;
	CHECK(tiny_load_plant(&m, &err) == 0 && an_dir_parse(m, "neuron:1.5", 0, 0, &dir, &err) == 0, "planted model: %s",
	      err.msg);
	if (!m || !dir)
		return check_done("test_project");
	int32_t ids[3] = {'a', 'b', 'J'};
	int pos[3] = {0, 1, 2}, L = m->cfg.n_layers;
	double dot[6], cs[6], nm[6];
	CHECK(pj_prompt(m, ids, 3, FP_HOOK_RESID_POST, dir, 0, L, pos, 3, dot, cs, nm, &err) == 0, "pj_prompt: %s", err.msg);
	printf("     cos with neuron 1.5's write direction at 'J': layer 0 %.3f, layer 1 %.3f\n", cs[2], cs[3 + 2]);
	CHECK(cs[3 + 2] > 0.9 && cs[2] < 0.5, "the residual at 'J' turns to the planted write direction at layer 1");
	pj_layer A[2];
	memset(A, 0, sizeof A);
	CHECK(pj_prompt_add(m, ids, 3, FP_HOOK_RESID_POST, dir, 0, L, 0, 3, A, &err) == 0, "pj_prompt_add: %s", err.msg);
	double s0 = dot[0] + dot[1] + dot[2], c1 = cs[3] + cs[4] + cs[5];
	CHECK_CLOSE(fabs(A[0].dot.s - s0) + fabs(A[1].cos.s - c1), 1e-12, "running sums = the positions' values summed");
	CHECK(A[0].dot.n == 3 && A[1].cos.n == 3, "3 positions counted per layer");
	an_dir_free(dir);
	fp_model_free(m);
	return check_done("test_project");
}
