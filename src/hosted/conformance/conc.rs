//! Concurrent mode: several workload threads, a flusher thread, and the
//! machine's real disk completion thread, buffer daemon and syncer.
//!
//! Traces cannot match between runs, so each implementation must instead
//! (1) keep the I/O layer's invariants (mod trees well-formed and
//! consistent with the io flags, counters back to their idle values, no
//! running I/O once quiet), (2) read back, through the front-end direct
//! and indirect reads, what its own threads wrote, and (3) leave on the
//! devices exactly what the committed operations wrote: every thread
//! owns its buffers and file blocks, so the final contents of those areas
//! are a function of the seed alone, computed here by a shadow model, and
//! the Rust port and the C reference must both produce them.
//!
//! Every workload operation holds the mount's fs_token, as HAMMER's
//! front-end does; the token is released whenever the thread blocks, which
//! is where the threads interleave (exactly as in the kernel).

use core::ptr::{addr_of_mut, null_mut};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::collections::BTreeMap;
use std::string::{String, ToString};
use std::sync::Arc;
use std::time::{Duration, Instant};
use std::vec::Vec;
use std::{eprintln, format, vec};

use super::exec::{all_ios, data_pattern, front_read, front_write, hash_bytes, BUFSIZE};
use super::ops::Rng;
use super::runner::{Impl, Opts};
use super::tracer;
use crate::hosted::hammer::ioimpl::IoImpl;
use crate::hosted::hammer::mount::{Mount, Zone};
use crate::hosted::hammer::objects;
use crate::hosted::kern::{self, Config};
use crate::sys::ffi;

/// Workload threads per scenario.
const THREADS: usize = 3;
/// Operations per workload thread.
const OPS: usize = 300;

/// The mount shared by the threads.
struct Shared {
    m: Mount,
    imp: IoImpl,
}

// SAFETY: the mount's structures are protected the way HAMMER protects
// them (fs_token, io_token, HAMMER locks, buffer locks), which every
// thread below takes as HAMMER's own threads do; `Mount` only holds the
// raw pointers to them.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

/// What one child reports for one concurrent scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConcResult {
    pub seed: u64,
    /// Hash of the final contents of every area the threads own.
    pub media: u64,
    pub ops: u64,
    /// Invariant violations and model mismatches.
    pub errors: Vec<String>,
}

impl ConcResult {
    /// `conc <seed> <media> <ops> <nerrors> [first error]`
    pub fn to_line(&self) -> String {
        let first = self
            .errors
            .first()
            .map(|e| e.replace('\n', " "))
            .unwrap_or_default();
        format!(
            "conc {} {:016x} {} {} {}",
            self.seed,
            self.media,
            self.ops,
            self.errors.len(),
            first
        )
    }

    fn parse(l: &str) -> Option<ConcResult> {
        let mut w = l.splitn(6, ' ');
        if w.next()? != "conc" {
            return None;
        }
        let seed = w.next()?.parse().ok()?;
        let media = u64::from_str_radix(w.next()?, 16).ok()?;
        let ops = w.next()?.parse().ok()?;
        let n: usize = w.next()?.parse().ok()?;
        let first = w.next().unwrap_or("").to_string();
        Some(ConcResult {
            seed,
            media,
            ops,
            errors: if n > 0 {
                vec![format!("{first} (+{} more)", n - 1)]
            } else {
                Vec::new()
            },
        })
    }
}

/// One buffer area of a thread: (zone, volume 0, index).
fn thread_slots(t: usize) -> Vec<(Zone, u64)> {
    let b = (t * 2) as u64;
    vec![
        (Zone::Btree, b),
        (Zone::Btree, b + 1),
        (Zone::Meta, b),
        (Zone::Meta, b + 1),
        (Zone::SmallData, b),
        (Zone::SmallData, b + 1),
        (Zone::LargeData, b),
    ]
}

