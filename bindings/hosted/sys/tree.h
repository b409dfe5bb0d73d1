/*
 * Hosted stand-in for DragonFly's <sys/tree.h>, red-black part only.
 *
 * Written for the hammer_io port.  The item names, the node and head
 * layouts and the rebalancing steps follow the kernel header of the
 * reference commit exactly, because two things depend on them:
 *  - the reference hammer_io.c is compiled against this file and its
 *    RB_GENERATE must emit the same nine global functions with the same
 *    prototypes as in the kernel;
 *  - the Rust tree (src/rbtree) must build bit-identical trees, so the
 *    differential tests compare node-for-node shapes.
 *
 * Splay trees are not provided: nothing in HAMMER's I/O layer uses them.
 */
#ifndef _SYS_TREE_H_
#define _SYS_TREE_H_

#ifndef _SYS_SPINLOCK_H_
#include <sys/spinlock.h>
#endif

/* Serialise the in-progress scan list; provided by the kernel (or host). */
void rb_spin_lock(struct spinlock *spin);
void rb_spin_unlock(struct spinlock *spin);

/* ------------------------------------------------------------------ */
/* Types                                                               */
/* ------------------------------------------------------------------ */

/*
 * One record per running RB_SCAN, chained from the head.  `node` is the
 * element the scan visits next; RB_REMOVE advances it when that element
 * leaves the tree, which is what lets a callback delete anything.
 */
#define RB_SCAN_INFO(name, type)					\
struct name##_scan_info {						\
	struct name##_scan_info	*link;					\
	struct type		*node;					\
}

#define RB_HEAD(name, type)						\
struct name {								\
	struct type		*rbh_root;				\
	struct name##_scan_info	*rbh_inprog;				\
	struct spinlock		rbh_spin;				\
}

#define RB_INITIALIZER(root)						\
	{ NULL, NULL, SPINLOCK_INITIALIZER(root.spin, "root.spin") }

/* Like the kernel's, this leaves rbh_spin alone. */
#define RB_INIT(root) do {						\
	(root)->rbh_root = NULL;					\
	(root)->rbh_inprog = NULL;					\
} while (0)

#ifdef _KERNEL
#define RB_SCAN_LOCK(spin)	rb_spin_lock(spin)
#define RB_SCAN_UNLOCK(spin)	rb_spin_unlock(spin)
#else
#define RB_SCAN_LOCK(spin)
#define RB_SCAN_UNLOCK(spin)
#endif

#define RB_BLACK	0
#define RB_RED		1

#define RB_ENTRY(type)							\
struct {								\
	struct type	*rbe_left;					\
	struct type	*rbe_right;					\
	struct type	*rbe_parent;					\
	int		rbe_color;					\
}

#define RB_LEFT(elm, field)	(elm)->field.rbe_left
#define RB_RIGHT(elm, field)	(elm)->field.rbe_right
#define RB_PARENT(elm, field)	(elm)->field.rbe_parent
#define RB_COLOR(elm, field)	(elm)->field.rbe_color
#define RB_ROOT(head)		(head)->rbh_root
#define RB_INPROG(head)		(head)->rbh_inprog
#define RB_EMPTY(head)		(RB_ROOT(head) == NULL)

/* A freshly linked node is a red leaf. */
#define RB_SET(elm, parent, field) do {					\
	RB_PARENT(elm, field) = (parent);				\
	RB_LEFT(elm, field) = NULL;					\
	RB_RIGHT(elm, field) = NULL;					\
	RB_COLOR(elm, field) = RB_RED;					\
} while (0)

#define RB_SET_BLACKRED(black, red, field) do {				\
	RB_COLOR(black, field) = RB_BLACK;				\
	RB_COLOR(red, field) = RB_RED;					\
} while (0)

/* Hook for augmented trees; a no-op unless the includer supplies one. */
#ifndef RB_AUGMENT
#define RB_AUGMENT(x)	do { } while (0)
#endif

/*
 * Rotations.  `tmp` receives the child that moves up.  Both mirror each
 * other; the order of the stores matters for the AUGMENT hook only.
 */
