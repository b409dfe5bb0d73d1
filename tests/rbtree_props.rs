//! Randomised model test of `hammer_io::rbtree`: long deterministic runs of
//! inserts, removes, lookups and (nested) scans whose callbacks modify the
//! tree, checked after every step against a `BTreeMap` model and the
//! red-black invariants.
#![cfg(feature = "hosted")]

#[path = "rbtree_common/mod.rs"]
mod common;

use core::ffi::{c_int, c_void};
use std::collections::BTreeMap;
use std::ops::Bound::{Excluded, Unbounded};

use common::{check_tree, node_pool, tcmp, Rng, THead, TNode, T};
use core::ptr;
use hammer_io::rbtree::{RB_BLACK, RB_RED};

/// One running scan as the model sees it.
struct Level {
    lo: u64,
    hi: u64,
    /// Key the scan record points at (`info.node`), per the model.
    pending: Option<u64>,
    /// Key the next callback must be given; None: no further callback.
    expect: Option<u64>,
    /// Expected return value of the scan once it ends.
    result: c_int,
    visits: u64,
}

struct World {
    head: *mut THead,
    pool: Vec<TNode>,
    /// `pool`'s elements, addressed without borrowing `pool`.
    base: *mut TNode,
    /// Which pool node holds each key present in the tree.
    model: BTreeMap<u64, usize>,
    in_tree: Vec<bool>,
    rng: Rng,
    levels: Vec<Level>,
    /// Whether scans go through the C-typed entry point.
    via_c: bool,
    /// Growth-biased runs: more inserts and short scan ranges, so that the
    /// tree gets deep.
    narrow_scans: bool,
    ops: u64,
    stats: Stats,
}

/// What a run exercised, to show the random mix covers the cases.
#[derive(Default, Debug, Clone, Copy)]
struct Stats {
    max_size: usize,
    scans: u64,
    visits: u64,
    nested_scans: u64,
    removed_current: u64,
    removed_pending: u64,
    duplicate_inserts: u64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.max_size = self.max_size.max(o.max_size);
        self.scans += o.scans;
        self.visits += o.visits;
        self.nested_scans += o.nested_scans;
        self.removed_current += o.removed_current;
        self.removed_pending += o.removed_pending;
        self.duplicate_inserts += o.duplicate_inserts;
    }
}

impl World {
    fn new(keys: u64, seed: u64) -> World {
        // Two nodes per key so inserting a duplicate is possible.
        let mut pool = node_pool(2 * keys as usize, |i| (i / 2) as u64);
        World {
            base: pool.as_mut_ptr(),
            head: Box::into_raw(THead::new()),
            in_tree: vec![false; pool.len()],
            pool,
            model: BTreeMap::new(),
            rng: Rng(seed),
            levels: Vec::new(),
            via_c: false,
            narrow_scans: false,
            ops: 0,
            stats: Stats::default(),
        }
    }

    fn node(&self, i: usize) -> *mut TNode {
        assert!(i < self.pool.len());
        // SAFETY: in bounds of the pool, which is never resized.
        unsafe { self.base.add(i) }
    }

    fn succ(&self, k: u64) -> Option<u64> {
        self.model
            .range((Excluded(k), Unbounded))
            .next()
            .map(|(&k, _)| k)
    }

    fn check(&mut self) {
        // SAFETY: all tree nodes are in the pool, which is alive.
        let nodes = unsafe { check_tree(self.head) };
        let keys: Vec<u64> = nodes
            .iter()
            .map(|&n| {
                // SAFETY: as above.
                unsafe { (*n).key }
            })
            .collect();
        let want: Vec<u64> = self.model.keys().copied().collect();
        self.stats.max_size = self.stats.max_size.max(want.len());
        assert_eq!(keys, want, "tree contents differ from the model");
        for (&k, &i) in &self.model {
            assert!(self.in_tree[i]);
            assert_eq!(self.pool[i].key, k);
        }
    }

    fn insert_random(&mut self) {
        let i = self.rng.below(self.pool.len() as u64) as usize;
        if self.in_tree[i] {
            return;
        }
        let key = self.pool[i].key;
        let n = self.node(i);
        // SAFETY: `n` is a pool node outside the tree; the head is live.
        let got = unsafe { T::insert(self.head, n) };
        self.ops += 1;
        match self.model.get(&key) {
            Some(&twin) => {
                assert_eq!(got, self.node(twin), "duplicate insert");
                self.stats.duplicate_inserts += 1;
            }
            None => {
                assert!(got.is_null(), "insert of a new key returned a node");
                self.model.insert(key, i);
                self.in_tree[i] = true;
            }
        }
    }

