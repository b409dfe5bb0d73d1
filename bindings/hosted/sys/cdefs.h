/*
 * Hosted stand-in for <sys/cdefs.h>: only the compiler-attribute helpers
 * that the rest of the hosted headers (and hammer_io.c) spell out.
 */
#ifndef _SYS_CDEFS_H_
#define _SYS_CDEFS_H_

/*
 * Everything under bindings/hosted models the kernel side of DragonFly,
 * so headers that distinguish kernel from userland code (sys/tree.h's
 * scan locking, for one) take their kernel branch.
 */
#ifndef _KERNEL
#define _KERNEL	1
#endif

/*
 * The kernel is built with -Wno-pointer-sign (its callers pass int/long
 * counters to the u_int/u_long atomic ops); keep that in force for code
 * compiled against these headers with only -Wall.
 */
#pragma GCC diagnostic ignored "-Wpointer-sign"

/*
 * bzero()/bcopy() are declared with the kernel's volatile-qualified
 * prototypes.  A hosted clang (without -ffreestanding) knows libc
 * versions of them and would flag the difference.
 */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wincompatible-library-redeclaration"
#endif

#define __inline		inline
#define __dead2			__attribute__((__noreturn__))
#define __unused		__attribute__((__unused__))
#define __packed		__attribute__((__packed__))
#define __nonnull(x)		__attribute__((__nonnull__(x)))
#define __printflike(f, a)	__attribute__((__format__(__printf__, f, a)))
#define __predict_true(e)	__builtin_expect(!!(e), 1)
#define __predict_false(e)	__builtin_expect(!!(e), 0)

#endif /* !_SYS_CDEFS_H_ */