#define RB_ROTATE_LEFT(head, elm, tmp, field) do {			\
	(tmp) = RB_RIGHT(elm, field);					\
	RB_RIGHT(elm, field) = RB_LEFT(tmp, field);			\
	if (RB_RIGHT(elm, field) != NULL)				\
		RB_PARENT(RB_RIGHT(elm, field), field) = (elm);		\
	RB_AUGMENT(elm);						\
	RB_PARENT(tmp, field) = RB_PARENT(elm, field);			\
	if (RB_PARENT(tmp, field) == NULL)				\
		(head)->rbh_root = (tmp);				\
	else if (RB_LEFT(RB_PARENT(elm, field), field) == (elm))	\
		RB_LEFT(RB_PARENT(elm, field), field) = (tmp);		\
	else								\
		RB_RIGHT(RB_PARENT(elm, field), field) = (tmp);		\
	RB_LEFT(tmp, field) = (elm);					\
	RB_PARENT(elm, field) = (tmp);					\
	RB_AUGMENT(tmp);						\
	if (RB_PARENT(tmp, field) != NULL)				\
		RB_AUGMENT(RB_PARENT(tmp, field));			\
} while (0)

#define RB_ROTATE_RIGHT(head, elm, tmp, field) do {			\
	(tmp) = RB_LEFT(elm, field);					\
	RB_LEFT(elm, field) = RB_RIGHT(tmp, field);			\
	if (RB_LEFT(elm, field) != NULL)				\
		RB_PARENT(RB_LEFT(elm, field), field) = (elm);		\
	RB_AUGMENT(elm);						\
	RB_PARENT(tmp, field) = RB_PARENT(elm, field);			\
	if (RB_PARENT(tmp, field) == NULL)				\
		(head)->rbh_root = (tmp);				\
	else if (RB_LEFT(RB_PARENT(elm, field), field) == (elm))	\
		RB_LEFT(RB_PARENT(elm, field), field) = (tmp);		\
	else								\
		RB_RIGHT(RB_PARENT(elm, field), field) = (tmp);		\
	RB_RIGHT(tmp, field) = (elm);					\
	RB_PARENT(elm, field) = (tmp);					\
	RB_AUGMENT(tmp);						\
	if (RB_PARENT(tmp, field) != NULL)				\
		RB_AUGMENT(RB_PARENT(tmp, field));			\
} while (0)

/* ------------------------------------------------------------------ */
/* Prototypes                                                          */
/* ------------------------------------------------------------------ */

#define RB_PROTOTYPE(name, type, field, cmp)				\
	_RB_PROTOTYPE(name, type, field, cmp, )
#define RB_PROTOTYPE_STATIC(name, type, field, cmp)			\
	_RB_PROTOTYPE(name, type, field, cmp, __attribute__((__unused__)) static)

#define _RB_PROTOTYPE(name, type, field, cmp, STORQUAL)			\
STORQUAL void name##_RB_INSERT_COLOR(struct name *, struct type *);	\
STORQUAL void name##_RB_REMOVE_COLOR(struct name *, struct type *,	\
				     struct type *);			\
STORQUAL struct type *name##_RB_REMOVE(struct name *, struct type *);	\
STORQUAL struct type *name##_RB_INSERT(struct name *, struct type *);	\
STORQUAL struct type *name##_RB_FIND(struct name *, struct type *);	\
STORQUAL int name##_RB_SCAN(struct name *,				\
			    int (*)(struct type *, void *),		\
			    int (*)(struct type *, void *), void *);	\
STORQUAL struct type *name##_RB_NEXT(struct type *);			\
STORQUAL struct type *name##_RB_PREV(struct type *);			\
STORQUAL struct type *name##_RB_MINMAX(struct name *, int);		\
RB_SCAN_INFO(name, type)

/* Adds an exact-match lookup on a numeric key field (RB_GENERATE2). */
#define RB_PROTOTYPE2(name, type, field, cmp, datatype)			\
RB_PROTOTYPE(name, type, field, cmp);					\
struct type *name##_RB_LOOKUP(struct name *, datatype)

/* Adds a lookup of the element whose range holds a value (GENERATE3/4). */
#define RB_PROTOTYPE3(name, type, field, cmp, datatype)			\
RB_PROTOTYPE2(name, type, field, cmp, datatype);			\
struct type *name##_RB_RLOOKUP(struct name *, datatype)

#define RB_PROTOTYPE4(name, type, field, cmp, datatype)			\
RB_PROTOTYPE2(name, type, field, cmp, datatype);			\
struct type *name##_RB_RLOOKUP(struct name *, datatype)

