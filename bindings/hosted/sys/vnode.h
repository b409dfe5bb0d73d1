/*
 * Hosted stand-in for <sys/vnode.h>.  HAMMER's I/O layer only passes
 * vnode pointers around (device vnodes and file vnodes), so just a few of
 * the kernel's leading fields are kept, plus one slot for the hosted
 * environment's own per-vnode state.
 */
#ifndef _SYS_VNODE_H_
#define _SYS_VNODE_H_

#include <sys/types.h>
#include <sys/spinlock.h>
#include <sys/lock.h>
#include <sys/thread.h>

struct mount;
struct bio;

struct vnode {
	struct spinlock	v_spin;
	int		v_flag;
	int		v_writecount;
	int		v_opencount;
	int		v_auxrefs;
	int		v_refcnt;
	struct mount	*v_mount;
	off_t		v_filesize;
	struct lock	v_lock;
	struct lwkt_token v_token;
	void		*v_data;	/* filesystem-private (hammer_inode) */
	void		*v_hosted;	/* hosted environment only */
};

void	vn_strategy(struct vnode *vp, struct bio *bio);
void	vput(struct vnode *vp);
void	vref(struct vnode *vp);
void	vrele(struct vnode *vp);

#endif /* !_SYS_VNODE_H_ */
