/* Hosted stand-in for <sys/fcntl.h>: open-mode bits (DragonFly values). */
#ifndef _SYS_FCNTL_H_
#define _SYS_FCNTL_H_

#define O_RDONLY	0x0000
#define O_WRONLY	0x0001
#define O_RDWR		0x0002
#define O_ACCMODE	0x0003
#define FREAD		0x0001
#define FWRITE		0x0002
#define O_NONBLOCK	0x0004
#define O_CREAT		0x0200
#define O_TRUNC		0x0400
#define O_EXCL		0x0800
#define FNONBLOCK	O_NONBLOCK

#endif /* !_SYS_FCNTL_H_ */