/* Adds a lookup with a caller-supplied key comparator (XLOOKUP). */
#define RB_PROTOTYPEX(name, ext, type, field, cmp, datatype)		\
RB_PROTOTYPE(name, type, field, cmp);					\
struct type *name##_RB_LOOKUP_##ext(struct name *, datatype)

/* ------------------------------------------------------------------ */
/* Generators                                                          */
/* ------------------------------------------------------------------ */

#define RB_GENERATE(name, type, field, cmp)				\
	_RB_GENERATE(name, type, field, cmp, )
#define RB_GENERATE_STATIC(name, type, field, cmp)			\
	_RB_GENERATE(name, type, field, cmp, __attribute__((__unused__)) static)

/*
 * The nine functions below are the complete external interface of a
 * generated tree (the helpers in between are file-local).
 */
#define _RB_GENERATE(name, type, field, cmp, STORQUAL)			\
									\
/* Restore the colour rules after `elm` was linked in as a red leaf. */	\
STORQUAL void								\
name##_RB_INSERT_COLOR(struct name *head, struct type *elm)		\
{									\
	struct type *parent, *gparent, *tmp;				\
									\
	for (;;) {							\
		parent = RB_PARENT(elm, field);				\
		if (parent == NULL || RB_COLOR(parent, field) != RB_RED) \
			break;						\
		gparent = RB_PARENT(parent, field);			\
		if (RB_LEFT(gparent, field) == parent) {		\
			tmp = RB_RIGHT(gparent, field);			\
			if (tmp != NULL && RB_COLOR(tmp, field) == RB_RED) { \
				/* red uncle: push blackness down */	\
				RB_COLOR(tmp, field) = RB_BLACK;	\
				RB_SET_BLACKRED(parent, gparent, field); \
				elm = gparent;				\
				continue;				\
			}						\
			if (RB_RIGHT(parent, field) == elm) {		\
				/* inner grandchild: make it outer */	\
				RB_ROTATE_LEFT(head, parent, tmp, field); \
				tmp = parent;				\
				parent = elm;				\
				elm = tmp;				\
			}						\
			RB_SET_BLACKRED(parent, gparent, field);	\
			RB_ROTATE_RIGHT(head, gparent, tmp, field);	\
		} else {						\
			tmp = RB_LEFT(gparent, field);			\
			if (tmp != NULL && RB_COLOR(tmp, field) == RB_RED) { \
				RB_COLOR(tmp, field) = RB_BLACK;	\
				RB_SET_BLACKRED(parent, gparent, field); \
				elm = gparent;				\
				continue;				\
			}						\
			if (RB_LEFT(parent, field) == elm) {		\
				RB_ROTATE_RIGHT(head, parent, tmp, field); \
				tmp = parent;				\
				parent = elm;				\
				elm = tmp;				\
			}						\
			RB_SET_BLACKRED(parent, gparent, field);	\
			RB_ROTATE_LEFT(head, gparent, tmp, field);	\
		}							\
	}								\
	RB_COLOR(RB_ROOT(head), field) = RB_BLACK;			\
}									\
									\
/*									\
 * Repair a black-height deficit on the `elm` side of `parent` (elm may	\
 * be NULL) left behind by unlinking a black node.			\
 */									\
