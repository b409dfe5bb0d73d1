//! The Rust versions of the header inlines and macros the port
//! implements in `src/sys`, compared with the C definitions of our hosted
//! headers: a small C program is compiled at test time with
//! `cc -I bindings/hosted` (the headers hammer_io.c is compiled against)
//! and its output is compared line by line with what the Rust code
//! computes; where the C inline calls into the kernel, the C program
//! provides a stub that prints the call, and the Rust version is run
//! against the hosted kernel and observed through its trace.
//!
//! Covered: the HAMMER offset macros (`HAMMER_VOL_ENCODE`, `_VOL_DECODE`,
//! `_ZONE_DECODE`, `_SHORT_OFF_ENCODE`, `_ENCODE_RAW_VOLUME`),
//! `buf_act_advance`, `buf_dep_init`, `LIST_INSERT_HEAD` on `b_dep`,
//! `TAILQ_INSERT_TAIL` / `TAILQ_REMOVE` on `hmp->iorun_list`,
//! `hammer_isactive`, the `hammer_io` bitfield layout and field offsets,
//! `BUF_KERNPROC`, `bread` over `breadnx`, `cluster_read` over
//! `cluster_readx`, `hammer_lock_ex` over `hammer_lock_ex_ident`, the
//! placemarker, B-Tree CRC finalisation and the counter helpers.
#![cfg(feature = "hosted")]

#[allow(unused_macros)]
#[macro_use]
mod port_common;

use core::mem::{offset_of, size_of, MaybeUninit};
use core::ptr::{addr_of_mut, null_mut};
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use hammer_io::sys::buf::{self as sbuf, Buf, BufSlot, Vnode};
use hammer_io::sys::hammer::{self as sh, HammerLock, Io, Mount as SMount};
use hammer_io::sys::zone;
use port_common::*;

const C_PROGRAM: &str = r#"
#include "hammer.h"
#include <sys/buf.h>
#include <sys/buf2.h>

extern int printf(const char *, ...);

static struct buf *cur_bp;
static struct buf *const sentinel = (struct buf *)0x5a5a;
static struct hammer_lock the_lock;

/* Stubs of the kernel calls the inlines make. */
void
lockmgr_kernproc(struct lock *lk)
{
	printf("stub:kernproc=%ld\n", (long)((char *)lk - (char *)cur_bp));
}

int
breadnx(struct vnode *vp, off_t loffset, int size, off_t *raoffset,
	int *rabsize, int cnt, struct buf **bpp)
{
	printf("stub:breadnx=%lx %lld %d %d %d %d %d\n", (unsigned long)vp,
	       (long long)loffset, size, raoffset == NULL, rabsize == NULL,
	       cnt, *bpp == NULL);
	*bpp = sentinel;
	return (42);
}

int
cluster_readx(struct vnode *vp, off_t filesize, off_t loffset, int blksize,
	      size_t minreq, size_t maxreq, struct buf **bpp)
{
	printf("stub:cluster_readx=%lx %lld %lld %d %lu %lu %d\n",
	       (unsigned long)vp, (long long)filesize, (long long)loffset,
	       blksize, (unsigned long)minreq, (unsigned long)maxreq,
	       *bpp == NULL);
	*bpp = sentinel;
	return (43);
}

void
hammer_lock_ex_ident(struct hammer_lock *lock, const char *ident)
{
	printf("stub:lock_ex_ident=%d %s\n", lock == &the_lock, ident);
}

static void
zero(void *p, unsigned long n)
{
	unsigned char *c = p;
	while (n--)
		*c++ = 0;
}

/* Symbolic names of the list pointers. */
static struct buf lb;
static struct hammer_io li[2];
static struct hammer_mount hm;
static struct hammer_io ti[3];

static const char *
lname(void *p)
{
	static const char *names[] = { "io0", "io1" };
	int i;

	if (p == NULL)
		return ("null");
	if (p == (void *)&lb.b_dep.lh_first)
		return ("head.first");
	for (i = 0; i < 2; ++i) {
		if (p == (void *)&li[i].worklist)
			return (names[i]);
		if (p == (void *)&li[i].worklist.node.le_next)
			return (i ? "io1.next" : "io0.next");
	}
	return ("?");
}

static const char *
tname(void *p)
{
	static const char *names[] = { "t0", "t1", "t2" };
	static const char *nexts[] = { "t0.next", "t1.next", "t2.next" };
	int i;

	if (p == NULL)
		return ("null");
	if (p == (void *)&hm.iorun_list.tqh_first)
		return ("head.first");
	for (i = 0; i < 3; ++i) {
		if (p == (void *)&ti[i])
			return (names[i]);
		if (p == (void *)&ti[i].iorun_entry.tqe_next)
			return (nexts[i]);
	}
	return ("?");
}

static void
describe_list(const char *step)
{
	int i;

	printf("list:%s=first:%s", step, lname(lb.b_dep.lh_first));
	for (i = 0; i < 2; ++i)
		printf(" io%d:%s,%s", i, lname(li[i].worklist.node.le_next),
		       lname(li[i].worklist.node.le_prev));
	printf("\n");
}

static void
describe_tailq(const char *step)
{
	struct hammer_io *io;

	printf("tailq:%s=", step);
	TAILQ_FOREACH(io, &hm.iorun_list, iorun_entry)
		printf("%s(prev:%s) ", tname(io),
		       tname(io->iorun_entry.tqe_prev));
	printf("last:%s\n", tname(hm.iorun_list.tqh_last));
}

