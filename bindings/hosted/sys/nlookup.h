/*
 * Hosted stand-in for <sys/nlookup.h>.  hammer_io.c includes it but uses
 * nothing from it; only the lookup-flag namespace is declared.
 */
#ifndef _SYS_NLOOKUP_H_
#define _SYS_NLOOKUP_H_

struct nlookupdata;

#define NLC_FOLLOW	0x00000001

#endif /* !_SYS_NLOOKUP_H_ */
