//! `cargo bench --features hosted --bench io_paths`: the Rust port against
//! the C reference on the hosted machine, in deterministic mode (no
//! background threads, so the numbers measure code, not scheduling).
//!
//! Paths, each timed per operation:
//! - the seeded HAMMER workload of `hosted::workload` (mixed operations;
//!   one invariant check at the end of each run, device I/O in memory);
//! - a hot `hammer_bread` of a buffer HAMMER still has, then
//!   `hammer_rel_buffer` (the last reference: `hammer_io_release` gives
//!   the buffer back to the kernel and re-queues it);
//! - `hammer_io_read` hitting the kernel's cache (the HAMMER structure was
//!   reclaimed, the data pages are cached), then release with reclaim;
//! - `hammer_modify_buffer` / `_done` on a buffer already modified (the
//!   common case), and a full dirty cycle: modify, done, then
//!   `hammer_io_clear_modify` (mod-tree insert and remove, accounting);
//! - the buffer daemon writing dirty data buffers: `io_checkwrite`,
//!   `io_start`, the write and `io_complete`, per buffer;
//! - the mod tree alone: `hammer_mod_rb_tree_RB_INSERT` of 256 ios then
//!   `_RB_REMOVE` of all of them in another order, per insert+remove.
//!
//! Every path runs in two interleaved blocks per implementation (reference,
//! rust, reference, rust), each on a freshly booted machine and after a
//! warm-up; the table gives the median, the minimum, the 10th-90th
//! percentile range and the spread (half that range relative to the
//! median) in ns/op. On a busy machine the minimum is the steadier figure.
//!
//! Options (after `--`): `--samples N` per implementation (default 20),
//! `--quick` (fewer and smaller samples).

use std::hint::black_box;
use std::time::{Duration, Instant};

use core::ffi::c_void;
use core::ptr::{addr_of_mut, null_mut};

use hammer_io::hosted::hammer::{globals, BufRef, IoImpl, Mount, Zone};
use hammer_io::hosted::kern::{self, Config};
use hammer_io::hosted::workload::{self, Params};
use hammer_io::rbtree::hammer_mod::ModTree;
use hammer_io::sys::ffi;

const BUFSIZE: usize = ffi::HAMMER_BUFSIZE as usize;

#[derive(Clone, Copy)]
struct Opts {
    samples: usize,
    quick: bool,
}

/// One path's timing for one implementation: ns/op of every sample.
struct Series {
    ns: Vec<f64>,
}

impl Series {
    fn sorted(&self) -> Vec<f64> {
        let mut v = self.ns.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        v
    }
    fn pct(&self, p: f64) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return f64::NAN;
        }
        let i = ((v.len() - 1) as f64 * p).round() as usize;
        v[i]
    }
    fn median(&self) -> f64 {
        self.pct(0.5)
    }
}

/// A path: sets up a machine for `imp`, then times batches.
trait Path {
    fn name(&self) -> String;
    /// Boots and prepares; returns the batch size (ops per sample).
    fn setup(&mut self, imp: IoImpl, quick: bool) -> u64;
    /// Runs one batch and returns the time of its timed part.
    fn batch(&mut self, n: u64) -> Duration;
    /// Releases what setup took (the machine is rebooted afterwards).
    fn teardown(&mut self);
}

fn fresh_machine(nbuf: usize) {
    kern::boot(Config::deterministic(0xbe4c).with_buffer_limit(nbuf));
    globals::reset();
}

// -- The workload -----------------------------------------------------

struct WorkloadPath {
    imp: Option<IoImpl>,
    ops: u64,
    seed: u64,
}

impl Path for WorkloadPath {
    fn name(&self) -> String {
        format!("workload: seeded HAMMER op mix ({} ops/run)", self.ops)
    }
    fn setup(&mut self, imp: IoImpl, quick: bool) -> u64 {
        self.imp = Some(imp);
        self.ops = if quick { 1500 } else { 4000 };
        self.ops
    }
    fn batch(&mut self, _n: u64) -> Duration {
        let mut p = Params::deterministic(self.ops, self.seed);
        p.round = self.ops;
        p.sync_every = u64::MAX;
        p.checkwrite_spy = false;
        p.finale = false;
        p.read_faults = 0;
        let imp = self.imp.expect("set up");
        let r = workload::run(imp, &p, &mut |_| {});
        assert!(r.ok(), "[{}] workload failed: {:#?}", imp.name, r.failures);
        // Same seed every sample: the same work, so samples compare.
        Duration::from_micros(r.get("work_us"))
    }
    fn teardown(&mut self) {}
}

// -- Buffer paths on a mounted file system ------------------------------

struct Mounted {
    m: Option<Mount>,
    imp: Option<IoImpl>,
}