#define OFF(t, f) printf("offset:" #t "." #f "=%lu\n", \
			 (unsigned long)__builtin_offsetof(struct t, f))
#define SIZE(t) printf("size:" #t "=%lu\n", (unsigned long)sizeof(struct t))

int
main(void)
{
	static const int vols[] = { 0, 1, 3, 255, 256, -1, 511 };
	static const unsigned long long offs[] = {
		0, 0x4000, 0x123456789abcdef0ULL, 0xffffffffffffffffULL,
		0x2ff0000000000000ULL, 0xa000000001234000ULL
	};
	static const long long rels[] = { 0, 512, 16383, -1, -16384 };
	static const unsigned int refs[] = {
		0, 1, 5, HAMMER_REFS_LOCKED | 1, HAMMER_REFS_CHECK,
		HAMMER_REFS_WANTED | HAMMER_REFS_LOCKED | HAMMER_REFS_CHECK | 7,
		0x0fffffff, 0xffffffff
	};
	static struct buf b;
	static struct hammer_io bio_;
	struct buf *slot;
	unsigned int i, j;
	int r;

	/* Offset macros. */
	for (i = 0; i < sizeof(vols) / sizeof(vols[0]); ++i)
		printf("vol_encode:%d=%llx\n", vols[i],
		       (unsigned long long)HAMMER_VOL_ENCODE(vols[i]));
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); ++i) {
		printf("vol_decode:%llx=%d\n", offs[i], HAMMER_VOL_DECODE(offs[i]));
		printf("zone_decode:%llx=%d\n", offs[i], HAMMER_ZONE_DECODE(offs[i]));
		printf("short_off:%llx=%llx\n", offs[i],
		       (unsigned long long)HAMMER_SHORT_OFF_ENCODE(offs[i]));
	}
	for (i = 0; i < sizeof(vols) / sizeof(vols[0]); ++i)
		for (j = 0; j < sizeof(rels) / sizeof(rels[0]); ++j)
			printf("raw_volume:%d,%lld=%llx\n", vols[i], rels[j],
			       (unsigned long long)HAMMER_ENCODE_RAW_VOLUME(
			       vols[i], (intptr_t)rels[j]));

	/* buf_act_advance */
	for (i = 0; i < 256; ++i) {
		zero(&b, sizeof(b));
		b.b_act_count = i;
		buf_act_advance(&b);
		printf("act:%u=%u\n", i, b.b_act_count);
	}

	/* buf_dep_init */
	zero(&b, sizeof(b));
	b.b_ops = (void *)1;
	b.b_dep.lh_first = (void *)2;
	b.b_flags = 0x77;
	buf_dep_init(&b);
	printf("dep_init=%d %d %x\n", b.b_ops == NULL, b.b_dep.lh_first == NULL,
	       b.b_flags);

	/* LIST_INSERT_HEAD on b_dep */
	LIST_INIT(&lb.b_dep);
	describe_list("init");
	LIST_INSERT_HEAD(&lb.b_dep, &li[0].worklist, node);
	describe_list("ins0");
	LIST_INSERT_HEAD(&lb.b_dep, &li[1].worklist, node);
	describe_list("ins1");

	/* TAILQ on iorun_list */
	TAILQ_INIT(&hm.iorun_list);
	describe_tailq("init");
	TAILQ_INSERT_TAIL(&hm.iorun_list, &ti[0], iorun_entry);
	describe_tailq("ins0");
	TAILQ_INSERT_TAIL(&hm.iorun_list, &ti[1], iorun_entry);
	describe_tailq("ins1");
	TAILQ_INSERT_TAIL(&hm.iorun_list, &ti[2], iorun_entry);
	describe_tailq("ins2");
	TAILQ_REMOVE(&hm.iorun_list, &ti[1], iorun_entry);
	describe_tailq("rm1");
	TAILQ_REMOVE(&hm.iorun_list, &ti[0], iorun_entry);
	describe_tailq("rm0");
	TAILQ_INSERT_TAIL(&hm.iorun_list, &ti[1], iorun_entry);
	describe_tailq("ins1b");
	TAILQ_REMOVE(&hm.iorun_list, &ti[1], iorun_entry);
	describe_tailq("rm1b");
	TAILQ_REMOVE(&hm.iorun_list, &ti[2], iorun_entry);
	describe_tailq("rm2");

	/* hammer_isactive */
	for (i = 0; i < sizeof(refs) / sizeof(refs[0]); ++i) {
		struct hammer_lock l;

		zero(&l, sizeof(l));
		l.refs = refs[i];
		printf("isactive:%x=%d\n", refs[i], hammer_isactive(&l) != 0);
	}

	/* hammer_io bitfields: the 8 bytes after modify_refs. */
