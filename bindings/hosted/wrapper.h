/*
 * bindgen input for the hosted build: the same headers hammer_io.c
 * includes, in the same order, resolved against bindings/hosted.
 */
#include "hammer.h"
#include <sys/fcntl.h>
#include <sys/nlookup.h>
#include <sys/buf.h>
#include <sys/buf2.h>
