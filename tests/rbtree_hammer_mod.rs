//! The nine exported `hammer_mod_rb_tree_RB_*` functions on real (bound)
//! `struct hammer_io`s: the sort key of `hammer_mod_rb_compare`, lookups,
//! scans that delete, and, when the build compiled the reference
//! hammer_io.c (`cfg(hammer_reference)`), shape-for-shape agreement with the
//! reference's own `RB_GENERATE` output (`ref_hammer_mod_rb_tree_RB_*`),
//! including one tree driven by both at random.
#![cfg(feature = "hosted")]

use core::ffi::{c_int, c_void};
use std::collections::HashMap;

use hammer_io::rbtree::hammer_mod::{
    hammer_mod_rb_compare, hammer_mod_rb_tree_RB_FIND, hammer_mod_rb_tree_RB_INSERT,
    hammer_mod_rb_tree_RB_MINMAX, hammer_mod_rb_tree_RB_NEXT, hammer_mod_rb_tree_RB_PREV,
    hammer_mod_rb_tree_RB_REMOVE, hammer_mod_rb_tree_RB_SCAN,
};
use hammer_io::rbtree::{ScanFn, RB_BLACK, RB_RED};
use hammer_io::sys::ffi;

type Head = ffi::hammer_mod_rb_tree;
type Io = ffi::hammer_io;

/// One implementation of the exported functions.
#[derive(Clone, Copy)]
struct Ops {
    name: &'static str,
    insert: unsafe extern "C-unwind" fn(*mut Head, *mut Io) -> *mut Io,
    remove: unsafe extern "C-unwind" fn(*mut Head, *mut Io) -> *mut Io,
    find: unsafe extern "C-unwind" fn(*mut Head, *mut Io) -> *mut Io,
    next: unsafe extern "C-unwind" fn(*mut Io) -> *mut Io,
    prev: unsafe extern "C-unwind" fn(*mut Io) -> *mut Io,
    minmax: unsafe extern "C-unwind" fn(*mut Head, c_int) -> *mut Io,
    scan: unsafe extern "C-unwind" fn(*mut Head, ScanFn<Io>, ScanFn<Io>, *mut c_void) -> c_int,
}

const OURS: Ops = Ops {
    name: "rust",
    insert: hammer_mod_rb_tree_RB_INSERT,
    remove: hammer_mod_rb_tree_RB_REMOVE,
    find: hammer_mod_rb_tree_RB_FIND,
    next: hammer_mod_rb_tree_RB_NEXT,
    prev: hammer_mod_rb_tree_RB_PREV,
    minmax: hammer_mod_rb_tree_RB_MINMAX,
    scan: hammer_mod_rb_tree_RB_SCAN,
};

#[cfg(hammer_reference)]
mod reference {
    use super::*;

    // The reference hammer_io.c compiled by build.rs with its exports
    // renamed ref_*; same C prototypes as the bound originals.
    extern "C-unwind" {
        fn ref_hammer_mod_rb_tree_RB_INSERT(head: *mut Head, elm: *mut Io) -> *mut Io;
        fn ref_hammer_mod_rb_tree_RB_REMOVE(head: *mut Head, elm: *mut Io) -> *mut Io;
        fn ref_hammer_mod_rb_tree_RB_FIND(head: *mut Head, elm: *mut Io) -> *mut Io;
        fn ref_hammer_mod_rb_tree_RB_NEXT(elm: *mut Io) -> *mut Io;
        fn ref_hammer_mod_rb_tree_RB_PREV(elm: *mut Io) -> *mut Io;
        fn ref_hammer_mod_rb_tree_RB_MINMAX(head: *mut Head, val: c_int) -> *mut Io;
        fn ref_hammer_mod_rb_tree_RB_SCAN(
            head: *mut Head,
            scancmp: ScanFn<Io>,
            callback: ScanFn<Io>,
            data: *mut c_void,
        ) -> c_int;
    }

