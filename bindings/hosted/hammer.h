/*
 * Hosted HAMMER in-memory structures: the part of the kernel's hammer.h
 * that the I/O layer (hammer_io.c, and its Rust port) and the hosted
 * HAMMER neighbours use.  Every structure keeps the kernel's field names,
 * types and order for the fields it carries; members of kernel types the
 * hosted environment does not model (lockf, netexport, the inode data
 * caches, ...) are left out, so sizes differ from the kernel's while the
 * fields the port touches keep the same names and C types.
 */
#ifndef _HAMMER_H_
#define _HAMMER_H_

#include <sys/param.h>
#include <sys/types.h>
#include <sys/systm.h>
#include <sys/errno.h>
#include <sys/queue.h>
#include <sys/tree.h>
#include <sys/thread.h>
#include <sys/lock.h>
#include <sys/mount.h>
#include <sys/resourcevar.h>
#include <sys/vnode.h>
#include <sys/bio.h>
#include <sys/buf.h>
#include <machine/atomic.h>

#include <sys/buf2.h>

#include "hammer_disk.h"
#include <sys/uuid.h>

struct hammer_mount;
struct hammer_inode;
struct hammer_volume;
struct hammer_buffer;
struct hammer_node;
struct hammer_record;
struct hammer_reserve;
struct hammer_undo;
struct hammer_cursor;
struct hammer_flush_group;
struct hammer_io;
struct malloc_type;

/*
 * Key for looking inodes up by (obj_id, asof, localization); the union
 * lets a scan carry a B-Tree leaf along.
 */
typedef struct hammer_inode_info {
	int64_t		obj_id;
	hammer_tid_t	obj_asof;
	u_int32_t	obj_localization;
	union {
		struct hammer_btree_leaf_elm *leaf;
	} u;
} *hammer_inode_info_t;

typedef enum hammer_transaction_type {
	HAMMER_TRANS_RO,
	HAMMER_TRANS_STD,
	HAMMER_TRANS_FLS
} hammer_transaction_type_t;

struct hammer_transaction {
	hammer_transaction_type_t type;
	struct hammer_mount *hmp;
	hammer_tid_t	tid;
	u_int64_t	time;
	u_int32_t	time32;
	int		sync_lock_refs;	/* >0 while the sync lock is shared */
	int		flags;
	struct hammer_volume *rootvol;
};

typedef struct hammer_transaction *hammer_transaction_t;

#define HAMMER_TRANSF_NEWINODE	0x0001
#define HAMMER_TRANSF_DIDIO	0x0002
#define HAMMER_TRANSF_CRCDOM	0x0004

/*
 * HAMMER's own lock: a reference count whose high bits double as
 * transition flags, plus an exclusive/shared lock word and owners.
 */
struct hammer_lock {
	volatile u_int	refs;
	volatile u_int	lockval;
	struct thread	*lowner;
	struct thread	*rowner;
};

#define HAMMER_REFS_LOCKED	0x40000000
#define HAMMER_REFS_WANTED	0x20000000
#define HAMMER_REFS_CHECK	0x10000000

#define HAMMER_REFS_FLAGS	(HAMMER_REFS_LOCKED | HAMMER_REFS_WANTED | \
				 HAMMER_REFS_CHECK)

#define HAMMER_LOCKF_EXCLUSIVE	0x40000000
#define HAMMER_LOCKF_WANTED	0x20000000

static __inline int
hammer_notlocked(struct hammer_lock *lock)
{
	return (lock->lockval == 0);
}

static __inline int
hammer_islocked(struct hammer_lock *lock)
{
	return (lock->lockval != 0);
}

/* Active references, i.e. the count with the transition flags masked. */
static __inline int
hammer_isactive(struct hammer_lock *lock)
{
	return (lock->refs & ~HAMMER_REFS_FLAGS);
}

static __inline int
hammer_oneref(struct hammer_lock *lock)
{
	return ((lock->refs & ~HAMMER_REFS_FLAGS) == 1);
}

static __inline int
hammer_norefs(struct hammer_lock *lock)
{
	return ((lock->refs & ~HAMMER_REFS_FLAGS) == 0);
}

static __inline int
hammer_norefsorlock(struct hammer_lock *lock)
{
	return (lock->refs == 0);
}

static __inline int
hammer_refsorlock(struct hammer_lock *lock)
{
	return (lock->refs != 0);
}

