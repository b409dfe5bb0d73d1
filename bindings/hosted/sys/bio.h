/*
 * Hosted stand-in for <sys/bio.h>.  A bio is one translation layer of a
 * buffer's I/O: struct buf embeds an array of them (b_bio_array) and
 * push_bio()/pop_bio() walk that stack.  Completion runs bio_done; the
 * caller_info unions carry per-layer private data.
 */
#ifndef _SYS_BIO_H_
#define _SYS_BIO_H_

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/time.h>

struct bio;
struct buf;
struct bio_track;
struct disk;

typedef void biodone_t(struct bio *);

struct bio {
	TAILQ_ENTRY(bio) bio_act;
	TAILQ_ENTRY(bio) link;
	struct bio_track *bio_track;
	struct disk	*bio_disk;
	struct bio	*bio_prev;	/* layer above (towards the buf) */
	struct bio	*bio_next;	/* layer below (towards the device) */
	struct buf	*bio_buf;	/* owning buffer */
	biodone_t	*bio_done;	/* completion callback, may be NULL */
	off_t		bio_offset;	/* byte offset in this layer's space */
	void		*bio_driver_info;
	int		bio_flags;	/* BIO_* */
	union {
		void		*ptr;
		off_t		offset;
		int		index;
		u_int32_t	uvalue32;
		struct buf	*cluster_head;
		struct bio	*cluster_parent;
	} bio_caller_info1;
	union {
		void		*ptr;
		off_t		offset;
		int		index;
		struct buf	*cluster_tail;
	} bio_caller_info2;
	union {
		void		*ptr;
		int		value;
		long		lvalue;
		struct timeval	tv;
	} bio_caller_info3;
};

#define BIO_SYNC	0x00000001	/* a waiter will run biowait() */
#define BIO_WANT	0x20000000	/* someone sleeps on the bio */
#define BIO_DONE	0x40000000	/* the I/O has completed */

#endif /* !_SYS_BIO_H_ */