STORQUAL void								\
name##_RB_REMOVE_COLOR(struct name *head, struct type *parent,		\
		       struct type *elm)				\
{									\
	struct type *tmp;						\
									\
	while ((elm == NULL || RB_COLOR(elm, field) == RB_BLACK) &&	\
	       elm != RB_ROOT(head)) {					\
		if (RB_LEFT(parent, field) == elm) {			\
			tmp = RB_RIGHT(parent, field);			\
			if (RB_COLOR(tmp, field) == RB_RED) {		\
				RB_SET_BLACKRED(tmp, parent, field);	\
				RB_ROTATE_LEFT(head, parent, tmp, field); \
				tmp = RB_RIGHT(parent, field);		\
			}						\
			if ((RB_LEFT(tmp, field) == NULL ||		\
			     RB_COLOR(RB_LEFT(tmp, field), field) == RB_BLACK) && \
			    (RB_RIGHT(tmp, field) == NULL ||		\
			     RB_COLOR(RB_RIGHT(tmp, field), field) == RB_BLACK)) { \
				/* sibling has no red child: move up */	\
				RB_COLOR(tmp, field) = RB_RED;		\
				elm = parent;				\
				parent = RB_PARENT(elm, field);		\
				continue;				\
			}						\
			if (RB_RIGHT(tmp, field) == NULL ||		\
			    RB_COLOR(RB_RIGHT(tmp, field), field) == RB_BLACK) { \
				struct type *oleft;			\
									\
				oleft = RB_LEFT(tmp, field);		\
				if (oleft != NULL)			\
					RB_COLOR(oleft, field) = RB_BLACK; \
				RB_COLOR(tmp, field) = RB_RED;		\
				RB_ROTATE_RIGHT(head, tmp, oleft, field); \
				tmp = RB_RIGHT(parent, field);		\
			}						\
			RB_COLOR(tmp, field) = RB_COLOR(parent, field);	\
			RB_COLOR(parent, field) = RB_BLACK;		\
			if (RB_RIGHT(tmp, field) != NULL)		\
				RB_COLOR(RB_RIGHT(tmp, field), field) = RB_BLACK; \
			RB_ROTATE_LEFT(head, parent, tmp, field);	\
			elm = RB_ROOT(head);				\
			break;						\
		} else {						\
			tmp = RB_LEFT(parent, field);			\
			if (RB_COLOR(tmp, field) == RB_RED) {		\
				RB_SET_BLACKRED(tmp, parent, field);	\
				RB_ROTATE_RIGHT(head, parent, tmp, field); \
				tmp = RB_LEFT(parent, field);		\
			}						\
			if ((RB_LEFT(tmp, field) == NULL ||		\
			     RB_COLOR(RB_LEFT(tmp, field), field) == RB_BLACK) && \
			    (RB_RIGHT(tmp, field) == NULL ||		\
			     RB_COLOR(RB_RIGHT(tmp, field), field) == RB_BLACK)) { \
				RB_COLOR(tmp, field) = RB_RED;		\
				elm = parent;				\
				parent = RB_PARENT(elm, field);		\
				continue;				\
			}						\
			if (RB_LEFT(tmp, field) == NULL ||		\
			    RB_COLOR(RB_LEFT(tmp, field), field) == RB_BLACK) { \
				struct type *oright;			\
									\
				oright = RB_RIGHT(tmp, field);		\
				if (oright != NULL)			\
					RB_COLOR(oright, field) = RB_BLACK; \
				RB_COLOR(tmp, field) = RB_RED;		\
				RB_ROTATE_LEFT(head, tmp, oright, field); \
				tmp = RB_LEFT(parent, field);		\
			}						\
			RB_COLOR(tmp, field) = RB_COLOR(parent, field);	\
			RB_COLOR(parent, field) = RB_BLACK;		\
			if (RB_LEFT(tmp, field) != NULL)		\
				RB_COLOR(RB_LEFT(tmp, field), field) = RB_BLACK; \
			RB_ROTATE_RIGHT(head, parent, tmp, field);	\
			elm = RB_ROOT(head);				\
			break;						\
		}							\
	}								\
	if (elm != NULL)						\
		RB_COLOR(elm, field) = RB_BLACK;			\
}									\
									\
/*									\
 * Unlink `elm`.  Running scans that were about to visit it are moved	\
 * on to its successor first.  A node with two children is replaced in	\
 * place by its successor, which takes over its links and colour.	\
 */									\