/// A thread's direct-I/O block: file block `t`, large-data index 16+t.
fn direct_slot(t: usize) -> (Zone, u64) {
    (Zone::LargeData, 16 + t as u64)
}

struct Worker<'a> {
    sh: &'a Shared,
    t: usize,
    rng: Rng,
    shadow: BTreeMap<(u8, u64), Vec<u8>>,
    ip: ffi::hammer_inode_t,
    errors: Vec<String>,
    ops: u64,
}

fn zkey(z: Zone) -> u8 {
    match z {
        Zone::Btree => 0,
        Zone::Meta => 1,
        Zone::LargeData => 2,
        Zone::SmallData => 3,
        Zone::Undo => 4,
    }
}

impl Worker<'_> {
    fn with_fs_token<R>(&self, f: impl FnOnce() -> R) -> R {
        let hmp = self.sh.m.hmp();
        // SAFETY: the token lives in the live mount.
        let tok = unsafe { addr_of_mut!((*hmp).fs_token) };
        kern::gettoken(tok);
        let r = f();
        kern::reltoken(tok);
        r
    }

    fn step(&mut self) {
        let m = &self.sh.m;
        let slots = thread_slots(self.t);
        let w = self.rng.below(100);
        self.ops += 1;
        if w < 70 {
            // Acquire a buffer, modify it a few times, release it.
            let (z, idx) = *self.rng.pick(&slots);
            let off = m.offset(z, 0, idx);
            let bnew = self.rng.chance(150);
            let nmod = self.rng.below(4);
            let mut mods: Vec<(usize, usize, u8, bool)> = (0..nmod)
                .map(|_| {
                    let len = *self.rng.pick(&[8usize, 64, 512, 4096]);
                    let at = self.rng.below(((BUFSIZE - len) / 8) as u64) as usize * 8;
                    (at, len, self.rng.next_u64() as u8, self.rng.chance(500))
                })
                .collect();
            if bnew {
                // hammer_bnew keeps whatever valid data the cache still
                // has (vfs_bio_clrbuf only clears invalid pages), which
                // depends on timing here; HAMMER initialises a new buffer
                // completely, and so does this workload.
                mods.insert(0, (0, BUFSIZE, self.rng.next_u64() as u8, false));
            }
            let flush = self.rng.chance(200);
            let imp = self.sh.imp;
            let key = (zkey(z), idx);
            let res = self.with_fs_token(|| {
                let b = if bnew { m.bnew(off) } else { m.bread(off) };
                let b = match b {
                    Ok(b) => b,
                    Err(e) => return Err(format!("t{} acquire {off:x}: error {e}", self.t)),
                };
                for &(at, len, byte, undo) in &mods {
                    let mut t = m.start_transaction();
                    m.modify(Some(&mut t), &b, at, &data_pattern(byte, len), undo);
                    m.done_transaction(t);
                }
                let io = b.io();
                // SAFETY: we hold a reference on the buffer's io.
                let is_data = unsafe { (*io).type_ } == ffi::HAMMER_STRUCTURE_DATA_BUFFER;
                if flush && is_data {
                    // A data buffer is flushed the way HAMMER's flusher
                    // does it (reference, write interlock, flush, release).
                    // Meta-data is only ever flushed by the flusher, under
                    // the exclusive sync lock, so it is left to it.
                    //
                    // Not a flush-release (`hammer_rel_buffer(buffer, 1)`):
                    // HAMMER never releases a *modified* buffer that way
                    // (it comes only after clear_modify or a failed load).
                    // Doing it while the flusher runs lets the releaser
                    // block in hammer_io_flush's regetblk with the buffer
                    // still on data_root; the flusher then references it
                    // and starts its own flush, and the releaser
                    // disassociates the bp under it. Both implementations
                    // then fail `io->bp == bp` or wait forever on a bp that
                    // belongs to another buffer by then.
                    // SAFETY: we hold a reference on the buffer's io.
                    unsafe {
                        (imp.write_interlock)(io);
                        (imp.flush)(io, 0);
                        (imp.done_interlock)(io);
                    }
                }
                m.rel_buffer(b);
                Ok(())
            });
            match res {
                Err(e) => self.errors.push(e),
                Ok(()) => {
                    let sh = self.shadow.entry(key).or_insert_with(|| vec![0u8; BUFSIZE]);
                    for (at, len, byte, _) in mods {
                        sh[at..at + len].copy_from_slice(&data_pattern(byte, len));
                    }
                }
            }
        } else if w < 82 {
            // Direct write of the thread's own file block, then read back.
            let (z, idx) = direct_slot(self.t);
            let off = m.offset(z, 0, idx);
            let byte = self.rng.next_u64() as u8;
            let data = data_pattern(byte, BUFSIZE);
            let direct = self.rng.chance(500);
            let ip = self.ip;
            let imp = self.sh.imp;
            let hmp = m.hmp();
            let t = self.t;
            let r = self.with_fs_token(|| {
                // SAFETY: live inode with its vnode; the mount is live.
                unsafe {
                    let vp = (*ip).vp;
                    let (r, _, fl, err) = front_write(&imp, hmp, ip, vp, 0, &data, off, BUFSIZE);
                    if r != 0 || fl & ffi::B_ERROR != 0 {
                        return Err(format!("t{t} direct write: {r} flags {fl:x} error {err}"));
                    }
                    // Committing the record waits for the write and drops
                    // device-buffer aliases of the block (DIRECT_INVAL), so
                    // a read through the device cache sees the new data.
                    objects::hammer_sync_inode_records(ip);
                    let (r, _, fl, err, got) =
                        front_read(&imp, hmp, vp, 0, off, null_mut(), direct);
                    if r != 0 || fl & ffi::B_ERROR != 0 {
                        return Err(format!("t{t} read back: {r} flags {fl:x} error {err}"));
                    }
                    if got != data {
                        return Err(format!(
                            "t{t} read back of a direct write returned other data"
                        ));
                    }
                    Ok(())
                }
            });
            match r {
                Ok(()) => {
                    self.shadow.insert((zkey(z), idx), data);
                }
                Err(e) => self.errors.push(e),
            }
        } else if w < 88 {
            let ip = self.ip;
            // SAFETY: live, referenced inode.
            self.with_fs_token(|| unsafe { objects::hammer_sync_inode_records(ip) });
        } else if w < 94 {
            let doflush = self.rng.chance(500);
            self.with_fs_token(|| m.wait_all(doflush));
        } else {
            let hmp = m.hmp();
            let imp = self.sh.imp;
            // SAFETY: live mount.
            self.with_fs_token(|| unsafe { (imp.limit_backlog)(hmp) });
        }
    }
}