typedef enum hammer_inode_state {
	HAMMER_FST_IDLE,
	HAMMER_FST_SETUP,
	HAMMER_FST_FLUSH
} hammer_inode_state_t;

TAILQ_HEAD(hammer_record_list, hammer_record);
TAILQ_HEAD(hammer_node_list, hammer_node);

/* Types the hosted model only points at. */
struct hammer_pseudofs_inmem;
typedef struct hammer_pseudofs_inmem *hammer_pseudofs_inmem_t;
struct hammer_objid_cache;
typedef struct hammer_objid_cache *hammer_objid_cache_t;
struct hammer_dedup_cache;
typedef struct hammer_dedup_cache *hammer_dedup_cache_t;
struct hammer_flusher_info;

/* Caches a B-Tree node as the starting point of an inode's searches. */
typedef struct hammer_node_cache {
	TAILQ_ENTRY(hammer_node_cache)	entry;
	struct hammer_node		*node;
	struct hammer_inode		*ip;
} *hammer_node_cache_t;

TAILQ_HEAD(hammer_node_cache_list, hammer_node_cache);

struct hammer_flush_group;
typedef struct hammer_flush_group *hammer_flush_group_t;
TAILQ_HEAD(hammer_flush_group_list, hammer_flush_group);

RB_HEAD(hammer_rec_rb_tree, hammer_record);

/*
 * In-memory inode.  The hosted model leaves out the kernel's advisory
 * lock state and its two copies of the on-media inode data.
 */
struct hammer_inode {
	RB_ENTRY(hammer_inode)	rb_node;
	hammer_inode_state_t	flush_state;
	hammer_flush_group_t	flush_group;
	RB_ENTRY(hammer_inode)	rb_flsnode;
	RB_ENTRY(hammer_inode)	rb_redonode;
	struct hammer_record_list target_list;
	int64_t			obj_id;
	hammer_tid_t		obj_asof;
	u_int32_t		obj_localization;
	struct hammer_mount	*hmp;
	hammer_objid_cache_t	objid_cache;
	int			flags;
	int			error;
	int			cursor_ip_refs;
	int			cursor_exclreq_count;
	int			rsv_recs;
	struct vnode		*vp;
	hammer_pseudofs_inmem_t	pfsm;
	struct hammer_lock	lock;
	off_t			trunc_off;
	struct hammer_btree_leaf_elm ino_leaf;
	struct hammer_rec_rb_tree rec_tree;
	int			rec_generation;
	struct hammer_node_cache cache[4];

	int			sync_flags;
	off_t			sync_trunc_off;
	off_t			save_trunc_off;
	struct hammer_btree_leaf_elm sync_ino_leaf;
	size_t			redo_count;

	hammer_off_t		redo_fifo_start;
	hammer_off_t		redo_fifo_next;
};

typedef struct hammer_inode *hammer_inode_t;

#define VTOI(vp)	((struct hammer_inode *)(vp)->v_data)

typedef enum hammer_record_type {
	HAMMER_MEM_RECORD_GENERAL,
	HAMMER_MEM_RECORD_INODE,
	HAMMER_MEM_RECORD_ADD,
	HAMMER_MEM_RECORD_DEL,
	HAMMER_MEM_RECORD_DATA
} hammer_record_type_t;

/* In-memory record; direct writes track their bio through it. */
struct hammer_record {
	RB_ENTRY(hammer_record)		rb_node;
	TAILQ_ENTRY(hammer_record)	target_entry;
	hammer_inode_state_t		flush_state;
	hammer_flush_group_t		flush_group;
	hammer_record_type_t		type;
	struct hammer_lock		lock;
	struct hammer_reserve		*resv;
	struct hammer_inode		*ip;
	struct hammer_inode		*target_ip;
	struct hammer_btree_leaf_elm	leaf;
	union hammer_data_ondisk	*data;
	int				flags;	/* HAMMER_RECF_* */
	int				gflags;	/* HAMMER_RECG_* */
	hammer_off_t			zone2_offset;
};

typedef struct hammer_record *hammer_record_t;

#define HAMMER_RECF_ALLOCDATA		0x0001
#define HAMMER_RECF_ONRBTREE		0x0002
#define HAMMER_RECF_DELETED_FE		0x0004
#define HAMMER_RECF_DELETED_BE		0x0008
#define HAMMER_RECF_COMMITTED		0x0010
#define HAMMER_RECF_INTERLOCK_BE	0x0020
#define HAMMER_RECF_WANTED		0x0040
#define HAMMER_RECF_DEDUPED		0x0080
#define HAMMER_RECF_CONVERT_DELETE	0x0100
#define HAMMER_RECF_REDO		0x1000

