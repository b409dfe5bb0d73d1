//! Shared pieces of the red-black tree tests: a test node/head with the
//! `<sys/tree.h>` layout, its adapter, a deterministic PRNG and a checker
//! of the red-black invariants.
//!
//! Included as a module by the `rbtree_*` test crates (a subdirectory, so
//! cargo does not build it as a test crate of its own).
#![allow(dead_code)]

use core::ffi::{c_char, c_int};
use core::ptr;
use std::vec::Vec;

use hammer_io::rbtree::{RbTree, ScanInfo, RB_BLACK, RB_RED};

/// `RB_ENTRY(tnode)`.
#[repr(C)]
pub struct TEntry {
    pub rbe_left: *mut TNode,
    pub rbe_right: *mut TNode,
    pub rbe_parent: *mut TNode,
    pub rbe_color: c_int,
}

/// Test node, laid out like `struct tnode { RB_ENTRY(tnode) rb_node;
/// uint64_t key; uint64_t id; }` in the C side of the differential test.
#[repr(C)]
pub struct TNode {
    pub rb_node: TEntry,
    pub key: u64,
    pub id: u64,
}

/// `struct spinlock` of the hosted headers.
#[repr(C)]
pub struct Spin {
    pub counta: c_int,
    pub countb: c_int,
    pub descr: *const c_char,
}

/// `RB_HEAD(ttree, tnode)`.
#[repr(C)]
pub struct THead {
    pub rbh_root: *mut TNode,
    pub rbh_inprog: *mut ScanInfo<TNode>,
    pub rbh_spin: Spin,
}

impl THead {
    pub fn new() -> Box<THead> {
        Box::new(THead {
            rbh_root: ptr::null_mut(),
            rbh_inprog: ptr::null_mut(),
            rbh_spin: Spin {
                counta: 0,
                countb: 0,
                descr: ptr::null(),
            },
        })
    }
}

/// Nodes at stable addresses; node `i` has id `i`.
pub fn node_pool(n: usize, key_of: impl Fn(usize) -> u64) -> Vec<TNode> {
    (0..n)
        .map(|i| TNode {
            rb_node: TEntry {
                rbe_left: ptr::null_mut(),
                rbe_right: ptr::null_mut(),
                rbe_parent: ptr::null_mut(),
                rbe_color: 0x5a5a,
            },
            key: key_of(i),
            id: i as u64,
        })
        .collect()
}

/// # Safety
/// Both are live test nodes.
pub unsafe fn tcmp(a: *mut TNode, b: *mut TNode) -> c_int {
    // SAFETY: caller contract.
    let (a, b) = unsafe { ((*a).key, (*b).key) };
    match a.cmp(&b) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}

/// The scan-list "spinlock": counta says whether it is held, countb counts
/// acquisitions. Taking it twice or releasing it unheld is a bug.
///
/// # Safety
/// `head` is a live test head.
pub unsafe fn tlock(head: *mut THead) {
    // SAFETY: caller contract.
    let spin = unsafe { &mut (*head).rbh_spin };
    assert_eq!(spin.counta, 0, "scan lock taken twice");
    spin.counta = 1;
    spin.countb += 1;
}

/// # Safety
/// `head` is a live test head.
pub unsafe fn tunlock(head: *mut THead) {
    // SAFETY: caller contract.
    let spin = unsafe { &mut (*head).rbh_spin };
    assert_eq!(spin.counta, 1, "scan lock released while not held");
    spin.counta = 0;
}

hammer_io::rb_adapter! {
    /// Adapter for the test nodes.
    pub TTree: THead => TNode, entry rb_node,
    compare = tcmp, lock = tlock, unlock = tunlock
}

pub type T = RbTree<TTree>;

/// splitmix64: small, deterministic, good enough to drive the tests.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `pct`/100.
    pub fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

