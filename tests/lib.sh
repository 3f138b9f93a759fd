# tests/lib.sh - the helpers every shell test shares; source it first:
#   . tests/lib.sh; lib_init NAME      (NAME as in the closing line)
# It sets BUILD (default build), FP (the factprobe binary), PY, and T (a
# temporary directory removed on exit), and counts checks:
#   ok DESC / bad DESC         one passed or failed check, printed
#   check DESC CMD...          CMD prints what it measured; exit 0 = passed
#   run CMD...                 runs CMD; sets RC, OUT, ERR (also in $T/out, $T/err)
#   expect_error DESC PATTERN CMD...
#                              the one rule for bad input in every script:
#                              exit 1 or 2, stderr matches PATTERN, exactly one
#                              stderr line besides 'hint:' lines, nothing on stdout
#   lib_finish                 prints "NAME: N passed, M failed" and sets the exit status
BUILD=${BUILD:-build}
FP=${FP:-$BUILD/factprobe}
PY=${PY:-/usr/bin/python3}
PASS=0
FAIL=0

lib_init() {
	LIB_NAME=$1
	T=$(mktemp -d)
	trap 'rm -rf "$T"' EXIT
}

ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }

check() {
	local d=$1 out
	shift
	out=$("$@" 2>&1) && ok "$d: $out" || bad "$d: $out"
}

run() {
	"$@" >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}

expect_error() {
	local desc=$1 pat=$2 lines
	shift 2
	run "$@"
	lines=$(grep -vc '^hint: ' "$T/err")
	if [ "$RC" -ge 1 ] && [ "$RC" -le 2 ] && grep -q -- "$pat" "$T/err" && [ "$lines" -eq 1 ] && [ ! -s "$T/out" ]; then
		ok "$desc: exit $RC, \"$(head -1 "$T/err")\""
	else
		bad "$desc: exit $RC (want 1 or 2, one error line matching '$pat', no stdout), stdout $(head -c 200 "$T/out"), stderr: $ERR"
	fi
}

lib_finish() {
	echo "$LIB_NAME: $PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
}
