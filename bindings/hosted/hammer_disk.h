/*
 * Hosted HAMMER on-media definitions: offset encoding (zone / volume /
 * short offset), buffer sizes, the volume header and the record types the
 * I/O layer tests.  Values and layouts are those of the DragonFly kernel.
 */
#ifndef _HAMMER_DISK_H_
#define _HAMMER_DISK_H_

#include <sys/types.h>
#include <sys/uuid.h>

/* HAMMER's filesystem buffer: 16KB, with a 64KB extended size. */
#define HAMMER_BUFSIZE		16384
#define HAMMER_XBUFSIZE		65536
#define HAMMER_XDEMARC		(1024 * 1024)
#define HAMMER_BUFMASK		(HAMMER_BUFSIZE - 1)
#define HAMMER_XBUFMASK		(HAMMER_XBUFSIZE - 1)
#define HAMMER_BUFFER_BITS	14

#define HAMMER_BUFSIZE64	((u_int64_t)HAMMER_BUFSIZE)
#define HAMMER_BUFMASK64	((u_int64_t)HAMMER_BUFMASK)
#define HAMMER_XBUFSIZE64	((u_int64_t)HAMMER_XBUFSIZE)
#define HAMMER_XBUFMASK64	((u_int64_t)HAMMER_XBUFMASK)

/* A 64-bit hammer offset: 4 bits zone, 8 bits volume, 52 bits offset. */
#define HAMMER_OFF_ZONE_MASK	0xF000000000000000ULL
#define HAMMER_OFF_VOL_MASK	0x0FF0000000000000ULL
#define HAMMER_OFF_SHORT_MASK	0x000FFFFFFFFFFFFFULL
#define HAMMER_OFF_LONG_MASK	0x0FFFFFFFFFFFFFFFULL
#define HAMMER_OFF_SHORT_REC_MASK 0x000FFFFFFF000000ULL
#define HAMMER_OFF_LONG_REC_MASK 0x0FFFFFFFFF000000ULL
#define HAMMER_RECOVERY_BND	0x0000000001000000ULL

#define HAMMER_OFF_BAD		((hammer_off_t)-1)

#define HAMMER_MAX_VOLUMES	256

typedef u_int64_t hammer_tid_t;
typedef u_int64_t hammer_off_t;
typedef u_int32_t hammer_seq_t;
typedef u_int32_t hammer_crc_t;

/* Zones (top nibble of a hammer_off_t). */
#define HAMMER_ZONE_RAW_VOLUME		0x1000000000000000ULL
#define HAMMER_ZONE_RAW_BUFFER		0x2000000000000000ULL
#define HAMMER_ZONE_UNDO		0x3000000000000000ULL
#define HAMMER_ZONE_FREEMAP		0x4000000000000000ULL
#define HAMMER_ZONE_RESERVED05		0x5000000000000000ULL
#define HAMMER_ZONE_RESERVED06		0x6000000000000000ULL
#define HAMMER_ZONE_RESERVED07		0x7000000000000000ULL
#define HAMMER_ZONE_BTREE		0x8000000000000000ULL
#define HAMMER_ZONE_META		0x9000000000000000ULL
#define HAMMER_ZONE_LARGE_DATA		0xA000000000000000ULL
#define HAMMER_ZONE_SMALL_DATA		0xB000000000000000ULL
#define HAMMER_ZONE_RESERVED0C		0xC000000000000000ULL
#define HAMMER_ZONE_RESERVED0D		0xD000000000000000ULL
#define HAMMER_ZONE_RESERVED0E		0xE000000000000000ULL
#define HAMMER_ZONE_UNAVAIL		0xF000000000000000ULL

#define HAMMER_ZONE_RAW_VOLUME_INDEX	1
#define HAMMER_ZONE_RAW_BUFFER_INDEX	2
#define HAMMER_ZONE_UNDO_INDEX		3
#define HAMMER_ZONE_FREEMAP_INDEX	4
#define HAMMER_ZONE_BTREE_INDEX		8
#define HAMMER_ZONE_META_INDEX		9
#define HAMMER_ZONE_LARGE_DATA_INDEX	10
#define HAMMER_ZONE_SMALL_DATA_INDEX	11
#define HAMMER_ZONE_UNAVAIL_INDEX	15

#define HAMMER_MAX_ZONES		16

#define HAMMER_VOL_ENCODE(vol_no)			\
	((hammer_off_t)((vol_no) & 255) << 52)
#define HAMMER_VOL_DECODE(ham_off)			\
	(int32_t)(((hammer_off_t)(ham_off) >> 52) & 255)
#define HAMMER_ZONE_DECODE(ham_off)			\
	(int32_t)(((hammer_off_t)(ham_off) >> 60))
#define HAMMER_ZONE_ENCODE(zone, ham_off)		\
	(((hammer_off_t)(zone) << 60) | (ham_off))