/// Invariants of a quiet mount (no thread inside the I/O layer).
fn quiet_invariants(m: &Mount) -> Vec<String> {
    let mut errs = Vec::new();
    let hmp = m.hmp();
    // SAFETY: the mount is live and nothing else runs.
    unsafe {
        for (name, head) in [
            ("volu", addr_of_mut!((*hmp).volu_root)),
            ("meta", addr_of_mut!((*hmp).meta_root)),
            ("undo", addr_of_mut!((*hmp).undo_root)),
            ("data", addr_of_mut!((*hmp).data_root)),
            ("lose", addr_of_mut!((*hmp).lose_root)),
        ] {
            errs.extend(tracer::check_mod_tree(head, name));
        }
        if !(*hmp).iorun_list.tqh_first.is_null() {
            errs.push(format!(
                "iorun list not empty when quiet: {}",
                tracer::mount_state(hmp)
            ));
        }
        if (*hmp).io_running_space != 0 {
            errs.push(format!(
                "io_running_space {} when quiet",
                (*hmp).io_running_space
            ));
        }
        let mut lds = 0i64;
        for io in all_ios(hmp) {
            let i = &*io;
            if i.running() != 0 {
                errs.push(format!("io {} running when quiet", tracer::io_state(io)));
            }
            if i.modify_refs != 0 {
                errs.push(format!(
                    "io {} has modify_refs when quiet",
                    tracer::io_state(io)
                ));
            }
            let in_tree = !i.mod_root.is_null();
            let lose = i.mod_root == addr_of_mut!((*hmp).lose_root);
            if i.modified() != 0 && (!in_tree || lose) {
                errs.push(format!(
                    "modified io not on a mod tree: {}",
                    tracer::io_state(io)
                ));
            }
            if i.modified() == 0 && in_tree && !lose {
                errs.push(format!("clean io on a mod tree: {}", tracer::io_state(io)));
            }
            if i.modified() != 0
                && (i.mod_root == addr_of_mut!((*hmp).volu_root)
                    || i.mod_root == addr_of_mut!((*hmp).meta_root))
            {
                lds += i.bytes as i64;
            }
            if !i.bp.is_null() {
                let dep = (*i.bp).b_dep.lh_first as *mut ffi::hammer_io;
                if dep != io {
                    errs.push(format!(
                        "io {} bp's b_dep does not point back",
                        tracer::io_state(io)
                    ));
                }
            }
        }
        if lds != (*hmp).locked_dirty_space {
            errs.push(format!(
                "locked_dirty_space {} but modified volu/meta ios hold {lds}",
                (*hmp).locked_dirty_space
            ));
        }
    }
    let c = crate::hosted::hammer::globals::counters();
    // SAFETY: the mount is live.
    let lds = unsafe { (*hmp).locked_dirty_space };
    if c.dirtybufspace != lds {
        errs.push(format!(
            "hammer_count_dirtybufspace {} != locked_dirty_space {lds}",
            c.dirtybufspace
        ));
    }
    if c.io_running_write != 0 || c.io_running_read != 0 {
        errs.push(format!("running counters not idle: {c:?}"));
    }
    errs
}

