//! The hosted machine: configuration, the one global kernel state, kernel
//! thread identities and the single blocking primitive every sleeping path
//! goes through.
//!
//! All bookkeeping of the model (buffer queues, hash trees, lock owners,
//! token holders, sleep queues, the disk queue, counters) lives in [`Kern`]
//! behind one mutex. The mutex is only held for short stretches and never
//! while C code runs (bioops callbacks, bio_done callbacks), so the C and
//! Rust users of the environment run truly concurrently, like threads on an
//! SMP kernel, and only serialise where the real kernel does (buffer locks,
//! LWKT tokens, sleep queues).

use std::prelude::rust_2021::*;
#[allow(unused_imports)]
use std::{format, thread_local};

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Condvar, LazyLock, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::bufcache::{BufRec, QHead, BUFFER_QUEUES};
use super::disk::DiskState;
use super::inspect::Counters;
use super::vnode::VnRec;

/// Size of the kva window each buffer gets (BKVASIZE == MAXBSIZE on x86_64).
pub(crate) const BKVASIZE: i64 = 65536;
/// Largest buffer (MAXBSIZE).
pub(crate) const MAXBSIZE: i64 = 65536;
/// Largest single I/O (MAXPHYS).
pub(crate) const MAXPHYS: i32 = 128 * 1024;
pub(crate) const PAGE_SIZE: i64 = 4096;
pub(crate) const PAGE_MASK: i64 = PAGE_SIZE - 1;
pub(crate) const DEV_BSIZE: i64 = 512;

pub(crate) type Guard = MutexGuard<'static, Kern>;

pub(crate) static KERN: LazyLock<Mutex<Kern>> = LazyLock::new(|| Mutex::new(Kern::empty()));
/// Signalled on every state change a blocked thread may be waiting for.
pub(crate) static CV: Condvar = Condvar::new();
/// Signalled when the disk queue changes (the disk thread waits on it).
pub(crate) static DISK_CV: Condvar = Condvar::new();
static HANDLES: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

/// Machine configuration, fixed at [`boot`] time (a few knobs can be
/// changed later through dedicated functions).
#[derive(Clone, Debug)]
pub struct Config {
    /// No background threads: I/O completes only in [`super::run_pending_io`]
    /// (or when the only thread would otherwise sleep), daemons run only when
    /// asked to.
    pub deterministic: bool,
    /// Seed for disk latencies / completion order.
    pub seed: u64,
    /// Number of buffer headers (nbuf).
    pub nbuf: usize,
    /// Buffer-space limit (hibufspace); derived from nbuf like the kernel
    /// does when `None`.
    pub hibufspace: Option<i64>,
    /// Buffer daemon low-water mark (lodirtybufspace).
    pub lodirtybufspace: Option<i64>,
    /// hidirtybufspace.
    pub hidirtybufspace: Option<i64>,
    /// Running-I/O limit (hirunningspace) used by waitrunningbufspace().
    pub hirunningspace: Option<i64>,
    /// Number of pbufs (nswbuf).
    pub nswbuf: usize,
    /// Run the buffer daemon thread (threaded mode only).
    pub buf_daemon: bool,
    /// Run the syncer thread (threaded mode only).
    pub syncer: bool,
    /// How often the syncer thread wakes up.
    pub syncer_interval: Duration,
    /// How long a vnode stays on the syncer worklist before being synced
    /// (the kernel's metadelay / filedelay).
    pub syncer_delay: Duration,
    /// Disk service time range; each request gets a seeded random latency.
    pub disk_latency: (Duration, Duration),
    /// Allow requests to complete out of submission order.
    pub reorder: bool,
    /// Clock ticks per second (the exported `hz`).
    pub hz: i32,
    /// Copy kprintf output to stderr as well as to the capture buffer.
    pub echo_console: bool,
    /// Simulated VM page shortage (vm_page_count_min()).
    pub vm_shortage: bool,
    /// Device maximum I/O size (si_iosize_max, capped at MAXPHYS).
    pub max_iosize: i32,
    /// cluster_readx() read-ahead cap (max_readahead).
    pub max_readahead: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            deterministic: false,
            seed: 0,
            nbuf: 512,
            hibufspace: None,
            lodirtybufspace: None,
            hidirtybufspace: None,
            hirunningspace: None,
            nswbuf: 64,
            buf_daemon: true,
            syncer: true,
            syncer_interval: Duration::from_millis(200),
            syncer_delay: Duration::from_secs(1),
            disk_latency: (Duration::from_micros(0), Duration::from_micros(200)),
            reorder: true,
            hz: 100,
            echo_console: std::env::var_os("HOSTED_KPRINTF").is_some(),
            vm_shortage: false,
            max_iosize: MAXPHYS,
            max_readahead: 2 * 1024 * 1024,
        }
    }
}

