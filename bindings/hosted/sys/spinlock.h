/*
 * Hosted stand-in for <sys/spinlock.h>.  Layout follows the kernel's
 * ticket-style spinlock (two counters plus a description); the hosted
 * environment decides what the counters mean.
 */
#ifndef _SYS_SPINLOCK_H_
#define _SYS_SPINLOCK_H_

#include <sys/cdefs.h>

struct spinlock {
	int		counta;
	int		countb;
	const char	*descr;
};

#define SPINLOCK_INITIALIZER(head, d)	{ 0, 0, #d }

#define SPINLOCK_SHARED		0x80000000
#define SPINLOCK_EXCLWAIT	0x00100000

#endif /* !_SYS_SPINLOCK_H_ */