/// Runs concurrent scenario `seed` with `imp` (in a child process).
pub fn run(seed: u64, imp: IoImpl) -> ConcResult {
    let mut rng = Rng::new(seed ^ 0xc0c0_c0c0);
    let nbuf = *rng.pick(&[24usize, 32, 48, 512]);
    let mut cfg = Config {
        seed,
        syncer_interval: Duration::from_millis(5),
        syncer_delay: Duration::from_millis(10),
        disk_latency: (Duration::from_micros(0), Duration::from_micros(300)),
        ..Config::default()
    };
    cfg = cfg.with_buffer_limit(nbuf);
    kern::boot(cfg);
    crate::hosted::hammer::globals::reset();
    let m = Mount::builder().volumes(1).implementation(imp).build();
    let sh = Shared { m, imp };
    let mut inodes = Vec::new();
    for t in 0..THREADS {
        let ip = sh.m.create_inode(0x200 + t as i64);
        let mut vp = null_mut();
        // SAFETY: live inode; the vnode is put back at once.
        unsafe {
            assert_eq!(ffi::hammer_get_vnode(ip, &mut vp), 0);
            ffi::vput(vp);
        }
        inodes.push(ip as usize);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flushes = AtomicU64::new(0);
    let mut errors = Vec::new();
    let mut shadows: BTreeMap<(u8, u64), Vec<u8>> = BTreeMap::new();
    let mut ops = 0;
    std::thread::scope(|s| {
        let shr = &sh;
        let stopr = &stop;
        let fl = &flushes;
        let flusher = s.spawn(move || {
            let mut r = Rng::new(seed ^ 0xf1);
            while !stopr.load(Ordering::SeqCst) {
                let hmp = shr.m.hmp();
                // SAFETY: the token lives in the live mount.
                let tok = unsafe { addr_of_mut!((*hmp).fs_token) };
                kern::gettoken(tok);
                shr.m.flush(r.chance(700));
                kern::reltoken(tok);
                fl.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(200 + r.below(2000)));
            }
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let ip = inodes[t] as ffi::hammer_inode_t as usize;
                s.spawn(move || {
                    let mut w = Worker {
                        sh: shr,
                        t,
                        rng: Rng::new(seed.wrapping_mul(31).wrapping_add(t as u64)),
                        shadow: BTreeMap::new(),
                        ip: ip as ffi::hammer_inode_t,
                        errors: Vec::new(),
                        ops: 0,
                    };
                    for _ in 0..OPS {
                        w.step();
                    }
                    (w.shadow, w.errors, w.ops)
                })
            })
            .collect();
        for w in workers {
            let (sh_, e, n) = w.join().expect("worker thread");
            shadows.extend(sh_);
            errors.extend(e);
            ops += n;
        }
        stop.store(true, Ordering::SeqCst);
        flusher.join().expect("flusher thread");
    });
    // Quiet down: commit records, flush until clean, complete all I/O.
    let hmp = sh.m.hmp();
    // SAFETY: the token lives in the live mount.
    let tok = unsafe { addr_of_mut!((*hmp).fs_token) };
    kern::gettoken(tok);
    for &ip in &inodes {
        // SAFETY: live inode.
        unsafe { objects::hammer_sync_inode_records(ip as ffi::hammer_inode_t) };
    }
    let mut rounds = 0;
    while sh.m.has_work() && rounds < 10 {
        sh.m.flush(true);
        rounds += 1;
    }
    sh.m.wait_all(true);
    kern::reltoken(tok);
    kern::quiesce();
    errors.extend(
        kern::background_panics()
            .into_iter()
            .map(|p| format!("background panic: {p}")),
    );
    if sh.m.critical_error() {
        errors.push(format!("critical error: {:?}", sh.m.critical_errors()));
    }
    errors.extend(quiet_invariants(&sh.m));
    // Tear down and compare the media with the model.
    // SAFETY: nothing runs; the inodes and vnodes are idle.
    unsafe {
        for &ip in &inodes {
            let ip = ip as ffi::hammer_inode_t;
            let vp = (*ip).vp;
            let bp = ffi::findblk(vp, 0, 0);
            if !bp.is_null() {
                ffi::bremfree(bp);
                (*bp).b_flags |= ffi::B_INVAL | ffi::B_NOCACHE;
                ffi::brelse(bp);
            }
            objects::hammer_reclaim_vnode(ip);
            objects::hammer_rel_inode(ip, 0);
        }
    }
    let mut areas: Vec<(u8, u64, u64)> = Vec::new();
    for t in 0..THREADS {
        for (z, idx) in thread_slots(t).into_iter().chain([direct_slot(t)]) {
            areas.push((zkey(z), idx, sh.m.offset(z, 0, idx)));
        }
    }
    let located: Vec<(u8, u64, i32, u64)> = areas
        .iter()
        .map(|&(z, idx, off)| {
            let (v, d) = sh.m.locate(off);
            (z, idx, v, d)
        })
        .collect();
    let devices = sh.m.devices().to_vec();
    let Shared { m, .. } = sh;
    m.unmount();
    kern::quiesce();
    let mut h: u64 = 0;
    for (z, idx, v, d) in located {
        let cur = devices[v as usize].read_current(d, BUFSIZE);
        h = h.rotate_left(7) ^ hash_bytes(&cur);
        let known = shadows.contains_key(&(z, idx));
        let want = shadows
            .get(&(z, idx))
            .cloned()
            .unwrap_or_else(|| vec![0u8; BUFSIZE]);
        if cur != want {
            let first = cur.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0);
            let zeros = cur.iter().all(|&b| b == 0);
            errors.push(
                format!(
                "media at zone {z} index {idx} differs from what the committed operations wrote \
                 (first byte {first:#x}: {:#x} instead of {:#x}{})",
                cur[first],
                want[first],
                if zeros { ", media all zero" } else { "" }
            ) + &format!(
                    " [{} bytes differ, modelled: {known}, model nonzero bytes: {}]",
                    cur.iter().zip(&want).filter(|(a, b)| a != b).count(),
                    want.iter().filter(|&&b| b != 0).count()
                ),
            );
        }
    }
    if std::env::var_os("CONFORMANCE_VERBOSE").is_some() {
        let c = kern::counters();
        eprintln!(
            "conc {seed}: nbuf {nbuf}, {} flusher cycles, blocks {} tsleeps {} token collisions {} buffer-lock waits {} \
             recycled {} io_deallocate {} checkwrite {} daemon flushes {} syncer writes {}",
            flushes.load(Ordering::Relaxed),
            c.blocks,
            c.tsleeps,
            c.token_collisions,
            c.buflock_waits,
            c.recycled,
            c.io_deallocate,
            c.io_checkwrite,
            c.daemon_flushes,
            c.syncer_writes
        );
    }
    ConcResult {
        seed,
        media: h,
        ops,
        errors,
    }
}

