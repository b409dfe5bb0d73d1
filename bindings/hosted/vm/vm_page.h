/* Hosted stand-in for <vm/vm_page.h>: only the page/buffer activity scale. */
#ifndef _VM_VM_PAGE_H_
#define _VM_VM_PAGE_H_

#define ACT_DECLINE	1
#define ACT_ADVANCE	3
#define ACT_INIT	5
#define ACT_MAX		64

#endif /* !_VM_VM_PAGE_H_ */
