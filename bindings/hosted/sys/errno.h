/*
 * Hosted stand-in for <sys/errno.h>: the error numbers (DragonFly values)
 * that HAMMER's I/O path returns or stores in b_error.
 */
#ifndef _SYS_ERRNO_H_
#define _SYS_ERRNO_H_

#define EPERM		1
#define ENOENT		2
#define EINTR		4
#define EIO		5
#define ENXIO		6
#define E2BIG		7
#define EBADF		9
#define ENOMEM		12
#define EBUSY		16
#define EEXIST		17
#define EINVAL		22
#define ENOSPC		28
#define EROFS		30
#define EAGAIN		35
#define EWOULDBLOCK	EAGAIN
#define EOPNOTSUPP	45
#define ETIMEDOUT	60
#define EDOM		33

#endif /* !_SYS_ERRNO_H_ */