/* gflags: kept apart from flags because I/O completions change them */
#define HAMMER_RECG_DIRECT_IO		0x0001
#define HAMMER_RECG_DIRECT_WAIT		0x0002
#define HAMMER_RECG_DIRECT_INVAL	0x0004

RB_HEAD(hammer_vol_rb_tree, hammer_volume);
RB_HEAD(hammer_buf_rb_tree, hammer_buffer);
RB_HEAD(hammer_nod_rb_tree, hammer_node);
RB_HEAD(hammer_und_rb_tree, hammer_undo);
RB_HEAD(hammer_res_rb_tree, hammer_reserve);
RB_HEAD(hammer_mod_rb_tree, hammer_io);
RB_HEAD(hammer_ino_rb_tree, hammer_inode);
RB_HEAD(hammer_redo_rb_tree, hammer_inode);
RB_HEAD(hammer_pfs_rb_tree, hammer_pseudofs_inmem);
RB_HEAD(hammer_dedup_crc_rb_tree, hammer_dedup_cache);
RB_HEAD(hammer_dedup_off_rb_tree, hammer_dedup_cache);

RB_PROTOTYPE2(hammer_vol_rb_tree, hammer_volume, rb_node,
	      hammer_vol_rb_compare, int32_t);
RB_PROTOTYPE2(hammer_buf_rb_tree, hammer_buffer, rb_node,
	      hammer_buf_rb_compare, hammer_off_t);
RB_PROTOTYPE2(hammer_nod_rb_tree, hammer_node, rb_node,
	      hammer_nod_rb_compare, hammer_off_t);
RB_PROTOTYPE2(hammer_mod_rb_tree, hammer_io, rb_node,
	      hammer_mod_rb_compare, hammer_off_t);

/* Which in-memory structure a hammer_io is embedded in. */
typedef enum hammer_io_type {
	HAMMER_STRUCTURE_VOLUME,
	HAMMER_STRUCTURE_META_BUFFER,
	HAMMER_STRUCTURE_UNDO_BUFFER,
	HAMMER_STRUCTURE_DATA_BUFFER,
	HAMMER_STRUCTURE_DUMMY
} hammer_io_type_t;

union hammer_io_structure;

/* The b_dep entry: a hammer_io hangs itself on its buffer through this. */
struct worklist {
	LIST_ENTRY(worklist) node;
};

TAILQ_HEAD(hammer_io_list, hammer_io);
typedef struct hammer_io_list *hammer_io_list_t;

/*
 * Backing-store state shared by volumes and buffers.  The first bitfield
 * word may change under io_token from I/O completion; the second only
 * under the owner's rules (fs_token or an interlock with no refs).
 */
struct hammer_io {
	struct worklist		worklist;
	struct hammer_lock	lock;
	enum hammer_io_type	type;
	struct hammer_mount	*hmp;
	struct hammer_volume	*volume;
	RB_ENTRY(hammer_io)	rb_node;
	TAILQ_ENTRY(hammer_io)	iorun_entry;
	struct hammer_mod_rb_tree *mod_root;
	struct buf		*bp;
	int64_t			offset;		/* zone-2 */
	int			bytes;
	int			modify_refs;

	u_int		running : 1;
	u_int		waiting : 1;
	u_int		ioerror : 1;
	u_int		unusedA : 29;

	u_int		modified : 1;
	u_int		released : 1;
	u_int		validated : 1;
	u_int		waitdep : 1;
	u_int		recovered : 1;
	u_int		waitmod : 1;
	u_int		reclaim : 1;
	u_int		gencrc : 1;
	u_int		unusedB : 24;
};

typedef struct hammer_io *hammer_io_t;

#define HAMMER_CLUSTER_SIZE	(64 * 1024)
#if HAMMER_CLUSTER_SIZE > MAXBSIZE
#undef  HAMMER_CLUSTER_SIZE
#define HAMMER_CLUSTER_SIZE	MAXBSIZE
#endif
#define HAMMER_CLUSTER_BUFS	(HAMMER_CLUSTER_SIZE / HAMMER_BUFSIZE)

