/* kernels.c - see kernels.h (compiled with -ffast-math by the Makefile). */
#include "kernels.h"

#include <math.h>

void kern_softmax(float *r, int n)
{
	float mx = r[0], sum = 0;
	for (int j = 1; j < n; j++)
		mx = r[j] > mx ? r[j] : mx;
	for (int j = 0; j < n; j++) {
		r[j] = expf(r[j] - mx);
		sum += r[j];
	}
	float inv = 1.0f / sum;
	for (int j = 0; j < n; j++)
		r[j] *= inv;
}

void kern_swiglu(float *a, const float *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
}

static inline float gelu_tanh(float x)
{
	return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

void kern_gelu_tanh(float *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		a[i] = gelu_tanh(a[i]);
}

void kern_geglu(float *a, const float *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		a[i] = gelu_tanh(a[i]) * b[i];
}

void kern_gelu_erf(float *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		a[i] = 0.5f * a[i] * (1.0f + erff(a[i] * 0.70710678118654752f));
}
