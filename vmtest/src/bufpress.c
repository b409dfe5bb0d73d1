/*
 * bufpress: buffer-cache pressure workload for vmtest (written for this
 * project; built and run inside the DragonFly guest).
 *
 *   bufpress write     DIR NFILES SIZE   create, rewrite, truncate, remove
 *   bufpress verify    DIR NFILES SIZE   check every file against the rules
 *   bufpress big       FILE MB           one large sequential file
 *   bufpress verifybig FILE MB
 *
 * File contents are a function of (file number, generation, offset), so the
 * check needs no stored copy and runs again after an unmount/remount.
 * Rules for file i: removed when i % 13 == 0; truncated to a third when
 * i % 11 == 5; its middle half rewritten with generation 1 when i % 7 == 3.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PER_DIR	250
#define BIG_ID	0xb16UL
#define MIB	(1024UL * 1024UL)

static unsigned char *wbuf;
static unsigned char *rbuf;

static void
fill(unsigned char *p, size_t len, unsigned long id, unsigned long gen,
     unsigned long long off)
{
	size_t i;
	unsigned long long x;

	for (i = 0; i < len; i++) {
		x = (off + i) ^ ((unsigned long long)id * 2654435761ULL) ^
		    ((unsigned long long)gen << 40);
		x ^= x >> 29;
		x *= 0x9e3779b97f4a7c15ULL;
		p[i] = (unsigned char)(x >> 56);
	}
}

static size_t
file_size(unsigned long i, size_t size)
{
	return (512 + (i * 7919UL) % size);
}

static void
path_of(char *out, size_t outlen, const char *dir, unsigned long i)
{
	snprintf(out, outlen, "%s/d%03lu/f%06lu", dir, i / PER_DIR, i);
}

static double
now(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (tv.tv_sec + tv.tv_usec / 1e6);
}

static void
die(const char *what, const char *path)
{
	fprintf(stderr, "bufpress: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static void
write_at(int fd, const char *path, const unsigned char *p, size_t len, off_t off)
{
	ssize_t n;

	while (len > 0) {
		n = pwrite(fd, p, len, off);
		if (n < 0)
			die("write", path);
		p += n;
		len -= n;
		off += n;
	}
}

static int
do_write(const char *dir, unsigned long nfiles, size_t size)
{
	char path[1024];
	unsigned long i;
	size_t len;
	double t0 = now();
	unsigned long long bytes = 0;
	int fd;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		die("mkdir", dir);
	for (i = 0; i < nfiles; i += PER_DIR) {
		snprintf(path, sizeof(path), "%s/d%03lu", dir, i / PER_DIR);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			die("mkdir", path);
	}
	/* Pass 1: create everything (generation 0). */
	for (i = 0; i < nfiles; i++) {
		path_of(path, sizeof(path), dir, i);
		len = file_size(i, size);
		fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
		if (fd < 0)
			die("create", path);
		fill(wbuf, len, i, 0, 0);
		write_at(fd, path, wbuf, len, 0);
		if (i % 97 == 0 && fsync(fd) < 0)
			die("fsync", path);
		close(fd);
		bytes += len;
	}
	/* Pass 2: rewrite the middle half of some files in place. */
	for (i = 0; i < nfiles; i++) {
		if (i % 7 != 3)
			continue;
		path_of(path, sizeof(path), dir, i);
		len = file_size(i, size);
		fd = open(path, O_WRONLY);
		if (fd < 0)
			die("open", path);
		fill(wbuf, len / 2, i, 1, len / 4);
		write_at(fd, path, wbuf, len / 2, len / 4);
		close(fd);
	}
	/* Pass 3: truncate some, remove others. */
	for (i = 0; i < nfiles; i++) {
		path_of(path, sizeof(path), dir, i);
		if (i % 13 == 0) {
			if (unlink(path) < 0)
				die("unlink", path);
		} else if (i % 11 == 5) {
			if (truncate(path, file_size(i, size) / 3) < 0)
				die("truncate", path);
		}
	}
	printf("bufpress: wrote %lu files, %llu MB, in %.1f s\n", nfiles,
	       bytes / MIB, now() - t0);
	return (0);
}