impl Config {
    /// A deterministic machine (no background threads) with the given seed.
    pub fn deterministic(seed: u64) -> Self {
        Config {
            deterministic: true,
            seed,
            buf_daemon: false,
            syncer: false,
            ..Config::default()
        }
    }

    /// Limit the cache to exactly `n` buffers holding data: the `n+1`-th
    /// distinct getblk() recycles a CLEAN buffer (or sleeps).
    pub fn with_buffer_limit(mut self, n: usize) -> Self {
        let n = n.max(1);
        self.nbuf = n;
        self.hibufspace = Some(n as i64 * BKVASIZE + 1);
        self
    }
}

/// Limits derived from a [`Config`] the way bufinit() derives them.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Limits {
    pub hibufspace: i64,
    pub lobufspace: i64,
    pub hidirtybufspace: i64,
    pub lodirtybufspace: i64,
    pub hirunningspace: i64,
}

impl Limits {
    fn from(cfg: &Config) -> Limits {
        let maxbufspace = cfg.nbuf as i64 * BKVASIZE;
        let hibufspace = cfg
            .hibufspace
            .unwrap_or_else(|| (3 * maxbufspace / 4).max(maxbufspace - MAXBSIZE * 10));
        let hidirty = cfg.hidirtybufspace.unwrap_or(hibufspace / 2);
        Limits {
            hibufspace,
            lobufspace: hibufspace - MAXBSIZE,
            hidirtybufspace: hidirty,
            lodirtybufspace: cfg.lodirtybufspace.unwrap_or(hidirty / 2),
            hirunningspace: cfg
                .hirunningspace
                .unwrap_or_else(|| (hibufspace / 16).max(1024 * 1024)),
        }
    }
}

/// The buffer cache's global counters (vfs_bio.c's file-scope variables).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Globals {
    pub bufspace: i64,
    pub runningbufspace: i64,
    pub runningbufcount: i64,
    pub runningbufreq: i32,
    pub dirtybufspace: i64,
    pub dirtykvaspace: i64,
    pub dirtybufcount: i64,
    pub dirtybufcounthw: i64,
    pub dirtybufspacehw: i64,
    pub needsbuffer: i32,
    pub bd_request: i32,
}

/// One kernel thread as the model sees it.
pub(crate) struct ThreadRec {
    pub name: String,
    /// Address handed out as this thread's `struct thread *`.
    pub tptr: Box<u64>,
    /// LWKT token references in acquisition order (recursion repeats).
    pub toks: Vec<usize>,
    /// False while the thread is descheduled (its tokens are released).
    pub toks_held: bool,
    /// tsleep queue membership (TDF_TSLEEPQ) and wait channel.
    pub tsleepq: bool,
    pub wchan: usize,
    /// Environment-owned thread (disk, daemons, inline pseudo threads).
    pub daemon: bool,
    /// What the thread is blocked on, for diagnostics.
    pub blocked_on: Option<String>,
}

