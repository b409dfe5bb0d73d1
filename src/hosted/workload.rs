//! A seeded, self-checking HAMMER workload for the hosted machine: what
//! `hammer-hosted` runs and `benches/io_paths.rs` times.
//!
//! One run boots a machine (threaded with the disk thread, buffer daemon
//! and syncer, or deterministic), mounts a two-volume HAMMER file system
//! through one [`IoImpl`] and lets one or more front-end workers run a mix
//! of the operations HAMMER performs on its buffers:
//!
//! - meta-data, B-Tree, data and UNDO buffers read cold and hot, held for a
//!   while, created with `hammer_bnew`, modified with and without UNDO;
//!   B-Tree nodes whose CRC is computed at flush time; the root volume
//!   header modified with UNDO;
//! - releases with a flush request, explicit data-buffer flushes under the
//!   write interlock, flusher cycles in HAMMER's order, `wait_all`,
//!   `flush_sync`, `limit_backlog`, `hammer_io_inval`;
//! - front-end file I/O: direct writes (full blocks straight to the media,
//!   small ones through a HAMMER buffer), direct and indirect
//!   (CRC-checked) reads, record commits and `direct_uncache`;
//! - buffer pressure (a small buffer limit: reads recycle buffers; too much
//!   dirty meta-data triggers a flush as HAMMER's limits do) and a few
//!   injected read errors, retried as HAMMER's callers do.
//!
//! Every worker keeps a model of the bytes it wrote into the buffers it
//! owns (workers never share a buffer), so every read is checked against
//! it. Between rounds the workers stop and the coordinator checks the I/O
//! layer's [`invariants`] (holding `io_token`, so bioops callbacks of the
//! daemons cannot be caught half-way); every few rounds it lets the flusher
//! settle and compares every modelled byte with the device. At the end the
//! file system is unmounted, every committed byte is checked on the device
//! and through a fresh mount of the same devices, and two short drills
//! inject write errors (meta-data, direct write), which HAMMER turns into
//! a critical error and a read-only mount.
//!
//! The caller serialises machines (`kern::exclusive`, or one run per
//! process): [`run`] boots the machine and leaves it running.

use std::prelude::rust_2021::*;
use std::{format, vec};

use core::ffi::{c_int, c_void};
use core::mem::size_of;
use core::ptr::{addr_of_mut, null_mut};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::hosted::hammer::invariants::{self, CheckwriteSpy};
use crate::hosted::hammer::{
    flusher, globals, lock, objects, off, BufRef, IoImpl, Mount, Transaction, Zone,
};
use crate::hosted::kern::{self, Config, Device, Fault, FaultOp};
use crate::sys::ffi;

const BUFSIZE: usize = ffi::HAMMER_BUFSIZE as usize;
const NODE: usize = size_of::<ffi::hammer_node_ondisk>();
const NODES_PER_BUF: usize = BUFSIZE / NODE;
/// The root volume header buffer past `hammer_volume_ondisk` (1928 bytes):
/// not covered by the header CRC, free for the workload to modify.
const VOL_TAIL: usize = 2048;

// Buffer indices (within each zone's big-block) the workload uses.
const META_SLOTS: u64 = 48;
const BTREE_SLOTS: u64 = 12;
const DATA_SLOTS_V0: u64 = 64;
const DATA_SLOTS_V1: u64 = 32;
const FILE_LARGE_BASE: u64 = 256;
const FILE_LARGE_N: u64 = 192;
const FILE_SMALL_BASE: u64 = 448;
const FILE_SMALL_N: u64 = 32;
const PLAIN_BASE: u64 = 480;
const PLAIN_N: u64 = 32;
/// File offset (in blocks) where the small-write records start (the
/// hosted file vnodes are 64MB).
const SMALL_FILE_BLOCK0: i64 = 1024;
const HELD_MAX: usize = 3;

/// What to run.
#[derive(Clone, Debug)]
pub struct Params {
    /// Operations in total (split between the workers).
    pub ops: u64,
    /// Seed of the workload and the machine.
    pub seed: u64,
    /// Deterministic machine (no background threads, one worker) instead
    /// of the threaded one.
    pub deterministic: bool,
    /// Front-end worker threads (threaded machine only).
    pub workers: usize,
    /// Buffer-cache limit in buffers.
    pub nbuf: usize,
    /// Operations per worker between invariant checks.
    pub round: u64,
    /// Rounds between full settles with a device comparison.
    pub sync_every: u64,
    /// Read errors to inject on the main mount (spread over the run).
    pub read_faults: u64,
    /// Record every `io_checkwrite` answer through the kernel trace and
    /// check that none approves a volume or meta-data buffer.
    pub checkwrite_spy: bool,
    /// After the main run: remount and re-read, then the write-error drills.
    pub finale: bool,
}

impl Params {
    /// The default threaded run of `hammer-hosted`.
    pub fn threaded(ops: u64, seed: u64, workers: usize) -> Params {
        Params {
            ops,
            seed,
            deterministic: false,
            workers: workers.max(1),
            nbuf: 96,
            round: 400,
            sync_every: 5,
            read_faults: 6,
            checkwrite_spy: true,
            finale: true,
        }
    }

    /// A deterministic run (one worker, I/O completes when the workload
    /// or a sleeping thread says so).
    pub fn deterministic(ops: u64, seed: u64) -> Params {
        Params {
            deterministic: true,
            workers: 1,
            round: 200,
            ..Params::threaded(ops, seed, 1)
        }
    }

    /// The machine configuration of this run.
    pub fn config(&self) -> Config {
        let cfg = if self.deterministic {
            Config::deterministic(self.seed)
        } else {
            // The syncer wakes often and writes what has been dirty for a
            // short while; the buffer daemon starts at a few dirty buffers
            // (the defaults scale with a much larger cache).
            Config {
                seed: self.seed,
                syncer_interval: Duration::from_millis(10),
                syncer_delay: Duration::from_millis(10),
                disk_latency: (Duration::from_micros(0), Duration::from_micros(150)),
                lodirtybufspace: Some(16 * 65536),
                hidirtybufspace: Some(32 * 65536),
                ..Config::default()
            }
        };
        cfg.with_buffer_limit(self.nbuf)
    }
}

/// Where a run is, for progress displays.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Implementation name.
    pub imp: &'static str,
    /// "workload", "settle", "verify", "remount", "drill", "done".
    pub phase: &'static str,
    /// Operations done so far and in total.
    pub done: u64,
    /// Operations in total.
    pub total: u64,
    /// Since the run started.
    pub elapsed: Duration,
    /// Device reads and writes so far (kernel counters).
    pub disk_reads: u64,
    /// Device writes so far.
    pub disk_writes: u64,
    /// Invariant checks passed so far.
    pub checks: u64,
}

/// The outcome of a run: named counters, failures and notes. It travels
/// between processes as text ([`Report::to_lines`], [`Report::parse`]).
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Implementation name.
    pub imp: String,
    /// Counters by name (see `hammer-hosted` for their meaning).
    pub stats: BTreeMap<String, u64>,
    /// Everything that went wrong (empty: the run passed).
    pub failures: Vec<String>,
    /// Remarks that are not failures.
    pub notes: Vec<String>,
}

impl Report {
    /// A counter (0 when absent).
    pub fn get(&self, k: &str) -> u64 {
        self.stats.get(k).copied().unwrap_or(0)
    }

    /// Sets a counter.
    pub fn set(&mut self, k: &str, v: u64) {
        self.stats.insert(k.to_string(), v);
    }

    fn add(&mut self, k: &str, v: u64) {
        *self.stats.entry(k.to_string()).or_insert(0) += v;
    }

    fn fail(&mut self, msg: String) {
        if self.failures.len() < 50 {
            self.failures.push(msg);
        }
    }

    /// Whether the run passed.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    /// Line form: `IMPL name`, `STAT key value`, `FAIL text`, `NOTE text`.
    pub fn to_lines(&self) -> Vec<String> {
        let mut v = vec![format!("IMPL {}", self.imp)];
        v.extend(self.stats.iter().map(|(k, n)| format!("STAT {k} {n}")));
        let one = |s: &String| s.replace('\n', " | ");
        v.extend(self.failures.iter().map(|f| format!("FAIL {}", one(f))));
        v.extend(self.notes.iter().map(|f| format!("NOTE {}", one(f))));
        v
    }

    /// Reads what [`Report::to_lines`] wrote (other lines are ignored).
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Report {
        let mut r = Report::default();
        for l in lines {
            if let Some(x) = l.strip_prefix("IMPL ") {
                r.imp = x.trim().to_string();
            } else if let Some(x) = l.strip_prefix("STAT ") {
                let mut it = x.split_whitespace();
                if let (Some(k), Some(Ok(n))) = (it.next(), it.next().map(str::parse)) {
                    r.stats.insert(k.to_string(), n);
                }
            } else if let Some(x) = l.strip_prefix("FAIL ") {
                r.failures.push(x.to_string());
            } else if let Some(x) = l.strip_prefix("NOTE ") {
                r.notes.push(x.to_string());
            }
        }
        r
    }
}

/// A 64-bit digest (not cryptographic; for comparing images).
pub fn digest(mut h: u64, bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(27);
    }
    for &b in chunks.remainder() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h ^ (h >> 31)
}

