/* The running program's own path, for re-executing it. */
#ifndef AC_UTIL_SELF_EXE_H
#define AC_UTIL_SELF_EXE_H

#include <stddef.h>

/* The path of the running program, resolved from /proc/self/exe into buf[n] and
 * returned; "/proc/self/exe" itself when the link cannot be read or does not fit.
 * Resolving first matters under valgrind: it answers the readlink with the client's
 * path, while an exec of "/proc/self/exe" would start valgrind's own tool binary. */
const char *ac__self_exe(char *buf, size_t n);

#endif