/// Small deterministic PRNG (splitmix64).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// The whole machine.
pub(crate) struct Kern {
    pub booted: bool,
    pub shutdown: bool,
    pub gen: u64,
    pub cfg: Config,
    pub lim: Limits,
    pub threads: Vec<ThreadRec>,
    /// LWKT token address -> holding thread.
    pub tokens: HashMap<usize, u32>,
    pub bufs: Vec<BufRec>,
    pub queues: [QHead; BUFFER_QUEUES],
    pub pbuf_free: Vec<usize>,
    pub cluster_pbuf_freecnt: i32,
    pub vnodes: Vec<Option<VnRec>>,
    pub disk: DiskState,
    pub st: Counters,
    pub g: Globals,
    pub rng: Rng,
    /// Deterministic mode: virtual clock in ticks, and the count of timed
    /// sleeps that ended without any progress (livelock detector).
    pub vticks: u64,
    pub stall: u32,
    /// Deterministic mode: pseudo threads by (role, nesting depth).
    pub pseudo: HashMap<(&'static str, u32), u32>,
    pub inline_depth: u32,
    pub bg_panics: Vec<String>,
    pub boot_time: Instant,
}

impl Kern {
    fn empty() -> Kern {
        Kern {
            booted: false,
            shutdown: false,
            gen: 0,
            cfg: Config::default(),
            lim: Limits::default(),
            threads: Vec::new(),
            tokens: HashMap::new(),
            bufs: Vec::new(),
            queues: [QHead::EMPTY; BUFFER_QUEUES],
            pbuf_free: Vec::new(),
            cluster_pbuf_freecnt: 0,
            vnodes: Vec::new(),
            disk: DiskState::default(),
            st: Counters::default(),
            g: Globals::default(),
            rng: Rng::new(0),
            vticks: 0,
            stall: 0,
            pseudo: HashMap::new(),
            inline_depth: 0,
            bg_panics: Vec::new(),
            boot_time: Instant::now(),
        }
    }

    pub fn new_thread(&mut self, name: String, daemon: bool) -> u32 {
        let tid = self.threads.len() as u32;
        self.threads.push(ThreadRec {
            name,
            tptr: Box::new(0),
            toks: Vec::new(),
            toks_held: true,
            tsleepq: false,
            wchan: 0,
            daemon,
            blocked_on: None,
        });
        tid
    }

    /// The pseudo thread used for work run inline (deterministic mode) in
    /// the given role, one per nesting level so nested sleeps cannot
    /// clobber each other's sleep state.
    pub fn pseudo_tid(&mut self, role: &'static str) -> u32 {
        let depth = self.inline_depth;
        if let Some(&t) = self.pseudo.get(&(role, depth)) {
            return t;
        }
        let t = self.new_thread(format!("{role}/{depth}"), true);
        self.pseudo.insert((role, depth), t);
        t
    }

    pub fn thread_name(&self, tid: u32) -> &str {
        self.threads
            .get(tid as usize)
            .map_or("?", |t| t.name.as_str())
    }

