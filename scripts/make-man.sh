#!/bin/sh
# scripts/make-man.sh FACTPROBE > factprobe.1 - the man page, generated from
# the command's own --help texts (`factprobe --help`, then each command's
# `factprobe COMMAND --help` in a section of its own), so it says what the
# help says.  The help texts are kept as preformatted blocks; roff's special
# characters are escaped.
set -eu
FP=$1
VERSION=$("$FP" --version | sed 's/^factprobe //')
esc() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }
cmds=$("$FP" --help | sed -n '/^commands:/,/^$/p' | sed -n 's/^  \([a-z-][a-z-]*\) .*/\1/p')
cat <<EOF
.TH FACTPROBE 1 "" "factprobe $VERSION" "User Commands"
.SH NAME
factprobe \\- find where and how a transformer language model stores facts
.SH SYNOPSIS
.B factprobe
.I COMMAND
[\\fIOPTIONS\\fR] [\\fIARGS\\fR]
.SH DESCRIPTION
This page is generated from the command's \\fB\\-\\-help\\fR texts.
.PP
.nf
EOF
"$FP" --help | esc
echo ".fi"
echo ".SH COMMANDS"
for c in $cmds; do
	echo ".SS $c"
	echo ".nf"
	"$FP" "$c" --help | esc
	echo ".fi"
done
cat <<'EOF'
.SH ENVIRONMENT
.TP
.B FACTPROBE_MODEL
the model used when no \fB\-m\fR is given
.TP
.B FACTPROBE_PLOTS
the directory of the gnuplot scripts used by \fBplot\fR (default: \fIPREFIX/share/factprobe/plots\fR beside the installed binary)
.SH SEE ALSO
The README of the factprobe source tree; \fBpkg-config \-\-cflags \-\-libs factprobe\fR builds programs against \fIlibfactprobe.a\fR.
EOF
