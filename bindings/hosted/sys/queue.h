/*
 * Hosted stand-in for <sys/queue.h>: doubly-linked lists (LIST_*) and
 * tail queues (TAILQ_*) with the same link layout as the DragonFly kernel
 * (forward pointer plus a pointer to the previous element's forward
 * pointer), so structures embedding them have the kernel's shape.
 */
#ifndef _SYS_QUEUE_H_
#define _SYS_QUEUE_H_

#ifndef NULL
#define NULL	((void *)0)
#endif

/* ---- LIST: head holds only the first element ---- */

#define LIST_HEAD(name, type)						\
struct name {								\
	struct type *lh_first;						\
}

#define LIST_HEAD_INITIALIZER(head)	{ NULL }

#define LIST_ENTRY(type)						\
struct {								\
	struct type *le_next;						\
	struct type **le_prev;						\
}

#define LIST_FIRST(head)	((head)->lh_first)
#define LIST_EMPTY(head)	(LIST_FIRST(head) == NULL)
#define LIST_NEXT(elm, field)	((elm)->field.le_next)

#define LIST_INIT(head) do {						\
	LIST_FIRST(head) = NULL;					\
} while (0)

#define LIST_INSERT_HEAD(head, elm, field) do {				\
	LIST_NEXT(elm, field) = LIST_FIRST(head);			\
	if (LIST_NEXT(elm, field) != NULL)				\
		LIST_FIRST(head)->field.le_prev = &LIST_NEXT(elm, field); \
	LIST_FIRST(head) = (elm);					\
	(elm)->field.le_prev = &LIST_FIRST(head);			\
} while (0)

#define LIST_INSERT_AFTER(listelm, elm, field) do {			\
	LIST_NEXT(elm, field) = LIST_NEXT(listelm, field);		\
	if (LIST_NEXT(elm, field) != NULL)				\
		LIST_NEXT(listelm, field)->field.le_prev =		\
		    &LIST_NEXT(elm, field);				\
	LIST_NEXT(listelm, field) = (elm);				\
	(elm)->field.le_prev = &LIST_NEXT(listelm, field);		\
} while (0)

#define LIST_REMOVE(elm, field) do {					\
	if (LIST_NEXT(elm, field) != NULL)				\
		LIST_NEXT(elm, field)->field.le_prev =			\
		    (elm)->field.le_prev;				\
	*(elm)->field.le_prev = LIST_NEXT(elm, field);			\
} while (0)

#define LIST_FOREACH(var, head, field)					\
	for ((var) = LIST_FIRST(head); (var) != NULL;			\
	     (var) = LIST_NEXT(var, field))

#define LIST_FOREACH_MUTABLE(var, head, field, nvar)			\
	for ((var) = LIST_FIRST(head);					\
	     (var) != NULL && ((nvar) = LIST_NEXT(var, field), 1);	\
	     (var) = (nvar))

/* ---- TAILQ: head also tracks the last forward pointer ---- */

#define TAILQ_HEAD(name, type)						\
struct name {								\
	struct type *tqh_first;						\
	struct type **tqh_last;						\
}

#define TAILQ_HEAD_INITIALIZER(head)	{ NULL, &(head).tqh_first }

#define TAILQ_ENTRY(type)						\
struct {								\
	struct type *tqe_next;						\
	struct type **tqe_prev;						\
}

#define TAILQ_FIRST(head)	((head)->tqh_first)
#define TAILQ_EMPTY(head)	(TAILQ_FIRST(head) == NULL)
#define TAILQ_NEXT(elm, field)	((elm)->field.tqe_next)

/* the tqh_last/tqe_prev words double as a "struct headname" for LAST/PREV */
#define TAILQ_LAST(head, headname)					\
	(*(((struct headname *)((head)->tqh_last))->tqh_last))
#define TAILQ_PREV(elm, headname, field)				\
	(*(((struct headname *)((elm)->field.tqe_prev))->tqh_last))

#define TAILQ_INIT(head) do {						\
	TAILQ_FIRST(head) = NULL;					\
	(head)->tqh_last = &TAILQ_FIRST(head);				\
} while (0)

#define TAILQ_INSERT_HEAD(head, elm, field) do {			\
	TAILQ_NEXT(elm, field) = TAILQ_FIRST(head);			\
	if (TAILQ_NEXT(elm, field) != NULL)				\
		TAILQ_FIRST(head)->field.tqe_prev =			\
		    &TAILQ_NEXT(elm, field);				\
	else								\
		(head)->tqh_last = &TAILQ_NEXT(elm, field);		\
	TAILQ_FIRST(head) = (elm);					\
	(elm)->field.tqe_prev = &TAILQ_FIRST(head);			\
} while (0)

#define TAILQ_INSERT_TAIL(head, elm, field) do {			\
	TAILQ_NEXT(elm, field) = NULL;					\
	(elm)->field.tqe_prev = (head)->tqh_last;			\
	*(head)->tqh_last = (elm);					\
	(head)->tqh_last = &TAILQ_NEXT(elm, field);			\
} while (0)

#define TAILQ_INSERT_AFTER(head, listelm, elm, field) do {		\
	TAILQ_NEXT(elm, field) = TAILQ_NEXT(listelm, field);		\
	if (TAILQ_NEXT(elm, field) != NULL)				\
		TAILQ_NEXT(elm, field)->field.tqe_prev =		\
		    &TAILQ_NEXT(elm, field);				\
	else								\
		(head)->tqh_last = &TAILQ_NEXT(elm, field);		\
	TAILQ_NEXT(listelm, field) = (elm);				\
	(elm)->field.tqe_prev = &TAILQ_NEXT(listelm, field);		\
} while (0)

#define TAILQ_INSERT_BEFORE(listelm, elm, field) do {			\
	(elm)->field.tqe_prev = (listelm)->field.tqe_prev;		\
	TAILQ_NEXT(elm, field) = (listelm);				\
	*(listelm)->field.tqe_prev = (elm);				\
	(listelm)->field.tqe_prev = &TAILQ_NEXT(elm, field);		\
} while (0)

#define TAILQ_REMOVE(head, elm, field) do {				\
	if (TAILQ_NEXT(elm, field) != NULL)				\
		TAILQ_NEXT(elm, field)->field.tqe_prev =		\
		    (elm)->field.tqe_prev;				\
	else								\
		(head)->tqh_last = (elm)->field.tqe_prev;		\
	*(elm)->field.tqe_prev = TAILQ_NEXT(elm, field);		\
} while (0)

#define TAILQ_FOREACH(var, head, field)					\
	for ((var) = TAILQ_FIRST(head); (var) != NULL;			\
	     (var) = TAILQ_NEXT(var, field))

#define TAILQ_FOREACH_MUTABLE(var, head, field, nvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	     (var) != NULL && ((nvar) = TAILQ_NEXT(var, field), 1);	\
	     (var) = (nvar))

#endif /* !_SYS_QUEUE_H_ */
