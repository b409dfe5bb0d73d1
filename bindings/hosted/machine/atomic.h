/*
 * Hosted stand-in for <machine/atomic.h>.  A kernel module (KLD_MODULE)
 * calls the atomic operations as real functions exported by the kernel
 * rather than inlining them, and that is also how the hosted environment
 * provides them.
 */
#ifndef _MACHINE_ATOMIC_H_
#define _MACHINE_ATOMIC_H_

#include <sys/types.h>

void	atomic_add_int(volatile u_int *p, u_int v);
void	atomic_subtract_int(volatile u_int *p, u_int v);
void	atomic_set_int(volatile u_int *p, u_int v);
void	atomic_clear_int(volatile u_int *p, u_int v);
void	atomic_add_long(volatile u_long *p, u_long v);
void	atomic_subtract_long(volatile u_long *p, u_long v);
int	atomic_cmpset_int(volatile u_int *dst, u_int expect, u_int src);
u_int	atomic_fetchadd_int(volatile u_int *p, u_int v);

#endif /* !_MACHINE_ATOMIC_H_ */
