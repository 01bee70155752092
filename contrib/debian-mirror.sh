#!/bin/bash
# Prints the host's Debian mirror: the first URI of /etc/apt/sources.list*
# that serves bookworm, in the one-line (.list) or deb822 (.sources) format.
# Used by build-libfuse.sh and kernel/ to reach trixie and sid through the
# only mirror CI can reach. Exits 1 when there is none.
set -uo pipefail

{
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '$1=="deb" { for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:/ && $(i+1)=="bookworm") { print $i; exit } }'
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -e $f ]] || continue
        awk 'BEGIN{RS=""} /\nSuites:[^\n]*[ \t]bookworm([ \t]|\n|$)/ || /^Suites:[^\n]*[ \t]bookworm([ \t]|\n|$)/ {
                 if (match($0, /URIs:[ \t]*[^ \t\n]+/)) { s=substr($0,RSTART,RLENGTH); sub(/URIs:[ \t]*/,"",s); print s; exit } }' "$f"
    done
} | awk 'NF && !f { print; f = 1 } END { exit !f }'   # the first; reads all (no SIGPIPE)