/// Checks every red-black and linkage invariant of the tree at `head` and
/// returns the nodes in order. Panics with a description on violation.
///
/// # Safety
/// Every node reachable from `head` is live.
pub unsafe fn check_tree(head: *mut THead) -> Vec<*mut TNode> {
    // SAFETY: forwarded caller contract.
    match unsafe { try_check_tree(head) } {
        Ok(v) => v,
        Err(e) => panic!("broken red-black tree: {e}"),
    }
}

macro_rules! ensure {
    ($c:expr, $($msg:tt)+) => {
        if !$c {
            return Err(format!($($msg)+));
        }
    };
}

/// [`check_tree`] reporting the first violation as an error.
///
/// # Safety
/// Every node reachable from `head` is live.
pub unsafe fn try_check_tree(head: *mut THead) -> Result<Vec<*mut TNode>, String> {
    // SAFETY: only reachable nodes are read (caller contract).
    unsafe {
        let root = (*head).rbh_root;
        let mut out = Vec::new();
        if root.is_null() {
            return Ok(out);
        }
        ensure!((*root).rb_node.rbe_parent.is_null(), "root has a parent");
        ensure!((*root).rb_node.rbe_color == RB_BLACK, "root is red");
        walk(root, &mut out, 0)?;
        for w in out.windows(2) {
            ensure!(
                (*w[0]).key < (*w[1]).key,
                "in-order keys not strictly increasing"
            );
        }
        // next/prev/min/max agree with the structural walk.
        ensure!(T::min(head) == out[0], "min");
        ensure!(T::max(head) == *out.last().unwrap(), "max");
        for (i, &n) in out.iter().enumerate() {
            let nx = out.get(i + 1).copied().unwrap_or(ptr::null_mut());
            let pv = if i == 0 { ptr::null_mut() } else { out[i - 1] };
            ensure!(T::next(n) == nx, "next of node {i}");
            ensure!(T::prev(n) == pv, "prev of node {i}");
        }
        Ok(out)
    }
}

/// Returns the black height of the subtree at `n` (null counts as 1).
///
/// # Safety
/// The subtree is made of live nodes.
unsafe fn walk(n: *mut TNode, out: &mut Vec<*mut TNode>, depth: usize) -> Result<usize, String> {
    if n.is_null() {
        return Ok(1);
    }
    ensure!(depth < 200, "tree too deep (cycle?)");
    // SAFETY: caller contract.
    unsafe {
        let e = &(*n).rb_node;
        let c = e.rbe_color;
        ensure!(c == RB_BLACK || c == RB_RED, "bad colour {c}");
        for child in [e.rbe_left, e.rbe_right] {
            if !child.is_null() {
                ensure!((*child).rb_node.rbe_parent == n, "child's parent link");
                ensure!(
                    c == RB_BLACK || (*child).rb_node.rbe_color == RB_BLACK,
                    "red node with red child"
                );
            }
        }
        let hl = walk(e.rbe_left, out, depth + 1)?;
        out.push(n);
        let hr = walk(e.rbe_right, out, depth + 1)?;
        ensure!(hl == hr, "unequal black heights {hl} and {hr}");
        Ok(hl + usize::from(c == RB_BLACK))
    }
}

/// Shape of a tree as node ids: (root, and per node in `pool` order:
/// in-tree?, left, right, parent, colour) — what the differential tests
/// compare between implementations.
///
/// # Safety
/// `head` and `pool` are live; nodes of the tree are in `pool`.
pub unsafe fn shape(head: *mut THead, pool: &[TNode], in_tree: &[bool]) -> Vec<i64> {
    let base = pool.as_ptr();
    let id = |p: *mut TNode| -> i64 {
        if p.is_null() {
            -1
        } else {
            // SAFETY: tree nodes are elements of `pool`.
            unsafe { p.offset_from(base) as i64 }
        }
    };
    // SAFETY: caller contract.
    unsafe {
        let mut v = vec![id((*head).rbh_root)];
        for (i, n) in pool.iter().enumerate() {
            if in_tree[i] {
                let e = &n.rb_node;
                v.extend([i as i64, id(e.rbe_left), id(e.rbe_right), id(e.rbe_parent)]);
                v.push(i64::from(e.rbe_color));
            }
        }
        v
    }
}
