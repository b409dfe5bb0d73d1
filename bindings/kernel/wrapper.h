/*
 * bindgen input for the kernel build: the real DragonFly headers, found
 * through -I$SYSDIR, included the way hammer_io.c includes them.
 */
#include <vfs/hammer/hammer.h>
#include <sys/fcntl.h>
#include <sys/nlookup.h>
#include <sys/buf.h>
#include <sys/buf2.h>