    fn remove_key(&mut self, key: u64) {
        let Some(&i) = self.model.get(&key) else {
            return;
        };
        // Scans that were about to visit `key` move on to its successor.
        let s = self.succ(key);
        for l in &mut self.levels {
            if l.pending == Some(key) {
                l.pending = s;
                self.stats.removed_pending += 1;
            }
        }
        let n = self.node(i);
        // SAFETY: `n` is in the tree.
        let got = unsafe { T::remove(self.head, n) };
        self.ops += 1;
        assert_eq!(got, n, "remove returns its argument");
        self.model.remove(&key);
        self.in_tree[i] = false;
    }

    fn remove_random(&mut self, key_space: u64) {
        let k = self.rng.below(key_space);
        self.remove_key(k);
    }

    fn find_random(&mut self, key_space: u64) {
        let k = self.rng.below(key_space + 2);
        let mut probe = node_pool(1, |_| k).pop().unwrap();
        let want = self
            .model
            .get(&k)
            .map(|&i| self.node(i))
            .unwrap_or(core::ptr::null_mut());
        // SAFETY: `probe` is live and not in a tree; the tree is valid.
        let got = unsafe { T::find(self.head, &mut probe) };
        assert_eq!(got, want, "find({k})");
        // SAFETY: the closure only reads keys of tree nodes.
        let got = unsafe { T::lookup(self.head, |n| tcmp(&mut probe, n)) };
        assert_eq!(got, want, "lookup({k})");
        self.ops += 2;
    }

    /// Runs one scan over [lo, hi] at nesting depth `self.levels.len()` and
    /// checks its visits and result against the model.
    fn scan(&mut self, key_space: u64) {
        let a = self.rng.below(key_space + 1);
        let b = if self.narrow_scans {
            a + self.rng.below(40)
        } else {
            self.rng.below(key_space + 1)
        };
        let full = if self.narrow_scans { 1 } else { 15 };
        let (lo, hi) = if self.rng.pct(full) {
            (0, u64::MAX)
        } else {
            (a.min(b), a.max(b))
        };
        let first = self.model.range(lo..=hi).next().map(|(&k, _)| k);
        self.stats.scans += 1;
        if !self.levels.is_empty() {
            self.stats.nested_scans += 1;
        }
        self.levels.push(Level {
            lo,
            hi,
            pending: None,
            expect: first,
            result: 0,
            visits: 0,
        });
        let depth = self.levels.len() - 1;
        let head = self.head;
        let via_c = self.via_c;
        let everything = lo == 0 && hi == u64::MAX;
        let me: *mut World = self;
        // SAFETY: the callbacks reach the world through `me` only while
        // this frame does not touch it; tree and pool are alive.
        let r = unsafe {
            if via_c {
                let cmp: common_scan::Fn = if everything {
                    None
                } else {
                    Some(common_scan::range_cmp)
                };
                T::scan(head, cmp, Some(common_scan::visit_c), me.cast())
            } else {
                T::scan_with(head, |n| range_cmp(&*me, n), |n| visit(&mut *me, n))
            }
        };
        self.ops += 1;
        let l = self.levels.pop().unwrap();
        assert_eq!(self.levels.len(), depth);
        assert!(
            l.expect.is_none(),
            "scan ended early (expected a visit to {:?})",
            l.expect
        );
        assert_eq!(r, l.result, "scan result");
        if depth == 0 {
            // SAFETY: the head is live.
            unsafe {
                assert!((*head).rbh_inprog.is_null(), "scan record left linked");
                assert_eq!((*head).rbh_spin.counta, 0, "scan lock left held");
            }
        }
    }

    fn step(&mut self, key_space: u64) {
        let grow = if self.narrow_scans { 15 } else { 0 };
        match self.rng.below(100) {
            r if r < 40 + grow => self.insert_random(),
            r if r < 65 => self.remove_random(key_space),
            r if r < 75 => self.find_random(key_space),
            _ => {
                self.via_c = self.rng.pct(50);
                self.scan(key_space);
            }
        }
        self.check();
    }
}

/// Position of `n` relative to the innermost running scan's range.
fn range_cmp(w: &World, n: *mut TNode) -> c_int {
    let l = w.levels.last().unwrap();
    // SAFETY: scans only hand out tree nodes, which live in the pool.
    let k = unsafe { (*n).key };
    if k < l.lo {
        -1
    } else if k > l.hi {
        1
    } else {
        0
    }
}