static int
check_file(const char *path, unsigned long i, size_t size)
{
	size_t full = file_size(i, size);
	size_t want = (i % 11 == 5) ? full / 3 : full;
	size_t lo = full / 4, hi = full / 4 + full / 2, off;
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (i % 13 == 0) {
		if (fd >= 0 || errno != ENOENT) {
			printf("bufpress: BAD %s should be gone\n", path);
			return (1);
		}
		return (0);
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		printf("bufpress: BAD %s: %s\n", path, strerror(errno));
		return (1);
	}
	if ((size_t)st.st_size != want) {
		printf("bufpress: BAD %s size %jd, expected %zu\n", path,
		       (intmax_t)st.st_size, want);
		close(fd);
		return (1);
	}
	n = read(fd, rbuf, want + 1);
	close(fd);
	if (n != (ssize_t)want) {
		printf("bufpress: BAD %s read %zd of %zu bytes\n", path, n, want);
		return (1);
	}
	fill(wbuf, want, i, 0, 0);
	if (i % 7 == 3 && lo < want)
		fill(wbuf + lo, (hi < want ? hi : want) - lo, i, 1, lo);
	if (memcmp(wbuf, rbuf, want) != 0) {
		for (off = 0; off < want && wbuf[off] == rbuf[off]; off++)
			;
		printf("bufpress: BAD %s differs at offset %zu\n", path, off);
		return (1);
	}
	return (0);
}

static int
do_verify(const char *dir, unsigned long nfiles, size_t size)
{
	char path[1024];
	unsigned long i, bad = 0;
	double t0 = now();

	for (i = 0; i < nfiles; i++) {
		path_of(path, sizeof(path), dir, i);
		bad += check_file(path, i, size);
		if (bad > 20) {
			printf("bufpress: too many bad files, giving up\n");
			break;
		}
	}
	printf("bufpress: checked %lu files in %.1f s: %lu bad\n", i,
	       now() - t0, bad);
	return (bad != 0);
}

static int
do_big(const char *path, unsigned long mb, int verify)
{
	unsigned long m;
	double t0 = now();
	ssize_t n;
	int fd;

	fd = verify ? open(path, O_RDONLY) : open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0)
		die("open", path);
	for (m = 0; m < mb; m++) {
		fill(wbuf, MIB, BIG_ID, 0, (unsigned long long)m * MIB);
		if (!verify) {
			write_at(fd, path, wbuf, MIB, (off_t)m * MIB);
			continue;
		}
		n = pread(fd, rbuf, MIB, (off_t)m * MIB);
		if (n != (ssize_t)MIB || memcmp(wbuf, rbuf, MIB) != 0) {
			printf("bufpress: BAD %s in MiB %lu\n", path, m);
			close(fd);
			return (1);
		}
	}
	if (!verify && fsync(fd) < 0)
		die("fsync", path);
	close(fd);
	printf("bufpress: %s %lu MB in %.1f s\n", verify ? "checked" : "wrote",
	       mb, now() - t0);
	return (0);
}

int
main(int ac, char **av)
{
	unsigned long n;
	size_t size;

	if (ac < 4) {
		fprintf(stderr, "usage: bufpress write|verify DIR NFILES SIZE\n"
				"       bufpress big|verifybig FILE MB\n");
		return (2);
	}
	n = strtoul(av[3], NULL, 0);
	size = ac > 4 ? strtoul(av[4], NULL, 0) : 0;
	wbuf = malloc(size + MIB + 1);
	rbuf = malloc(size + MIB + 1);
	if (wbuf == NULL || rbuf == NULL)
		return (2);
	if (strcmp(av[1], "write") == 0 && size > 0)
		return (do_write(av[2], n, size));
	if (strcmp(av[1], "verify") == 0 && size > 0)
		return (do_verify(av[2], n, size));
	if (strcmp(av[1], "big") == 0)
		return (do_big(av[2], n, 0));
	if (strcmp(av[1], "verifybig") == 0)
		return (do_big(av[2], n, 1));
	fprintf(stderr, "bufpress: unknown mode %s\n", av[1]);
	return (2);
}
