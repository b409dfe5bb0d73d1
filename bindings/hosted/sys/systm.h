/*
 * Hosted stand-in for <sys/systm.h>: console output, panics, assertions,
 * sleep/wakeup, byte copies and the kernel's CRC-32.
 */
#ifndef _SYS_SYSTM_H_
#define _SYS_SYSTM_H_

#include <sys/types.h>
#include <sys/param.h>

extern int		hz;		/* clock ticks per second */
extern const char	*panicstr;	/* non-NULL once the system panics */

void	panic(const char *, ...) __dead2 __printflike(1, 2);
int	kprintf(const char *, ...) __printflike(1, 2);

/*
 * Assertions are always armed in the hosted build (the kernel arms them
 * with INVARIANTS); a failure panics with the expression and location.
 */
#define KKASSERT(exp) do {						\
	if (__predict_false(!(exp)))					\
		panic("assertion \"%s\" failed in %s at %s:%u",		\
		      #exp, __func__, __FILE__, __LINE__);		\
} while (0)

#define KASSERT(exp, msg) do {						\
	if (__predict_false(!(exp)))					\
		panic msg;						\
} while (0)

void	bcopy(volatile const void *from, volatile void *to, size_t len)
	    __nonnull(1) __nonnull(2);
void	bzero(volatile void *buf, size_t len) __nonnull(1);

uint32_t crc32(const void *buf, size_t size);
uint32_t crc32_ext(const void *buf, size_t size, uint32_t ocrc);

int	tsleep(const volatile void *, int, const char *, int) __nonnull(1);
void	tsleep_interlock(const volatile void *, int) __nonnull(1);
void	wakeup(const volatile void *chan) __nonnull(1);
void	wakeup_one(const volatile void *chan) __nonnull(1);

#endif /* !_SYS_SYSTM_H_ */