struct hammer_volume {
	struct hammer_io io;
	RB_ENTRY(hammer_volume) rb_node;
	struct hammer_volume_ondisk *ondisk;
	int32_t		vol_no;
	int64_t		nblocks;
	int64_t		buffer_base;
	hammer_off_t	maxbuf_off;	/* first zone-2 offset past the end */
	hammer_off_t	maxraw_off;
	char		*vol_name;
	struct vnode	*devvp;
	int		vol_flags;	/* HAMMER_VOLF_* */
};

typedef struct hammer_volume *hammer_volume_t;

struct hammer_buffer {
	struct hammer_io io;
	RB_ENTRY(hammer_buffer) rb_node;
	void		*ondisk;
	hammer_off_t	zoneX_offset;
	hammer_off_t	zone2_offset;
	struct hammer_reserve *resv;
	struct hammer_node_list clist;	/* nodes living in this buffer */
};

typedef struct hammer_buffer *hammer_buffer_t;

struct hammer_node {
	struct hammer_lock	lock;
	TAILQ_ENTRY(hammer_node) entry;
	RB_ENTRY(hammer_node)	rb_node;
	hammer_off_t		node_offset;
	struct hammer_mount	*hmp;
	struct hammer_buffer	*buffer;
	hammer_node_ondisk_t	ondisk;
	TAILQ_HEAD(, hammer_cursor) cursor_list;
	struct hammer_node_cache_list cache_list;
	int			flags;		/* HAMMER_NODE_* */
	int			cursor_exclreq_count;
};

#define HAMMER_NODE_DELETED	0x0001
#define HAMMER_NODE_FLUSH	0x0002
#define HAMMER_NODE_CRCGOOD	0x0004
#define HAMMER_NODE_NEEDSCRC	0x0008
#define HAMMER_NODE_NEEDSMIRROR	0x0010
#define HAMMER_NODE_CRCBAD	0x0020
#define HAMMER_NODE_NONLINEAR	0x0040

#define HAMMER_NODE_CRCANY	(HAMMER_NODE_CRCGOOD | HAMMER_NODE_CRCBAD)

typedef struct hammer_node	*hammer_node_t;

/* A volume or a buffer, seen through the hammer_io both start with. */
union hammer_io_structure {
	struct hammer_io	io;
	struct hammer_volume	volume;
	struct hammer_buffer	buffer;
};

typedef union hammer_io_structure *hammer_io_structure_t;

struct hammer_undo {
	RB_ENTRY(hammer_undo)	rb_node;
	TAILQ_ENTRY(hammer_undo) lru_entry;
	hammer_off_t		offset;
	int			bytes;
};

typedef struct hammer_undo *hammer_undo_t;

#define HAMMER_MAX_UNDOS		1024
#define HAMMER_MAX_FLUSHERS		4

TAILQ_HEAD(hammer_flusher_info_list, hammer_flusher_info);

struct hammer_flusher {
	int		signal;
	int		done;
	int		next;
	int		group_lock;
	int		exiting;
	thread_t	td;
	hammer_tid_t	tid;
	int		finalize_want;
	struct hammer_lock finalize_lock;
	struct hammer_transaction trans;
	struct hammer_flusher_info_list run_list;
	struct hammer_flusher_info_list ready_list;
};

/* Who is loading the inode cache the most (per-pid heuristic). */
struct hammer_inostats {
	pid_t		pid;
	int		ltick;
	int		count;
};

#define HAMMER_INOSTATS_HSIZE	32
#define HAMMER_INOSTATS_HMASK	(HAMMER_INOSTATS_HSIZE - 1)

struct hammer_reclaim;

/*
 * Per-mount state, in the kernel's order.  Only the NFS export table
 * (struct netexport) is left out.
 */
struct hammer_mount {
	struct mount *mp;
	struct hammer_ino_rb_tree rb_inos_root;
	struct hammer_redo_rb_tree rb_redo_root;
	struct hammer_vol_rb_tree rb_vols_root;
	struct hammer_nod_rb_tree rb_nods_root;
	struct hammer_und_rb_tree rb_undo_root;
	struct hammer_res_rb_tree rb_resv_root;
	struct hammer_buf_rb_tree rb_bufs_root;
	struct hammer_pfs_rb_tree rb_pfsm_root;

	struct hammer_dedup_crc_rb_tree rb_dedup_crc_root;
	struct hammer_dedup_off_rb_tree rb_dedup_off_root;

	struct hammer_volume *rootvol;
	struct hammer_base_elm root_btree_beg;
	struct hammer_base_elm root_btree_end;