#define BIT(f) do {							\
		unsigned char *p;					\
		zero(&bio_, sizeof(bio_));				\
		bio_.f = 1;						\
		p = (unsigned char *)&bio_.modify_refs + sizeof(int);	\
		printf("bit:" #f "=");					\
		for (j = 0; j < 8; ++j)					\
			printf("%02x", p[j]);				\
		printf("\n");						\
	} while (0)
	BIT(running); BIT(waiting); BIT(ioerror); BIT(modified);
	BIT(released); BIT(validated); BIT(waitdep); BIT(recovered);
	BIT(waitmod); BIT(reclaim); BIT(gencrc);

	/* Layout. */
	SIZE(hammer_io); SIZE(buf); SIZE(bio); SIZE(hammer_node_ondisk);
	SIZE(hammer_buffer); SIZE(hammer_volume); SIZE(hammer_mount);
	OFF(hammer_io, worklist); OFF(hammer_io, lock); OFF(hammer_io, type);
	OFF(hammer_io, hmp); OFF(hammer_io, volume); OFF(hammer_io, rb_node);
	OFF(hammer_io, iorun_entry); OFF(hammer_io, mod_root);
	OFF(hammer_io, bp); OFF(hammer_io, offset); OFF(hammer_io, bytes);
	OFF(hammer_io, modify_refs);
	OFF(buf, b_bio_array); OFF(buf, b_flags); OFF(buf, b_act_count);
	OFF(buf, b_lock); OFF(buf, b_cmd); OFF(buf, b_bufsize);
	OFF(buf, b_error); OFF(buf, b_data); OFF(buf, b_ops); OFF(buf, b_dep);
	OFF(bio, bio_offset); OFF(bio, bio_done); OFF(bio, bio_flags);
	OFF(bio, bio_caller_info1); OFF(bio, bio_caller_info2);
	OFF(hammer_buffer, io); OFF(hammer_buffer, ondisk);
	OFF(hammer_buffer, zoneX_offset); OFF(hammer_buffer, zone2_offset);
	OFF(hammer_buffer, clist);
	OFF(hammer_volume, io); OFF(hammer_volume, ondisk);
	OFF(hammer_volume, vol_no); OFF(hammer_volume, maxbuf_off);
	OFF(hammer_volume, devvp); OFF(hammer_volume, vol_flags);
	OFF(hammer_mount, io_token); OFF(hammer_mount, fs_token);
	OFF(hammer_mount, volu_root); OFF(hammer_mount, meta_root);
	OFF(hammer_mount, undo_root); OFF(hammer_mount, data_root);
	OFF(hammer_mount, lose_root); OFF(hammer_mount, locked_dirty_space);
	OFF(hammer_mount, io_running_space); OFF(hammer_mount, iorun_list);
	OFF(hammer_record, leaf); OFF(hammer_record, gflags);
	OFF(hammer_record, flags); OFF(hammer_record, zone2_offset);
	OFF(hammer_node, flags); OFF(hammer_node, ondisk);
	OFF(hammer_node, entry);
	printf("const:btree_crcsize=%lu\n", (unsigned long)HAMMER_BTREE_CRCSIZE);
	printf("const:cluster_size=%d\n", HAMMER_CLUSTER_SIZE);
	printf("const:bufmask64=%llx\n", (unsigned long long)HAMMER_BUFMASK64);

	/* Inlines that call the kernel (stubs above). */
	cur_bp = &b;
	BUF_KERNPROC(&b);
	slot = (struct buf *)1;
	r = bread((struct vnode *)0x1234, 0x4000, 16384, &slot);
	printf("stub:bread_ret=%d %d\n", r, slot == sentinel);
	slot = (struct buf *)1;
	r = cluster_read((struct vnode *)0x1234, 0x20000, 0x4000, 16384,
			 HAMMER_CLUSTER_SIZE, HAMMER_CLUSTER_SIZE, &slot);
	printf("stub:cluster_read_ret=%d %d\n", r, slot == sentinel);
	hammer_lock_ex(&the_lock);
	return (0);
}
"#;

/// The C program's output, once per test binary: `None` (and a loud
/// message) if no C compiler is available.
fn c_output() -> Option<&'static Vec<String>> {
    static OUT: OnceLock<Option<Vec<String>>> = OnceLock::new();
    OUT.get_or_init(|| {
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("port_inlines");
        std::fs::create_dir_all(&dir).expect("temp dir");
        let src = dir.join("inlines.c");
        let exe = dir.join("inlines");
        std::fs::write(&src, C_PROGRAM).expect("writing the C program");
        let include = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bindings/hosted");
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
        let status = Command::new(&cc)
            .args([
                "-nostdinc",
                "-ffreestanding",
                "-Wall",
                "-Werror",
                "-Wno-unused-function",
            ])
            .arg("-I")
            .arg(&include)
            .arg("-o")
            .arg(&exe)
            .arg(&src)
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => panic!("compiling the C macro program failed ({s})"),
            Err(e) => {
                eprintln!(
                    "!!! no C compiler ({cc}: {e}): the C side of port_inlines is SKIPPED !!!"
                );
                return None;
            }
        }
        let out = Command::new(&exe).output().expect("running the C program");
        assert!(out.status.success());
        Some(
            String::from_utf8(out.stdout)
                .expect("utf8")
                .lines()
                .map(str::to_string)
                .collect(),
        )
    })
    .as_ref()
}

/// The C lines starting with `prefix`.
fn c_lines(prefix: &str) -> Option<Vec<String>> {
    c_output().map(|v| {
        v.iter()
            .filter(|l| l.starts_with(prefix))
            .cloned()
            .collect()
    })
}