    pub const REF: Ops = Ops {
        name: "reference",
        insert: ref_hammer_mod_rb_tree_RB_INSERT,
        remove: ref_hammer_mod_rb_tree_RB_REMOVE,
        find: ref_hammer_mod_rb_tree_RB_FIND,
        next: ref_hammer_mod_rb_tree_RB_NEXT,
        prev: ref_hammer_mod_rb_tree_RB_PREV,
        minmax: ref_hammer_mod_rb_tree_RB_MINMAX,
        scan: ref_hammer_mod_rb_tree_RB_SCAN,
    };
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The key `hammer_mod_rb_compare` sorts by, computed independently.
fn key(offset: i64, vol_no: i32) -> u64 {
    (((offset as u64) & 0x000F_FFFF_FFFF_FFFF) << 8) | (i64::from(vol_no) as u64)
}

/// Volumes (never resized, so ios may point into it).
fn volumes(nos: &[i32]) -> Vec<ffi::hammer_volume> {
    nos.iter()
        .map(|&n| ffi::hammer_volume {
            vol_no: n,
            ..Default::default()
        })
        .collect()
}

fn io(vol: *mut ffi::hammer_volume, offset: i64) -> Io {
    Io {
        volume: vol,
        offset,
        ..Default::default()
    }
}

fn new_head() -> Box<Head> {
    Box::default()
}

/// Red-black invariants and in-order keys of a hammer_mod tree.
///
/// # Safety
/// Every io reachable from `head` is live with a live volume.
unsafe fn check(head: *mut Head) -> Vec<*mut Io> {
    /// # Safety
    /// As for `check`.
    unsafe fn walk(n: *mut Io, out: &mut Vec<*mut Io>) -> usize {
        if n.is_null() {
            return 1;
        }
        // SAFETY: caller contract.
        unsafe {
            let e = (*n).rb_node;
            assert!(e.rbe_color == RB_BLACK || e.rbe_color == RB_RED);
            for c in [e.rbe_left, e.rbe_right] {
                if !c.is_null() {
                    assert_eq!((*c).rb_node.rbe_parent, n);
                    assert!(e.rbe_color == RB_BLACK || (*c).rb_node.rbe_color == RB_BLACK);
                }
            }
            let l = walk(e.rbe_left, out);
            out.push(n);
            let r = walk(e.rbe_right, out);
            assert_eq!(l, r, "black heights");
            l + usize::from(e.rbe_color == RB_BLACK)
        }
    }
    // SAFETY: caller contract.
    unsafe {
        let root = (*head).rbh_root;
        let mut out = Vec::new();
        if !root.is_null() {
            assert!((*root).rb_node.rbe_parent.is_null());
            assert_eq!((*root).rb_node.rbe_color, RB_BLACK);
            walk(root, &mut out);
        }
        for w in out.windows(2) {
            assert!(hammer_mod_rb_compare(w[0], w[1]) < 0, "in-order keys");
        }
        assert!((*head).rbh_inprog.is_null());
        out
    }
}

#[test]
fn compare_uses_short_offset_and_volume() {
    let mut vols = volumes(&[0, 1, 7, 255, 256, -1]);
    let zone2 = 0x2000_0000_0000_0000_u64 as i64;
    let zone8 = 0x8000_0000_0000_0000_u64 as i64;
    let offsets = [
        0,
        0x4000,
        0x4000 | zone2,
        0x8000 | zone8,
        0x000F_FFFF_FFFF_C000,
        -0x4000,
    ];
    let mut ios = Vec::new();
    for v in vols.iter_mut() {
        for &o in &offsets {
            ios.push(io(v, o));
        }
    }
    let ptrs: Vec<*mut Io> = ios.iter_mut().map(|b| b as *mut Io).collect();
    for &a in &ptrs {
        for &b in &ptrs {
            // SAFETY: both ios and their volumes are alive.
            let (ka, kb, r) = unsafe {
                (
                    key((*a).offset, (*(*a).volume).vol_no),
                    key((*b).offset, (*(*b).volume).vol_no),
                    hammer_mod_rb_compare(a, b),
                )
            };
            assert_eq!(r, ka.cmp(&kb) as c_int, "compare({ka:#x}, {kb:#x})");
        }
    }
    // Zone bits are ignored: a probe in another zone finds the io.
    let mut head = new_head();
    let mut stored = io(&mut vols[1], 0x4000 | zone2);
    let mut probe = io(&mut vols[1], 0x4000 | zone8);
    // SAFETY: head, ios and volumes are alive.
    unsafe {
        assert!(hammer_mod_rb_tree_RB_INSERT(&mut *head, &mut stored).is_null());
        assert_eq!(
            hammer_mod_rb_tree_RB_FIND(&mut *head, &mut probe),
            &mut stored as *mut Io
        );
        // Same offset, other volume: a different key.
        let mut other = io(&mut vols[2], 0x4000);
        assert!(hammer_mod_rb_tree_RB_FIND(&mut *head, &mut other).is_null());
        assert_eq!(
            hammer_mod_rb_tree_RB_INSERT(&mut *head, &mut probe),
            &mut stored as *mut Io,
            "duplicate key is refused"
        );
        hammer_mod_rb_tree_RB_REMOVE(&mut *head, &mut stored);
        assert!(head.rbh_root.is_null());
    }
}

/// One tree under test with its own ios (same keys in every tree).
struct Tree {
    ops: Vec<Ops>,
    pick: Rng,
    head: Box<Head>,
    /// Never resized, so the ios keep their addresses.
    ios: Vec<Io>,
    /// Address of each io -> its index.
    index: HashMap<usize, usize>,
    in_tree: Vec<bool>,
    log: Vec<i64>,
}

impl Tree {
    fn new(ops: Vec<Ops>, vols: &mut [ffi::hammer_volume], n: usize) -> Tree {
        let mut ios = Vec::with_capacity(n);
        for i in 0..n {
            let v: *mut ffi::hammer_volume = &mut vols[i % vols.len()];
            // Pairs of ios share a key, so duplicates get inserted too.
            ios.push(io(v, ((i / (2 * 3)) as i64) << 14));
        }
        let index = ios
            .iter()
            .enumerate()
            .map(|(i, b)| (b as *const Io as usize, i))
            .collect();
        Tree {
            ops,
            pick: Rng(99),
            head: new_head(),
            in_tree: vec![false; n],
            ios,
            index,
            log: Vec::new(),
        }
    }
    fn op(&mut self) -> Ops {
        let i = self.pick.below(self.ops.len() as u64) as usize;
        self.ops[i]
    }
    fn p(&mut self, i: usize) -> *mut Io {
        &mut self.ios[i]
    }
    fn idx(&self, p: *mut Io) -> i64 {
        if p.is_null() {
            return -1;
        }
        *self
            .index
            .get(&(p as usize))
            .expect("pointer outside the io pool") as i64
    }
    fn insert(&mut self, i: usize) {
        if self.in_tree[i] {
            return;
        }
        let (o, h, p) = (self.op(), &mut *self.head as *mut Head, self.p(i));
        // SAFETY: `p` is outside the tree; everything is alive.
        let r = unsafe { (o.insert)(h, p) };
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
        let (o, h, p) = (self.op(), &mut *self.head as *mut Head, self.p(i));
        // SAFETY: `p` is in the tree.
        assert_eq!(unsafe { (o.remove)(h, p) }, p);
        self.in_tree[i] = false;
        self.log.extend([2, i as i64]);
    }
    fn shape(&self) -> Vec<i64> {
        let mut v = vec![self.idx(self.head.rbh_root)];
        for (i, b) in self.ios.iter().enumerate() {
            if self.in_tree[i] {
                let e = b.rb_node;
                v.extend([i as i64, self.idx(e.rbe_left), self.idx(e.rbe_right)]);
                v.extend([self.idx(e.rbe_parent), i64::from(e.rbe_color)]);
            }
        }
        v
    }
}

/// Scan state handed to the callbacks.
struct Ctx {
    tree: *mut Tree,
    lo: u64,
    hi: u64,
    rng: Rng,
}

/// # Safety
/// `data` is the running scan's `Ctx`; `n` one of its tree's ios.
unsafe extern "C-unwind" fn in_range(n: *mut Io, data: *mut c_void) -> c_int {
    // SAFETY: caller contract.
    let (c, k) = unsafe {
        (
            &*data.cast::<Ctx>(),
            key((*n).offset, (*(*n).volume).vol_no),
        )
    };
    if k < c.lo {
        -1
    } else if k > c.hi {
        1
    } else {
        0
    }
}

/// Logs the visit, then removes the current io, removes or inserts others.
///
/// # Safety
/// As for [`in_range`].
unsafe extern "C-unwind" fn visit(n: *mut Io, data: *mut c_void) -> c_int {
    // SAFETY: caller contract; nothing else borrows the tree meanwhile.
    let c = unsafe { &mut *data.cast::<Ctx>() };
    // SAFETY: as above.
    let t = unsafe { &mut *c.tree };
    let me = t.idx(n);
    assert!(me >= 0 && t.in_tree[me as usize]);
    t.log.extend([7, me]);
    let slots = t.ios.len() as u64;
    for _ in 0..c.rng.below(3) {
        match c.rng.below(10) {
            0..=3 => t.remove(me as usize),
            4..=6 => t.remove(c.rng.below(slots) as usize),
            _ => t.insert(c.rng.below(slots) as usize),
        }
    }
    if c.rng.below(30) == 0 {
        -3
    } else {
        c.rng.below(3) as c_int
    }
}

fn run(impls: &[Vec<Ops>], seed: u64, steps: u64) -> u64 {
    let mut vols = volumes(&[0, 1, 2]);
    let n = 240;
    let mut trees: Vec<Tree> = impls
        .iter()
        .map(|o| Tree::new(o.clone(), &mut vols, n))
        .collect();
    let mut rng = Rng(seed);
    let mut ops = 0;
    for step in 0..steps {
        let (op, a, b, c) = (rng.below(100), rng.next(), rng.next(), rng.next());
        for t in &mut trees {
            let i = (a % n as u64) as usize;
            match op {
                0..=49 => t.insert(i),
                50..=74 => t.remove(i),
                75..=84 => {
                    let (o, h) = (t.op(), &mut *t.head as *mut Head);
                    // SAFETY: the probe is live; the tree is valid.
                    let r = unsafe {
                        let mut probe = io(t.ios[i].volume, t.ios[i].offset);
                        (o.find)(h, &mut probe)
                    };
                    let r = t.idx(r);
                    t.log.extend([3, r]);
                }
                85..=89 => {
                    let (o, h) = (t.op(), &mut *t.head as *mut Head);
                    // SAFETY: only tree ios are walked.
                    unsafe {
                        let mut x = (o.minmax)(h, -1);
                        while !x.is_null() {
                            t.log.push(t.idx(x));
                            x = (o.next)(x);
                        }
                        let mut x = (o.minmax)(h, 1);
                        while !x.is_null() {
                            t.log.push(t.idx(x));
                            x = (o.prev)(x);
                        }
                    }
                }
                _ => {
                    let lo = key(((b % 50) as i64) << 14, 0);
                    let hi = lo + ((c % 20) << 22);
                    let o = t.op();
                    let h = &mut *t.head as *mut Head;
                    let mut ctx = Ctx {
                        tree: t,
                        lo,
                        hi,
                        rng: Rng(c),
                    };
                    let all = b % 7 == 0;
                    let cmp: ScanFn<Io> = if all { None } else { Some(in_range) };
                    // SAFETY: callbacks reach the tree through `ctx` only.
                    let r = unsafe { (o.scan)(h, cmp, Some(visit), (&mut ctx as *mut Ctx).cast()) };
                    t.log.extend([6, r as i64]);
                }
            }
            // SAFETY: all ios and volumes are alive.
            let inorder = unsafe { check(&mut *t.head) };
            assert_eq!(inorder.len(), t.in_tree.iter().filter(|&&x| x).count());
        }
        ops += trees.len() as u64;
        for t in &trees[1..] {
            let names: Vec<_> = t.ops.iter().map(|o| o.name).collect();
            assert_eq!(
                t.shape(),
                trees[0].shape(),
                "{names:?} differs at step {step}"
            );
            assert_eq!(
                t.log, trees[0].log,
                "{names:?} behaved differently at step {step}"
            );
        }
    }
    ops
}

#[test]
fn exported_functions_keep_a_valid_tree() {
    let mut total = 0;
    for seed in 0..8 {
        total += run(&[vec![OURS]], seed, 2000);
    }
    std::println!("hammer_mod_rb_tree exports: {total} operations");
}

#[cfg(hammer_reference)]
#[test]
fn exported_functions_match_reference_rb_generate() {
    use reference::REF;
    let mut total = 0;
    for seed in 0..8 {
        total += run(&[vec![REF], vec![OURS], vec![OURS, REF]], seed, 2000);
    }
    std::println!("hammer_mod_rb_tree exports vs reference: {total} operations");
}
