/*
 * Hosted stand-in for <sys/lock.h>: the lockmgr lock embedded in every
 * struct buf (b_lock) and the one lockmgr entry point hammer_io.c reaches
 * through BUF_KERNPROC().
 */
#ifndef _SYS_LOCK_H_
#define _SYS_LOCK_H_

#include <sys/types.h>

struct thread;

struct lock {
	u_int		lk_flags;
	int		lk_count;	/* <0 shared holders, >0 exclusive depth */
	int		lk_timo;
	const char	*lk_wmesg;
	struct thread	*lk_lockholder;
};

/* lk_lockholder value meaning "owned by the kernel, not by a thread" */
#define LK_KERNTHREAD	((struct thread *)-2)
#define LK_NOTHREAD	((struct thread *)-1)

/* lockmgr() request types and modifiers */
#define LK_TYPE_MASK	0x0000000f
#define LK_SHARED	0x00000001
#define LK_EXCLUSIVE	0x00000002
#define LK_RELEASE	0x00000006
#define LK_NOWAIT	0x00000010
#define LK_TIMELOCK	0x02000000

int	lockmgr(struct lock *, u_int flags);
void	lockmgr_kernproc(struct lock *);
int	lockcount(struct lock *);
int	lockcountnb(struct lock *);

#endif /* !_SYS_LOCK_H_ */
