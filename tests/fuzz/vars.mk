# Read by tests/fuzz/build.sh after the build directory's Makefile
# (make -f Makefile -f vars.mk ...): the daemon's compile and link flags
# and its objects, as automake made them, so that the harnesses are built
# exactly like the daemon, whatever sources and libraries configure added.
fuzz-print-cflags:
	@echo $(DEFS) $(DEFAULT_INCLUDES) $(fuse_overlayfs_CPPFLAGS) $(CPPFLAGS) $(AM_CFLAGS) $(CFLAGS)
fuzz-print-libs:
	@echo $(AM_LDFLAGS) $(LDFLAGS) $(fuse_overlayfs_LDADD) $(LIBS)
fuzz-print-objects:
	@echo $(am_fuse_overlayfs_OBJECTS)
