/* kernels.h - the elementwise loops of the forward pass (softmax, MLP
 * activations).  They live in their own file because it is compiled with
 * -ffast-math, which lets GCC call glibc's vectorised expf/tanhf (libmvec);
 * the rest of the library keeps strict IEEE semantics.  The oracle tests
 * bound the difference this makes. */
#ifndef KERNELS_H
#define KERNELS_H

#include <stddef.h>

/* r[0..n) = softmax(r[0..n)), in place */
void kern_softmax(float *r, int n);
/* a[i] = silu(a[i]) * b[i] */
void kern_swiglu(float *a, const float *b, size_t n);
/* a[i] = gelu_tanh(a[i]) * b[i] (gemma's gated MLP) */
void kern_geglu(float *a, const float *b, size_t n);
/* a[i] = gelu_tanh(a[i]) */
void kern_gelu_tanh(float *a, size_t n);
/* a[i] = x Phi(x) with the exact erf (gptneox / Pythia) */
void kern_gelu_erf(float *a, size_t n);

#endif
