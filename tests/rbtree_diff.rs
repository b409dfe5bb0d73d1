//! Differential test: `hammer_io::rbtree` against the C functions that
//! `RB_GENERATE` emits from our `bindings/hosted/sys/tree.h`.
//!
//! The C side is compiled by this test at run time with the system C
//! compiler (`$CC`, default `cc`) into a shared object and loaded with
//! dlopen. Three trees with identical node pools get the same random
//! operation script: one driven only by C, one only by Rust, and one where
//! every single call (including the calls made from inside scan callbacks,
//! so C scans see Rust removals and vice versa) picks C or Rust at random.
//! After every operation all three must have exactly the same shape: root,
//! and for each node its left, right, parent and colour; scans must visit
//! the same nodes and return the same values.
//!
//! `RBTREE_C_INCLUDE` (include directory holding `sys/tree.h`) and
//! `RBTREE_C_CFLAGS` (extra flags, split on spaces) point the C side at
//! another `<sys/tree.h>`, e.g. the original one.
#![cfg(feature = "hosted")]

#[path = "rbtree_common/mod.rs"]
mod common;

use core::ffi::{c_char, c_int, c_void};
use std::ffi::{CStr, CString};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use common::{check_tree, node_pool, shape, Rng, THead, TNode, T};
use hammer_io::rbtree::ScanFn;

const C_SOURCE: &str = r#"
/*
 * No system headers: the include path puts the hosted sys/ headers first,
 * and libc's headers do not mix with them.
 */
#ifndef NULL
#define NULL ((void *)0)
#endif
#include <sys/tree.h>

struct tnode {
	RB_ENTRY(tnode)	rb_node;
	unsigned long long key;
	unsigned long long id;
};

RB_HEAD(ttree, tnode);
RB_PROTOTYPE(ttree, tnode, rb_node, tnode_cmp);

static int
tnode_cmp(struct tnode *a, struct tnode *b)
{
	if (a->key < b->key)
		return (-1);
	return (a->key > b->key);
}

RB_GENERATE(ttree, tnode, rb_node, tnode_cmp);

/* Same protocol as the Rust test lock: counta = held, countb = uses. */
void
tc_spin_lock(struct spinlock *s)
{
	if (s->counta != 0)
		__builtin_trap();
	s->counta = 1;
	s->countb++;
}

void
tc_spin_unlock(struct spinlock *s)
{
	if (s->counta != 1)
		__builtin_trap();
	s->counta = 0;
}

__SIZE_TYPE__ tnode_size(void) { return (sizeof(struct tnode)); }
__SIZE_TYPE__ ttree_size(void) { return (sizeof(struct ttree)); }
__SIZE_TYPE__ tnode_key_offset(void)
{
	return (__builtin_offsetof(struct tnode, key));
}
__SIZE_TYPE__ ttree_spin_offset(void)
{
	return (__builtin_offsetof(struct ttree, rbh_spin));
}
"#;

type NodeFn = unsafe extern "C-unwind" fn(*mut THead, *mut TNode) -> *mut TNode;
type StepFn = unsafe extern "C-unwind" fn(*mut TNode) -> *mut TNode;
type MinMaxFn = unsafe extern "C-unwind" fn(*mut THead, c_int) -> *mut TNode;
type ScanCFn =
    unsafe extern "C-unwind" fn(*mut THead, ScanFn<TNode>, ScanFn<TNode>, *mut c_void) -> c_int;
type SizeFn = unsafe extern "C-unwind" fn() -> usize;

struct CTree {
    insert: NodeFn,
    remove: NodeFn,
    find: NodeFn,
    next: StepFn,
    prev: StepFn,
    minmax: MinMaxFn,
    scan: ScanCFn,
}

extern "C-unwind" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *const c_char;
}
const RTLD_NOW: c_int = 2;

fn dl_error() -> String {
    // SAFETY: dlerror returns null or a C string valid until the next call.
    unsafe {
        let e = dlerror();
        if e.is_null() {
            "unknown".into()
        } else {
            CStr::from_ptr(e).to_string_lossy().into_owned()
        }
    }
}

