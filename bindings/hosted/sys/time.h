/* Hosted stand-in for <sys/time.h>: only struct timeval. */
#ifndef _SYS_TIME_H_
#define _SYS_TIME_H_

#include <sys/types.h>

struct timeval {
	long	tv_sec;
	long	tv_usec;
};

#endif /* !_SYS_TIME_H_ */
