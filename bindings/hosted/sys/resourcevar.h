/* Hosted stand-in for <sys/resourcevar.h>: only the rate limiter state. */
#ifndef _SYS_RESOURCEVAR_H_
#define _SYS_RESOURCEVAR_H_

/* krateprintf() bookkeeping: allowed messages per second and usage. */
struct krate {
	int	freq;
	int	ticks;
	int	count;
};

#endif /* !_SYS_RESOURCEVAR_H_ */
