#!/bin/sh
# Installs the Debian packages factprobe needs: through apt-get when run as
# root, otherwise prints one message naming the missing ones and fails.
set -eu
# --fuzz: also clang and libFuzzer (make fuzz); --valgrind: valgrind (make valgrind)
PKGS="build-essential pkg-config libopenblas-dev libhdf5-dev hdf5-tools libpcre2-dev libjansson-dev libicu-dev libssl-dev gnuplot-nox python3 python3-pip python3-h5py python3-numpy unzip time libopenmpi-dev openmpi-bin"
for a in "$@"; do
	case $a in
	--fuzz) PKGS="$PKGS clang libclang-rt-14-dev" ;;
	--valgrind) PKGS="$PKGS valgrind" ;;
	*) echo "setup-deps: unknown option '$a' (--fuzz, --valgrind)" >&2; exit 2 ;;
	esac
done
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
	echo "setup: installing Debian packages:$missing" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
else
	echo "setup: missing Debian packages:$missing" >&2
	echo "hint: run 'sudo apt-get install$missing' (or run make as root)" >&2
	exit 1
fi
