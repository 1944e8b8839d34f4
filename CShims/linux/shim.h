/* Linux headers Swift's Glibc module leaves out (xattrs, device numbers). Header-only. */
#include <sys/xattr.h>
#include <sys/sysmacros.h>

static inline unsigned long long skiff_makedev(unsigned int major, unsigned int minor) { return makedev(major, minor); }