STORQUAL struct type *							\
name##_RB_REMOVE(struct name *head, struct type *elm)			\
{									\
	struct name##_scan_info *scan;					\
	struct type *old, *child, *parent;				\
	int color;							\
									\
	for (scan = RB_INPROG(head); scan != NULL; scan = scan->link) {	\
		if (scan->node == elm)					\
			scan->node = name##_RB_NEXT(elm);		\
	}								\
									\
	old = elm;							\
	if (RB_LEFT(elm, field) != NULL && RB_RIGHT(elm, field) != NULL) { \
		struct type *walk;					\
									\
		/* elm becomes the in-order successor of old */		\
		elm = RB_RIGHT(elm, field);				\
		while ((walk = RB_LEFT(elm, field)) != NULL)		\
			elm = walk;					\
		child = RB_RIGHT(elm, field);				\
		parent = RB_PARENT(elm, field);				\
		color = RB_COLOR(elm, field);				\
		if (child != NULL)					\
			RB_PARENT(child, field) = parent;		\
		if (parent == NULL) {					\
			RB_ROOT(head) = child;				\
		} else {						\
			if (RB_LEFT(parent, field) == elm)		\
				RB_LEFT(parent, field) = child;		\
			else						\
				RB_RIGHT(parent, field) = child;	\
			RB_AUGMENT(parent);				\
		}							\
		if (RB_PARENT(elm, field) == old)			\
			parent = elm;					\
		(elm)->field = (old)->field;				\
		if (RB_PARENT(old, field) == NULL) {			\
			RB_ROOT(head) = elm;				\
		} else {						\
			if (RB_LEFT(RB_PARENT(old, field), field) == old) \
				RB_LEFT(RB_PARENT(old, field), field) = elm; \
			else						\
				RB_RIGHT(RB_PARENT(old, field), field) = elm; \
			RB_AUGMENT(RB_PARENT(old, field));		\
		}							\
		RB_PARENT(RB_LEFT(old, field), field) = elm;		\
		if (RB_RIGHT(old, field) != NULL)			\
			RB_PARENT(RB_RIGHT(old, field), field) = elm;	\
		if (parent != NULL) {					\
			walk = parent;					\
			do {						\
				RB_AUGMENT(walk);			\
				walk = RB_PARENT(walk, field);		\
			} while (walk != NULL);				\
		}							\
	} else {							\
		/* at most one child: splice it into elm's place */	\
		if (RB_LEFT(elm, field) == NULL)			\
			child = RB_RIGHT(elm, field);			\
		else							\
			child = RB_LEFT(elm, field);			\
		parent = RB_PARENT(elm, field);				\
		color = RB_COLOR(elm, field);				\
		if (child != NULL)					\
			RB_PARENT(child, field) = parent;		\
		if (parent == NULL) {					\
			RB_ROOT(head) = child;				\
		} else {						\
			if (RB_LEFT(parent, field) == elm)		\
				RB_LEFT(parent, field) = child;		\
			else						\
				RB_RIGHT(parent, field) = child;	\
			RB_AUGMENT(parent);				\
		}							\
	}								\
	if (color == RB_BLACK)						\
		name##_RB_REMOVE_COLOR(head, parent, child);		\
	return (old);							\
}									\
									\
/* Link `elm` in; if an equal key is present return it and do nothing. */ \
STORQUAL struct type *							\
name##_RB_INSERT(struct name *head, struct type *elm)			\
{									\
	struct type *parent = NULL;					\
	struct type *tmp = RB_ROOT(head);				\
	int comp = 0;							\
									\
	while (tmp != NULL) {						\
		parent = tmp;						\
		comp = (cmp)(elm, parent);				\
		if (comp == 0)						\
			return (tmp);					\
		tmp = (comp < 0) ? RB_LEFT(tmp, field) : RB_RIGHT(tmp, field); \
	}								\
	RB_SET(elm, parent, field);					\
	if (parent == NULL) {						\
		RB_ROOT(head) = elm;					\
	} else {							\
		if (comp < 0)						\
			RB_LEFT(parent, field) = elm;			\
		else							\
			RB_RIGHT(parent, field) = elm;			\
		RB_AUGMENT(parent);					\
	}								\
	name##_RB_INSERT_COLOR(head, elm);				\
	return (NULL);							\
}									\
									\
/* The element comparing equal to `elm`, or NULL. */			\
STORQUAL struct type *							\
name##_RB_FIND(struct name *head, struct type *elm)			\
{									\
	struct type *tmp = RB_ROOT(head);				\
	int comp;							\
									\
	while (tmp != NULL) {						\
		comp = (cmp)(elm, tmp);					\
		if (comp == 0)						\
			break;						\
		tmp = (comp < 0) ? RB_LEFT(tmp, field) : RB_RIGHT(tmp, field); \
	}								\
	return (tmp);							\
}									\
									\
/* Range predicate used when RB_SCAN gets none: everything matches. */	\
static int								\
name##_SCANCMP_ALL(struct type *elm, void *data)			\
{									\
	(void)elm;							\
	(void)data;							\
	return (0);							\
}									\
									\
static __inline void							\
name##_scan_info_link(struct name##_scan_info *scan, struct name *head)	\
{									\
	RB_SCAN_LOCK(&head->rbh_spin);					\
	scan->link = RB_INPROG(head);					\
	RB_INPROG(head) = scan;						\
	RB_SCAN_UNLOCK(&head->rbh_spin);				\
}									\
									\
