/*
 * Hosted HAMMER B-Tree on-media element and node layouts (the subset the
 * I/O layer and its hosted neighbours need), with the kernel's field
 * names, types and order so offsets match the real media format.
 */
#ifndef _HAMMER_BTREE_H_
#define _HAMMER_BTREE_H_

/* Key shared by every element type: 40 bytes on media. */
struct hammer_base_elm {
	int64_t		obj_id;
	int64_t		key;
	hammer_tid_t	create_tid;
	hammer_tid_t	delete_tid;
	u_int16_t	rec_type;
	u_int8_t	obj_type;
	u_int8_t	btype;
	u_int32_t	localization;
};

typedef struct hammer_base_elm *hammer_base_elm_t;

/* localization: low half picks the key space, high half the PFS */
#define HAMMER_LOCALIZE_RESERVED00	0x00000000
#define HAMMER_LOCALIZE_INODE		0x00000001
#define HAMMER_LOCALIZE_MISC		0x00000002
#define HAMMER_LOCALIZE_RESERVED03	0x00000003
#define HAMMER_LOCALIZE_MASK		0x0000FFFF
#define HAMMER_LOCALIZE_PSEUDOFS_MASK	0xFFFF0000
#define HAMMER_LOCALIZE_PSEUDOFS_INC	0x00010000

struct hammer_btree_internal_elm {
	struct hammer_base_elm base;
	hammer_tid_t	mirror_tid;
	hammer_off_t	subtree_offset;
	int32_t		unused02;
	int32_t		unused03;
};

typedef struct hammer_btree_internal_elm *hammer_btree_internal_elm_t;

/* A leaf points at the record's data: offset, length and CRC. */
struct hammer_btree_leaf_elm {
	struct hammer_base_elm base;
	u_int32_t	create_ts;
	u_int32_t	delete_ts;
	hammer_off_t	data_offset;
	int32_t		data_len;
	hammer_crc_t	data_crc;
};

typedef struct hammer_btree_leaf_elm *hammer_btree_leaf_elm_t;

union hammer_btree_elm {
	struct hammer_base_elm		base;
	struct hammer_btree_leaf_elm	leaf;
	struct hammer_btree_internal_elm internal;
};

typedef union hammer_btree_elm *hammer_btree_elm_t;

#define HAMMER_BTREE_LEAF_ELMS	63
#define HAMMER_BTREE_INT_ELMS	(HAMMER_BTREE_LEAF_ELMS - 1)

#define HAMMER_BTREE_TYPE_INTERNAL	((u_int8_t)'I')
#define HAMMER_BTREE_TYPE_LEAF		((u_int8_t)'L')
#define HAMMER_BTREE_TYPE_RECORD	((u_int8_t)'R')
#define HAMMER_BTREE_TYPE_DELETED	((u_int8_t)'D')

/*
 * On-media B-Tree node.  The CRC sits first and covers everything after
 * it, which is what HAMMER_BTREE_CRCSIZE measures.
 */
struct hammer_node_ondisk {
	hammer_crc_t	crc;
	u_int32_t	signature;
	hammer_off_t	parent;
	int32_t		count;
	u_int8_t	type;
	u_int8_t	reserved01;
	u_int16_t	reserved02;
	hammer_off_t	reserved03;
	hammer_off_t	reserved04;
	hammer_off_t	reserved05;
	hammer_off_t	reserved06;
	hammer_tid_t	mirror_tid;
	union hammer_btree_elm elms[HAMMER_BTREE_LEAF_ELMS];
};

#define HAMMER_BTREE_SIGNATURE_GOOD		0xB3A49586
#define HAMMER_BTREE_SIGNATURE_DESTROYED	0x4A3B2C1D
#define HAMMER_BTREE_CRCSIZE	\
	(sizeof(struct hammer_node_ondisk) - sizeof(hammer_crc_t))

typedef struct hammer_node_ondisk *hammer_node_ondisk_t;

#endif /* !_HAMMER_BTREE_H_ */