/// Summary of the concurrent comparison.
pub struct ConcSummary {
    pub scenarios: u64,
    pub divergences: u64,
    pub reports: Vec<String>,
    pub elapsed: Duration,
}

fn run_child(o: &Opts, imp: &Impl, seed: u64) -> Result<ConcResult, String> {
    let mut cmd = std::process::Command::new(&o.exe);
    cmd.arg("child");
    match imp {
        Impl::Rust => {
            cmd.args(["--impl", "rust"]);
        }
        Impl::C => {
            cmd.args(["--impl", "c"]);
        }
        Impl::So(p) => {
            cmd.args(["--impl", "so", "--so"]).arg(p);
        }
    }
    cmd.args(["--conc", &seed.to_string()]);
    cmd.stdin(std::process::Stdio::null());
    cmd.stdout(std::process::Stdio::piped());
    cmd.stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) => {
                if start.elapsed() > o.timeout {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("TIMEOUT after {:?} (hang)", o.timeout));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(format!("wait: {e}")),
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("output: {e}"))?;
    let so = String::from_utf8_lossy(&out.stdout);
    match so.lines().find_map(ConcResult::parse) {
        Some(r) => Ok(r),
        None => {
            let se = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = se.lines().rev().take(10).collect();
            Err(format!(
                "CRASH ({}): {}",
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n    | ")
            ))
        }
    }
}