/// Compares the Rust lines with the C lines of the same prefix.
fn compare(prefix: &str, rust: Vec<String>) {
    assert!(!rust.is_empty());
    if let Some(c) = c_lines(prefix) {
        assert_eq!(rust, c, "{prefix}: Rust and C disagree");
    }
}

fn map(prefix: &str) -> Option<BTreeMap<String, String>> {
    c_lines(prefix).map(|v| {
        v.into_iter()
            .map(|l| {
                let (k, v) = l.split_once('=').expect("key=value");
                (k.to_string(), v.to_string())
            })
            .collect()
    })
}

const VOLS: [i32; 7] = [0, 1, 3, 255, 256, -1, 511];
const OFFS: [u64; 6] = [
    0,
    0x4000,
    0x1234_5678_9abc_def0,
    u64::MAX,
    0x2ff0_0000_0000_0000,
    0xa000_0000_0123_4000,
];
const RELS: [i64; 5] = [0, 512, 16383, -1, -16384];

#[test]
fn offset_macros() {
    let mut v = Vec::new();
    for vol in VOLS {
        v.push(format!(
            "vol_encode:{vol}={:x}",
            zone::HAMMER_VOL_ENCODE(vol)
        ));
    }
    compare("vol_encode:", v);
    let (mut d, mut z, mut s) = (Vec::new(), Vec::new(), Vec::new());
    for off in OFFS {
        d.push(format!(
            "vol_decode:{off:x}={}",
            zone::HAMMER_VOL_DECODE(off)
        ));
        z.push(format!(
            "zone_decode:{off:x}={}",
            zone::HAMMER_ZONE_DECODE(off)
        ));
        s.push(format!(
            "short_off:{off:x}={:x}",
            zone::HAMMER_SHORT_OFF_ENCODE(off)
        ));
    }
    compare("vol_decode:", d);
    compare("zone_decode:", z);
    compare("short_off:", s);
    let mut r = Vec::new();
    for vol in VOLS {
        for rel in RELS {
            r.push(format!(
                "raw_volume:{vol},{rel}={:x}",
                zone::HAMMER_ENCODE_RAW_VOLUME(vol, rel)
            ));
        }
    }
    compare("raw_volume:", r);
    // Hand-checked values from the definitions.
    assert_eq!(
        zone::HAMMER_ENCODE_RAW_VOLUME(1, 512),
        0x1010_0000_0000_0200
    );
    assert_eq!(zone::HAMMER_VOL_DECODE(0xa010_0000_0000_4000), 1);
    assert_eq!(zone::HAMMER_ZONE_DECODE(0xa010_0000_0000_4000), 10);
    let c = map("const:");
    if let Some(c) = c {
        assert_eq!(
            c["const:btree_crcsize"],
            ffi::HAMMER_BTREE_CRCSIZE.to_string()
        );
        assert_eq!(
            c["const:cluster_size"],
            zone::HAMMER_CLUSTER_SIZE.to_string()
        );
        assert_eq!(
            c["const:bufmask64"],
            format!("{:x}", zone::HAMMER_BUFMASK64)
        );
    }
}

/// A zeroed `struct buf` of our own (not a kernel buffer).
fn private_buf() -> Box<ffi::buf> {
    // SAFETY: all-zero is a valid struct buf.
    Box::new(unsafe { MaybeUninit::zeroed().assume_init() })
}

#[test]
fn buf_act_advance() {
    let mut v = Vec::new();
    for a in 0..=255u8 {
        let mut b = private_buf();
        b.b_act_count = a;
        // SAFETY: a private buffer; only b_act_count is touched.
        unsafe { Buf::from_raw(&mut *b).unwrap().buf_act_advance() };
        v.push(format!("act:{a}={}", b.b_act_count));
    }
    compare("act:", v);
}

#[test]
fn buf_dep_init() {
    let mut b = private_buf();
    b.b_ops = core::ptr::dangling_mut();
    b.b_dep.lh_first = core::ptr::dangling_mut();
    b.b_flags = 0x77;
    // SAFETY: a private buffer.
    unsafe { Buf::from_raw(&mut *b).unwrap().buf_dep_init() };
    compare(
        "dep_init=",
        vec![format!(
            "dep_init={} {} {:x}",
            b.b_ops.is_null() as i32,
            b.b_dep.lh_first.is_null() as i32,
            b.b_flags
        )],
    );
}

fn zeroed<T>() -> Box<T> {
    // SAFETY: only used for plain C structs, valid all-zero.
    unsafe { Box::<T>::new_zeroed().assume_init() }
}