impl Mounted {
    fn mount(&mut self, imp: IoImpl, nbuf: usize) -> &Mount {
        fresh_machine(nbuf);
        self.imp = Some(imp);
        self.m = Some(Mount::builder().implementation(imp).volumes(1).build());
        self.m.as_ref().expect("mounted")
    }
    fn m(&self) -> &Mount {
        self.m.as_ref().expect("mounted")
    }
    fn imp(&self) -> IoImpl {
        self.imp.expect("mounted")
    }
    fn unmount(&mut self) {
        if let Some(m) = self.m.take() {
            m.unmount();
            kern::run_pending_io();
        }
    }
}

/// Hot `hammer_bread` + `hammer_rel_buffer` of a meta-data buffer.
struct HotRead {
    mt: Mounted,
    off: u64,
}

impl Path for HotRead {
    fn name(&self) -> String {
        "hot hammer_bread -> hammer_rel_buffer (last ref)".into()
    }
    fn setup(&mut self, imp: IoImpl, quick: bool) -> u64 {
        let m = self.mt.mount(imp, 256);
        self.off = m.offset(Zone::Meta, 0, 3);
        let b = m.bread(self.off).expect("bread");
        m.rel_buffer(b);
        if quick {
            2000
        } else {
            20000
        }
    }
    fn batch(&mut self, n: u64) -> Duration {
        let m = self.mt.m();
        let t = Instant::now();
        for _ in 0..n {
            let b = m.bread(self.off).expect("bread");
            black_box(b.as_ptr());
            m.rel_buffer(b);
        }
        t.elapsed()
    }
    fn teardown(&mut self) {
        self.mt.unmount();
    }
}

/// `hammer_io_read` served from the kernel's cache, release with reclaim.
struct CacheHitRead {
    mt: Mounted,
    off: u64,
}

impl Path for CacheHitRead {
    fn name(&self) -> String {
        "hammer_io_read kernel-cache hit -> release(reclaim)".into()
    }
    fn setup(&mut self, imp: IoImpl, quick: bool) -> u64 {
        let m = self.mt.mount(imp, 256);
        // Large-data: no read clustering, one 16K buffer per read.
        self.off = m.offset(Zone::LargeData, 0, 9);
        let b = m.bread(self.off).expect("bread");
        m.rel_buffer(b);
        if quick {
            500
        } else {
            2000
        }
    }
    fn batch(&mut self, n: u64) -> Duration {
        let m = self.mt.m();
        let t = Instant::now();
        for _ in 0..n {
            let b = m.bread(self.off).expect("bread");
            // SAFETY: the buffer is referenced; reclaim makes the last
            // release disassociate (and the next read start over).
            unsafe { (*b.io()).set_reclaim(1) };
            m.rel_buffer(b);
        }
        t.elapsed()
    }
    fn teardown(&mut self) {
        self.mt.unmount();
    }
}

/// `hammer_modify_buffer` + `_done` on an already modified data buffer.
struct ModifySteady {
    mt: Mounted,
    held: Option<BufRef>,
}

impl Path for ModifySteady {
    fn name(&self) -> String {
        "hammer_modify_buffer/_done (already modified)".into()
    }
    fn setup(&mut self, imp: IoImpl, quick: bool) -> u64 {
        let m = self.mt.mount(imp, 256);
        let b = m.bnew(m.offset(Zone::LargeData, 0, 4)).expect("bnew");
        m.modify(None, &b, 0, b"x", false);
        self.held = Some(b);
        if quick {
            20000
        } else {
            200000
        }
    }
    fn batch(&mut self, n: u64) -> Duration {
        let imp = self.mt.imp();
        let b = self.held.as_ref().expect("held").as_ptr();
        let t = Instant::now();
        for i in 0..n {
            // SAFETY: the buffer is referenced for the whole path.
            unsafe {
                (imp.modify_buffer)(null_mut(), b, null_mut(), 0);
                *((*b).ondisk as *mut u8).add((i as usize) & (BUFSIZE - 1)) = i as u8;
                (imp.modify_buffer_done)(b);
            }
        }
        t.elapsed()
    }
    fn teardown(&mut self) {
        if let Some(b) = self.held.take() {
            self.mt.m().rel_buffer(b);
        }
        self.mt.unmount();
    }
}

/// modify + done + `hammer_io_clear_modify`: the io enters and leaves its
/// mod tree every time (meta-data: with the locked-dirty accounting).
struct ModifyCycle {
    mt: Mounted,
    held: Vec<BufRef>,
}

