# shellcheck shell=bash disable=SC2034  # variables are for the sourcing scripts
# Shared settings and helpers for the host-side scripts (fetch.sh, build.sh,
# vm-test.sh).  Sourced, not executed.  Every setting can be overridden from
# the environment (the Makefile exports its variables of the same name).

# Where everything downloaded or built outside the git tree goes.
CACHE=${CACHE:-/var/tmp/kbuild}
# Debian 13 kernel ABI and flavour: the module is built for, and tested on,
# linux-image-$KABI-$FLAVOUR (uname -r = $KABI-$FLAVOUR).
KABI=${KABI:-6.12.107+deb13}
FLAVOUR=${FLAVOUR:-amd64}
KREL=$KABI-$FLAVOUR
# 6.12: the linux-source-X.Y / linux-kbuild series.
KSERIES=$(echo "$KABI" | cut -d. -f1,2)
# Debian mirror and suite used through a private apt configuration, so that
# the host's own apt state (bookworm) is never touched or upgraded.
# Default: the host's own mirror (CI reaches no other).
MIRROR=${MIRROR:-$("$(dirname "${BASH_SOURCE[0]}")/../contrib/debian-mirror.sh" || echo http://deb.debian.org/debian)}
SUITE=${SUITE:-trixie}
KEYRING=${KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}

APTDIR=$CACHE/apt
DEBS=$CACHE/debs
CHROOT=$CACHE/chroot-$SUITE

# One script at a time works on $CACHE (two test runs at once would
# debootstrap into, or boot from, the same files): an exclusive lock held
# until the sourcing script exits.
# (A script run by one that holds it, vm-test.sh's fetch.sh, inherits it.)
if [ -z "${FUSE_USERNS_CACHE_LOCKED:-}" ]; then
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.lock"
    if ! flock -n 9; then
        printf '[fuse_userns] waiting for another build or test using %s\n' "$CACHE" >&2
        flock 9
    fi
    export FUSE_USERNS_CACHE_LOCKED=1
fi

log() { printf '[fuse_userns] %s\n' "$*" >&2; }
die() { printf '[fuse_userns] ERROR: %s\n' "$*" >&2; exit 1; }

# apt-get / apt-cache with the private trixie configuration.
apt_opts() {
    printf '%s\n' \
        -o "Dir::Etc::sourcelist=$APTDIR/sources.list" \
        -o "Dir::Etc::sourceparts=-" \
        -o "Dir::State::Lists=$APTDIR/lists" \
        -o "Dir::State::status=$APTDIR/status" \
        -o "Dir::Cache=$APTDIR/cache" \
        -o "APT::Sandbox::User=root" \
        -o "DPkg::Lock::Timeout=600"
}
papt_get() { local o; mapfile -t o < <(apt_opts); apt-get -q "${o[@]}" "$@"; }
papt_cache() { local o; mapfile -t o < <(apt_opts); apt-cache "${o[@]}" "$@"; }

# The cached .deb of package $1 (exactly one expected), or nothing.
deb_of() {
    local f=() g
    for g in "$DEBS/$1"_*.deb; do [ -e "$g" ] && f+=("$g"); done
    [ "${#f[@]}" -le 1 ] || die "several cached .debs for $1: ${f[*]}"
    [ "${#f[@]}" -eq 0 ] || printf '%s\n' "${f[0]}"
}

# Install a host tool from the host's own (bookworm) apt sources if missing.
need_host_tool() { # need_host_tool COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    [ "$(id -u)" = 0 ] || die "$1 is missing: install the Debian package $2"
    log "installing host package $2 (for $1)"
    apt-get -q -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$2" >&2 ||
        die "apt-get install $2 failed"
}