#[test]
fn list_insert_head_on_b_dep() {
    let mut lb = private_buf();
    let mut li: [Box<ffi::hammer_io>; 2] = [zeroed(), zeroed()];
    let lbp: *mut ffi::buf = &mut *lb;
    let lip: [*mut ffi::hammer_io; 2] = [&mut *li[0], &mut *li[1]];
    let name = |p: usize| -> String {
        if p == 0 {
            return "null".into();
        }
        // SAFETY: only addresses are computed.
        unsafe {
            if p == addr_of_mut!((*lbp).b_dep.lh_first) as usize {
                return "head.first".into();
            }
            for (i, &io) in lip.iter().enumerate() {
                if p == addr_of_mut!((*io).worklist) as usize {
                    return format!("io{i}");
                }
                if p == addr_of_mut!((*io).worklist.node.le_next) as usize {
                    return format!("io{i}.next");
                }
            }
        }
        "?".into()
    };
    let describe = |step: &str| -> String {
        // SAFETY: reading our own structures.
        unsafe {
            let mut s = format!("list:{step}=first:{}", name((*lbp).b_dep.lh_first as usize));
            for (i, &io) in lip.iter().enumerate() {
                s += &format!(
                    " io{i}:{},{}",
                    name((*io).worklist.node.le_next as usize),
                    name((*io).worklist.node.le_prev as usize)
                );
            }
            s
        }
    };
    let mut v = vec![describe("init")];
    // SAFETY: our own buffer and ios; the list starts empty (LIST_INIT is
    // all-NULL).
    unsafe {
        let bp = Buf::from_raw(lbp).unwrap();
        assert!(bp.dep_is_empty());
        bp.dep_insert_head(Io::from_raw(lip[0]).unwrap());
        v.push(describe("ins0"));
        assert!(bp.dep_first_is(Io::from_raw(lip[0]).unwrap()));
        assert_eq!(bp.dep_io(), Io::from_raw(lip[0]));
        bp.dep_insert_head(Io::from_raw(lip[1]).unwrap());
        v.push(describe("ins1"));
        assert!(bp.dep_first_is(Io::from_raw(lip[1]).unwrap()));
    }
    compare("list:", v);
}

#[test]
fn tailq_on_iorun_list() {
    let mut hm: Box<ffi::hammer_mount> = zeroed();
    let hmp: *mut ffi::hammer_mount = &mut *hm;
    let mut ti: [Box<ffi::hammer_io>; 3] = [zeroed(), zeroed(), zeroed()];
    let tip: [*mut ffi::hammer_io; 3] = [&mut *ti[0], &mut *ti[1], &mut *ti[2]];
    // SAFETY: only an address is computed.
    let head_first = unsafe { addr_of_mut!((*hmp).iorun_list.tqh_first) } as usize;
    let name = |p: usize| -> String {
        if p == 0 {
            return "null".into();
        }
        if p == head_first {
            return "head.first".into();
        }
        // SAFETY: only addresses are computed.
        unsafe {
            for (i, &io) in tip.iter().enumerate() {
                if p == io as usize {
                    return format!("t{i}");
                }
                if p == addr_of_mut!((*io).iorun_entry.tqe_next) as usize {
                    return format!("t{i}.next");
                }
            }
        }
        "?".into()
    };
    // SAFETY: our own mount structure; TAILQ_INIT.
    unsafe {
        (*hmp).iorun_list.tqh_first = null_mut();
        (*hmp).iorun_list.tqh_last = addr_of_mut!((*hmp).iorun_list.tqh_first);
    }
    let m = unsafe { SMount::from_raw(hmp).unwrap() };
    let io = |i: usize| unsafe { Io::from_raw(tip[i]).unwrap() };
    let describe = |step: &str| -> String {
        let mut s = format!("tailq:{step}=");
        let mut cur = m.iorun_first();
        while let Some(e) = cur {
            // SAFETY: list members are our own ios.
            let prev = unsafe { (*e.as_ptr()).iorun_entry.tqe_prev } as usize;
            s += &format!("{}(prev:{}) ", name(e.as_ptr() as usize), name(prev));
            cur = e.iorun_next();
        }
        // SAFETY: as above.
        s + &format!(
            "last:{}",
            name(unsafe { (*hmp).iorun_list.tqh_last } as usize)
        )
    };
    let mut v = vec![describe("init")];
    assert!(m.iorun_is_empty());
    for (op, i, step) in [
        ('+', 0, "ins0"),
        ('+', 1, "ins1"),
        ('+', 2, "ins2"),
        ('-', 1, "rm1"),
        ('-', 0, "rm0"),
        ('+', 1, "ins1b"),
        ('-', 1, "rm1b"),
        ('-', 2, "rm2"),
    ] {
        if op == '+' {
            m.iorun_insert_tail(io(i));
        } else {
            m.iorun_remove(io(i));
        }
        v.push(describe(step));
    }
    assert!(m.iorun_is_empty());
    compare("tailq:", v);
}

#[test]
fn tailq_corruption_panics() {
    let _g = det(141);
    let mut hm: Box<ffi::hammer_mount> = zeroed();
    let hmp: *mut ffi::hammer_mount = &mut *hm;
    let mut a: Box<ffi::hammer_io> = zeroed();
    // SAFETY: our own structures; the list is left inconsistent on purpose.
    unsafe {
        (*hmp).iorun_list.tqh_first = null_mut();
        (*hmp).iorun_list.tqh_last = addr_of_mut!((*hmp).iorun_list.tqh_first);
        let m = SMount::from_raw(hmp).unwrap();
        let io = Io::from_raw(&mut *a).unwrap();
        m.iorun_insert_tail(io);
        // Removing an element whose predecessor does not point at it.
        (*hmp).iorun_list.tqh_first = null_mut();
        expect_kernel_panic("list corrupted", || m.iorun_remove(io));
    }
}