/// Scan callback: checks it was given the node the model predicts, then
/// modifies the tree in random ways (possibly with a nested scan) and
/// predicts what the scan does next.
fn visit(w: &mut World, n: *mut TNode) -> c_int {
    let depth = w.levels.len() - 1;
    // SAFETY: scans only hand out tree nodes.
    let key = unsafe { (*n).key };
    let key_space = (w.pool.len() / 2) as u64;
    {
        let s = w.succ(key);
        let l = &mut w.levels[depth];
        assert_eq!(Some(key), l.expect, "scan visited the wrong node");
        assert!(key >= l.lo && key <= l.hi);
        // The scan computed its record from the tree as it is now.
        l.pending = s;
        l.visits += 1;
        w.stats.visits += 1;
    }
    assert_eq!(w.model.get(&key).map(|&i| w.node(i)), Some(n));

    let mut actions = w.rng.below(3);
    while actions > 0 {
        actions -= 1;
        match w.rng.below(100) {
            0..=34 => {
                if w.model.contains_key(&key) {
                    w.stats.removed_current += 1;
                }
                w.remove_key(key);
            }
            35..=54 => w.remove_random(key_space),
            55..=64 => {
                if let Some(p) = w.levels[depth].pending {
                    w.remove_key(p);
                }
            }
            65..=84 => w.insert_random(),
            85..=92 if w.levels.len() < 3 => {
                let saved = w.via_c;
                w.via_c = w.rng.pct(50);
                w.scan(key_space);
                w.via_c = saved;
            }
            _ => w.find_random(key_space),
        }
        if w.rng.pct(10) {
            w.check();
        }
    }

    let ret = if w.rng.pct(4) {
        -1 - w.rng.below(5) as c_int
    } else {
        w.rng.below(3) as c_int
    };
    let l = &mut w.levels[depth];
    if ret < 0 {
        l.result = ret;
        l.expect = None;
    } else {
        l.result = l.result.wrapping_add(ret);
        l.expect = l.pending.filter(|&k| k >= l.lo && k <= l.hi);
    }
    ret
}

/// The same callbacks with the C types of `RB_SCAN`.
mod common_scan {
    use super::*;

    pub type Fn = hammer_io::rbtree::ScanFn<TNode>;

    /// # Safety
    /// `data` is the `World` running the scan; `n` a tree node.
    pub unsafe extern "C-unwind" fn range_cmp(n: *mut TNode, data: *mut c_void) -> c_int {
        // SAFETY: caller contract.
        super::range_cmp(unsafe { &*data.cast::<World>() }, n)
    }

    /// # Safety
    /// As for [`range_cmp`].
    pub unsafe extern "C-unwind" fn visit_c(n: *mut TNode, data: *mut c_void) -> c_int {
        // SAFETY: caller contract.
        super::visit(unsafe { &mut *data.cast::<World>() }, n)
    }
}

fn run(seed: u64, key_space: u64, steps: u64) -> (u64, Stats) {
    let mut w = World::new(key_space, seed);
    w.narrow_scans = key_space > 100;
    for _ in 0..steps {
        w.step(key_space);
    }
    // Drain, checking as the tree shrinks.
    let keys: Vec<u64> = w.model.keys().copied().collect();
    for k in keys {
        w.remove_key(k);
        w.check();
    }
    // SAFETY: the head came from Box::into_raw and the tree is empty.
    unsafe {
        assert!(T::is_empty(w.head));
        drop(Box::from_raw(w.head));
    }
    (w.ops, w.stats)
}

#[test]
fn random_operations_match_model() {
    let mut total = 0;
    let mut stats = Stats::default();
    for seed in 0..48u64 {
        let key_space = [4, 16, 64, 1000][(seed % 4) as usize];
        let (ops, st) = run(seed, key_space, 4000);
        total += ops;
        stats.add(&st);
    }
    std::println!("rbtree property test: {total} tree operations, {stats:?}");
    assert!(total > 100_000 && stats.max_size > 250);
    assert!(stats.removed_current > 1000 && stats.removed_pending > 1000);
    assert!(stats.nested_scans > 100 && stats.duplicate_inserts > 1000);
}

#[test]
fn sequential_patterns() {
    // Ascending, descending and alternating-ends inserts are the classic
    // rotation-heavy patterns; remove them in several orders too.
    let n = 257usize;
    let orders: [Vec<usize>; 3] = [
        (0..n).collect(),
        (0..n).rev().collect(),
        (0..n)
            .map(|i| if i % 2 == 0 { i / 2 } else { n - 1 - i / 2 })
            .collect(),
    ];
    for ins in &orders {
        for del in &orders {
            let mut w = World::new(n as u64, 0);
            for &k in ins {
                let i = 2 * k;
                let p = w.node(i);
                // SAFETY: fresh pool node.
                assert!(unsafe { T::insert(w.head, p) }.is_null());
                w.model.insert(k as u64, i);
                w.in_tree[i] = true;
                w.check();
            }
            for &k in del {
                w.remove_key(k as u64);
                w.check();
            }
            // SAFETY: from Box::into_raw; the tree is empty.
            unsafe { drop(Box::from_raw(w.head)) };
        }
    }
}

