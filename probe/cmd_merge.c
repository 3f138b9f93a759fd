/* cmd_merge.c - `factprobe merge`: the shards of a recording joined into one
 * master file of HDF5 virtual datasets (h5out.h). */
#include "cli.h"
#include "h5out.h"

#include <getopt.h>
#include <string.h>
#include <sys/stat.h>

static const char HELP[] =
	"usage: factprobe merge [--force] OUT.h5 SHARD.h5...\n\n"
	"Joins the shards of one recording ('factprobe record --shard I/N', or the\n"
	"ranks of an MPI run) into OUT.h5, a recording of the same layout whose\n"
	"datasets are HDF5 virtual datasets over the shards: h5py and every --from\n"
	"command read one dataset per hook with all rows in prompt order.  Nothing\n"
	"is copied but the row and prompt offsets, so OUT.h5 is small and needs its\n"
	"shards: keep them next to it (shards in OUT.h5's directory are found\n"
	"relative to it, so the directory can move as a whole).\n\n"
	"The shards must belong together: all complete, the same model (sha256),\n"
	"hooks and layers, dtype, positions, packing and prompt file (sha256), and\n"
	"their prompt ranges must cover the set exactly once.  Anything else is\n"
	"refused with one line naming the files.\n\n"
	"      --force           overwrite OUT.h5\n"
	"  -h, --help            this help\n";

int cmd_merge(int argc, char **argv)
{
	static const struct option opts[] = {{"force", no_argument, 0, 'F'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	int force = 0, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'F': force = 1; break;
		case 'h': fputs(HELP, stdout); return 0;
		default: return cli_bad_option("merge", c, argv);
		}
	}
	if (argc - optind < 2)
		return cli_usage_error("merge", "needs OUT.h5 and at least one SHARD.h5");
	const char *out = argv[optind];
	struct stat st;
	if (!force && stat(out, &st) == 0) {
		cli_error("merge", "'%s' already exists", out);
		cli_hint("--force overwrites it");
		return 1;
	}
	for (int i = optind + 1; i < argc; i++)
		if (!strcmp(argv[i], out))
			return cli_usage_error("merge", "'%s' is both the output and a shard", out);
	fp_error err = {0};
	if (h5rec_merge(out, argv + optind + 1, argc - optind - 1, cli_command_line(), &err))
		return cli_error("merge", "%s", err.msg);
	return 0;
}
