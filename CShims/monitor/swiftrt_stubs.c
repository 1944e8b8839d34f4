/* SwiftPM links every executable through swiftc, which adds swiftrt.o (a constructor registering
 * the image with the Swift runtime). The monitor is pure C and statically linked without the
 * Swift runtime (to stay under 1 MiB RSS), so these two hooks are satisfied with no-ops. */
void swift_addNewDSOImage(const void *image) { (void)image; }
int _swift_backtrace_isThunkFunction(const char *name) { (void)name; return 0; }