/// splitmix64.
#[derive(Clone, Copy, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }
    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (0 when `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    /// `n` pseudo-random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

// ---------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Read,
    Hold,
    Release,
    Bnew,
    ModData,
    ModMetaUndo,
    ModMeta,
    Node,
    ModVolume,
    RelFlush,
    DataFlush,
    Flusher,
    WaitAll,
    FlushSync,
    Backlog,
    Inval,
    UndoRead,
    FileWrite,
    FileWriteSmall,
    FileReadDirect,
    FileReadIndirect,
    FileCommit,
    FileUncache,
    ReadFault,
    Recycle,
    IoOne,
    IoAll,
    BufDaemon,
    Syncer,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Hold => "hold",
            Op::Release => "release",
            Op::Bnew => "bnew",
            Op::ModData => "modify_data",
            Op::ModMetaUndo => "modify_meta_undo",
            Op::ModMeta => "modify_meta",
            Op::Node => "btree_node",
            Op::ModVolume => "modify_volume",
            Op::RelFlush => "release_flush",
            Op::DataFlush => "data_flush",
            Op::Flusher => "flusher_cycle",
            Op::WaitAll => "wait_all",
            Op::FlushSync => "flush_sync",
            Op::Backlog => "limit_backlog",
            Op::Inval => "inval",
            Op::UndoRead => "undo_read",
            Op::FileWrite => "direct_write",
            Op::FileWriteSmall => "small_write",
            Op::FileReadDirect => "direct_read",
            Op::FileReadIndirect => "indirect_read",
            Op::FileCommit => "commit_records",
            Op::FileUncache => "direct_uncache",
            Op::ReadFault => "read_fault",
            Op::Recycle => "recycle",
            Op::IoOne => "io_one",
            Op::IoAll => "io_all",
            Op::BufDaemon => "buf_daemon",
            Op::Syncer => "syncer",
        }
    }
}

/// The operation mix (weights, per ten thousand). The flusher runs
/// rarely on its own: most cycles come from the dirty-buffer and UNDO
/// limits, as in HAMMER, which leaves the buffer daemon and the syncer
/// time to write data and UNDO buffers themselves.
fn mix(deterministic: bool) -> Vec<(Op, u64)> {
    let mut v = vec![
        (Op::Read, 2100),
        (Op::Hold, 300),
        (Op::Release, 300),
        (Op::Bnew, 300),
        (Op::ModData, 1300),
        (Op::ModMetaUndo, 900),
        (Op::ModMeta, 300),
        (Op::Node, 600),
        (Op::ModVolume, 150),
        (Op::RelFlush, 200),
        (Op::DataFlush, 150),
        (Op::Flusher, 30),
        (Op::WaitAll, 60),
        (Op::FlushSync, 60),
        (Op::Backlog, 60),
        (Op::Inval, 200),
        (Op::UndoRead, 100),
        (Op::FileWrite, 450),
        (Op::FileWriteSmall, 200),
        (Op::FileReadDirect, 300),
        (Op::FileReadIndirect, 200),
        (Op::FileCommit, 80),
        (Op::FileUncache, 80),
        (Op::Recycle, 80),
    ];
    if deterministic {
        v.extend([
            (Op::IoOne, 400),
            (Op::IoAll, 300),
            (Op::BufDaemon, 100),
            (Op::Syncer, 100),
        ]);
    }
    v
}

// ---------------------------------------------------------------------
// Buffers the workload owns, and the model of their contents
// ---------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Meta,
    Btree,
    Data,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    off: u64,
    class: Class,
}

/// What one worker wrote: buffer contents by zone-X offset (absent: zero,
/// as formatted), and the B-Tree nodes it created.
#[derive(Default)]
struct Model {
    bufs: HashMap<u64, Vec<u8>>,
    nodes: HashSet<u64>,
}

impl Model {
    fn get(&self, zx: u64) -> Vec<u8> {
        self.bufs
            .get(&zx)
            .cloned()
            .unwrap_or_else(|| vec![0; BUFSIZE])
    }
    fn entry(&mut self, zx: u64) -> &mut Vec<u8> {
        self.bufs.entry(zx).or_insert_with(|| vec![0; BUFSIZE])
    }
}

fn is_btree(zx: u64) -> bool {
    off::zone_decode(zx) == ffi::HAMMER_ZONE_BTREE_INDEX
}

/// Compares a buffer's bytes with the model (B-Tree buffers without the
/// node CRCs, which the flush fills in). Returns the first difference.
fn compare(zx: u64, got: &[u8], want: &[u8]) -> Option<usize> {
    if got.len() != want.len() {
        return Some(got.len().min(want.len()));
    }
    if is_btree(zx) {
        for n in 0..NODES_PER_BUF {
            let r = n * NODE + size_of::<ffi::hammer_crc_t>()..(n + 1) * NODE;
            if let Some(i) = got[r.clone()]
                .iter()
                .zip(&want[r.clone()])
                .position(|(a, b)| a != b)
            {
                return Some(r.start + i);
            }
        }
        None
    } else {
        got.iter().zip(want).position(|(a, b)| a != b)
    }
}

/// Checks that every created node of a B-Tree buffer carries its CRC.
fn check_node_crcs(zx: u64, bytes: &[u8], nodes: &HashSet<u64>) -> Option<String> {
    for n in 0..NODES_PER_BUF {
        let node_off = zx + (n * NODE) as u64;
        if !nodes.contains(&node_off) {
            continue;
        }
        let raw = &bytes[n * NODE..(n + 1) * NODE];
        let stored = u32::from_le_bytes(raw[0..4].try_into().expect("4 bytes"));
        let want = kern::crc32_bytes(0, &raw[4..]);
        if stored != want {
            return Some(format!(
                "B-Tree node {node_off:#x}: CRC on the device is {stored:#x}, its content needs {want:#x}"
            ));
        }
    }
    None
}

// ---------------------------------------------------------------------
// State shared by the coordinator and the workers
// ---------------------------------------------------------------------

struct Shared {
    mount: Option<Mount>,
    imp: IoImpl,
    p: Params,
    spy: Option<CheckwriteSpy>,
    models: Vec<Mutex<Model>>,
    /// The root volume header buffer as the workers wrote its tail.
    vol_tail: Mutex<Vec<u8>>,
    done_ops: AtomicU64,
    flush_cycles: AtomicU64,
    pressure_flushes: AtomicU64,
    read_faults: AtomicU64,
    read_errors: AtomicU64,
    checks: AtomicU64,
    /// Device comparisons (settles) and buffers compared in them.
    compares: AtomicU64,
    compared_buffers: AtomicU64,
    failed: AtomicBool,
    failures: Mutex<Vec<String>>,
    op_counts: Mutex<BTreeMap<&'static str, u64>>,
}

// SAFETY: the mount's C structures are shared the way the kernel shares
// them between threads: every access goes through the hosted HAMMER and
// kernel code, which serialises on LWKT tokens, HAMMER locks and buffer
// locks exactly like the real kernel; workers own disjoint buffers, and
// the coordinator only inspects the mount while the workers are stopped.
// The remaining fields are atomics and mutexes.
unsafe impl Sync for Shared {}

impl Shared {
    fn fail(&self, msg: String) {
        self.failed.store(true, Ordering::SeqCst);
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if f.len() < 50 {
            f.push(msg);
        }
    }

    fn m(&self) -> &Mount {
        self.mount
            .as_ref()
            .expect("the workload's mount is mounted")
    }

    fn hmp(&self) -> ffi::hammer_mount_t {
        self.m().hmp()
    }

    fn fs_token(&self) -> *mut ffi::lwkt_token {
        // SAFETY: only the field address is computed; the mount is live.
        unsafe { addr_of_mut!((*self.hmp()).fs_token) }
    }

    fn io_token(&self) -> *mut ffi::lwkt_token {
        // SAFETY: as above.
        unsafe { addr_of_mut!((*self.hmp()).io_token) }
    }

    /// One flusher finalization, counted.
    fn flush_cycle(&self, final_: bool) {
        self.m().flush(final_);
        self.flush_cycles.fetch_add(1, Ordering::Relaxed);
    }

    /// Invariant check with the workers stopped; `io_token` keeps the
    /// daemons' bioops callbacks out while the mount is inspected.
    fn check(&self, step: &str) -> bool {
        kern::quiesce();
        kern::gettoken(self.fs_token());
        kern::gettoken(self.io_token());
        let mut errs = invariants::check(self.m());
        if let Some(spy) = &self.spy {
            errs.extend(spy.check(self.m()));
        }
        kern::reltoken(self.io_token());
        kern::reltoken(self.fs_token());
        errs.extend(machine_errors());
        self.checks.fetch_add(1, Ordering::Relaxed);
        for e in &errs {
            self.fail(format!("[{}] invariant after {step}: {e}", self.imp.name));
        }
        errs.is_empty()
    }

    /// Runs the flusher until it has nothing left, then waits for all I/O
    /// with a device cache flush: afterwards everything written so far is
    /// on the media.
    fn settle(&self) {
        kern::gettoken(self.fs_token());
        let mut n = 0;
        while self.m().has_work() {
            self.flush_cycle(true);
            n += 1;
            if n > 8 {
                self.fail(format!("[{}] the flusher does not converge", self.imp.name));
                break;
            }
        }
        self.m().wait_all(true);
        kern::reltoken(self.fs_token());
        kern::quiesce();
    }

    /// Compares every modelled byte with the device (after [`settle`]).
    /// Meta-data, B-Tree buffers and the volume header must be on stable
    /// media; data may still sit in a device write cache when the kernel
    /// wrote it (HAMMER only flushes caches of volumes it wrote to).
    fn verify_device(&self, what: &str) -> (u64, u64) {
        let mut bufs = 0;
        let mut bytes = 0;
        for (w, model) in self.models.iter().enumerate() {
            let model = model.lock().unwrap_or_else(|e| e.into_inner());
            let mut keys: Vec<u64> = model.bufs.keys().copied().collect();
            keys.sort_unstable();
            for zx in keys {
                let want = &model.bufs[&zx];
                let (vol, dev_off) = self.m().locate(zx);
                let dev = &self.m().devices()[vol as usize];
                let meta = matches!(
                    off::zone_decode(zx),
                    ffi::HAMMER_ZONE_BTREE_INDEX | ffi::HAMMER_ZONE_META_INDEX
                );
                let got = if meta {
                    dev.read_stable(dev_off, BUFSIZE)
                } else {
                    dev.read_current(dev_off, BUFSIZE)
                };
                if let Some(i) = compare(zx, &got, want) {
                    self.fail(format!(
                        "[{}] {what}: worker {w}'s buffer {zx:#x} differs on {} media of volume {vol} \
                         at byte {i}: {:#04x}, expected {:#04x}",
                        self.imp.name,
                        if meta { "stable" } else { "the" },
                        got[i],
                        want[i]
                    ));
                    continue;
                }
                if is_btree(zx) {
                    if let Some(e) = check_node_crcs(zx, &got, &model.nodes) {
                        self.fail(format!("[{}] {what}: {e}", self.imp.name));
                    }
                }
                bufs += 1;
                bytes += BUFSIZE as u64;
            }
        }
        let tail = self.vol_tail.lock().unwrap_or_else(|e| e.into_inner());
        let got = self.m().devices()[0].read_stable(0, BUFSIZE);
        if let Some(i) = got[VOL_TAIL..]
            .iter()
            .zip(&tail[VOL_TAIL..])
            .position(|(a, b)| a != b)
        {
            self.fail(format!(
                "[{}] {what}: the root volume header differs on stable media at byte {}",
                self.imp.name,
                VOL_TAIL + i
            ));
        } else {
            bufs += 1;
            bytes += (BUFSIZE - VOL_TAIL) as u64;
        }
        self.compares.fetch_add(1, Ordering::Relaxed);
        self.compared_buffers.fetch_add(bufs, Ordering::Relaxed);
        (bufs, bytes)
    }

    /// Digest of the committed data: every modelled buffer (by offset) and
    /// the header tail, as they are on the device.
    fn committed_digest(&self) -> u64 {
        let mut all = BTreeMap::new();
        for model in &self.models {
            let model = model.lock().unwrap_or_else(|e| e.into_inner());
            for &zx in model.bufs.keys() {
                all.insert(zx, ());
            }
        }
        let mut h = 0x243f_6a88_85a3_08d3;
        for zx in all.keys() {
            let (vol, dev_off) = self.m().locate(*zx);
            h = digest(h, &zx.to_le_bytes());
            h = digest(
                h,
                &self.m().devices()[vol as usize].read_current(dev_off, BUFSIZE),
            );
        }
        digest(
            h,
            &self.m().devices()[0].read_current(0, BUFSIZE)[VOL_TAIL..],
        )
    }
}

/// Check 6 of [`invariants`] (the counters back to zero) after an
/// unmount, with one allowance: `hammer_io_checkwrite`, when it cannot
/// interlock a referenced buffer, sets `B_LOCKED` and counts it in
/// `hammer_count_io_locked` even if the buffer already had `B_LOCKED`,
/// which the counter never gets back (hammer_io.c does exactly that). So
/// the counter may end above zero, but not above the number of vetoes.
fn quiescent(notes: &mut Vec<String>) -> Vec<String> {
    let mut errs = invariants::check_quiescent();
    let locked = globals::counters().io_locked;
    let vetoes = kern::counters().io_checkwrite_vetoes;
    if locked > 0 && locked as u64 <= vetoes {
        errs.retain(|e| !e.starts_with("hammer_count_io_locked"));
        let note = format!(
            "hammer_count_io_locked ends at {locked}: io_checkwrite counted buffers that were \
             already B_LOCKED again when it lost the interlock race ({vetoes} vetoes), as hammer_io.c does"
        );
        if !notes.contains(&note) {
            notes.retain(|n| !n.starts_with("hammer_count_io_locked"));
            notes.push(note);
        }
    }
    errs
}

/// Kernel panics and dead background threads.
fn machine_errors() -> Vec<String> {
    let mut v = Vec::new();
    if let Some(p) = kern::panic_message() {
        v.push(format!("kernel panicked: {p}"));
    }
    for p in kern::background_panics() {
        v.push(format!("background thread died: {p}"));
    }
    v
}

// ---------------------------------------------------------------------
// Front-end file I/O (what hammer_vop_strategy_* do)
// ---------------------------------------------------------------------

/// Writes 16K at `file_off` of `vp` through `hammer_io_direct_write`, with
/// a bulk record for `len` bytes whose data lives at zone-X `data_off`,
/// and waits for it. Returns the I/O error (0: fine).
///
/// # Safety
///
/// `hmp`, `ip` and `vp` are live and belong together; `data` is 16K.
#[allow(clippy::too_many_arguments)] // the strategy routine's inputs, one by one
unsafe fn front_write(
    imp: &IoImpl,
    hmp: ffi::hammer_mount_t,
    ip: ffi::hammer_inode_t,
    vp: *mut ffi::vnode,
    file_off: i64,
    data: &[u8],
    data_off: u64,
    len: usize,
) -> c_int {
    // SAFETY: caller contract; getblk hands us the locked buffer, which
    // is ours until it is released at the end.
    unsafe {
        let bp = ffi::getblk(vp, file_off, BUFSIZE as c_int, 0, 0);
        core::ptr::copy_nonoverlapping(data.as_ptr(), (*bp).b_data as *mut u8, BUFSIZE);
        (*bp).b_flags &= !(ffi::B_ERROR | ffi::B_EINTR);
        (*bp).b_flags |= ffi::B_CACHE;
        (*bp).b_error = 0;
        (*bp).b_cmd = ffi::BUF_CMD_WRITE;
        let bio = addr_of_mut!((*bp).b_bio_array[0]);
        (*bio).bio_done = Some(ffi::biodone_sync);
        (*bio).bio_flags |= ffi::BIO_SYNC;
        let record = objects::hammer_ip_add_bulk(
            ip,
            file_off,
            (*bp).b_data as *const c_void,
            len as c_int,
            data_off,
        );
        let r = (imp.direct_write)(hmp, bio, record);
        let w = ffi::biowait(bio, c"hmrdw".as_ptr());
        let failed = (*bp).b_flags & ffi::B_ERROR != 0;
        let err = if failed {
            (*bp).b_error.max(ffi::EIO)
        } else {
            0
        };
        if failed {
            (*bp).b_flags |= ffi::B_INVAL;
            ffi::brelse(bp);
        } else {
            ffi::bqrelse(bp);
        }
        if r != 0 {
            r
        } else if w != 0 {
            w
        } else {
            err
        }
    }
}

/// Reads 16K at `file_off` of `vp` from large-data `data_off` through
/// `hammer_io_direct_read` (or `_indirect_read`), as the strategy routine
/// does after finding the record's leaf.
///
/// # Safety
///
/// `hmp` and `vp` are live; `leaf` is live across the call.
unsafe fn front_read(
    imp: &IoImpl,
    hmp: ffi::hammer_mount_t,
    vp: *mut ffi::vnode,
    file_off: i64,
    leaf: *mut ffi::hammer_btree_leaf_elm,
    direct: bool,
) -> Result<Vec<u8>, c_int> {
    // SAFETY: caller contract; the buffer is ours from getblk to release.
    unsafe {
        let bp = ffi::getblk(vp, file_off, BUFSIZE as c_int, 0, 0);
        (*bp).b_flags &= !(ffi::B_CACHE | ffi::B_ERROR | ffi::B_EINTR | ffi::B_INVAL);
        (*bp).b_error = 0;
        (*bp).b_cmd = ffi::BUF_CMD_READ;
        let bio = addr_of_mut!((*bp).b_bio_array[0]);
        (*bio).bio_done = Some(ffi::biodone_sync);
        (*bio).bio_flags |= ffi::BIO_SYNC;
        let nbio = ffi::push_bio(bio);
        (*nbio).bio_offset = (*leaf).data_offset as i64;
        let r = if direct {
            (imp.direct_read)(hmp, nbio, leaf)
        } else {
            (imp.indirect_read)(hmp, nbio, leaf)
        };
        let w = ffi::biowait(bio, c"hmrrd".as_ptr());
        let got = core::slice::from_raw_parts((*bp).b_data as *const u8, BUFSIZE).to_vec();
        let failed = (*bp).b_flags & ffi::B_ERROR != 0;
        let err = (*bp).b_error;
        if failed {
            (*bp).b_flags |= ffi::B_INVAL;
            ffi::brelse(bp);
        } else {
            (*bp).b_flags |= ffi::B_CACHE;
            ffi::bqrelse(bp);
        }
        match (r, w, failed) {
            (0, 0, false) => Ok(got),
            (0, 0, true) => Err(err.max(ffi::EIO)),
            (0, w, _) => Err(w),
            (r, _, _) => Err(r),
        }
    }
}

/// The vnode of a fresh inode (`hammer_get_vnode`, then `vput`).
///
/// # Safety
///
/// `ip` is live and referenced.
unsafe fn vnode_of(ip: ffi::hammer_inode_t) -> Option<*mut ffi::vnode> {
    let mut vp = null_mut();
    // SAFETY: caller contract.
    unsafe {
        if objects::hammer_get_vnode(ip, &mut vp) != 0 {
            return None;
        }
        ffi::vput(vp);
    }
    Some(vp)
}

/// A B-Tree leaf describing one 16K data block of a file.
fn leaf_for(
    obj_id: i64,
    localization: u32,
    file_off: i64,
    data_off: u64,
    crc: u32,
) -> ffi::hammer_btree_leaf_elm {
    let mut l = ffi::hammer_btree_leaf_elm::default();
    l.base.obj_id = obj_id;
    l.base.localization = localization + ffi::HAMMER_LOCALIZE_MISC;
    l.base.rec_type = ffi::HAMMER_RECTYPE_DATA;
    l.base.btype = ffi::HAMMER_BTREE_TYPE_RECORD;
    l.base.key = file_off + BUFSIZE as i64;
    l.data_offset = data_off;
    l.data_len = BUFSIZE as i32;
    l.data_crc = crc;
    l
}

/// A front-end file of one worker.
struct File {
    ip: ffi::hammer_inode_t,
    vp: *mut ffi::vnode,
    obj_id: i64,
    /// Large-data buffer indices of the file's blocks (block i at file
    /// offset `index * 16K`).
    large: Vec<u64>,
    /// Blocks direct-written since the last record commit.
    uncommitted: HashSet<u64>,
    /// Blocks written at least once.
    written: HashSet<u64>,
    /// Small-data buffer indices small writes go to.
    small: Vec<u64>,
}

// ---------------------------------------------------------------------
// Workers
// ---------------------------------------------------------------------

struct Worker<'a> {
    sh: &'a Shared,
    id: usize,
    rng: Rng,
    ops: Vec<(Op, u64)>,
    total_weight: u64,
    slots: Vec<Slot>,
    large_slots: Vec<u64>,
    plain: Vec<u64>,
    held: Vec<(u64, BufRef)>,
    file: Option<File>,
    budget: u64,
    done: u64,
    fault_every: u64,
    faults_left: u64,
    counts: BTreeMap<&'static str, u64>,
    torn_down: bool,
}

impl<'a> Worker<'a> {
    fn new(sh: &'a Shared, id: usize, budget: u64, faults: u64) -> Worker<'a> {
        let n = sh.p.workers;
        let m = sh.m();
        let mine = |i: u64| (i as usize) % n == id;
        let mut slots = Vec::new();
        let mut large_slots = Vec::new();
        for i in (0..META_SLOTS).filter(|&i| mine(i)) {
            slots.push(Slot {
                off: m.offset(Zone::Meta, 0, i),
                class: Class::Meta,
            });
        }
        for i in (0..BTREE_SLOTS).filter(|&i| mine(i)) {
            slots.push(Slot {
                off: m.offset(Zone::Btree, 0, i),
                class: Class::Btree,
            });
        }
        for (vol, count) in [(0, DATA_SLOTS_V0), (1, DATA_SLOTS_V1)] {
            for i in (0..count).filter(|&i| mine(i)) {
                let l = m.offset(Zone::LargeData, vol, i);
                slots.push(Slot {
                    off: l,
                    class: Class::Data,
                });
                large_slots.push(l);
                slots.push(Slot {
                    off: m.offset(Zone::SmallData, vol, i),
                    class: Class::Data,
                });
            }
        }
        let plain = (0..PLAIN_N)
            .filter(|&i| mine(i))
            .map(|i| m.offset(Zone::SmallData, 0, PLAIN_BASE + i))
            .collect();
        let ops = mix(sh.p.deterministic);
        let total_weight = ops.iter().map(|(_, w)| w).sum();
        Worker {
            sh,
            id,
            rng: Rng::new(sh.p.seed.wrapping_mul(0x1000_0000_01b3) ^ (id as u64 + 1)),
            ops,
            total_weight,
            slots,
            large_slots,
            plain,
            held: Vec::new(),
            file: None,
            budget,
            done: 0,
            fault_every: if faults == 0 {
                0
            } else {
                (budget / (faults + 1)).max(1)
            },
            faults_left: faults,
            counts: BTreeMap::new(),
            torn_down: false,
        }
    }

    fn m(&self) -> &'a Mount {
        self.sh.m()
    }

    fn imp(&self) -> IoImpl {
        self.sh.imp
    }

    fn fail(&self, msg: String) {
        self.sh.fail(format!(
            "[{}] worker {} op {}: {msg}",
            self.imp().name,
            self.id,
            self.done
        ));
    }

    fn model(&self) -> std::sync::MutexGuard<'a, Model> {
        self.sh.models[self.id]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Creates the worker's file (inode + vnode).
    fn setup(&mut self) {
        let obj_id = 1000 + self.id as i64;
        let ip = self.m().create_inode(obj_id);
        // SAFETY: the inode is live and referenced by us.
        let Some(vp) = (unsafe { vnode_of(ip) }) else {
            self.fail("hammer_get_vnode failed".to_string());
            return;
        };
        let n = self.sh.p.workers as u64;
        let id = self.id as u64;
        self.file = Some(File {
            ip,
            vp,
            obj_id,
            large: (0..FILE_LARGE_N)
                .filter(|i| i % n == id)
                .map(|i| FILE_LARGE_BASE + i)
                .collect(),
            uncommitted: HashSet::new(),
            written: HashSet::new(),
            small: (0..FILE_SMALL_N)
                .filter(|i| i % n == id)
                .map(|i| FILE_SMALL_BASE + i)
                .collect(),
        });
    }

    /// Releases what the worker holds and its file (records committed,
    /// vnode reclaimed, inode released).
    fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        kern::gettoken(self.sh.fs_token());
        for (_, b) in std::mem::take(&mut self.held) {
            self.m().rel_buffer(b);
        }
        if let Some(f) = self.file.take() {
            // SAFETY: our inode, referenced by us and by its vnode; the
            // vnode is neither locked nor referenced.
            unsafe {
                objects::hammer_sync_inode_records(f.ip);
                objects::hammer_reclaim_vnode(f.ip);
                objects::hammer_rel_inode(f.ip, 0);
            }
        }
        kern::reltoken(self.sh.fs_token());
    }

    fn remaining(&self) -> u64 {
        self.budget - self.done
    }

    /// Runs up to `n` operations (fewer at the end of the budget or after
    /// a failure); tears down when the budget is used up.
    fn run(&mut self, n: u64) {
        if self.file.is_none() && !self.torn_down && self.done == 0 {
            kern::gettoken(self.sh.fs_token());
            self.setup();
            kern::reltoken(self.sh.fs_token());
        }
        let n = n.min(self.remaining());
        for _ in 0..n {
            if self.sh.failed.load(Ordering::Relaxed) {
                break;
            }
            let op = if self.faults_left > 0
                && self.fault_every > 0
                && (self.done + 1).is_multiple_of(self.fault_every)
            {
                Op::ReadFault
            } else {
                self.pick_op()
            };
            kern::gettoken(self.sh.fs_token());
            self.pressure();
            self.exec(op);
            kern::reltoken(self.sh.fs_token());
            *self.counts.entry(op.name()).or_insert(0) += 1;
            self.done += 1;
            self.sh.done_ops.fetch_add(1, Ordering::Relaxed);
        }
        if self.remaining() == 0 || self.sh.failed.load(Ordering::Relaxed) {
            self.teardown();
        }
    }

    fn pick_op(&mut self) -> Op {
        let mut x = self.rng.below(self.total_weight);
        for &(op, w) in &self.ops {
            if x < w {
                return op;
            }
            x -= w;
        }
        Op::Read
    }

    /// HAMMER's dirty-buffer limits: too many modified meta-data buffers
    /// (which only the flusher can write) and the front-end waits for a
    /// flush. Without this the pinned buffers would exhaust the cache.
    fn pressure(&mut self) {
        // SAFETY: the mount is live; a racy read of a counter is fine.
        let lds = unsafe { (*self.sh.hmp()).locked_dirty_space };
        let cap = (self.sh.p.nbuf as i64 / 5).max(4) * BUFSIZE as i64;
        if lds > cap {
            self.sh.pressure_flushes.fetch_add(1, Ordering::Relaxed);
            self.sh.flush_cycle(true);
        }
    }

    fn pick(&mut self, ok: impl Fn(&Slot) -> bool) -> Option<Slot> {
        let c: Vec<Slot> = self.slots.iter().copied().filter(|s| ok(s)).collect();
        if c.is_empty() {
            None
        } else {
            Some(c[self.rng.below(c.len() as u64) as usize])
        }
    }

    /// `hammer_bread`; any error is a failure (injected read errors are
    /// expected only in [`Worker::read_fault`]).
    fn bread(&mut self, off: u64, what: &str) -> Option<BufRef> {
        match self.m().bread(off) {
            Ok(b) => Some(b),
            Err(e) => {
                self.fail(format!("{what}: hammer_bread({off:#x}) failed with {e}"));
                None
            }
        }
    }

    /// Checks a referenced buffer against the model.
    fn verify(&self, b: &BufRef, what: &str) {
        let zx = b.zone_x();
        let got = b.read();
        let want = self.model().get(zx);
        if let Some(i) = compare(zx, &got, &want) {
            self.fail(format!(
                "{what}: buffer {zx:#x} holds {:#04x} at byte {i}, the workload wrote {:#04x}",
                got[i], want[i]
            ));
        }
    }

    /// Runs `f` in a transaction (sync lock shared), first letting the
    /// flusher reclaim UNDO space if less than half the FIFO is free.
    fn in_trans(&mut self, f: impl FnOnce(&mut Self, &mut Transaction)) {
        for _ in 0..4 {
            let mut t = self.m().start_transaction();
            // SAFETY: a live transaction with its root volume referenced.
            if unsafe { flusher::undo_exhausted(t.as_ptr(), 2) } {
                self.m().done_transaction(t);
                self.sh.pressure_flushes.fetch_add(1, Ordering::Relaxed);
                self.sh.flush_cycle(true);
                continue;
            }
            f(self, &mut t);
            self.m().done_transaction(t);
            return;
        }
        self.fail("the UNDO FIFO stays exhausted after flushes".to_string());
    }

    fn modify(
        &mut self,
        t: Option<&mut Transaction>,
        b: &BufRef,
        at: usize,
        data: &[u8],
        undo: bool,
    ) {
        self.m().modify(t, b, at, data, undo);
        self.model().entry(b.zone_x())[at..at + data.len()].copy_from_slice(data);
    }

    fn exec(&mut self, op: Op) {
        match op {
            Op::Read => {
                let Some(s) = self.pick(|_| true) else { return };
                if let Some(b) = self.bread(s.off, "read") {
                    self.verify(&b, "read");
                    self.m().rel_buffer(b);
                }
            }
            Op::Hold => {
                let Some(s) = self.pick(|_| true) else { return };
                if self.held.len() >= HELD_MAX {
                    let (_, b) = self.held.remove(0);
                    self.m().rel_buffer(b);
                }
                if let Some(b) = self.bread(s.off, "hold") {
                    self.verify(&b, "hold");
                    self.held.push((s.off, b));
                }
            }
            Op::Release => {
                if !self.held.is_empty() {
                    let i = self.rng.below(self.held.len() as u64) as usize;
                    let (_, b) = self.held.remove(i);
                    self.verify(&b, "release");
                    self.m().rel_buffer(b);
                }
            }
            Op::Bnew => {
                let held: Vec<u64> = self.held.iter().map(|(o, _)| *o).collect();
                let Some(s) = self.pick(|s| s.class != Class::Btree && !held.contains(&s.off))
                else {
                    return;
                };
                let data = self.rng.bytes(BUFSIZE);
                let body = |w: &mut Self, t: Option<&mut Transaction>| {
                    let b = match w.m().bnew(s.off) {
                        Ok(b) => b,
                        Err(e) => {
                            return w.fail(format!("hammer_bnew({:#x}) failed with {e}", s.off))
                        }
                    };
                    // A buffer that is still cached keeps its data; a new
                    // one is zeroed. Either way it is overwritten now.
                    let got = b.read();
                    if got.iter().any(|&x| x != 0) {
                        w.verify(&b, "bnew of a cached buffer");
                    }
                    w.modify(t, &b, 0, &data, false);
                    w.m().rel_buffer(b);
                };
                if s.class == Class::Meta {
                    self.in_trans(|w, t| body(w, Some(t)));
                } else {
                    body(self, None);
                }
            }
            Op::ModData => {
                let Some(s) = self.pick(|s| s.class == Class::Data) else {
                    return;
                };
                let len = 1 + self.rng.below(4096) as usize;
                let at = self.rng.below((BUFSIZE - len) as u64 + 1) as usize;
                let data = self.rng.bytes(len);
                if let Some(b) = self.bread(s.off, "modify data") {
                    self.verify(&b, "modify data");
                    self.modify(None, &b, at, &data, false);
                    self.m().rel_buffer(b);
                }
            }
            Op::ModMetaUndo | Op::ModMeta => {
                let Some(s) = self.pick(|s| s.class == Class::Meta) else {
                    return;
                };
                let undo = op == Op::ModMetaUndo;
                let len = 1 + self.rng.below(if undo { 512 } else { 2048 }) as usize;
                let at = self.rng.below((BUFSIZE - len) as u64 + 1) as usize;
                let data = self.rng.bytes(len);
                self.in_trans(|w, t| {
                    if let Some(b) = w.bread(s.off, "modify meta") {
                        w.verify(&b, "modify meta");
                        w.modify(Some(t), &b, at, &data, undo);
                        w.m().rel_buffer(b);
                    }
                });
            }
            Op::Node => self.node(),
            Op::ModVolume => {
                let n = self.sh.p.workers;
                let span = (BUFSIZE - VOL_TAIL) / n;
                let base = VOL_TAIL + self.id * span;
                let len = 1 + self.rng.below(span.min(256) as u64) as usize;
                let at = base + self.rng.below((span - len) as u64 + 1) as usize;
                let data = self.rng.bytes(len);
                let v = match self.m().get_volume(0) {
                    Ok(v) => v,
                    Err(e) => return self.fail(format!("hammer_get_volume(0) failed with {e}")),
                };
                self.in_trans(|w, t| {
                    w.m().modify_volume(Some(t), &v, at, &data, true);
                    w.sh.vol_tail.lock().unwrap_or_else(|e| e.into_inner())[at..at + len]
                        .copy_from_slice(&data);
                });
                self.m().rel_volume(v);
            }
            Op::RelFlush => {
                let held: Vec<u64> = self.held.iter().map(|(o, _)| *o).collect();
                let Some(s) = self.pick(|s| s.class != Class::Btree && !held.contains(&s.off))
                else {
                    return;
                };
                if let Some(b) = self.bread(s.off, "release with flush") {
                    self.verify(&b, "release with flush");
                    // SAFETY: the buffer is referenced by us.
                    let only = unsafe { lock::oneref(addr_of_mut!((*b.as_ptr()).io.lock)) };
                    if only {
                        self.m().rel_buffer_flush(b);
                    } else {
                        self.m().rel_buffer(b);
                    }
                }
            }
            Op::DataFlush => {
                let Some(s) = self.pick(|s| s.class == Class::Data) else {
                    return;
                };
                let len = 1 + self.rng.below(1024) as usize;
                let at = self.rng.below((BUFSIZE - len) as u64 + 1) as usize;
                let data = self.rng.bytes(len);
                let reclaim = self.rng.chance(400) as c_int;
                if let Some(b) = self.bread(s.off, "data flush") {
                    self.modify(None, &b, at, &data, false);
                    let imp = self.imp();
                    // SAFETY: the buffer is referenced by us; the write
                    // interlock brackets the flush as the flusher does.
                    unsafe {
                        let io = b.io();
                        (imp.write_interlock)(io);
                        (imp.flush)(io, reclaim);
                        (imp.done_interlock)(io);
                    }
                    self.m().rel_buffer(b);
                }
            }
            Op::Flusher => {
                let final_ = self.rng.chance(800);
                self.sh.flush_cycle(final_);
            }
            Op::WaitAll => {
                let doflush = self.rng.chance(500);
                self.m().wait_all(doflush);
            }
            Op::FlushSync => self.m().flush_sync(),
            // SAFETY: the mount is live.
            Op::Backlog => unsafe { (self.imp().limit_backlog)(self.sh.hmp()) },
            Op::Inval => self.inval(),
            Op::UndoRead => {
                // SAFETY: the mount is live; a racy read of the append
                // point only picks which buffer to read.
                let next = unsafe {
                    (*self.sh.hmp()).blockmap[ffi::HAMMER_ZONE_UNDO_INDEX as usize].next_offset
                        & ffi::HAMMER_OFF_SHORT_MASK
                };
                let cur = next / BUFSIZE as u64;
                // Drawn whatever the FIFO holds: the random stream must not
                // depend on other workers' progress.
                let r = self.rng.next_u64();
                if cur > 0 {
                    let idx = r % cur;
                    let zx = self.m().offset(Zone::Undo, 0, idx);
                    if let Some(b) = self.bread(zx, "undo read") {
                        self.m().rel_buffer(b);
                    }
                }
            }
            Op::FileWrite => self.file_write(),
            Op::FileWriteSmall => self.file_write_small(),
            Op::FileReadDirect => self.file_read(true),
            Op::FileReadIndirect => self.file_read(false),
            Op::FileCommit => {
                if let Some(f) = &mut self.file {
                    // SAFETY: our live inode.
                    unsafe { objects::hammer_sync_inode_records(f.ip) };
                    f.uncommitted.clear();
                }
            }
            Op::FileUncache => self.file_uncache(),
            Op::ReadFault => self.read_fault(),
            Op::Recycle => {
                let n = 1 + self.rng.below(8) as usize;
                kern::recycle(n);
            }
            Op::IoOne => {
                kern::run_one_io();
            }
            Op::IoAll => {
                kern::run_pending_io();
            }
            Op::BufDaemon => {
                kern::buf_daemon_pass();
            }
            Op::Syncer => {
                kern::syncer_pass();
            }
        }
    }

    /// A B-Tree node: get (new the first time, CRC-checked afterwards when
    /// it must be loaded again), modify with or without UNDO, write part of
    /// its body, modify_done (the CRC is due at the next flush), release.
    fn node(&mut self) {
        let Some(s) = self.pick(|s| s.class == Class::Btree) else {
            return;
        };
        let k = self.rng.below(NODES_PER_BUF as u64) as usize;
        let node_off = s.off + (k * NODE) as u64;
        let created = self.model().nodes.contains(&node_off);
        let undo = created && self.rng.chance(300);
        let len = 1 + self.rng.below(256) as usize;
        let at = 24 + self.rng.below((NODE - 24 - len) as u64 + 1) as usize;
        let data = self.rng.bytes(len);
        self.in_trans(|w, t| {
            let mut error: c_int = 0;
            // SAFETY: a live transaction; the node is referenced from get
            // to rel and modified between modify and modify_done.
            unsafe {
                let node = objects::hammer_get_node(t.as_ptr(), node_off, !created, &mut error);
                if error != 0 || node.is_null() {
                    return w.fail(format!(
                        "hammer_get_node({node_off:#x}, new={}) failed with {error}",
                        !created
                    ));
                }
                if undo {
                    objects::hammer_modify_node_all(t.as_ptr(), node);
                } else {
                    objects::hammer_modify_node_noundo(t.as_ptr(), node);
                }
                let image = {
                    let mut model = w.model();
                    let buf = model.entry(s.off);
                    let n = &mut buf[k * NODE..(k + 1) * NODE];
                    if !created {
                        n.fill(0);
                        n[4..8].copy_from_slice(&ffi::HAMMER_BTREE_SIGNATURE_GOOD.to_le_bytes());
                        n[20] = ffi::HAMMER_BTREE_TYPE_LEAF;
                    }
                    n[at..at + len].copy_from_slice(&data);
                    n[4..].to_vec()
                };
                let body = ((*node).ondisk as *mut u8).add(4);
                core::ptr::copy_nonoverlapping(image.as_ptr(), body, image.len());
                objects::hammer_modify_node_done(node);
                ffi::hammer_rel_node(node);
            }
            w.model().nodes.insert(node_off);
        });
    }

    /// `hammer_io_inval`: refused (EAGAIN) for a device buffer a HAMMER
    /// buffer is associated with, done (0) for a plain device range.
    fn inval(&mut self) {
        let held: Vec<u64> = self.held.iter().map(|(o, _)| *o).collect();
        let plain = self.rng.chance(400) && !self.plain.is_empty();
        let target = if plain {
            self.plain[self.rng.below(self.plain.len() as u64) as usize]
        } else {
            // Only data buffers: a modified meta-data buffer stays locked
            // by HAMMER, and invalidating it would wait for ever.
            let Some(s) = self.pick(|s| s.class == Class::Data && !held.contains(&s.off)) else {
                return;
            };
            // Make sure it is associated (passively, once released).
            match self.bread(s.off, "inval") {
                Some(b) => self.m().rel_buffer(b),
                None => return,
            }
            s.off
        };
        let zone2 = (target & !ffi::HAMMER_OFF_ZONE_MASK) | ffi::HAMMER_ZONE_RAW_BUFFER;
        let (vol, dev_off) = self.m().locate(target);
        let v = match self.m().get_volume(vol) {
            Ok(v) => v,
            Err(e) => return self.fail(format!("hammer_get_volume({vol}) failed with {e}")),
        };
        let associated = kern::lookup(self.m().devices()[vol as usize].vnode(), dev_off as i64)
            .is_some_and(|b| !b.dep_first.is_null());
        // SAFETY: the volume is referenced.
        let r = unsafe { (self.imp().inval)(v.as_ptr(), zone2) };
        self.m().rel_volume(v);
        let expect = if associated { ffi::EAGAIN } else { 0 };
        let exact = plain || self.sh.p.deterministic;
        if (exact && r != expect) || (r != 0 && r != ffi::EAGAIN) {
            self.fail(format!(
                "hammer_io_inval({zone2:#x}) returned {r}, expected {expect} (associated: {associated})"
            ));
        }
    }

    /// Injects a read error under a data buffer nothing has cached, reads
    /// it (must fail with EIO), reads again (must succeed with the data).
    fn read_fault(&mut self) {
        self.faults_left -= 1;
        let held: Vec<u64> = self.held.iter().map(|(o, _)| *o).collect();
        let cands: Vec<u64> = self
            .large_slots
            .iter()
            .copied()
            .filter(|o| !held.contains(o))
            .collect();
        // The random choice is made once: what the loop skips depends on
        // the cache, and the workload's random stream must not.
        let start = self.rng.below(cands.len() as u64) as usize;
        for i in 0..cands.len().min(8) {
            let zx = cands[(start + i) % cands.len()];
            let (vol, dev_off) = self.m().locate(zx);
            let dev = self.m().devices()[vol as usize].clone();
            if kern::lookup(dev.vnode(), dev_off as i64).is_some() {
                continue;
            }
            // No buffer holds it; drop the device's cached VM pages too
            // (memory pressure would), or the read would not reach the
            // device.
            if kern::vm_valid(dev.vnode(), dev_off as i64, BUFSIZE as i64) {
                kern::vm_evict(dev.vnode());
                if kern::vm_valid(dev.vnode(), dev_off as i64, BUFSIZE as i64) {
                    continue;
                }
            }
            // Nothing caches it and only this worker reads it (large-data
            // reads do not cluster): the next read of the buffer is ours.
            dev.add_fault(Fault::at(FaultOp::Read, dev_off, BUFSIZE as u64).times(1));
            self.sh.read_faults.fetch_add(1, Ordering::Relaxed);
            match self.m().bread(zx) {
                Ok(b) => {
                    self.m().rel_buffer(b);
                    self.fail(format!(
                        "read of {zx:#x} succeeded despite the injected error"
                    ));
                }
                Err(e) if e == ffi::EIO => {
                    self.sh.read_errors.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => self.fail(format!("injected read error on {zx:#x} came back as {e}")),
            }
            if let Some(b) = self.bread(zx, "read after an error") {
                self.verify(&b, "read after an error");
                self.m().rel_buffer(b);
            }
            return;
        }
    }

    fn file_write(&mut self) {
        let Some(f) = &self.file else { return };
        let idx = f.large[self.rng.below(f.large.len() as u64) as usize];
        let zx = self.m().offset(Zone::LargeData, 0, idx);
        let data = self.rng.bytes(BUFSIZE);
        let (ip, vp) = (f.ip, f.vp);
        let file_off = (idx * BUFSIZE as u64) as i64;
        // SAFETY: our live inode and vnode.
        let e = unsafe {
            front_write(
                &self.imp(),
                self.sh.hmp(),
                ip,
                vp,
                file_off,
                &data,
                zx,
                BUFSIZE,
            )
        };
        if e != 0 {
            return self.fail(format!("direct write of file block {idx} failed with {e}"));
        }
        *self.model().entry(zx) = data;
        let f = self.file.as_mut().expect("file");
        f.uncommitted.insert(idx);
        f.written.insert(idx);
    }

    fn file_write_small(&mut self) {
        let Some(f) = &self.file else { return };
        let idx = f.small[self.rng.below(f.small.len() as u64) as usize];
        let (ip, vp) = (f.ip, f.vp);
        let len = 1024 * (1 + self.rng.below(4) as usize);
        let k = self.rng.below(((BUFSIZE - len) / 1024) as u64 + 1) as usize;
        let zx = self.m().offset(Zone::SmallData, 0, idx);
        let data = self.rng.bytes(BUFSIZE);
        let file_off =
            (SMALL_FILE_BLOCK0 + (idx - FILE_SMALL_BASE) as i64 * 16 + k as i64) * BUFSIZE as i64;
        // SAFETY: our live inode and vnode.
        let e = unsafe {
            front_write(
                &self.imp(),
                self.sh.hmp(),
                ip,
                vp,
                file_off,
                &data,
                zx + (k * 1024) as u64,
                len,
            )
        };
        if e != 0 {
            return self.fail(format!("small write into buffer {zx:#x} failed with {e}"));
        }
        self.model().entry(zx)[k * 1024..k * 1024 + len].copy_from_slice(&data[..len]);
        // The data went into a HAMMER buffer: read it back through one.
        if let Some(b) = self.bread(zx, "small write") {
            self.verify(&b, "small write");
            self.m().rel_buffer(b);
        }
    }

    fn file_read(&mut self, direct: bool) {
        let Some(f) = &self.file else { return };
        // An indirect read goes through the device buffer cache, which a
        // direct write bypasses until its record is committed (the commit
        // invalidates the aliases): only read committed blocks that way.
        let cands: Vec<u64> = f
            .large
            .iter()
            .copied()
            .filter(|i| direct || !f.uncommitted.contains(i))
            .collect();
        if cands.is_empty() {
            return;
        }
        let idx = cands[self.rng.below(cands.len() as u64) as usize];
        let (vp, obj_id) = (f.vp, f.obj_id);
        let zx = self.m().offset(Zone::LargeData, 0, idx);
        let want = self.model().get(zx);
        let crc = kern::crc32_bytes(0, &want);
        let file_off = (idx * BUFSIZE as u64) as i64;
        let mut leaf = leaf_for(obj_id, 0, file_off, zx, crc);
        // SAFETY: our live vnode; the leaf outlives the call.
        let r = unsafe { front_read(&self.imp(), self.sh.hmp(), vp, file_off, &mut leaf, direct) };
        let what = if direct {
            "direct read"
        } else {
            "indirect read"
        };
        match r {
            Ok(got) => {
                if let Some(i) = compare(zx, &got, &want) {
                    self.fail(format!(
                        "{what} of file block {idx}: byte {i} is {:#04x}, the workload wrote {:#04x}",
                        got[i], want[i]
                    ));
                }
            }
            Err(e) => self.fail(format!("{what} of file block {idx} failed with {e}")),
        }
    }

    fn file_uncache(&mut self) {
        let Some(f) = &self.file else { return };
        let written: Vec<u64> = f.written.iter().copied().collect();
        if written.is_empty() {
            return;
        }
        let mut sorted = written;
        sorted.sort_unstable();
        let idx = sorted[self.rng.below(sorted.len() as u64) as usize];
        let (vp, obj_id) = (f.vp, f.obj_id);
        let zx = self.m().offset(Zone::LargeData, 0, idx);
        let file_off = (idx * BUFSIZE as u64) as i64;
        let mut leaf = leaf_for(obj_id, 0, file_off, zx, 0);
        // SAFETY: the mount is live; the leaf outlives the call.
        unsafe { (self.imp().direct_uncache)(self.sh.hmp(), &mut leaf) };
        if let Some(b) = kern::lookup(vp, file_off) {
            if b.bio2_offset != ffi::NOOFFSET {
                self.fail(format!(
                    "direct_uncache left file block {idx}'s media offset cached"
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------

/// Round start/finish handshake between the coordinator and the workers.
#[derive(Default)]
struct Gate {
    st: Mutex<(u64, usize, bool)>,
    cv: Condvar,
}

/// Runs the workload through `imp`. Boots the machine (and leaves it
/// running); `progress` is called from the calling thread a few times a
/// second and at every phase.
pub fn run(imp: IoImpl, p: &Params, progress: &mut dyn FnMut(&Progress)) -> Report {
    let t0 = Instant::now();
    let mut p = p.clone();
    if p.deterministic {
        p.workers = 1;
    }
    p.workers = p.workers.max(1);
    kern::boot(p.config());
    globals::reset();
    let spy = p.checkwrite_spy.then(CheckwriteSpy::install);
    let m = Mount::builder()
        .implementation(imp)
        .volumes(2)
        .name("hammer")
        .build();
    let header = match m.get_volume(0) {
        Ok(v) => {
            let h = v.read();
            m.rel_volume(v);
            h
        }
        Err(_) => vec![0; BUFSIZE],
    };
    let sh = Shared {
        mount: Some(m),
        imp,
        p: p.clone(),
        spy,
        models: (0..p.workers)
            .map(|_| Mutex::new(Model::default()))
            .collect(),
        vol_tail: Mutex::new(header),
        done_ops: AtomicU64::new(0),
        flush_cycles: AtomicU64::new(0),
        pressure_flushes: AtomicU64::new(0),
        read_faults: AtomicU64::new(0),
        read_errors: AtomicU64::new(0),
        checks: AtomicU64::new(0),
        compares: AtomicU64::new(0),
        compared_buffers: AtomicU64::new(0),
        failed: AtomicBool::new(false),
        failures: Mutex::new(Vec::new()),
        op_counts: Mutex::new(BTreeMap::new()),
    };
    let emit = |phase: &'static str, sh: &Shared, progress: &mut dyn FnMut(&Progress)| {
        let c = kern::counters();
        progress(&Progress {
            imp: imp.name,
            phase,
            done: sh.done_ops.load(Ordering::Relaxed),
            total: p.ops,
            elapsed: t0.elapsed(),
            disk_reads: c.disk_reads,
            disk_writes: c.disk_writes,
            checks: sh.checks.load(Ordering::Relaxed),
        });
    };
    sh.check("mount");

    // Budgets: the ops and injected faults split between the workers.
    let budget =
        |w: usize| p.ops / p.workers as u64 + u64::from((w as u64) < p.ops % p.workers as u64);
    let faults = |w: usize| {
        p.read_faults / p.workers as u64 + u64::from((w as u64) < p.read_faults % p.workers as u64)
    };

    let t_work = Instant::now();
    if p.deterministic {
        let mut w = Worker::new(&sh, 0, budget(0), faults(0));
        let mut round = 0;
        while w.remaining() > 0 && !sh.failed.load(Ordering::Relaxed) {
            w.run(p.round);
            round += 1;
            sh.check(&format!("round {round}"));
            if round % p.sync_every == 0 && !sh.failed.load(Ordering::Relaxed) {
                sh.settle();
                sh.check(&format!("settle {round}"));
                sh.verify_device(&format!("settle after round {round}"));
            }
            emit("workload", &sh, progress);
        }
        w.teardown();
        merge_counts(&sh, &w.counts);
    } else {
        let gate = Gate::default();
        std::thread::scope(|s| {
            let mut handles = Vec::new();
            for id in 0..p.workers {
                let (sh, gate, p) = (&sh, &gate, &p);
                let (b, f) = (budget(id), faults(id));
                let h = std::thread::Builder::new()
                    .name(format!("worker{id}"))
                    .spawn_scoped(s, move || {
                        let mut w = Worker::new(sh, id, b, f);
                        let mut seen = 0;
                        loop {
                            {
                                let mut g = gate.st.lock().unwrap_or_else(|e| e.into_inner());
                                while g.0 == seen && !g.2 {
                                    g = gate.cv.wait(g).unwrap_or_else(|e| e.into_inner());
                                }
                                if g.2 {
                                    break;
                                }
                                seen = g.0;
                            }
                            w.run(p.round);
                            let mut g = gate.st.lock().unwrap_or_else(|e| e.into_inner());
                            g.1 += 1;
                            gate.cv.notify_all();
                        }
                        w.teardown();
                        merge_counts(sh, &w.counts);
                    })
                    .expect("spawning a worker");
                handles.push(h);
            }
            let per_round = p.round * p.workers as u64;
            let rounds = p.ops.div_ceil(per_round.max(1)).max(1);
            for round in 1..=rounds {
                {
                    let mut g = gate.st.lock().unwrap_or_else(|e| e.into_inner());
                    g.0 = round;
                    g.1 = 0;
                    gate.cv.notify_all();
                }
                loop {
                    let g = gate.st.lock().unwrap_or_else(|e| e.into_inner());
                    let (g, _) = gate
                        .cv
                        .wait_timeout(g, Duration::from_millis(100))
                        .unwrap_or_else(|e| e.into_inner());
                    if g.1 == p.workers {
                        break;
                    }
                    drop(g);
                    emit("workload", &sh, progress);
                }
                sh.check(&format!("round {round}"));
                if sh.failed.load(Ordering::Relaxed) {
                    break;
                }
                if round % p.sync_every == 0 {
                    emit("settle", &sh, progress);
                    sh.settle();
                    sh.check(&format!("settle {round}"));
                    sh.verify_device(&format!("settle after round {round}"));
                }
                emit("workload", &sh, progress);
            }
            {
                let mut g = gate.st.lock().unwrap_or_else(|e| e.into_inner());
                g.2 = true;
                gate.cv.notify_all();
            }
            for h in handles {
                if h.join().is_err() {
                    sh.fail(format!("[{}] a worker thread panicked", imp.name));
                }
            }
        });
    }
    let work_time = t_work.elapsed();

    // -- The end of the run: everything written is committed.
    emit("settle", &sh, progress);
    sh.settle();
    sh.check("final settle");
    emit("verify", &sh, progress);
    let (vbufs, vbytes) = sh.verify_device("final settle");
    let committed = sh.committed_digest();
    let mut r = Report {
        imp: imp.name.to_string(),
        ..Report::default()
    };
    r.set("ops", sh.done_ops.load(Ordering::Relaxed));
    r.set("workers", p.workers as u64);
    r.set("deterministic", p.deterministic as u64);
    r.set("nbuf", p.nbuf as u64);
    r.set("seed", p.seed);
    r.set("work_us", work_time.as_micros() as u64);
    for (k, v) in sh
        .op_counts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        r.set(&format!("op.{k}"), *v);
    }
    let hc = globals::counters();
    r.set("hammer_disk_read_bytes", hc.disk_read as u64);
    r.set("hammer_disk_write_bytes", hc.disk_write as u64);
    r.set("verified_buffers", vbufs);
    r.set("verified_bytes", vbytes);
    r.set("committed_digest", committed);

    let devices: Vec<Device> = sh.m().devices().to_vec();
    let mut sh = sh;
    let m = sh.mount.take().expect("mounted");
    for f in std::mem::take(&mut *sh.failures.lock().unwrap_or_else(|e| e.into_inner())) {
        r.fail(f);
    }
    r.set("flush_cycles", sh.flush_cycles.load(Ordering::Relaxed));
    r.set(
        "pressure_flushes",
        sh.pressure_flushes.load(Ordering::Relaxed),
    );
    r.set(
        "read_faults_injected",
        sh.read_faults.load(Ordering::Relaxed),
    );
    r.set(
        "read_errors_handled",
        sh.read_errors.load(Ordering::Relaxed),
    );
    r.set("device_compares", sh.compares.load(Ordering::Relaxed));
    r.set(
        "compared_buffers",
        sh.compared_buffers.load(Ordering::Relaxed),
    );
    let mut checks = sh.checks.load(Ordering::Relaxed);

    // -- Unmount: the counters go back to zero.
    m.unmount();
    kern::quiesce();
    checks += 1;
    let mut notes = std::mem::take(&mut r.notes);
    let errs = quiescent(&mut notes);
    r.notes = notes;
    for e in errs.into_iter().chain(machine_errors()) {
        r.fail(format!("[{}] after unmount: {e}", imp.name));
    }
    let mut image = 0x1319_8a2e_0370_7344;
    for d in &devices {
        image = digest(image, &d.read_current(0, d.size() as usize));
    }
    r.set("image_digest", image);

    if p.finale && r.ok() {
        emit("remount", &sh, progress);
        let models: Vec<Model> = sh
            .models
            .iter_mut()
            .map(|m| std::mem::take(m.get_mut().unwrap_or_else(|e| e.into_inner())))
            .collect();
        let (n, c) = remount_and_verify(imp, &devices, &models, &mut r);
        r.set("remount_buffers", n);
        checks += c;
        emit("drill", &sh, progress);
        checks += error_drills(imp, &mut r);
    }
    r.set("invariant_checks", checks);

    let kc = kern::counters();
    for (k, v) in [
        ("kern.io_checkwrite", kc.io_checkwrite),
        ("kern.io_checkwrite_vetoes", kc.io_checkwrite_vetoes),
        ("kern.io_deallocate", kc.io_deallocate),
        ("kern.io_complete", kc.io_complete),
        ("kern.io_start", kc.io_start),
        ("kern.io_checkread", kc.io_checkread),
        ("kern.disk_reads", kc.disk_reads),
        ("kern.disk_writes", kc.disk_writes),
        ("kern.disk_flushes", kc.disk_flushes),
        ("kern.disk_errors", kc.disk_errors),
        ("kern.cluster_reads", kc.cluster_reads),
        ("kern.cluster_writes", kc.cluster_writes),
        ("kern.readahead", kc.readahead),
        ("kern.getblk", kc.getblk),
        ("kern.getblk_hits", kc.getblk_hits),
        ("kern.recycled", kc.recycled),
        ("kern.getnewbuf_sleeps", kc.getnewbuf_sleeps),
        ("kern.daemon_flushes", kc.daemon_flushes),
        ("kern.syncer_writes", kc.syncer_writes),
        ("kern.blocks", kc.blocks),
        ("kern.token_collisions", kc.token_collisions),
        ("kern.buflock_waits", kc.buflock_waits),
    ] {
        r.set(k, v);
    }
    let mut dev = (0, 0, 0, 0);
    for d in &devices {
        let s = d.stats();
        dev.0 += s.reads;
        dev.1 += s.writes;
        dev.2 += s.bytes_read;
        dev.3 += s.bytes_written;
    }
    r.set("dev.reads", dev.0);
    r.set("dev.writes", dev.1);
    r.set("dev.bytes_read", dev.2);
    r.set("dev.bytes_written", dev.3);
    r.set("wall_us", t0.elapsed().as_micros() as u64);
    emit("done", &sh, progress);
    r
}

fn merge_counts(sh: &Shared, counts: &BTreeMap<&'static str, u64>) {
    let mut all = sh.op_counts.lock().unwrap_or_else(|e| e.into_inner());
    for (k, v) in counts {
        *all.entry(k).or_insert(0) += v;
    }
}

/// Mounts the devices again (no format) and reads every modelled buffer
/// through HAMMER: data, meta-data and B-Tree nodes (whose CRC the
/// neighbours check when a node is loaded). Returns (buffers, checks).
fn remount_and_verify(
    imp: IoImpl,
    devices: &[Device],
    models: &[Model],
    r: &mut Report,
) -> (u64, u64) {
    let m = Mount::builder()
        .implementation(imp)
        .devices(devices.to_vec(), false)
        .build();
    let mut n = 0;
    let mut errs = invariants::check(&m);
    let mut t = m.start_transaction();
    for model in models {
        let mut keys: Vec<u64> = model.bufs.keys().copied().collect();
        keys.sort_unstable();
        for zx in keys {
            match m.bread(zx) {
                Ok(b) => {
                    if let Some(i) = compare(zx, &b.read(), &model.bufs[&zx]) {
                        errs.push(format!("buffer {zx:#x} differs after remount at byte {i}"));
                    }
                    m.rel_buffer(b);
                    n += 1;
                }
                Err(e) => errs.push(format!(
                    "hammer_bread({zx:#x}) after remount failed with {e}"
                )),
            }
        }
        let mut nodes: Vec<u64> = model.nodes.iter().copied().collect();
        nodes.sort_unstable();
        for node_off in nodes {
            let mut error = 0;
            // SAFETY: a live transaction; the node is released at once.
            unsafe {
                let node = objects::hammer_get_node(t.as_ptr(), node_off, false, &mut error);
                if error != 0 {
                    errs.push(format!(
                        "B-Tree node {node_off:#x} after remount: error {error} (bad CRC?)"
                    ));
                } else {
                    ffi::hammer_rel_node(node);
                }
            }
        }
    }
    m.done_transaction(t);
    errs.extend(invariants::check(&m));
    m.unmount();
    kern::quiesce();
    errs.extend(quiescent(&mut r.notes));
    errs.extend(machine_errors());
    for e in errs {
        r.fail(format!("[{}] remount: {e}", imp.name));
    }
    (n, 3)
}

/// Write errors, which HAMMER cannot retry: a failed meta-data write and
/// a failed direct write each make a critical error and a read-only
/// mount, the flusher stops, unmount still cleans up. A read error comes
/// first (retried). Each on a fresh mount; returns the checks made.
fn error_drills(imp: IoImpl, r: &mut Report) -> u64 {
    let mut errs = Vec::new();
    let mut checks = 0;

    // Read error, then meta-data write error.
    let m = Mount::builder().implementation(imp).name("drill").build();
    let meta = m.offset(Zone::Meta, 0, 7);
    let (vol, dev_off) = m.locate(meta);
    let dev = m.devices()[vol as usize].clone();
    dev.add_fault(Fault::at(FaultOp::Read, dev_off, BUFSIZE as u64).times(1));
    r.add("read_faults_injected", 1);
    match m.bread(meta) {
        Err(e) if e == ffi::EIO => r.add("read_errors_handled", 1),
        Err(e) => errs.push(format!("injected read error came back as {e}")),
        Ok(b) => {
            m.rel_buffer(b);
            errs.push("read succeeded despite the injected error".to_string());
        }
    }
    let mut t = m.start_transaction();
    match m.bread(meta) {
        Ok(b) => {
            m.modify(Some(&mut t), &b, 64, b"doomed meta-data", true);
            m.rel_buffer(b);
        }
        Err(e) => errs.push(format!("read after the read error failed with {e}")),
    }
    m.done_transaction(t);
    errs.extend(invariants::check(&m));
    checks += 1;
    dev.add_fault(Fault::at(FaultOp::Write, dev_off, BUFSIZE as u64));
    r.add("write_faults_injected", 1);
    m.flush(true);
    kern::quiesce();
    let log = m.critical_errors();
    if m.critical_error()
        && log
            .first()
            .is_some_and(|e| e.error == ffi::EIO && e.obj_id == -1)
    {
        r.add("write_errors_handled", 1);
    } else {
        errs.push(format!(
            "a failed meta-data write did not make a critical error: {log:?}"
        ));
    }
    // SAFETY: the mount is live.
    if unsafe { (*m.hmp()).ronly } != 2 {
        errs.push("the mount is not read-only after a critical error".to_string());
    }
    if m.has_work() {
        errs.push("the flusher still has work after a critical error".to_string());
    }
    r.add("critical_errors", log.len() as u64);
    errs.extend(invariants::check(&m));
    checks += 1;
    dev.clear_faults();
    m.unmount();
    kern::quiesce();
    errs.extend(quiescent(&mut r.notes));
    checks += 1;

    // Direct write error.
    let m = Mount::builder().implementation(imp).name("drill2").build();
    let ip = m.create_inode(77);
    // SAFETY: the inode is live and referenced by us.
    match unsafe { vnode_of(ip) } {
        None => errs.push("hammer_get_vnode failed".to_string()),
        Some(vp) => {
            let zx = m.offset(Zone::LargeData, 0, 5);
            let (vol, dev_off) = m.locate(zx);
            let dev = m.devices()[vol as usize].clone();
            dev.add_fault(Fault::at(FaultOp::Write, dev_off, BUFSIZE as u64));
            r.add("write_faults_injected", 1);
            let data = vec![0xa5u8; BUFSIZE];
            // SAFETY: live mount, inode and vnode.
            let e = unsafe { front_write(&imp, m.hmp(), ip, vp, 0, &data, zx, BUFSIZE) };
            kern::quiesce();
            let log = m.critical_errors();
            if e == ffi::EIO && m.critical_error() && log.first().is_some_and(|c| c.obj_id == 77) {
                r.add("write_errors_handled", 1);
            } else {
                errs.push(format!(
                    "a failed direct write returned {e}, critical errors {log:?}"
                ));
            }
            r.add("critical_errors", log.len() as u64);
            errs.extend(invariants::check(&m));
            checks += 1;
            dev.clear_faults();
        }
    }
    // SAFETY: our inode; its vnode (if any) is neither locked nor
    // referenced.
    unsafe {
        objects::hammer_reclaim_vnode(ip);
        objects::hammer_rel_inode(ip, 0);
    }
    m.unmount();
    kern::quiesce();
    errs.extend(quiescent(&mut r.notes));
    errs.extend(machine_errors());
    checks += 1;
    for e in errs {
        r.fail(format!("[{}] error drill: {e}", imp.name));
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both() -> Vec<IoImpl> {
        IoImpl::available()
    }

    #[test]
    fn deterministic_runs_agree() {
        let _g = kern::exclusive();
        let mut digests = Vec::new();
        for imp in both() {
            let r = run(imp, &Params::deterministic(1500, 7), &mut |_| {});
            assert!(r.ok(), "[{}] {:#?}", imp.name, r.failures);
            assert!(r.get("verified_buffers") > 0);
            assert_eq!(r.get("write_errors_handled"), 2);
            digests.push((r.get("committed_digest"), r.get("image_digest")));
        }
        digests.dedup();
        assert_eq!(digests.len(), 1, "implementations disagree: {digests:?}");
    }

    #[test]
    fn threaded_run_passes() {
        let _g = kern::exclusive();
        for imp in both() {
            let p = Params {
                round: 150,
                ..Params::threaded(900, 3, 2)
            };
            let r = run(imp, &p, &mut |_| {});
            assert!(r.ok(), "[{}] {:#?}", imp.name, r.failures);
        }
    }

    #[test]
    fn report_round_trips() {
        let mut r = Report {
            imp: "rust".into(),
            ..Report::default()
        };
        r.set("ops", 5);
        r.fail("a\nb".into());
        let lines = r.to_lines();
        let back = Report::parse(lines.iter().map(String::as_str));
        assert_eq!(back.imp, "rust");
        assert_eq!(back.get("ops"), 5);
        assert_eq!(back.failures, vec!["a | b".to_string()]);
    }
}