static __inline void							\
name##_scan_info_done(struct name##_scan_info *scan, struct name *head)	\
{									\
	struct name##_scan_info **linkp;				\
									\
	RB_SCAN_LOCK(&head->rbh_spin);					\
	for (linkp = &RB_INPROG(head); *linkp != scan;			\
	     linkp = &(*linkp)->link)					\
		;							\
	*linkp = scan->link;						\
	RB_SCAN_UNLOCK(&head->rbh_spin);				\
}									\
									\
/*									\
 * Call `callback` on each element of the contiguous range for which	\
 * `scancmp` returns 0 (it returns <0 below the range, >0 above), in	\
 * order.  The callback may remove any element, including the current	\
 * one.  A negative callback result stops the scan and is returned;	\
 * otherwise the sum of the callback results is.			\
 */									\
STORQUAL int								\
name##_RB_SCAN(struct name *head,					\
	       int (*scancmp)(struct type *, void *),			\
	       int (*callback)(struct type *, void *),			\
	       void *data)						\
{									\
	struct name##_scan_info info;					\
	struct type *best = NULL;					\
	struct type *tmp;						\
	int count = 0;							\
	int comp;							\
									\
	if (scancmp == NULL)						\
		scancmp = name##_SCANCMP_ALL;				\
									\
	/* leftmost element inside the range */				\
	tmp = RB_ROOT(head);						\
	while (tmp != NULL) {						\
		comp = scancmp(tmp, data);				\
		if (comp < 0) {						\
			tmp = RB_RIGHT(tmp, field);			\
		} else if (comp > 0) {					\
			tmp = RB_LEFT(tmp, field);			\
		} else {						\
			best = tmp;					\
			tmp = RB_LEFT(tmp, field);			\
		}							\
	}								\
	if (best == NULL)						\
		return (0);						\
									\
	info.node = name##_RB_NEXT(best);				\
	name##_scan_info_link(&info, head);				\
	for (;;) {							\
		comp = callback(best, data);				\
		if (comp < 0)						\
			break;						\
		count += comp;						\
		best = info.node;					\
		if (best == NULL || scancmp(best, data) != 0)		\
			break;						\
		info.node = name##_RB_NEXT(best);			\
	}								\
	name##_scan_info_done(&info, head);				\
	if (comp < 0)							\
		count = comp;						\
	return (count);							\
}									\
									\
/* In-order successor, or NULL. */					\
STORQUAL struct type *							\
name##_RB_NEXT(struct type *elm)					\
{									\
	if (RB_RIGHT(elm, field) != NULL) {				\
		elm = RB_RIGHT(elm, field);				\
		while (RB_LEFT(elm, field) != NULL)			\
			elm = RB_LEFT(elm, field);			\
		return (elm);						\
	}								\
	while (RB_PARENT(elm, field) != NULL &&				\
	       RB_RIGHT(RB_PARENT(elm, field), field) == elm)		\
		elm = RB_PARENT(elm, field);				\
	return (RB_PARENT(elm, field));					\
}									\
									\
/* In-order predecessor, or NULL. */					\
STORQUAL struct type *							\
name##_RB_PREV(struct type *elm)					\
{									\
	if (RB_LEFT(elm, field) != NULL) {				\
		elm = RB_LEFT(elm, field);				\
		while (RB_RIGHT(elm, field) != NULL)			\
			elm = RB_RIGHT(elm, field);			\
		return (elm);						\
	}								\
	while (RB_PARENT(elm, field) != NULL &&				\
	       RB_LEFT(RB_PARENT(elm, field), field) == elm)		\
		elm = RB_PARENT(elm, field);				\
	return (RB_PARENT(elm, field));					\
}									\
									\
/* Leftmost element if val < 0, else rightmost; NULL when empty. */	\
STORQUAL struct type *							\
name##_RB_MINMAX(struct name *head, int val)				\
{									\
	struct type *tmp = RB_ROOT(head);				\
	struct type *last = NULL;					\
									\
	while (tmp != NULL) {						\
		last = tmp;						\
		tmp = (val < 0) ? RB_LEFT(tmp, field) : RB_RIGHT(tmp, field); \
	}								\
	return (last);							\
}

/* Plus an exact lookup comparing `value` against the `indexfield` member. */
#define RB_GENERATE2(name, type, field, cmp, datatype, indexfield)	\
RB_GENERATE(name, type, field, cmp)					\
									\
