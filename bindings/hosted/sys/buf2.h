/*
 * Hosted stand-in for <sys/buf2.h>: small inline helpers over struct buf
 * that the kernel provides in header form.  Their bodies here are written
 * for this project and do what the kernel's do.
 */
#ifndef _SYS_BUF2_H_
#define _SYS_BUF2_H_

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/lock.h>
#include <sys/buf.h>
#include <sys/mount.h>
#include <sys/systm.h>
#include <vm/vm_page.h>

/* Hand the buffer lock over to the kernel so any thread may release it. */
static __inline void
BUF_KERNPROC(struct buf *bp)
{
	lockmgr_kernproc(&bp->b_lock);
}

static __inline int
BUF_REFCNT(struct buf *bp)
{
	return (lockcount(&bp->b_lock));
}

/* Bump the LRU activity count, saturating at ACT_MAX. */
static __inline void
buf_act_advance(struct buf *bp)
{
	if (bp->b_act_count <= ACT_MAX - ACT_ADVANCE)
		bp->b_act_count += ACT_ADVANCE;
	else
		bp->b_act_count = ACT_MAX;
}

static __inline void
buf_act_decline(struct buf *bp)
{
	if (bp->b_act_count >= ACT_DECLINE)
		bp->b_act_count -= ACT_DECLINE;
	else
		bp->b_act_count = 0;
}

/* Detach every filesystem dependency and the callback table. */
static __inline void
buf_dep_init(struct buf *bp)
{
	bp->b_ops = NULL;
	LIST_INIT(&bp->b_dep);
}

/* The buffer-cache side of the bio_ops callbacks: no table, no call. */
static __inline void
buf_deallocate(struct buf *bp)
{
	KKASSERT(!LIST_EMPTY(&bp->b_dep));
	if (bp->b_ops != NULL)
		bp->b_ops->io_deallocate(bp);
}

static __inline int
buf_countdeps(struct buf *bp, int n)
{
	return (bp->b_ops != NULL ? bp->b_ops->io_countdeps(bp, n) : 0);
}

static __inline void
buf_start(struct buf *bp)
{
	if (bp->b_ops != NULL)
		bp->b_ops->io_start(bp);
}

static __inline void
buf_complete(struct buf *bp)
{
	if (bp->b_ops != NULL)
		bp->b_ops->io_complete(bp);
}

static __inline void
buf_movedeps(struct buf *bp1, struct buf *bp2)
{
	if (bp1->b_ops != NULL)
		bp1->b_ops->io_movedeps(bp1, bp2);
}

static __inline int
buf_checkread(struct buf *bp)
{
	return (bp->b_ops != NULL ? bp->b_ops->io_checkread(bp) : 0);
}

static __inline int
buf_checkwrite(struct buf *bp)
{
	return (bp->b_ops != NULL ? bp->b_ops->io_checkwrite(bp) : 0);
}

/* Finish a bio layer by completing the layer above it, or the buffer. */
static __inline void
biodone_chain(struct bio *bio)
{
	if (bio->bio_prev != NULL)
		biodone(bio->bio_prev);
	else
		bpdone(bio->bio_buf, 1);
}

/* Plain read: breadnx() with no read-ahead. */
static __inline int
bread(struct vnode *vp, off_t loffset, int size, struct buf **bpp)
{
	*bpp = NULL;
	return (breadnx(vp, loffset, size, NULL, NULL, 0, bpp));
}

static __inline int
breadn(struct vnode *vp, off_t loffset, int size, off_t *raoffset,
       int *rabsize, int cnt, struct buf **bpp)
{
	*bpp = NULL;
	return (breadnx(vp, loffset, size, raoffset, rabsize, cnt, bpp));
}

/* Clustered read: cluster_readx() with *bpp cleared first. */
static __inline int
cluster_read(struct vnode *vp, off_t filesize, off_t loffset, int blksize,
	     size_t minreq, size_t maxreq, struct buf **bpp)
{
	*bpp = NULL;
	return (cluster_readx(vp, filesize, loffset, blksize, minreq, maxreq,
			      bpp));
}

#endif /* !_SYS_BUF2_H_ */