impl Path for ModifyCycle {
    fn name(&self) -> String {
        "modify -> modify_done -> clear_modify (meta, 32 bufs)".into()
    }
    fn setup(&mut self, imp: IoImpl, quick: bool) -> u64 {
        let m = self.mt.mount(imp, 256);
        for i in 0..32 {
            let b = m.bread(m.offset(Zone::Meta, 0, 40 + i)).expect("bread");
            self.held.push(b);
        }
        if quick {
            10000
        } else {
            100000
        }
    }
    fn batch(&mut self, n: u64) -> Duration {
        let imp = self.mt.imp();
        let bufs: Vec<_> = self.held.iter().map(|b| b.as_ptr()).collect();
        let t = Instant::now();
        for i in 0..n as usize {
            let b = bufs[i % bufs.len()];
            // SAFETY: every buffer is referenced for the whole path; the
            // clear discards the modification, as a truncation would.
            unsafe {
                (imp.modify_buffer)(null_mut(), b, null_mut(), 0);
                *((*b).ondisk as *mut u8).add(64) = i as u8;
                (imp.modify_buffer_done)(b);
                (imp.clear_modify)(addr_of_mut!((*b).io), 0);
            }
        }
        t.elapsed()
    }
    fn teardown(&mut self) {
        for b in self.held.drain(..) {
            self.mt.m().rel_buffer(b);
        }
        self.mt.unmount();
    }
}

/// The buffer daemon writing dirty data buffers (checkwrite, start,
/// device write, complete), per buffer. Dirtying them is not timed.
struct DaemonWrite {
    mt: Mounted,
    next: u64,
}

impl Path for DaemonWrite {
    fn name(&self) -> String {
        "buf daemon write: io_checkwrite+start+complete".into()
    }
    fn setup(&mut self, imp: IoImpl, quick: bool) -> u64 {
        self.mt.mount(imp, 512);
        self.next = 0;
        if quick {
            64
        } else {
            256
        }
    }
    fn batch(&mut self, n: u64) -> Duration {
        let m = self.mt.m();
        let data = vec![0x5au8; 512];
        for _ in 0..n {
            let idx = self.next % 400;
            self.next += 1;
            let b = m.bread(m.offset(Zone::LargeData, 0, idx)).expect("bread");
            m.modify(None, &b, 0, &data, false);
            m.rel_buffer(b);
        }
        let asked = kern::counters().io_checkwrite;
        let t = Instant::now();
        kern::buf_daemon_flush(usize::MAX);
        kern::run_pending_io();
        let e = t.elapsed();
        // Neighbouring buffers go out as clusters: count the buffers the
        // I/O layer was asked about, not the writes.
        let asked = kern::counters().io_checkwrite - asked;
        assert!(asked >= n, "the daemon wrote {asked} of {n} buffers");
        e
    }
    fn teardown(&mut self) {
        self.mt.unmount();
    }
}

/// `hammer_mod_rb_tree_RB_INSERT` / `_RB_REMOVE` alone.
struct ModTreePath {
    imp: Option<IoImpl>,
    // Built once per setup and never resized: the ios point into `vols`
    // and the tree into `ios`.
    vols: Vec<ffi::hammer_volume>,
    ios: Vec<ffi::hammer_io>,
    order: Vec<usize>,
}

