#!/bin/bash
# shellcheck disable=SC2016  # the $(...) in the edits are Makefile text
# rename.sh FUSE_DIR
#
# Turn a pristine copy of the kernel's fs/fuse (Debian 13, Linux 6.12) into
# the sources of an out-of-tree module "fuse_userns" that can be loaded
# beside the built-in fuse (CONFIG_FUSE_FS=y).  Renaming only: no functional
# change.  Every edit names its file and how many times the text must occur
# there; any difference aborts, so a changed upstream source fails loudly
# instead of producing a half-renamed module.
#
# Edits replace text in place (removed lines become comments), so line
# numbers stay those of the pristine source.
set -euo pipefail

dir=${1:?usage: rename.sh FUSE_DIR}
cd "$dir"
die() { printf 'rename.sh: ERROR: %s\n' "$*" >&2; exit 1; }
if [ ! -f fuse_i.h ] || [ ! -f inode.c ] || [ ! -f dev.c ]; then die "$dir is not fs/fuse"; fi
[ ! -e .fuse_userns-renamed ] || die "$dir was already renamed (start from a pristine copy)"

# sub FILE COUNT OLD NEW: replace the literal text OLD by NEW in FILE; OLD
# must occur exactly COUNT times (counted as occurrences, not lines).
sub() {
    local file=$1 count=$2 old=$3 new=$4 n
    [ -f "$file" ] || die "$file: missing"
    n=$({ grep -oF -- "$old" "$file" || true; } | wc -l)
    [ "$n" -eq "$count" ] || die "$file: expected $count x '$old', found $n"
    OLD=$old NEW=$new perl -pi -e 's/\Q$ENV{OLD}\E/$ENV{NEW}/g' "$file"
    printf '  %-14s %s x  %s  ->  %s\n' "$file" "$count" "$old" "$new"
}

echo "rename.sh: renaming fs/fuse in $dir to fuse_userns"

# --- Kbuild: one module fuse_userns.ko made of fuse.ko's objects -------------
# fuse-y / fuse-$(CONFIG_...) lists are kept as they are upstream, so the
# objects selected by the Debian config (.config of the headers: FUSE_DAX=y
# -> dax.o, FUSE_PASSTHROUGH=y -> passthrough.o) are built.  cuse.ko and
# virtiofs.ko are separate modules and are not built.
sub Makefile 1 'obj-$(CONFIG_FUSE_FS) += fuse.o'    'obj-m += fuse_userns.o'
sub Makefile 1 'obj-$(CONFIG_CUSE) += cuse.o'       '# fuse_userns: cuse.ko not built'
sub Makefile 1 'obj-$(CONFIG_VIRTIO_FS) += virtiofs.o' '# fuse_userns: virtiofs.ko not built'
sub Makefile 1 'virtiofs-y := virtio_fs.o'          '# fuse_userns: (virtiofs-y dropped)'
sub Makefile 2 'fuse-y '                            'fuse_userns-y '
sub Makefile 2 'fuse-$('                            'fuse_userns-$('
rm -f cuse.c virtio_fs.c   # not part of fuse.ko; removed so no check below sees them

# --- log prefix ---------------------------------------------------------------
sub fuse_i.h 1 '# define pr_fmt(fmt) "fuse: " fmt' '# define pr_fmt(fmt) "fuse_userns: " fmt'

# --- filesystem types: fuse, fuseblk, fusectl ---------------------------------
# MODULE_ALIAS_FS() would make "mount -t fuse" try to load this module.
sub inode.c 1 '= "fuse",'                    '= "fuse_userns",'
sub inode.c 1 'MODULE_ALIAS_FS("fuse");'     '/* fuse_userns: MODULE_ALIAS_FS dropped */'
sub inode.c 1 '= "fuseblk",'                 '= "fuse_usernsblk",'
sub inode.c 1 'MODULE_ALIAS_FS("fuseblk");'  '/* fuse_userns: MODULE_ALIAS_FS dropped */'
sub control.c 1 '= "fusectl",'               '= "fuse_usernsctl",'
sub control.c 1 'MODULE_ALIAS_FS("fusectl");' '/* fuse_userns: MODULE_ALIAS_FS dropped */'
# bdi name suffix of fuseblk mounts ("MAJ:MIN-fuseblk" in /sys/class/bdi).
sub inode.c 1 'suffix = "-fuseblk";'         'suffix = "-fuse_usernsblk";'

# --- sysfs: /sys/fs/fuse (+ connections/, fusectl's mount point) --------------
sub inode.c 1 'kobject_create_and_add("fuse", fs_kobj)' 'kobject_create_and_add("fuse_userns", fs_kobj)'

# --- slab caches ----------------------------------------------------------------
sub inode.c 1 'kmem_cache_create("fuse_inode",'  'kmem_cache_create("fuse_userns_inode",'
sub dev.c   1 'kmem_cache_create("fuse_request",' 'kmem_cache_create("fuse_userns_request",'

# --- misc device: /dev/fuse (10:229) -> /dev/fuse_userns (10:dynamic) ------
sub dev.c 1 'MODULE_ALIAS_MISCDEV(FUSE_MINOR);' '/* fuse_userns: MODULE_ALIAS_MISCDEV dropped */'
sub dev.c 1 'MODULE_ALIAS("devname:fuse");'     '/* fuse_userns: MODULE_ALIAS devname dropped */'
sub dev.c 1 '.minor = FUSE_MINOR,'              '.minor = MISC_DYNAMIC_MINOR,'
sub dev.c 1 '= "fuse",'                         '= "fuse_userns",'

# --- trace events: events/fuse/* -> events/fuse_userns/* -----------------------
sub fuse_trace.h 1 '#define TRACE_SYSTEM fuse' '#define TRACE_SYSTEM fuse_userns'

# --- exported symbols ---------------------------------------------------------
# fuse.ko exports symbols for virtiofs/cuse.  The built-in fuse already
# exports the same names from vmlinux (modpost and the module loader reject
# duplicates), and nothing uses ours: drop every EXPORT_SYMBOL*().
n=$(cat ./*.c | grep -cE '^EXPORT_SYMBOL(_GPL)?\([A-Za-z0-9_]+\);$' || true)
[ "$n" -gt 0 ] || die "no EXPORT_SYMBOL found: source layout changed?"
perl -pi -e 's{^EXPORT_SYMBOL(?:_GPL)?\((\w+)\);$}{/* fuse_userns: export of $1 dropped */}' ./*.c
echo "  *.c            $n x  EXPORT_SYMBOL*(name);  ->  /* fuse_userns: export of name dropped */"

# --- final checks: nothing of the old names is left ---------------------------
left=$(grep -nE 'EXPORT_SYMBOL[A-Z_]*\(|MODULE_ALIAS[A-Z_]*\(|FUSE_MINOR|"fuse"|"fuseblk"|"fusectl"|"fuse_(inode|request)"|TRACE_SYSTEM fuse$' \
       ./*.c ./*.h || true)
[ -z "$left" ] || die "left over after renaming:
$left"
if ! grep -q '^obj-m += fuse_userns.o$' Makefile ||
   grep -v '^#' Makefile | grep -qE '\bfuse\.o|cuse|virtio'; then
    die "Makefile not as expected after renaming"
fi

touch .fuse_userns-renamed
echo "rename.sh: done"
