/*
 * Hosted stand-in for <sys/thread.h>: LWKT serializing tokens.  A token
 * is an opaque word-sized counter plus an owner reference; the hosted
 * environment implements the acquire/release calls.
 */
#ifndef _SYS_THREAD_H_
#define _SYS_THREAD_H_

#include <sys/types.h>

struct thread;
struct lwkt_tokref;

typedef struct thread		*thread_t;
typedef struct lwkt_token	*lwkt_token_t;

typedef struct lwkt_token {
	long			t_count;
	struct lwkt_tokref	*t_ref;
	long			t_collisions;
	const char		*t_desc;
} lwkt_token;

#define LWKT_TOKEN_INITIALIZER(name)	{ 0, NULL, 0, #name }

#define TOK_EXCLUSIVE	0x00000001
#define TOK_EXCLREQ	0x00000002
#define TOK_INCR	4

void	lwkt_gettoken(lwkt_token_t);
void	lwkt_reltoken(lwkt_token_t);
void	lwkt_token_init(lwkt_token_t, const char *);

#endif /* !_SYS_THREAD_H_ */