#define HAMMER_SHORT_OFF_ENCODE(offset)			\
	((hammer_off_t)(offset) & HAMMER_OFF_SHORT_MASK)
#define HAMMER_LONG_OFF_ENCODE(offset)			\
	((hammer_off_t)(offset) & HAMMER_OFF_LONG_MASK)

#define HAMMER_ENCODE_RAW_VOLUME(vol_no, offset)	\
	(HAMMER_ZONE_RAW_VOLUME |			\
	 HAMMER_VOL_ENCODE(vol_no) |			\
	 HAMMER_SHORT_OFF_ENCODE(offset))
#define HAMMER_ENCODE_RAW_BUFFER(vol_no, offset)	\
	(HAMMER_ZONE_RAW_BUFFER |			\
	 HAMMER_VOL_ENCODE(vol_no) |			\
	 HAMMER_SHORT_OFF_ENCODE(offset))
#define HAMMER_ENCODE_FREEMAP(vol_no, offset)		\
	(HAMMER_ZONE_FREEMAP |				\
	 HAMMER_VOL_ENCODE(vol_no) |			\
	 HAMMER_SHORT_OFF_ENCODE(offset))

/* Large blocks: the allocation unit of the blockmap (8MB). */
#define HAMMER_LARGEBLOCK_SIZE		(8192 * 1024)
#define HAMMER_LARGEBLOCK_SIZE64	((u_int64_t)HAMMER_LARGEBLOCK_SIZE)
#define HAMMER_LARGEBLOCK_MASK		(HAMMER_LARGEBLOCK_SIZE - 1)
#define HAMMER_LARGEBLOCK_MASK64	((u_int64_t)HAMMER_LARGEBLOCK_SIZE - 1)
#define HAMMER_LARGEBLOCK_BITS		23

/* Root of one zone's blockmap (cached in hammer_mount). */
struct hammer_blockmap {
	hammer_off_t	phys_offset;
	hammer_off_t	first_offset;
	hammer_off_t	next_offset;
	hammer_off_t	alloc_offset;
	u_int32_t	reserved01;
	hammer_crc_t	entry_crc;
};

typedef struct hammer_blockmap *hammer_blockmap_t;

#define HAMMER_UNDO_LAYER2	128

#include "hammer_btree.h"

#define HAMMER_FSBUF_VOLUME	0xC8414D4DC5523031ULL
#define HAMMER_FSBUF_VOLUME_REV	0x313052C54D4D41C8ULL

/*
 * Volume header, at the start of every volume.  vol_buf_beg is where the
 * zone-2 buffer space starts on the device.
 */
struct hammer_volume_ondisk {
	u_int64_t	vol_signature;

	int64_t		vol_bot_beg;
	int64_t		vol_mem_beg;
	int64_t		vol_buf_beg;
	int64_t		vol_buf_end;
	int64_t		vol_locked;

	uuid_t		vol_fsid;
	uuid_t		vol_fstype;
	char		vol_name[64];

	int32_t		vol_no;
	int32_t		vol_count;

	u_int32_t	vol_version;
	hammer_crc_t	vol_crc;
	u_int32_t	vol_flags;
	u_int32_t	vol_rootvol;

	int32_t		vol_reserved04;
	int32_t		vol_reserved05;
	u_int32_t	vol_reserved06;
	u_int32_t	vol_reserved07;

	int32_t		vol_blocksize;
	int32_t		vol_reserved08;
	int64_t		vol_nblocks;

	int64_t		vol0_stat_bigblocks;
	int64_t		vol0_stat_freebigblocks;
	int64_t		vol0_stat_bytes;
	int64_t		vol0_stat_inodes;
	int64_t		vol0_stat_records;
	hammer_off_t	vol0_btree_root;
	hammer_tid_t	vol0_next_tid;
	hammer_off_t	vol0_unused03;

	struct hammer_blockmap	vol0_blockmap[HAMMER_MAX_ZONES];

	hammer_off_t	vol0_undo_array[HAMMER_UNDO_LAYER2];
};

typedef struct hammer_volume_ondisk *hammer_volume_ondisk_t;

#define HAMMER_VOLF_VALID		0x0001
#define HAMMER_VOLF_OPEN		0x0002
#define HAMMER_VOLF_NEEDFLUSH		0x0004

/* Record types (hammer_base_elm.rec_type) */
#define HAMMER_RECTYPE_UNKNOWN		0x0000
#define HAMMER_RECTYPE_LOWEST		0x0001
#define HAMMER_RECTYPE_INODE		0x0001
#define HAMMER_RECTYPE_DATA		0x0010
#define HAMMER_RECTYPE_DIRENTRY		0x0011

union hammer_data_ondisk;
typedef union hammer_data_ondisk *hammer_data_ondisk_t;

#endif /* !_HAMMER_DISK_H_ */
