/* results.c - see results.h. */
#include "results.h"
#include "h5util.h"

#include <dirent.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int res_header(hid_t f, const char *format, const res_prov *p, fp_error *err)
{
	char created[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
#define S(x) ((x) ? (x) : "")
	int w = h5u_attr_str(f, NULL, "format", format) | h5u_attr_i64(f, NULL, "format_version", RES_FORMAT_VERSION) |
		h5u_attr_str(f, NULL, "factprobe_version", S(p->factprobe_version)) |
		h5u_attr_str(f, NULL, "created", created) | h5u_attr_str(f, NULL, "command_line", S(p->command_line)) |
		h5u_attr_str(f, NULL, "model_file", S(p->model_file)) |
		h5u_attr_str(f, NULL, "model_sha256", S(p->model_sha256));
#undef S
	return w ? fp_error_set(err, FP_ERR_IO, "cannot write the %s header", format) : 0;
}

int res_check(hid_t f, const char *path, const char *format, fp_error *err)
{
	char got[64];
	double v = 1;
	h5u_attr_read_str(f, "format", got, sizeof got);
	if (strcmp(got, format))
		return fp_error_set(err, FP_ERR_FORMAT, "'%s' is not a %s result (format '%s')", path, format,
				    *got ? got : "none");
	h5u_attr_read_f64(f, "format_version", &v);
	if (v > RES_FORMAT_VERSION)
		return fp_error_set(err, FP_ERR_UNSUPPORTED, "'%s' is %s version %g; this factprobe reads up to %d", path,
				    format, v, RES_FORMAT_VERSION);
	return 0;
}

static int st_name(const struct dirent *e)
{
	size_t n = strlen(e->d_name);
	return n > 12 && !strcmp(e->d_name + n - 12, ".safetensors");
}

static int digest_file(EVP_MD_CTX *c, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	unsigned char buf[1 << 16];
	size_t n;
	int ok = 1;
	while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0)
		ok = EVP_DigestUpdate(c, buf, n);
	ok = ok && !ferror(f);
	fclose(f);
	return ok;
}

int res_sha256_file(const char *path, char hex[65])
{
	struct stat st;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned char md[32];
	unsigned len = 0;
	int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	if (ok && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* a checkpoint directory: config.json, then every *.safetensors in
		 * name order, as one stream */
		char p[PATH_MAX];
		struct dirent **names = NULL;
		snprintf(p, sizeof p, "%s/config.json", path);
		ok = digest_file(c, p);
		int n = ok ? scandir(path, &names, st_name, alphasort) : -1;
		ok = ok && n > 0;
		for (int i = 0; i < n; i++) {
			snprintf(p, sizeof p, "%s/%s", path, names[i]->d_name);
			ok = ok && digest_file(c, p);
			free(names[i]);
		}
		free(names);
	} else {
		ok = ok && digest_file(c, path);
	}
	ok = ok && EVP_DigestFinal_ex(c, md, &len);
	EVP_MD_CTX_free(c);
	for (unsigned i = 0; ok && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return ok ? 0 : -1;
}

void res_command_line(int argc, char **argv, char *buf, size_t n)
{
	size_t used = (size_t)snprintf(buf, n, "factprobe");
	for (int i = 0; i < argc && used + 2 < n; i++)
		used += (size_t)snprintf(buf + used, n - used, " %s", argv[i]);
}