/// Compiles and loads the C tree once per test process.
fn c_tree() -> &'static CTree {
    static C: OnceLock<CTree> = OnceLock::new();
    C.get_or_init(|| {
        let include = std::env::var("RBTREE_C_INCLUDE")
            .unwrap_or_else(|_| format!("{}/bindings/hosted", env!("CARGO_MANIFEST_DIR")));
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let stem = format!("rbtree_diff_{}", std::process::id());
        let src = dir.join(format!("{stem}.c"));
        let so = dir.join(format!("{stem}.so"));
        std::fs::write(&src, C_SOURCE).unwrap();
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let mut cmd = Command::new(&cc);
        cmd.args(["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-D_KERNEL"])
            .args([
                "-Drb_spin_lock=tc_spin_lock",
                "-Drb_spin_unlock=tc_spin_unlock",
            ])
            .arg(format!("-I{include}"));
        if let Ok(extra) = std::env::var("RBTREE_C_CFLAGS") {
            cmd.args(extra.split_whitespace());
        }
        cmd.arg("-o").arg(&so).arg(&src);
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
        assert!(
            out.status.success(),
            "compiling the C tree failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::eprintln!("rbtree_diff: C tree from {include}/sys/tree.h");
        let path = CString::new(so.to_str().unwrap()).unwrap();
        // SAFETY: loading a library we just built; it has no constructors.
        let h = unsafe { dlopen(path.as_ptr(), RTLD_NOW) };
        assert!(!h.is_null(), "dlopen: {}", dl_error());
        // Once mapped, the files are no longer needed (and are per-process).
        let _ = std::fs::remove_file(&so);
        let _ = std::fs::remove_file(&src);
        let sym = |name: &str| -> *mut c_void {
            let n = CString::new(name).unwrap();
            // SAFETY: `h` is a live handle, `n` a C string.
            let p = unsafe { dlsym(h, n.as_ptr()) };
            assert!(!p.is_null(), "dlsym {name}: {}", dl_error());
            p
        };
        // SAFETY (all transmutes): each symbol is the C function of that
        // name whose prototype the C source above (and RB_PROTOTYPE)
        // declares; the Rust types spell the same signature.
        unsafe {
            let sizes: [SizeFn; 4] = [
                std::mem::transmute::<*mut c_void, SizeFn>(sym("tnode_size")),
                std::mem::transmute::<*mut c_void, SizeFn>(sym("ttree_size")),
                std::mem::transmute::<*mut c_void, SizeFn>(sym("tnode_key_offset")),
                std::mem::transmute::<*mut c_void, SizeFn>(sym("ttree_spin_offset")),
            ];
            assert_eq!(sizes[0](), size_of::<TNode>(), "node layout");
            assert_eq!(sizes[1](), size_of::<THead>(), "head layout");
            assert_eq!(sizes[2](), core::mem::offset_of!(TNode, key), "node layout");
            assert_eq!(
                sizes[3](),
                core::mem::offset_of!(THead, rbh_spin),
                "head layout"
            );
            CTree {
                insert: std::mem::transmute::<*mut c_void, NodeFn>(sym("ttree_RB_INSERT")),
                remove: std::mem::transmute::<*mut c_void, NodeFn>(sym("ttree_RB_REMOVE")),
                find: std::mem::transmute::<*mut c_void, NodeFn>(sym("ttree_RB_FIND")),
                next: std::mem::transmute::<*mut c_void, StepFn>(sym("ttree_RB_NEXT")),
                prev: std::mem::transmute::<*mut c_void, StepFn>(sym("ttree_RB_PREV")),
                minmax: std::mem::transmute::<*mut c_void, MinMaxFn>(sym("ttree_RB_MINMAX")),
                scan: std::mem::transmute::<*mut c_void, ScanCFn>(sym("ttree_RB_SCAN")),
            }
        }
    })
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Imp {
    C,
    Rust,
    Mixed,
}

/// One of the three trees under test.
struct Tree {
    imp: Imp,
    head: *mut THead,
    pool: Vec<TNode>,
    base: *mut TNode,
    in_tree: Vec<bool>,
    /// Picks the implementation of each call of the mixed tree.
    choice: Rng,
    /// Everything observable: visits, return values, lookup results.
    log: Vec<i64>,
}

/// State of one running scan, handed to the callbacks as `data`.
struct ScanCtx {
    tree: *mut Tree,
    lo: u64,
    hi: u64,
    actions: Rng,
    depth: u32,
}

impl Tree {
    fn new(imp: Imp, keys: u64) -> Tree {
        let mut pool = node_pool(2 * keys as usize, |i| (i / 2) as u64);
        Tree {
            imp,
            head: Box::into_raw(THead::new()),
            base: pool.as_mut_ptr(),
            in_tree: vec![false; pool.len()],
            pool,
            choice: Rng(0xc0ffee),
            log: Vec::new(),
        }
    }

    fn use_c(&mut self) -> bool {
        match self.imp {
            Imp::C => true,
            Imp::Rust => false,
            Imp::Mixed => self.choice.pct(50),
        }
    }

    fn node(&self, i: usize) -> *mut TNode {
        assert!(i < self.pool.len());
        // SAFETY: in bounds; the pool is never resized.
        unsafe { self.base.add(i) }
    }

    fn idx(&self, p: *mut TNode) -> i64 {
        if p.is_null() {
            -1
        } else {
            // SAFETY: results are always pool nodes.
            unsafe { p.offset_from(self.base) as i64 }
        }
    }

    fn insert(&mut self, i: usize) {
        if self.in_tree[i] {
            return;
        }
        let n = self.node(i);
        // SAFETY: `n` is a pool node outside the tree.
        let r = unsafe {
            if self.use_c() {
                (c_tree().insert)(self.head, n)
            } else {
                T::insert(self.head, n)
            }
        };
        if r.is_null() {
            self.in_tree[i] = true;
        }
        let r = self.idx(r);
        self.log.extend([1, i as i64, r]);
    }

    fn remove(&mut self, i: usize) {
        if !self.in_tree[i] {
            return;
        }
        let n = self.node(i);
        // SAFETY: `n` is in the tree.
        let r = unsafe {
            if self.use_c() {
                (c_tree().remove)(self.head, n)
            } else {
                T::remove(self.head, n)
            }
        };
        assert_eq!(r, n);
        self.in_tree[i] = false;
        self.log.extend([2, i as i64]);
    }

    fn find(&mut self, key: u64) {
        let mut probe = node_pool(1, |_| key).pop().unwrap();
        // SAFETY: `probe` is live and outside any tree.
        let r = unsafe {
            if self.use_c() {
                (c_tree().find)(self.head, &mut probe)
            } else {
                T::find(self.head, &mut probe)
            }
        };
        let r = self.idx(r);
        self.log.extend([3, key as i64, r]);
    }

    /// MINMAX both ways, then NEXT and PREV from every node in the tree.
    fn walks(&mut self) {
        // SAFETY: head and pool are alive; only tree nodes are passed.
        unsafe {
            for val in [-1, 1, 0, -5] {
                let r = if self.use_c() {
                    (c_tree().minmax)(self.head, val)
                } else {
                    T::minmax(self.head, val)
                };
                let r = self.idx(r);
                self.log.extend([4, r]);
            }
            for i in 0..self.pool.len() {
                if self.in_tree[i] {
                    let n = self.node(i);
                    let (a, b) = if self.use_c() {
                        ((c_tree().next)(n), (c_tree().prev)(n))
                    } else {
                        (T::next(n), T::prev(n))
                    };
                    let (a, b) = (self.idx(a), self.idx(b));
                    self.log.extend([5, a, b]);
                }
            }
        }
    }

    fn scan(&mut self, lo: u64, hi: u64, seed: u64, depth: u32) {
        let all = lo == 0 && hi == u64::MAX;
        let use_c = self.use_c();
        let head = self.head;
        let mut ctx = ScanCtx {
            tree: self,
            lo,
            hi,
            actions: Rng(seed),
            depth,
        };
        let data: *mut c_void = (&mut ctx as *mut ScanCtx).cast();
        let cmp: ScanFn<TNode> = if all && depth.is_multiple_of(2) {
            None
        } else {
            Some(range_cmp)
        };
        // SAFETY: the callbacks use the tree only through `ctx.tree` while
        // this frame leaves it alone; they keep to the tree contract.
        let r = unsafe {
            if use_c {
                (c_tree().scan)(head, cmp, Some(visit), data)
            } else {
                T::scan(head, cmp, Some(visit), data)
            }
        };
        self.log.extend([6, r as i64]);
        if depth == 0 {
            // SAFETY: the head is live.
            unsafe {
                assert!((*head).rbh_inprog.is_null());
                assert_eq!((*head).rbh_spin.counta, 0);
            }
        }
    }

    fn shape(&self) -> Vec<i64> {
        // SAFETY: the tree's nodes are all in the pool.
        unsafe { shape(self.head, &self.pool, &self.in_tree) }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        // SAFETY: from Box::into_raw in `new`.
        unsafe { drop(Box::from_raw(self.head)) };
    }
}

/// # Safety
/// `data` is the running scan's `ScanCtx`; `n` a tree node.
unsafe extern "C-unwind" fn range_cmp(n: *mut TNode, data: *mut c_void) -> c_int {
    // SAFETY: caller contract.
    let (k, ctx) = unsafe { ((*n).key, &*data.cast::<ScanCtx>()) };
    if k < ctx.lo {
        -1
    } else if k > ctx.hi {
        1
    } else {
        0
    }
}

/// Logs the visit, then lets the action stream modify the tree: remove
/// the current node, other nodes, insert, look up, or scan again inside.
///
/// # Safety
/// As for [`range_cmp`]; the tree behind `ctx.tree` is not borrowed by
/// anyone else while the callback runs.
unsafe extern "C-unwind" fn visit(n: *mut TNode, data: *mut c_void) -> c_int {
    // SAFETY: caller contract.
    let ctx = unsafe { &mut *data.cast::<ScanCtx>() };
    // SAFETY: caller contract.
    let t = unsafe { &mut *ctx.tree };
    let me = t.idx(n) as usize;
    assert!(t.in_tree[me], "scan visited a node not in the tree");
    t.log.extend([7, me as i64]);
    let slots = t.pool.len() as u64;
    for _ in 0..ctx.actions.below(3) {
        match ctx.actions.below(100) {
            0..=34 => t.remove(me),
            35..=59 => t.remove(ctx.actions.below(slots) as usize),
            60..=79 => t.insert(ctx.actions.below(slots) as usize),
            80..=89 if ctx.depth < 2 => {
                let a = ctx.actions.below(slots / 2 + 1);
                let b = a + ctx.actions.below(20);
                let seed = ctx.actions.next();
                t.scan(a, b, seed, ctx.depth + 1);
            }
            _ => t.find(ctx.actions.below(slots / 2 + 1)),
        }
    }
    if ctx.actions.pct(3) {
        -(ctx.actions.below(4) as c_int) - 1
    } else {
        ctx.actions.below(3) as c_int
    }
}

fn compare(trees: &[Tree; 3], what: &str) {
    let s0 = trees[0].shape();
    for t in &trees[1..] {
        assert_eq!(
            t.shape(),
            s0,
            "{:?} tree differs from C after {what}",
            t.imp
        );
        assert_eq!(
            t.log, trees[0].log,
            "{:?} tree behaved differently in {what}",
            t.imp
        );
    }
}

fn run(seed: u64, keys: u64, steps: u64) -> u64 {
    let mut trees = [
        Tree::new(Imp::C, keys),
        Tree::new(Imp::Rust, keys),
        Tree::new(Imp::Mixed, keys),
    ];
    trees[2].choice = Rng(seed ^ 0x5eed);
    let mut rng = Rng(seed);
    let slots = 2 * keys;
    let mut ops = 0;
    for step in 0..steps {
        let op = rng.below(100);
        let (a, b, c) = (rng.next(), rng.next(), rng.next());
        let what = format!("step {step} (op {op})");
        for t in &mut trees {
            match op {
                0..=44 => t.insert((a % slots) as usize),
                45..=69 => t.remove((a % slots) as usize),
                70..=77 => t.find(a % (keys + 1)),
                78..=81 => t.walks(),
                _ => {
                    let (lo, hi) = if c % 8 == 0 {
                        (0, u64::MAX)
                    } else {
                        let lo = a % (keys + 1);
                        (lo, lo + b % (keys / 2 + 2))
                    };
                    t.scan(lo, hi, c, 0);
                }
            }
        }
        ops += 3;
        compare(&trees, &what);
        // SAFETY: the pool is alive.
        unsafe { check_tree(trees[1].head) };
    }
    // Empty all three through their own implementations, comparing as
    // they shrink.
    for i in 0..slots as usize {
        for t in &mut trees {
            t.remove(i);
        }
        ops += 3;
        compare(&trees, "draining");
    }
    ops
}

#[test]
fn rust_tree_matches_c_tree_shape_for_shape() {
    let mut total = 0;
    for seed in 0..40u64 {
        let keys = [3, 12, 50, 400][(seed % 4) as usize];
        total += run(seed, keys, 1500);
    }
    std::println!("rbtree differential test: {total} operations on C/Rust/mixed trees");
}

#[test]
fn scan_deleting_current_node_same_in_c_and_rust() {
    let mut trees = [
        Tree::new(Imp::C, 64),
        Tree::new(Imp::Rust, 64),
        Tree::new(Imp::Mixed, 64),
    ];
    for t in &mut trees {
        for k in 0..64 {
            t.insert(2 * k);
        }
    }
    compare(&trees, "setup");
    /// Removes every node it visits and counts them.
    unsafe extern "C-unwind" fn eat(n: *mut TNode, data: *mut c_void) -> c_int {
        // SAFETY: `data` is the Tree running the scan, `n` one of its nodes.
        let t = unsafe { &mut *data.cast::<Tree>() };
        let i = t.idx(n) as usize;
        t.log.push(i as i64);
        t.remove(i);
        1
    }
    for t in &mut trees {
        let head = t.head;
        let use_c = t.use_c();
        let data: *mut c_void = (t as *mut Tree).cast();
        // SAFETY: `eat` removes only the node it is given.
        let r = unsafe {
            if use_c {
                (c_tree().scan)(head, None, Some(eat), data)
            } else {
                T::scan(head, None, Some(eat), data)
            }
        };
        assert_eq!(r, 64);
        // SAFETY: head is live.
        assert!(unsafe { T::is_empty(head) });
    }
    compare(&trees, "eating scan");
}
