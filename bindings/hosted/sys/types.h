/*
 * Hosted stand-in for <sys/types.h>.  The fixed-width types are spelled
 * with the compiler's predefined __*_TYPE__ macros (so no libc header is
 * needed, and they agree with any <stdint.h> seen elsewhere); the BSD
 * spellings are layered on top with the x86_64 DragonFly kernel's widths.
 * The hosted tree is meant to be used with -nostdinc.
 */
#ifndef _SYS_TYPES_H_
#define _SYS_TYPES_H_

#include <sys/cdefs.h>

/* What <stddef.h> would give, so no compiler or libc header is needed. */
#ifndef _HOSTED_STDDEF_TYPES_
#define _HOSTED_STDDEF_TYPES_
typedef __SIZE_TYPE__		size_t;
typedef __PTRDIFF_TYPE__	ptrdiff_t;
#endif
#ifndef NULL
#define NULL	((void *)0)
#endif
#ifndef offsetof
#define offsetof(type, field)	__builtin_offsetof(type, field)
#endif

#ifndef _HOSTED_STDINT_TYPES_
#define _HOSTED_STDINT_TYPES_
typedef __INT8_TYPE__		int8_t;
typedef __INT16_TYPE__		int16_t;
typedef __INT32_TYPE__		int32_t;
typedef __INT64_TYPE__		int64_t;
typedef __UINT8_TYPE__		uint8_t;
typedef __UINT16_TYPE__		uint16_t;
typedef __UINT32_TYPE__		uint32_t;
typedef __UINT64_TYPE__		uint64_t;
typedef __INTPTR_TYPE__		intptr_t;
typedef __UINTPTR_TYPE__	uintptr_t;
typedef __INTMAX_TYPE__		intmax_t;
typedef __UINTMAX_TYPE__	uintmax_t;
#endif

typedef uint8_t		u_int8_t;
typedef uint16_t	u_int16_t;
typedef uint32_t	u_int32_t;
typedef uint64_t	u_int64_t;

typedef unsigned char	u_char;
typedef unsigned short	u_short;
typedef unsigned int	u_int;
typedef unsigned long	u_long;

typedef int64_t		__off_t;
typedef __off_t		off_t;
typedef int		__pid_t;
typedef __pid_t		pid_t;
typedef char		*caddr_t;
typedef u_int32_t	udev_t;
typedef udev_t		dev_t;
typedef long		ssize_t;

#endif /* !_SYS_TYPES_H_ */