/// Runs `count` concurrent scenarios through both implementations.
pub fn compare(o: &Opts, first: u64, count: u64) -> ConcSummary {
    let start = Instant::now();
    let mut reports = Vec::new();
    let mut div = 0;
    for seed in first..first + count {
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| run_child(o, &Impl::Rust, seed));
            let b = s.spawn(|| run_child(o, &o.c, seed));
            (
                a.join().expect("conc thread"),
                b.join().expect("conc thread"),
            )
        });
        let problem = match (&a, &b) {
            (Ok(x), Ok(y)) if x.errors.is_empty() && y.errors.is_empty() && x.media == y.media => {
                None
            }
            _ => Some(format!(
                "CONCURRENT DIVERGENCE seed {seed}:\n  rust: {}\n  {}: {}",
                describe(&a),
                o.c.name(),
                describe(&b)
            )),
        };
        if let Some(p) = problem {
            eprintln!("{p}");
            reports.push(p);
            div += 1;
        }
    }
    ConcSummary {
        scenarios: count,
        divergences: div,
        reports,
        elapsed: start.elapsed(),
    }
}

fn describe(r: &Result<ConcResult, String>) -> String {
    match r {
        Ok(c) if c.errors.is_empty() => format!("ok, {} operations, media {:016x}", c.ops, c.media),
        Ok(c) => format!(
            "{} operations, media {:016x}, errors: {}",
            c.ops,
            c.media,
            c.errors.join("; ")
        ),
        Err(e) => e.clone(),
    }
}
