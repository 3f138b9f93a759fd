#!/usr/bin/env bash
# tests/test_install.sh - `make install PREFIX=<temporary directory>`, then the
# installed command run from another directory (predict, and plot with the
# installed gnuplot scripts, not the source tree's), the man page, and the
# README's example program built against the installed library through
# pkg-config: its values of one hook must equal tests/dump_acts' in-memory
# pass bit for bit.  Prints "test_install: N passed, M failed".  Env: BUILD.
set -u
. "$(dirname "$0")/lib.sh"
lib_init test_install
P="$T/prefix"
SRC=$(pwd)

run make --no-print-directory install BUILD="$BUILD" PREFIX="$P"
[ "$RC" -eq 0 ] && ok "make install PREFIX=\$T/prefix: $(tail -1 "$T/out")" || bad "make install: exit $RC, $ERR $OUT"
missing=""
for f in bin/factprobe lib/libfactprobe.a lib/pkgconfig/factprobe.pc include/factprobe/model/model.h \
	include/factprobe/model/fp_error.h include/factprobe/probe/analysis.h share/factprobe/plots/style.gp \
	share/factprobe/plots/trace.gp share/man/man1/factprobe.1; do
	[ -s "$P/$f" ] || missing="$missing $f"
done
[ -z "$missing" ] && ok "installed: binary, libfactprobe.a, headers, pkg-config file, gnuplot scripts, man page" || bad "not installed:$missing"
[ ! -e "$P/include/factprobe/probe/cli.h" ] && ok "the command layer's cli.h is not installed as library API" || bad "cli.h installed"

# the installed binary, from another directory, without FACTPROBE_PLOTS
"$BUILD/tests/make_tiny" "$T" >/dev/null
M="$T/tiny-llama-plant.gguf"
mkdir -p "$T/elsewhere"
cd "$T/elsewhere" || exit 1
IFP="$P/bin/factprobe"
run env -u FACTPROBE_PLOTS "$IFP" predict -m "$M" -k 3 --tsv "the abJ"
"$SRC/$BUILD/factprobe" predict -m "$M" -k 3 --tsv "the abJ" >"$T/want" 2>/dev/null
[ "$RC" -eq 0 ] && cmp -s "$T/out" "$T/want" && ok "installed predict, run from another directory: the build tree's output ($(sed -n 2p "$T/out" | tr '\t' ' '))" \
	|| bad "installed predict: exit $RC, $ERR"
"$IFP" trace -m "$M" "the abJ" --subject J --target Q --noise 20 --samples 2 -o trace.h5 >/dev/null 2>&1
run env -u FACTPROBE_PLOTS "$IFP" plot trace trace.h5 -o fig.png
[ "$RC" -eq 0 ] && [ "$(head -c 4 fig.png | od -An -tx1 | tr -d ' \n')" = "89504e47" ] && [ -s fig.tsv ] \
	&& [ -z "$(grep -v '^wrote ' "$T/out")" ] && [ ! -s "$T/err" ] \
	&& ok "installed plot, run from another directory: fig.png ($(stat -c %s fig.png) bytes) and fig.tsv, no gnuplot messages" \
	|| bad "installed plot: exit $RC, $ERR"
# it reads the installed scripts: without them it fails naming that place
mv "$P/share/factprobe/plots" "$T/plots-aside"
expect_error "installed plot without its scripts" "cannot find the gnuplot scripts in '$P/bin/../share/factprobe/plots'" \
	env -u FACTPROBE_PLOTS "$IFP" plot trace trace.h5 -o fig2.png
run env FACTPROBE_PLOTS="$T/plots-aside" "$IFP" plot trace trace.h5 -o fig3.png
[ "$RC" -eq 0 ] && [ -s fig3.png ] && ok "FACTPROBE_PLOTS still chooses the scripts" || bad "FACTPROBE_PLOTS: exit $RC, $ERR"
mv "$T/plots-aside" "$P/share/factprobe/plots"
# and a copy of the whole prefix elsewhere works too (nothing compiled-in)
cp -r "$P" "$T/moved"
run env -u FACTPROBE_PLOTS "$T/moved/bin/factprobe" plot trace trace.h5 -o fig4.pdf
[ "$RC" -eq 0 ] && [ -s fig4.pdf ] && ok "the installed tree moved elsewhere still finds its scripts" || bad "moved prefix: exit $RC, $ERR"

# the man page: every command's section, and man renders it without warnings
n_cmd=$("$IFP" --help | sed -n '/^commands:/,/^$/p' | grep -c '^  [a-z]')
n_ss=$(grep -c '^\.SS ' "$P/share/man/man1/factprobe.1")
warn=$(groff -man -ww -z "$P/share/man/man1/factprobe.1" 2>&1)
[ "$n_ss" -eq "$n_cmd" ] && [ -z "$warn" ] && MANWIDTH=80 man -l "$P/share/man/man1/factprobe.1" 2>/dev/null | grep -q "usage: factprobe trace" \
	&& ok "man page: $n_ss command sections for $n_cmd commands, groff -ww prints nothing, man shows the help texts" \
	|| bad "man page: $n_ss sections for $n_cmd commands; $warn"
cd "$SRC" || exit 1

# the README's example, built against the installed library with pkg-config
sed -n '/^<!-- example: examples\/record_hook.c -->$/,/^```$/p' README.md | sed '1,2d;$d' >"$T/readme.c"
[ -s "$T/readme.c" ] && cmp -s "$T/readme.c" examples/record_hook.c \
	&& ok "the README's example is examples/record_hook.c verbatim ($(wc -l <"$T/readme.c") lines)" \
	|| bad "the README's example and examples/record_hook.c differ: $(diff "$T/readme.c" examples/record_hook.c | head -5)"
extra=""
nm "$P/lib/libfactprobe.a" 2>/dev/null | grep -q __asan && extra="-fsanitize=address,undefined"
flags=$(PKG_CONFIG_PATH="$P/lib/pkgconfig" pkg-config --cflags --libs factprobe 2>&1)
run ${CC:-cc} -std=c11 -Wall -Wextra -Werror $extra "$T/readme.c" $flags -o "$T/record_hook"
[ "$RC" -eq 0 ] && ok "the example compiles with -Wall -Wextra -Werror against the installed library: cc record_hook.c \$(pkg-config --cflags --libs factprobe)" \
	|| bad "the example does not build: $ERR"
run "$T/record_hook" "$M" blocks.1.mlp.hook_post "the abJ"
printf 'the abJ\n' >"$T/p.txt"
"$BUILD/tests/dump_acts" "$M" "$T/p.txt" blocks.1.mlp.hook_post "$T/ref.f32"
check "the example's blocks.1.mlp.hook_post at the last token equals an in-memory pass (tests/dump_acts)" $PY -c '
import sys, numpy as np
line = open(sys.argv[1]).read().strip()
got = np.array([float(x) for x in line.rsplit(":", 1)[1].split()], dtype=np.float32)
ref = np.fromfile(sys.argv[2], dtype=np.float32); ref = ref.reshape(-1, got.size)[-1]
d = float(np.max(np.abs(got - ref)))
print("%s; %d values, max |diff| %.3g (tolerance 0: %%.9g round-trips f32)" % (line.split(";")[0], got.size, d))
sys.exit(0 if d == 0 and got.size == ref.size else 1)' "$T/out" "$T/ref.f32"

lib_finish