	struct malloc_type	*m_misc;
	struct malloc_type	*m_inodes;

	int	flags;		/* HAMMER_MOUNT_* */
	int	hflags;
	int	ronly;
	int	nvolumes;
	int	volume_iterator;
	int	master_id;
	int	version;
	int	rsv_inodes;
	int64_t	rsv_databytes;
	int	rsv_recs;
	int	rsv_fromdelay;
	int	undo_rec_limit;
	int	last_newrecords;
	int	count_newrecords;

	int	volume_to_remove;

	int	count_inodes;
	int	count_iqueued;
	int	count_reclaims;

	struct hammer_flusher flusher;

	u_int	check_interrupt;
	u_int	check_yield;
	uuid_t	fsid;
	struct hammer_mod_rb_tree volu_root;	/* modified volume headers */
	struct hammer_mod_rb_tree undo_root;	/* modified undo buffers */
	struct hammer_mod_rb_tree data_root;	/* modified data buffers */
	struct hammer_mod_rb_tree meta_root;	/* modified meta-data buffers */
	struct hammer_mod_rb_tree lose_root;	/* clean, bp gone */
	long	locked_dirty_space;	/* bytes in volu_root + meta_root */
	long	io_running_space;	/* bytes of running writes */
	int	unused01;
	int	objid_cache_count;
	int	dedup_cache_count;
	int	error;			/* critical I/O error, if any */
	struct krate	krate;
	hammer_tid_t	asof;
	hammer_tid_t	next_tid;
	hammer_tid_t	flush_tid1;
	hammer_tid_t	flush_tid2;
	int64_t copy_stat_freebigblocks;
	u_int32_t	undo_seqno;
	u_int32_t	recover_stage2_seqno;
	hammer_off_t	recover_stage2_offset;

	struct hammer_lock sync_lock;
	struct hammer_lock free_lock;
	struct hammer_lock undo_lock;
	struct hammer_lock blkmap_lock;
	struct hammer_lock snapshot_lock;
	struct hammer_lock volume_lock;
	struct hammer_blockmap  blockmap[HAMMER_MAX_ZONES];
	struct hammer_undo	undos[HAMMER_MAX_UNDOS];
	int			undo_alloc;
	TAILQ_HEAD(, hammer_undo)  undo_lru_list;
	TAILQ_HEAD(, hammer_reserve) delay_list;
	struct hammer_flush_group_list	flush_group_list;
	hammer_flush_group_t	fill_flush_group;
	hammer_flush_group_t	next_flush_group;
	TAILQ_HEAD(, hammer_objid_cache) objid_cache_list;
	TAILQ_HEAD(, hammer_dedup_cache) dedup_lru_list;
	hammer_dedup_cache_t	dedup_free_cache;
	TAILQ_HEAD(, hammer_reclaim) reclaim_list;
	TAILQ_HEAD(, hammer_io) iorun_list;	/* writes in flight */

	struct lwkt_token	fs_token;	/* frontend */
	struct lwkt_token	io_token;	/* I/O callbacks */

	struct hammer_inostats	inostats[HAMMER_INOSTATS_HSIZE];
};

typedef struct hammer_mount	*hammer_mount_t;

#define HAMMER_MOUNT_CRITICAL_ERROR	0x0001
#define HAMMER_MOUNT_FLUSH_RECOVERY	0x0002
#define HAMMER_MOUNT_REDO_SYNC		0x0004
#define HAMMER_MOUNT_REDO_RECOVERY_REQ	0x0008
#define HAMMER_MOUNT_REDO_RECOVERY_RUN	0x0010

/* ---- globals (tunables and counters) ---- */

extern struct bio_ops hammer_bioops;

extern int hammer_debug_io;
extern int hammer_cluster_enable;
extern int64_t hammer_stats_disk_read;
extern int64_t hammer_stats_disk_write;
extern long hammer_count_dirtybufspace;
extern long hammer_count_io_running_read;
extern long hammer_count_io_running_write;
extern int hammer_count_io_locked;
extern int hammer_verify_data;

/* ---- the rest of HAMMER, as seen from the I/O layer ---- */

void	hammer_critical_error(hammer_mount_t hmp, hammer_inode_t ip,
			int error, const char *msg);
int	hammer_get_vnode(struct hammer_inode *ip, struct vnode **vpp);
void	hammer_scan_inode_snapshots(hammer_mount_t hmp,
			hammer_inode_info_t iinfo,
			int (*callback)(hammer_inode_t ip, void *data),
			void *data);
