# shellcheck shell=sh
# check.sh: the check helpers of the VM's test scripts (busybox sh), sourced
# as /check.sh with $T set to the prefix of their output lines.
fails=0
ok()  { echo "$T: ok: $*"; }
bad() { echo "$T: FAIL: $*"; fails=$((fails + 1)); }
check() { # check DESCRIPTION COMMAND...
    d=$1; shift
    if "$@"; then ok "$d"; else bad "$d"; fi
}