    pub fn ticks_to_duration(&self, ticks: i32) -> Duration {
        let hz = self.cfg.hz.max(1) as u64;
        Duration::from_nanos(ticks.max(0) as u64 * 1_000_000_000 / hz)
    }
}

/// Lock the machine state, booting a default machine if none runs.
pub(crate) fn lock() -> Guard {
    let mut g = lock_raw();
    if !g.booted {
        start(&mut g, Config::default());
    }
    g
}

/// Lock the machine state as it is.
pub(crate) fn lock_raw() -> Guard {
    KERN.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn cv_wait(g: Guard) -> Guard {
    CV.wait(g).unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn cv_wait_timeout(g: Guard, d: Duration) -> Guard {
    CV.wait_timeout(g, d).unwrap_or_else(|e| e.into_inner()).0
}

thread_local! {
    /// (machine generation, thread id) of the calling OS thread.
    static CUR: Cell<(u64, u32)> = const { Cell::new((u64::MAX, 0)) };
}

/// The calling thread's id, registering it on first use.
pub(crate) fn me(g: &mut Kern) -> u32 {
    let (gen, tid) = CUR.with(Cell::get);
    if gen == g.gen && (tid as usize) < g.threads.len() {
        return tid;
    }
    let name = std::thread::current()
        .name()
        .unwrap_or("thread")
        .to_string();
    let tid = g.new_thread(name, false);
    CUR.with(|c| c.set((g.gen, tid)));
    tid
}

/// The calling thread's id without locking (None if not registered in the
/// current machine generation, which callers treat as "unknown").
pub(crate) fn me_nolock() -> (u64, u32) {
    CUR.with(Cell::get)
}

/// Restores the previous identity when dropped (also on unwind).
pub(crate) struct IdentityGuard {
    old: (u64, u32),
}

impl Drop for IdentityGuard {
    fn drop(&mut self) {
        CUR.with(|c| c.set(self.old));
    }
}

/// Run as kernel thread `tid` until the guard is dropped.
pub(crate) fn assume_identity(gen: u64, tid: u32) -> IdentityGuard {
    let old = CUR.with(|c| c.replace((gen, tid)));
    IdentityGuard { old }
}

/// Payload used to unwind background threads out of a blocked state when
/// the machine shuts down.
pub(crate) struct ShutdownUnwind;

/// Deschedule `me` until `ready` holds (or `timo` ticks pass, if non-zero),
/// like lwkt_switch() around a sleep: every LWKT token of the thread is
/// released first and all of them are re-acquired, in one step, before it
/// resumes. Returns the guard and whether the wait timed out.
///
/// `ready` is evaluated with the guard held; when `block` returns `false`
/// it held at that moment and the caller still holds the guard, so it can
/// act on it atomically.
pub(crate) fn block(
    mut g: Guard,
    me: u32,
    what: &str,
    timo: i32,
    daemon_helps: bool,
    mut ready: impl FnMut(&mut Kern) -> bool,
) -> (Guard, bool) {
    super::token::release_all(&mut g, me);
    g.threads[me as usize].blocked_on = Some(what.to_string());
    g.st.blocks += 1;
    let (mut g, timed_out) = if g.cfg.deterministic {
        block_det(g, me, what, timo, daemon_helps, &mut ready)
    } else {
        block_mt(g, me, timo, &mut ready)
    };
    g.threads[me as usize].blocked_on = None;
    (g, timed_out)
}

fn check_interrupts(g: Guard, me: u32) -> Guard {
    let t = &g.threads[me as usize];
    if g.shutdown && t.daemon {
        drop(g);
        std::panic::resume_unwind(Box::new(ShutdownUnwind));
    }
    if !t.daemon {
        if let Some((msg, ptid)) = super::misc::panic_info() {
            if ptid != Some((g.gen, me)) {
                drop(g);
                std::panic!("kernel panic on another thread while this one slept: {msg}");
            }
        }
    }
    g
}

fn block_mt(
    mut g: Guard,
    me: u32,
    timo: i32,
    ready: &mut dyn FnMut(&mut Kern) -> bool,
) -> (Guard, bool) {
    let deadline = (timo > 0).then(|| Instant::now() + g.ticks_to_duration(timo));
    let mut timed_out = false;
    loop {
        g = check_interrupts(g, me);
        if (timed_out || ready(&mut g)) && super::token::can_reacquire(&g, me) {
            super::token::reacquire(&mut g, me);
            return (g, timed_out);
        }
        match deadline {
            Some(d) if !timed_out => {
                let now = Instant::now();
                if now >= d {
                    timed_out = true;
                    continue;
                }
                g = cv_wait_timeout(g, d - now);
            }
            _ => g = cv_wait(g),
        }
    }
}

fn block_det(
    mut g: Guard,
    me: u32,
    what: &str,
    timo: i32,
    daemon_helps: bool,
    ready: &mut dyn FnMut(&mut Kern) -> bool,
) -> (Guard, bool) {
    loop {
        if ready(&mut g) {
            g.stall = 0;
            return (reacquire_det(g, me, what), false);
        }
        if !g.disk.pending.is_empty() {
            drop(g);
            super::disk::run_one_inline();
            g = lock_raw();
            g.stall = 0;
            continue;
        }
        if daemon_helps {
            drop(g);
            let did = super::daemon::inline_flush_step();
            g = lock_raw();
            if did {
                g.stall = 0;
                continue;
            }
        }
        if timo > 0 {
            g.vticks += timo as u64;
            g.stall += 1;
            if g.stall > 100_000 {
                let name = g.thread_name(me).to_string();
                drop(g);
                super::misc::kpanic(format!(
                    "deterministic mode: thread {name} keeps timing out in {what} \
                     with no pending I/O (livelock)"
                ));
            }
            return (reacquire_det(g, me, what), true);
        }
        let name = g.thread_name(me).to_string();
        drop(g);
        super::misc::kpanic(format!(
            "deterministic mode: thread {name} would sleep forever in {what}: \
             nothing pending can wake it"
        ));
    }
}

fn reacquire_det(mut g: Guard, me: u32, what: &str) -> Guard {
    if !super::token::can_reacquire(&g, me) {
        let name = g.thread_name(me).to_string();
        drop(g);
        super::misc::kpanic(format!(
            "deterministic mode: thread {name} cannot get its tokens back after {what}"
        ));
    }
    super::token::reacquire(&mut g, me);
    g
}

/// Boot a fresh machine with `cfg` (shutting down the current one first).
pub fn boot(cfg: Config) {
    shutdown();
    let mut g = lock_raw();
    start(&mut g, cfg);
}

fn start(g: &mut Kern, cfg: Config) {
    g.gen += 1;
    g.booted = true;
    g.shutdown = false;
    g.lim = Limits::from(&cfg);
    g.rng = Rng::new(cfg.seed);
    g.threads.clear();
    g.tokens.clear();
    g.queues = [QHead::EMPTY; BUFFER_QUEUES];
    g.vnodes.clear();
    g.vnodes.push(None); // vnode id 0 means "none"
    g.disk = DiskState::default();
    g.st = Counters::default();
    g.g = Globals::default();
    g.vticks = 0;
    g.stall = 0;
    g.pseudo.clear();
    g.inline_depth = 0;
    g.bg_panics.clear();
    g.boot_time = Instant::now();
    super::misc::set_hz(cfg.hz);
    super::misc::clear_panic();
    super::trace::reset_ids();
    g.cfg = cfg;
    super::bufcache::init_buffers(g);
    if !g.cfg.deterministic {
        let mut handles = HANDLES.lock().unwrap_or_else(|e| e.into_inner());
        handles.push(spawn("disk", super::disk::disk_thread));
        if g.cfg.buf_daemon {
            handles.push(spawn("bufdaemon", super::daemon::buf_daemon_thread));
        }
        if g.cfg.syncer {
            handles.push(spawn("syncer", super::daemon::syncer_thread));
        }
    }
}

fn spawn(name: &'static str, f: fn()) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(format!("kern-{name}"))
        .spawn(move || {
            {
                let mut g = lock_raw();
                let tid = g.new_thread(name.to_string(), true);
                let gen = g.gen;
                CUR.with(|c| c.set((gen, tid)));
            }
            run_background(name, f);
        })
        .expect("spawning a hosted kernel thread")
}

/// Run a background thread body, turning panics into recorded failures
/// instead of silently dead daemons.
fn run_background(name: &str, f: fn()) {
    match std::panic::catch_unwind(f) {
        Ok(()) => {}
        Err(e) if e.is::<ShutdownUnwind>() => {}
        Err(e) => {
            let msg = panic_payload_text(&e);
            let mut g = lock_raw();
            g.bg_panics.push(format!("{name}: {msg}"));
            CV.notify_all();
        }
    }
}

pub(crate) fn panic_payload_text(e: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = e.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Stop the background threads and free every buffer, vnode and page of
/// the current machine. Pointers handed out before are dangling afterwards.
pub fn shutdown() {
    {
        let mut g = lock_raw();
        if !g.booted {
            return;
        }
        g.shutdown = true;
        CV.notify_all();
        DISK_CV.notify_all();
    }
    let handles: Vec<_> = std::mem::take(&mut *HANDLES.lock().unwrap_or_else(|e| e.into_inner()));
    for h in handles {
        let _ = h.join();
    }
    let mut g = lock_raw();
    super::bufcache::free_buffers(&mut g);
    super::vnode::free_vnodes(&mut g);
    g.disk = DiskState::default();
    g.threads.clear();
    g.tokens.clear();
    g.booted = false;
    g.shutdown = false;
    g.gen += 1;
}