void	hammer_rel_mem_record(hammer_record_t record);

void	hammer_lock_ex_ident(struct hammer_lock *lock, const char *ident);
int	hammer_lock_ex_try(struct hammer_lock *lock);
void	hammer_lock_sh(struct hammer_lock *lock);
int	hammer_lock_sh_try(struct hammer_lock *lock);
void	hammer_unlock(struct hammer_lock *lock);
void	hammer_ref(struct hammer_lock *lock);
void	hammer_rel(struct hammer_lock *lock);
int	hammer_try_interlock_norefs(struct hammer_lock *lock);
void	hammer_put_interlock(struct hammer_lock *lock, int error);

void	*hammer_bread(struct hammer_mount *hmp, hammer_off_t off,
			int *errorp, struct hammer_buffer **bufferp);
hammer_volume_t	hammer_get_volume(hammer_mount_t hmp,
			int32_t vol_no, int *errorp);
void	hammer_sync_buffers(hammer_mount_t hmp,
			hammer_off_t base_offset, int bytes);
int	hammer_del_buffers(hammer_mount_t hmp,
			hammer_off_t base_offset,
			hammer_off_t zone2_offset, int bytes,
			int report_conflicts);
void	hammer_rel_volume(hammer_volume_t volume, int locked);
void	hammer_rel_buffer(hammer_buffer_t buffer, int locked);
void	hammer_rel_node(hammer_node_t node);

int	hammer_generate_undo(hammer_transaction_t trans,
			hammer_off_t zone1_offset, void *base, int len);
hammer_off_t hammer_blockmap_lookup(hammer_mount_t hmp, hammer_off_t bmap_off,
			int *errorp);
int	hammer_undo_reclaim(hammer_io_t io);
void	hammer_rel_inode(hammer_inode_t ip, int flush);
void	hammer_ip_replace_bulk(hammer_mount_t hmp, hammer_record_t record);

/* ---- hammer_io.c ---- */

void	hammer_io_init(hammer_io_t io, hammer_volume_t volume,
			enum hammer_io_type type);
int	hammer_io_read(struct vnode *devvp, struct hammer_io *io, int limit);
void	hammer_io_advance(struct hammer_io *io);
int	hammer_io_new(struct vnode *devvp, struct hammer_io *io);
int	hammer_io_inval(hammer_volume_t volume, hammer_off_t zone2_offset);
struct buf *hammer_io_release(struct hammer_io *io, int flush);
void	hammer_io_flush(struct hammer_io *io, int reclaim);
void	hammer_io_wait(struct hammer_io *io);
void	hammer_io_wait_all(hammer_mount_t hmp, const char *ident, int doflush);
int	hammer_io_direct_read(hammer_mount_t hmp, struct bio *bio,
			hammer_btree_leaf_elm_t leaf);
int	hammer_io_indirect_read(hammer_mount_t hmp, struct bio *bio,
			hammer_btree_leaf_elm_t leaf);
int	hammer_io_direct_write(hammer_mount_t hmp, struct bio *bio,
			hammer_record_t record);
void	hammer_io_direct_wait(hammer_record_t record);
void	hammer_io_direct_uncache(hammer_mount_t hmp,
			hammer_btree_leaf_elm_t leaf);
void	hammer_io_write_interlock(hammer_io_t io);
void	hammer_io_done_interlock(hammer_io_t io);
void	hammer_io_clear_modify(struct hammer_io *io, int inval);
void	hammer_io_clear_modlist(struct hammer_io *io);
void	hammer_io_flush_sync(hammer_mount_t hmp);
void	hammer_io_clear_error(struct hammer_io *io);
void	hammer_io_clear_error_noassert(struct hammer_io *io);
void	hammer_io_notmeta(hammer_buffer_t buffer);
void	hammer_io_limit_backlog(hammer_mount_t hmp);

void	hammer_modify_volume(hammer_transaction_t trans,
			hammer_volume_t volume, void *base, int len);
void	hammer_modify_buffer(hammer_transaction_t trans,
			hammer_buffer_t buffer, void *base, int len);
void	hammer_modify_volume_done(hammer_volume_t volume);
void	hammer_modify_buffer_done(hammer_buffer_t buffer);

static __inline void
hammer_lock_ex(struct hammer_lock *lock)
{
	hammer_lock_ex_ident(lock, "hmrlck");
}

#endif /* !_HAMMER_H_ */
