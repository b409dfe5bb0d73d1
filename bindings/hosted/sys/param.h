/*
 * Hosted stand-in for <sys/param.h>: the sleep flags and size limits
 * HAMMER's I/O layer refers to.
 */
#ifndef _SYS_PARAM_H_
#define _SYS_PARAM_H_

#include <sys/types.h>

#ifndef NULL
#define NULL	((void *)0)
#endif

/* tsleep() flag bits */
#define PCATCH		0x00000100
#define PINTERLOCKED	0x00000400

/* largest filesystem buffer the buffer cache hands out (power of two) */
#define MAXBSIZE	65536
#define MAXPHYS		(128 * 1024)
#define DEV_BSHIFT	9
#define DEV_BSIZE	(1 << DEV_BSHIFT)

#endif /* !_SYS_PARAM_H_ */