#[test]
fn hammer_isactive() {
    let refs = [
        0u32,
        1,
        5,
        ffi::HAMMER_REFS_LOCKED | 1,
        ffi::HAMMER_REFS_CHECK,
        ffi::HAMMER_REFS_WANTED | ffi::HAMMER_REFS_LOCKED | ffi::HAMMER_REFS_CHECK | 7,
        0x0fff_ffff,
        0xffff_ffff,
    ];
    let mut v = Vec::new();
    for r in refs {
        let mut l: Box<ffi::hammer_lock> = zeroed();
        l.refs = r;
        // SAFETY: our own lock.
        let active = unsafe { HammerLock::from_raw(&mut *l).unwrap().hammer_isactive() };
        v.push(format!("isactive:{r:x}={}", active as i32));
    }
    compare("isactive:", v);
}

#[test]
fn hammer_io_bitfields() {
    type Set = fn(&mut ffi::hammer_io);
    let fields: [(&str, Set); 11] = [
        ("running", |io| io.set_running(1)),
        ("waiting", |io| io.set_waiting(1)),
        ("ioerror", |io| io.set_ioerror(1)),
        ("modified", |io| io.set_modified(1)),
        ("released", |io| io.set_released(1)),
        ("validated", |io| io.set_validated(1)),
        ("waitdep", |io| io.set_waitdep(1)),
        ("recovered", |io| io.set_recovered(1)),
        ("waitmod", |io| io.set_waitmod(1)),
        ("reclaim", |io| io.set_reclaim(1)),
        ("gencrc", |io| io.set_gencrc(1)),
    ];
    let start = offset_of!(ffi::hammer_io, modify_refs) + size_of::<core::ffi::c_int>();
    let mut v = Vec::new();
    for (name, set) in fields {
        let mut io: Box<ffi::hammer_io> = zeroed();
        set(&mut io);
        // SAFETY: reading the bytes of our own structure.
        let bytes = unsafe {
            core::slice::from_raw_parts((&*io as *const ffi::hammer_io as *const u8).add(start), 8)
        };
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        v.push(format!("bit:{name}={hex}"));
    }
    compare("bit:", v);
    // And the port's accessors read the same bits back.
    let mut io: Box<ffi::hammer_io> = zeroed();
    // SAFETY: our own io.
    let h = unsafe { Io::from_raw(&mut *io).unwrap() };
    h.set_modified(true);
    h.set_gencrc(true);
    assert!(h.modified() && h.gencrc() && !h.released() && !h.running());
    assert_eq!((io.modified(), io.gencrc(), io.reclaim()), (1, 1, 0));
}

#[test]
fn struct_layouts() {
    macro_rules! rust_layout {
        ($($kind:ident $t:ident $(. $f:ident)?;)*) => {{
            let mut v = Vec::new();
            $( rust_layout!(@one v $kind $t $(. $f)?); )*
            v
        }};
        (@one $v:ident size $t:ident) => {
            $v.push((format!("size:{}", stringify!($t)), size_of::<ffi::$t>()));
        };
        (@one $v:ident off $t:ident . $f:ident) => {
            $v.push((format!("offset:{}.{}", stringify!($t), stringify!($f)), offset_of!(ffi::$t, $f)));
        };
    }
    let mut rust = rust_layout! {
        size hammer_io; size buf; size bio; size hammer_node_ondisk;
        size hammer_buffer; size hammer_volume; size hammer_mount;
        off hammer_io.worklist; off hammer_io.lock;
        off hammer_io.hmp; off hammer_io.volume; off hammer_io.rb_node;
        off hammer_io.iorun_entry; off hammer_io.mod_root;
        off hammer_io.bp; off hammer_io.offset; off hammer_io.bytes;
        off hammer_io.modify_refs;
        off buf.b_bio_array; off buf.b_flags; off buf.b_act_count;
        off buf.b_lock; off buf.b_cmd; off buf.b_bufsize;
        off buf.b_error; off buf.b_data; off buf.b_ops; off buf.b_dep;
        off bio.bio_offset; off bio.bio_done; off bio.bio_flags;
        off bio.bio_caller_info1; off bio.bio_caller_info2;
        off hammer_buffer.io; off hammer_buffer.ondisk;
        off hammer_buffer.zoneX_offset; off hammer_buffer.zone2_offset;
        off hammer_buffer.clist;
        off hammer_volume.io; off hammer_volume.ondisk;
        off hammer_volume.vol_no; off hammer_volume.maxbuf_off;
        off hammer_volume.devvp; off hammer_volume.vol_flags;
        off hammer_mount.io_token; off hammer_mount.fs_token;
        off hammer_mount.volu_root; off hammer_mount.meta_root;
        off hammer_mount.undo_root; off hammer_mount.data_root;
        off hammer_mount.lose_root; off hammer_mount.locked_dirty_space;
        off hammer_mount.io_running_space; off hammer_mount.iorun_list;
        off hammer_record.leaf; off hammer_record.gflags;
        off hammer_record.flags; off hammer_record.zone2_offset;
        off hammer_node.flags; off hammer_node.ondisk;
        off hammer_node.entry;
    };
    // `type` is a keyword in Rust (bindgen: `type_`).
    rust.push((
        "offset:hammer_io.type".into(),
        offset_of!(ffi::hammer_io, type_),
    ));
    let Some(mut c) = map("size:") else { return };
    c.extend(map("offset:").unwrap());
    assert_eq!(c.len(), rust.len(), "every C layout line has a Rust twin");
    for (k, v) in rust {
        assert_eq!(c.get(&k), Some(&v.to_string()), "{k}");
    }
}