impl Path for ModTreePath {
    fn name(&self) -> String {
        format!(
            "mod tree RB_INSERT + RB_REMOVE ({} ios)",
            self.ios.len().max(256)
        )
    }
    fn setup(&mut self, imp: IoImpl, quick: bool) -> u64 {
        self.imp = Some(imp);
        self.vols = (0..4)
            .map(|v| ffi::hammer_volume {
                vol_no: v,
                ..Default::default()
            })
            .collect();
        let vols = self.vols.as_mut_ptr();
        let mut rng = workload::Rng::new(0x7bee);
        let n = 256;
        let mut offs: Vec<u64> = (0..4096u64).collect();
        for i in (1..offs.len()).rev() {
            offs.swap(i, rng.below(i as u64 + 1) as usize);
        }
        self.ios = (0..n)
            .map(|i| ffi::hammer_io {
                offset: (offs[i] * BUFSIZE as u64) as i64,
                // SAFETY: in bounds of the four volumes.
                volume: unsafe { vols.add(i % 4) },
                ..Default::default()
            })
            .collect();
        self.order = (0..n).collect();
        for i in (1..n).rev() {
            self.order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        if quick {
            20
        } else {
            200
        }
    }
    fn batch(&mut self, rounds: u64) -> Duration {
        let imp = self.imp.expect("set up");
        let mut head = ffi::hammer_mod_rb_tree::default();
        // SAFETY: a fresh head, initialised in place and used only here.
        unsafe { ModTree::init(&mut head) };
        let ios: Vec<*mut ffi::hammer_io> = self.ios.iter_mut().map(|io| io as *mut _).collect();
        let t = Instant::now();
        for _ in 0..rounds {
            // SAFETY: the ios and their volumes outlive the tree; each io
            // is inserted once and removed once per round.
            unsafe {
                for &io in &ios {
                    let dup = (imp.mod_insert)(&mut head, io);
                    debug_assert!(dup.is_null());
                }
                for &i in &self.order {
                    (imp.mod_remove)(&mut head, ios[i]);
                }
            }
        }
        let e = t.elapsed();
        black_box(head.rbh_root as *const c_void);
        assert!(head.rbh_root.is_null());
        e
    }
    fn teardown(&mut self) {}
}

// -- Driver ---------------------------------------------------------------

struct Row {
    name: String,
    results: Vec<(&'static str, Series)>,
}

fn bench(path: &mut dyn Path, imps: &[IoImpl], o: Opts, unit: u64) -> Row {
    let mut results: Vec<(&'static str, Series)> = imps
        .iter()
        .map(|i| (i.name, Series { ns: Vec::new() }))
        .collect();
    let blocks = 2;
    let per_block = o.samples.div_ceil(blocks).max(1);
    let warmup = if o.quick { 1 } else { 3 };
    for _ in 0..blocks {
        for (k, &imp) in imps.iter().enumerate() {
            let n = path.setup(imp, o.quick);
            for _ in 0..warmup {
                path.batch(n);
            }
            for _ in 0..per_block {
                let d = path.batch(n);
                results[k]
                    .1
                    .ns
                    .push(d.as_nanos() as f64 / (n * unit) as f64);
            }
            path.teardown();
        }
    }
    Row {
        name: path.name(),
        results,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut o = Opts {
        samples: 20,
        quick: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--samples" => {
                o.samples = it.next().and_then(|s| s.parse().ok()).unwrap_or(20).max(2);
            }
            "--quick" => {
                o.quick = true;
                o.samples = o.samples.min(6);
            }
            _ => {} // --bench and filters from cargo
        }
    }
    let imps = IoImpl::available();
    if IoImpl::try_reference().is_none() {
        eprintln!("io_paths: the C reference is not compiled in; timing the Rust port alone");
    }
    let _machine = kern::exclusive();

    println!("io_paths: Rust port vs C reference, hosted machine in deterministic mode");
    println!(
        "  {} samples per path and implementation (2 interleaved blocks, each after warm-up on a fresh machine)",
        o.samples
    );
    println!();
    let mut rows = Vec::new();
    let mut paths: Vec<(Box<dyn Path>, u64)> = vec![
        (
            Box::new(WorkloadPath {
                imp: None,
                ops: 0,
                seed: 0x10_5eed,
            }),
            1,
        ),
        (
            Box::new(HotRead {
                mt: Mounted { m: None, imp: None },
                off: 0,
            }),
            1,
        ),
        (
            Box::new(CacheHitRead {
                mt: Mounted { m: None, imp: None },
                off: 0,
            }),
            1,
        ),
        (
            Box::new(ModifySteady {
                mt: Mounted { m: None, imp: None },
                held: None,
            }),
            1,
        ),
        (
            Box::new(ModifyCycle {
                mt: Mounted { m: None, imp: None },
                held: Vec::new(),
            }),
            1,
        ),
        (
            Box::new(DaemonWrite {
                mt: Mounted { m: None, imp: None },
                next: 0,
            }),
            1,
        ),
        (
            Box::new(ModTreePath {
                imp: None,
                vols: Vec::new(),
                ios: Vec::new(),
                order: Vec::new(),
            }),
            256,
        ),
    ];
    for (p, unit) in paths.iter_mut() {
        let row = bench(&mut **p, &imps, o, *unit);
        print_row(&row);
        rows.push(row);
    }
    println!();
    println!("ratio = rust median / reference median (below 1: the port is faster)");
}

fn print_row(r: &Row) {
    println!("{}", r.name);
    let reference = r
        .results
        .iter()
        .find(|(n, _)| *n == "reference")
        .map(|(_, s)| s.median());
    for (name, s) in &r.results {
        let (p10, p50, p90) = (s.pct(0.1), s.median(), s.pct(0.9));
        let spread = 100.0 * (p90 - p10) / 2.0 / p50;
        let ratio = match (reference, *name) {
            (Some(c), "rust") => format!("   ratio {:.2}", p50 / c),
            _ => String::new(),
        };
        println!(
            "    {name:<10} median {p50:>9.1} ns/op  min {:>9.1}  p10..p90 {p10:>9.1} .. {p90:<9.1} spread ±{spread:.1}%{ratio}",
            s.pct(0.0)
        );
    }
}
