/*
 * Hosted stand-in for <sys/mount.h>: the bio_ops dependency-callback
 * table a filesystem hangs on its buffers (b_ops), and an opaque mount.
 */
#ifndef _SYS_MOUNT_H_
#define _SYS_MOUNT_H_

#include <sys/types.h>
#include <sys/queue.h>

struct buf;
struct vnode;
struct mount;

struct bio_ops {
	TAILQ_ENTRY(bio_ops) entry;
	void	(*io_start)(struct buf *);
	void	(*io_complete)(struct buf *);
	void	(*io_deallocate)(struct buf *);
	int	(*io_fsync)(struct vnode *);
	int	(*io_sync)(struct mount *);
	void	(*io_movedeps)(struct buf *, struct buf *);
	int	(*io_countdeps)(struct buf *, int);
	int	(*io_checkread)(struct buf *);
	int	(*io_checkwrite)(struct buf *);
};

#endif /* !_SYS_MOUNT_H_ */