// ---------------------------------------------------------------------
// Inlines that call into the kernel
// ---------------------------------------------------------------------

#[test]
fn buf_kernproc() {
    if let Some(c) = map("stub:") {
        assert_eq!(c["stub:kernproc"], offset_of!(ffi::buf, b_lock).to_string());
    }
    let _g = det(142);
    let dev = kern::Device::memory("inl", 1 << 20);
    let vp = dev.vnode();
    // SAFETY: a buffer of the machine, locked by us.
    unsafe {
        let bp = k::getblk(vp, 0x4000, 16384, 0, 0);
        assert_eq!(owner(bp), me());
        let rec = record();
        Buf::from_raw(bp).unwrap().buf_kernproc();
        let ev = rec.take();
        trace::set_sink(None);
        assert_eq!(owner(bp), LockOwner::Kernel);
        let kp: Vec<_> = ev.iter().filter(|e| e.func == "lockmgr_kernproc").collect();
        assert_eq!(kp.len(), 1);
        assert_eq!(kp[0].buf.map(|b| b.offset), Some(0x4000));
        k::brelse(bp);
    }
}

/// Runs `f` and returns, for each call of `func`, its traced arguments
/// and whether `*slot` was NULL when the kernel was entered.
fn observe(
    func: &'static str,
    slot: *mut *mut ffi::buf,
    f: impl FnOnce() -> core::ffi::c_int,
) -> (core::ffi::c_int, Vec<(Vec<i64>, bool)>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let slot = slot as usize;
    trace::set_sink(Some(Arc::new(move |e: &trace::Event| {
        if e.func == func && e.kind == trace::Kind::Call {
            // SAFETY: the slot lives on the caller's stack during `f`.
            let cleared = unsafe { (*(slot as *mut *mut ffi::buf)).is_null() };
            s2.lock().unwrap().push((e.args.clone(), cleared));
        }
    })));
    let r = f();
    trace::set_sink(None);
    let v = seen.lock().unwrap().clone();
    (r, v)
}

#[test]
fn bread_is_breadnx_without_readahead() {
    if let Some(c) = map("stub:") {
        assert_eq!(
            c["stub:breadnx"], "1234 16384 16384 1 1 0 1",
            "C: cleared *bpp, no read-ahead"
        );
        assert_eq!(c["stub:bread_ret"], "42 1");
    }
    let _g = det(143);
    let dev = kern::Device::memory("inl", 1 << 20);
    dev.write_stable(0x4000, &pattern(1, 16384));
    let vp = dev.vnode();
    let junk: *mut ffi::buf = core::ptr::dangling_mut();
    let mut bp = junk;
    let slotp: *mut *mut ffi::buf = &mut bp;
    // SAFETY: a vnode of the machine; the slot outlives the call.
    let (r, calls) = observe("breadnx", slotp, || unsafe {
        sbuf::bread(Vnode::from_raw(vp), 0x4000, 16384, BufSlot::from_raw(slotp))
    });
    assert_eq!(r, 0);
    assert_eq!(
        calls,
        vec![(vec![0x4000, 16384, 0], true)],
        "(loffset, size, cnt), *bpp cleared"
    );
    assert!(!bp.is_null() && bp != junk);
    assert_eq!(bdata(bp), pattern(1, 16384));
    brelse(bp);
}

#[test]
fn cluster_read_is_cluster_readx() {
    if let Some(c) = map("stub:") {
        assert_eq!(
            c["stub:cluster_readx"],
            format!(
                "1234 {} {} 16384 {cs} {cs} 1",
                0x20000,
                0x4000,
                cs = ffi::HAMMER_CLUSTER_SIZE
            )
        );
        assert_eq!(c["stub:cluster_read_ret"], "43 1");
    }
    let _g = det(144);
    let dev = kern::Device::memory("inl", 1 << 20);
    let vp = dev.vnode();
    let junk: *mut ffi::buf = core::ptr::dangling_mut();
    let mut bp = junk;
    let slotp: *mut *mut ffi::buf = &mut bp;
    let cs = zone::HAMMER_CLUSTER_SIZE as usize;
    // SAFETY: as above.
    let (r, calls) = observe("cluster_readx", slotp, || unsafe {
        sbuf::cluster_read(
            Vnode::from_raw(vp),
            0x20000,
            0x4000,
            16384,
            cs,
            cs,
            BufSlot::from_raw(slotp),
        )
    });
    assert_eq!(r, 0);
    assert_eq!(calls, vec![(vec![0x20000, 0x4000, 16384], true)]);
    assert!(!bp.is_null() && bp != junk);
    brelse(bp);
    // Read-ahead happened up to the file size given.
    assert!(kern::lookup(vp, 0x8000).is_some());
}

#[test]
fn hammer_lock_ex_is_lock_ex_ident_hmrlck() {
    if let Some(c) = map("stub:") {
        assert_eq!(c["stub:lock_ex_ident"], "1 hmrlck");
    }
    let _g = det(145);
    let mut l: Box<ffi::hammer_lock> = zeroed();
    let lp: *mut ffi::hammer_lock = &mut *l;
    // SAFETY: our own lock, referenced first as HAMMER requires.
    unsafe {
        lock::hammer_ref(lp);
        let h = HammerLock::from_raw(lp).unwrap();
        h.hammer_lock_ex();
        assert!(lock::excl_owned(lp));
        assert_eq!(lock::lockval_word(lp), lock::LOCKF_EXCLUSIVE | 1);
        h.hammer_lock_ex();
        assert_eq!(
            lock::lockval_word(lp),
            lock::LOCKF_EXCLUSIVE | 2,
            "recursive"
        );
        h.hammer_unlock();
        h.hammer_unlock();
        assert_eq!(lock::lockval_word(lp), 0);
        lock::hammer_rel(lp);
    }
}

