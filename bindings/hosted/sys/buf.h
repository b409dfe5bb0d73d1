/*
 * Hosted stand-in for <sys/buf.h>: the buffer-cache buffer, its flag
 * bits and the buffer-cache entry points HAMMER's I/O layer calls.  Field
 * names, types and order follow the DragonFly kernel for every field the
 * port touches; kernel fields nobody here uses (xio page lists, kva
 * bookkeeping) are left out, and b_hosted is appended for the hosted
 * buffer cache's own state.
 */
#ifndef _SYS_BUF_H_
#define _SYS_BUF_H_

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/lock.h>
#include <sys/tree.h>
#include <sys/bio.h>
#include <sys/spinlock.h>

struct buf;
struct bio;
struct mount;
struct vnode;
struct worklist;
struct bio_ops;

/* number of bio translation layers embedded in a buffer */
#define NBUF_BIO	6

/* filesystem dependency list hung off a buffer (see bio_ops) */
LIST_HEAD(workhead, worklist);

typedef enum buf_cmd {
	BUF_CMD_DONE = 0,
	BUF_CMD_READ,
	BUF_CMD_WRITE,
	BUF_CMD_FREEBLKS,
	BUF_CMD_FORMAT,
	BUF_CMD_FLUSH
} buf_cmd_t;

struct buf {
	RB_ENTRY(buf)	b_rbnode;
	RB_ENTRY(buf)	b_rbhash;
	TAILQ_ENTRY(buf) b_freelist;
	struct buf	*b_cluster_next;
	struct vnode	*b_vp;		/* owner vnode; with b_loffset the key */
	struct bio	b_bio_array[NBUF_BIO];
	u_int32_t	b_flags;	/* B_* */
	unsigned int	b_qindex;
	unsigned int	b_qcpu;
	unsigned char	b_act_count;	/* LRU activity heuristic */
	unsigned char	b_unused01;
	struct lock	b_lock;
	void		*b_iosched;
	buf_cmd_t	b_cmd;
	int		b_bufsize;
	int		b_runningbufspace;
	int		b_bcount;
	int		b_resid;
	int		b_error;
	caddr_t		b_data;
	caddr_t		b_kvabase;
	int		b_kvasize;
	int		b_dirtyoff;
	int		b_dirtyend;
	int		b_refs;
	struct bio_ops	*b_ops;		/* callbacks for b_dep */
	struct workhead	b_dep;
	void		*b_hosted;	/* hosted environment only */
};

#define b_bio1		b_bio_array[0]	/* logical (vnode) layer */
#define b_bio2		b_bio_array[1]	/* first translated layer */
#define b_loffset	b_bio1.bio_offset

/* getblk()/findblk() flags */
#define GETBLK_PCATCH	0x0001
#define GETBLK_BHEAVY	0x0002
#define GETBLK_SZMATCH	0x0004
#define GETBLK_NOWAIT	0x0008
#define FINDBLK_TEST	0x0010	/* just look, do not lock */
#define FINDBLK_NBLOCK	0x0020	/* fail instead of blocking on the lock */
#define FINDBLK_REF	0x0040	/* hold a b_refs reference */

/* b_flags */
#define B_AGE		0x00000001
#define B_NEEDCOMMIT	0x00000002
#define B_NOTMETA	0x00000004
#define B_DIRECT	0x00000008
#define B_DEFERRED	0x00000010
#define B_CACHE		0x00000020
#define B_HASHED	0x00000040
#define B_DELWRI	0x00000080
#define B_BNOCLIP	0x00000100
#define B_HASBOGUS	0x00000200
#define B_EINTR		0x00000400
#define B_ERROR		0x00000800
#define B_IODEBUG	0x00001000
#define B_INVAL		0x00002000
#define B_LOCKED	0x00004000
#define B_NOCACHE	0x00008000
#define B_MALLOC	0x00010000
#define B_CLUSTEROK	0x00020000
#define B_MARKER	0x00040000
#define B_RAW		0x00080000
#define B_HEAVY		0x00100000
#define B_DIRTY		0x00200000
#define B_RELBUF	0x00400000
#define B_UNUSED23	0x00800000
#define B_VNCLEAN	0x01000000
#define B_VNDIRTY	0x02000000
#define B_PAGING	0x04000000
#define B_ORDERED	0x08000000
#define B_RAM		0x10000000
#define B_VMIO		0x20000000
#define B_CLUSTER	0x40000000
#define B_VFSFLAG1	0x80000000

#define NOOFFSET	(-1LL)		/* "no translation cached yet" */

void	waitrunningbufspace(void);
void	bremfree(struct buf *);
int	breadx(struct vnode *, off_t, int, struct buf **);
int	breadnx(struct vnode *, off_t, int, off_t *, int *, int,
	    struct buf **);
void	breadcb(struct vnode *, off_t, int, void (*)(struct bio *), void *);
int	bwrite(struct buf *);
void	bdwrite(struct buf *);
void	bawrite(struct buf *);
void	bdirty(struct buf *);
void	bundirty(struct buf *);
void	brelse(struct buf *);
void	bqrelse(struct buf *);
int	cluster_awrite(struct buf *);
struct buf *getpbuf(int *);
struct buf *findblk(struct vnode *, off_t, int);
struct buf *getblk(struct vnode *, off_t, int, int, int);
void	regetblk(struct buf *bp);
struct bio *push_bio(struct bio *);
struct bio *pop_bio(struct bio *);
int	biowait(struct bio *, const char *);
void	bpdone(struct buf *, int);
void	biodone(struct bio *);
void	biodone_sync(struct bio *);
int	cluster_readx(struct vnode *, off_t, off_t, int, size_t, size_t,
	    struct buf **);
void	vfs_bio_clrbuf(struct buf *);
void	relpbuf(struct buf *, int *);

#endif /* !_SYS_BUF_H_ */