#[test]
fn scan_removing_every_visited_node_and_stopping() {
    let mut w = World::new(100, 1);
    for k in 0..100u64 {
        let p = w.node(2 * k as usize);
        // SAFETY: fresh pool node.
        assert!(unsafe { T::insert(w.head, p) }.is_null());
        w.model.insert(k, 2 * k as usize);
        w.in_tree[2 * k as usize] = true;
    }
    let head = w.head;
    let mut seen = Vec::new();
    // SAFETY: the callback removes only the node it is given, which is in
    // the tree.
    let r = unsafe {
        T::scan_with(
            head,
            |n| {
                if (*n).key < 10 {
                    -1
                } else if (*n).key >= 90 {
                    1
                } else {
                    0
                }
            },
            |n| {
                seen.push((*n).key);
                T::remove(head, n);
                1
            },
        )
    };
    assert_eq!(r, 80);
    assert_eq!(seen, (10..90).collect::<Vec<_>>());
    // SAFETY: pool alive.
    let left = unsafe { check_tree(head) };
    assert_eq!(left.len(), 20);
    // A negative callback result ends the scan and is returned.
    let mut calls = 0;
    // SAFETY: the callback does not touch the tree.
    let r = unsafe {
        T::scan_with(
            head,
            |_| 0,
            |_| {
                calls += 1;
                if calls == 3 {
                    -7
                } else {
                    5
                }
            },
        )
    };
    assert_eq!((r, calls), (-7, 3));
    // An empty range calls nothing and returns 0.
    // SAFETY: as above.
    let r = unsafe { T::scan_with(head, |n| if (*n).key < 50 { -1 } else { 1 }, |_| panic!()) };
    assert_eq!(r, 0);
    // SAFETY: from Box::into_raw; the pool outlives this.
    unsafe { drop(Box::from_raw(head)) };
}

/// Builds a tree of keys `0..n` by inserting in a shuffled order.
fn build(n: usize, seed: u64) -> (Box<THead>, Vec<TNode>) {
    let head = THead::new();
    let mut pool = node_pool(n, |i| i as u64);
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng(seed);
    for i in (1..n).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let h: *mut THead = Box::into_raw(head);
    for i in order {
        // SAFETY: the pool does not move while the tree lives.
        unsafe { assert!(T::insert(h, &mut pool[i]).is_null()) };
    }
    // SAFETY: from Box::into_raw above.
    (unsafe { Box::from_raw(h) }, pool)
}

#[test]
fn checker_accepts_valid_trees() {
    for n in [0, 1, 2, 3, 10, 100] {
        let (mut head, _pool) = build(n, n as u64);
        // SAFETY: the pool is alive.
        let v = unsafe { check_tree(&mut *head) };
        assert_eq!(v.len(), n);
    }
}

#[test]
fn checker_rejects_corruption() {
    // Each case breaks one invariant of a fresh 50-node tree. The pointer
    // it gets is the live head of that tree, all of whose nodes are alive.
    type Corrupt = fn(*mut THead);
    let cases: [Corrupt; 5] = [
        // red root
        |h| {
            // SAFETY: see the comment on `cases`.
            unsafe { (*(*h).rbh_root).rb_node.rbe_color = RB_RED }
        },
        // the leftmost node changes colour: black heights differ
        |h| {
            // SAFETY: see the comment on `cases`.
            unsafe {
                let mut n = (*h).rbh_root;
                while !(*n).rb_node.rbe_left.is_null() {
                    n = (*n).rb_node.rbe_left;
                }
                (*n).rb_node.rbe_color ^= 1;
            }
        },
        // broken parent link
        |h| {
            // SAFETY: see the comment on `cases`.
            unsafe {
                let l = (*(*h).rbh_root).rb_node.rbe_left;
                (*l).rb_node.rbe_parent = l;
            }
        },
        // swapped keys break the order
        |h| {
            // SAFETY: see the comment on `cases`.
            unsafe {
                let r = (*h).rbh_root;
                let l = (*r).rb_node.rbe_left;
                core::mem::swap(&mut (*r).key, &mut (*l).key);
            }
        },
        // a large subtree cut off leaves a too-short black path
        |h| {
            // SAFETY: see the comment on `cases`.
            unsafe {
                let l = (*(*h).rbh_root).rb_node.rbe_left;
                (*l).rb_node.rbe_left = ptr::null_mut();
                (*l).rb_node.rbe_right = ptr::null_mut();
                (*l).rb_node.rbe_color = RB_BLACK;
            }
        },
    ];
    for corrupt in cases {
        let (mut head, _pool) = build(50, 7);
        let h: *mut THead = &mut *head;
        corrupt(h);
        // SAFETY: the pool is alive; only links and keys were altered, and
        // the checker guards against cycles.
        let r = unsafe { common::try_check_tree(h) };
        assert!(r.is_err(), "checker accepted a corrupted tree");
    }
}