// ---------------------------------------------------------------------
// Other helpers of src/sys
// ---------------------------------------------------------------------

#[test]
fn placemarker_is_a_zeroed_dummy() {
    let _g = det(146);
    let zero: Box<ffi::hammer_io> = zeroed();
    let n = size_of::<ffi::hammer_io>();
    let rec = record();
    sh::with_placemarker(|io| {
        // SAFETY: the placemarker lives during the closure.
        unsafe {
            assert_eq!((*io.as_ptr()).type_, ffi::HAMMER_STRUCTURE_DUMMY);
            let mut want = zero.clone();
            want.type_ = ffi::HAMMER_STRUCTURE_DUMMY;
            let a = core::slice::from_raw_parts(io.as_ptr() as *const u8, n);
            let b = core::slice::from_raw_parts(&*want as *const ffi::hammer_io as *const u8, n);
            assert_eq!(a, b, "bzero'd but for the type");
        }
    });
    let ev = rec.take();
    trace::set_sink(None);
    assert_eq!(
        ev.iter()
            .filter(|e| e.func == "bzero" && e.args == vec![n as i64])
            .count(),
        1,
        "bzero(&iodummy, sizeof(iodummy)), as the C"
    );
}

#[test]
fn crc32_is_the_kernels() {
    let mut x = 0x9e37_79b9u32;
    for len in [0usize, 1, 3, 4, 255, 4092, 16384] {
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (x >> 16) as u8
            })
            .collect();
        // SAFETY: the slice is readable.
        let kernel = unsafe { k::crc32(data.as_ptr() as *const core::ffi::c_void, len) };
        assert_eq!(hammer_io::sys::kern::crc32(&data), kernel, "len {len}");
    }
}

#[test]
fn node_crc_covers_the_node_after_its_crc_field() {
    let mut ondisk: Box<ffi::hammer_node_ondisk> = zeroed();
    // SAFETY: filling our own node image.
    unsafe {
        let p = &mut *ondisk as *mut ffi::hammer_node_ondisk as *mut u8;
        for i in 0..size_of::<ffi::hammer_node_ondisk>() {
            *p.add(i) = (i * 7) as u8;
        }
    }
    let mut node: Box<ffi::hammer_node> = zeroed();
    node.ondisk = &mut *ondisk;
    // SAFETY: our own node with its image.
    let n = unsafe { sh::Node::from_raw(&mut *node).unwrap() };
    assert!(n.has_ondisk());
    n.finalize_crc();
    // SAFETY: reading our own image.
    let bytes = unsafe {
        core::slice::from_raw_parts(
            &*ondisk as *const ffi::hammer_node_ondisk as *const u8,
            size_of::<ffi::hammer_node_ondisk>(),
        )
    };
    assert_eq!(ondisk.crc, crc32(&bytes[4..4 + ffi::HAMMER_BTREE_CRCSIZE]));
    assert_eq!(bytes.len(), 4 + ffi::HAMMER_BTREE_CRCSIZE);
}

#[test]
fn counter_helpers_add_signed_deltas() {
    use core::sync::atomic::Ordering::SeqCst;
    use hammer_io::sys::counters as c;
    let _g = det(147);
    c::hammer_count_io_locked_add(2);
    c::hammer_count_io_locked_add(-1);
    assert_eq!(globals::hammer_count_io_locked.load(SeqCst), 1);
    c::hammer_count_io_locked_add(-1);
    c::hammer_count_dirtybufspace_add(-16384);
    assert_eq!(globals::hammer_count_dirtybufspace.load(SeqCst), -16384);
    c::hammer_count_dirtybufspace_add(16384);
    c::hammer_count_io_running_read_add(5);
    c::hammer_count_io_running_write_add(-5);
    assert_eq!(globals::hammer_count_io_running_read.load(SeqCst), 5);
    assert_eq!(globals::hammer_count_io_running_write.load(SeqCst), -5);
    c::hammer_count_io_running_read_add(-5);
    c::hammer_count_io_running_write_add(5);
    c::hammer_stats_disk_read_add(100);
    c::hammer_stats_disk_write_add(200);
    assert_eq!(globals::counters().disk_read, 100);
    assert_eq!(globals::counters().disk_write, 200);
    globals::hammer_cluster_enable.store(0, SeqCst);
    globals::hammer_debug_io.store(3, SeqCst);
    globals::hammer_verify_data.store(0, SeqCst);
    assert_eq!(
        (
            c::hammer_cluster_enable(),
            c::hammer_debug_io(),
            c::hammer_verify_data()
        ),
        (0, 3, 0)
    );
    assert!(!c::panicstr_is_set());
    set_panicstr(true);
    assert!(c::panicstr_is_set());
    set_panicstr(false);
    assert_eq!(c::hz(), kern::config().hz);
    globals::reset();
}
