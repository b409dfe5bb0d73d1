/*
 * Variadic entry points of the hosted kernel: panic() and kprintf() format
 * their arguments here and hand the text to the Rust side of the hosted
 * environment.  hosted_panic_str() unwinds (a Rust panic), so this file is
 * compiled with -fexceptions and keeps no state that would need cleanup.
 *
 * Only compiler headers are included: the hosted kernel headers shadow
 * <sys/...> for this translation unit, so libc declarations are spelled
 * out by hand.
 */
#include <stdarg.h>
#include <stddef.h>

int vsnprintf(char *str, size_t size, const char *fmt, va_list ap);
void *malloc(size_t size);
void free(void *ptr);

void hosted_panic_str(const char *msg) __attribute__((__noreturn__));
void hosted_kprintf_str(const char *msg);

void panic(const char *fmt, ...) __attribute__((__noreturn__));
int kprintf(const char *fmt, ...);

#define SHIM_BUFSIZE	1024

void
panic(const char *fmt, ...)
{
	/*
	 * Static storage: the message must outlive the unwind, and a panic
	 * message longer than this is truncated like the kernel's is.
	 */
	static __thread char buf[SHIM_BUFSIZE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	hosted_panic_str(buf);
}

int
kprintf(const char *fmt, ...)
{
	char small[SHIM_BUFSIZE];
	char *out = small;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return (n);
	if ((size_t)n >= sizeof(small)) {
		out = malloc((size_t)n + 1);
		if (out == NULL) {
			out = small;
		} else {
			va_start(ap, fmt);
			vsnprintf(out, (size_t)n + 1, fmt, ap);
			va_end(ap);
		}
	}
	hosted_kprintf_str(out);
	if (out != small)
		free(out);
	return (n);
}