struct type *								\
name##_RB_LOOKUP(struct name *head, datatype value)			\
{									\
	struct type *tmp = RB_ROOT(head);				\
									\
	while (tmp != NULL) {						\
		if (value > tmp->indexfield)				\
			tmp = RB_RIGHT(tmp, field);			\
		else if (value < tmp->indexfield)			\
			tmp = RB_LEFT(tmp, field);			\
		else							\
			break;						\
	}								\
	return (tmp);							\
}

/* Plus a lookup of the element whose [begfield, endfield] holds value. */
#define RB_GENERATE3(name, type, field, cmp, datatype, begfield, endfield) \
RB_GENERATE2(name, type, field, cmp, datatype, begfield)		\
									\
struct type *								\
name##_RB_RLOOKUP(struct name *head, datatype value)			\
{									\
	struct type *tmp = RB_ROOT(head);				\
									\
	while (tmp != NULL) {						\
		if (value >= tmp->begfield && value <= tmp->endfield)	\
			break;						\
		if (value > tmp->begfield)				\
			tmp = RB_RIGHT(tmp, field);			\
		else							\
			tmp = RB_LEFT(tmp, field);			\
	}								\
	return (tmp);							\
}

/*
 * Plus a lookup of the element whose [begfield, begfield + sizefield)
 * holds value (the end must not overflow datatype).
 */
#define RB_GENERATE4(name, type, field, cmp, datatype, begfield, sizefield) \
RB_GENERATE2(name, type, field, cmp, datatype, begfield)		\
									\
struct type *								\
name##_RB_RLOOKUP(struct name *head, datatype value)			\
{									\
	struct type *tmp = RB_ROOT(head);				\
									\
	while (tmp != NULL) {						\
		if (value >= tmp->begfield &&				\
		    value < tmp->begfield + tmp->sizefield)		\
			break;						\
		if (value > tmp->begfield)				\
			tmp = RB_RIGHT(tmp, field);			\
		else							\
			tmp = RB_LEFT(tmp, field);			\
	}								\
	return (tmp);							\
}

/* A lookup named name_RB_LOOKUP_ext driven by xcmp(value, elm). */
#define RB_GENERATE_XLOOKUP(name, ext, type, field, xcmp, datatype)	\
	_RB_GENERATE_XLOOKUP(name, ext, type, field, xcmp, datatype, )
#define RB_GENERATE_XLOOKUP_STATIC(name, ext, type, field, xcmp, datatype) \
	_RB_GENERATE_XLOOKUP(name, ext, type, field, xcmp, datatype,	\
			     __attribute__((__unused__)) static)

#define _RB_GENERATE_XLOOKUP(name, ext, type, field, xcmp, datatype, STORQUAL) \
STORQUAL struct type *							\
name##_RB_LOOKUP_##ext(struct name *head, datatype value)		\
{									\
	struct type *tmp = RB_ROOT(head);				\
	int r;								\
									\
	while (tmp != NULL) {						\
		r = xcmp(value, tmp);					\
		if (r == 0)						\
			break;						\
		tmp = (r > 0) ? RB_RIGHT(tmp, field) : RB_LEFT(tmp, field); \
	}								\
	return (tmp);							\
}

/* ------------------------------------------------------------------ */
/* Operations                                                          */
/* ------------------------------------------------------------------ */

#define RB_NEGINF	-1
#define RB_INF		1

#define RB_INSERT(name, root, elm)	name##_RB_INSERT(root, elm)
#define RB_REMOVE(name, root, elm)	name##_RB_REMOVE(root, elm)
#define RB_FIND(name, root, elm)	name##_RB_FIND(root, elm)
#define RB_LOOKUP(name, root, value)	name##_RB_LOOKUP(root, value)
#define RB_RLOOKUP(name, root, value)	name##_RB_RLOOKUP(root, value)
#define RB_SCAN(name, root, cmp, callback, data)			\
	name##_RB_SCAN(root, cmp, callback, data)
#define RB_FIRST(name, root)		name##_RB_MINMAX(root, RB_NEGINF)
#define RB_NEXT(name, root, elm)	name##_RB_NEXT(elm)
#define RB_PREV(name, root, elm)	name##_RB_PREV(elm)
#define RB_MIN(name, root)		name##_RB_MINMAX(root, RB_NEGINF)
#define RB_MAX(name, root)		name##_RB_MINMAX(root, RB_INF)

#define RB_FOREACH(x, name, head)					\
	for ((x) = RB_MIN(name, head); (x) != NULL; (x) = name##_RB_NEXT(x))

#endif /* !_SYS_TREE_H_ */
