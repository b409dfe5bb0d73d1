//! The kernel side of the hosted DragonFly environment.
//!
//! Implements, in user space and with the kernel's semantics, every kernel
//! symbol HAMMER's I/O layer imports: the buffer cache (getblk, bread via
//! breadnx, cluster_readx, breadcb, findblk, regetblk, bremfree, bqrelse,
//! brelse, bdwrite, bundirty, cluster_awrite, vfs_bio_clrbuf, pbufs, bio
//! stacking and completion), vn_strategy() onto simulated disks, LWKT
//! tokens, tsleep/wakeup, atomics, panic/kprintf, CRC-32 and the globals
//! `hz` and `panicstr`; plus the background actors HAMMER meets in a real
//! kernel: the buffer daemon, the syncer, buffer recycling under a buffer
//! limit and I/O completion on a separate disk thread.
//!
//! One machine exists at a time (global state). Tests serialise on
//! [`exclusive`] and start a machine with [`boot`]; a machine with the
//! default [`Config`] is booted on first use otherwise.
//!
//! Modes:
//! * threaded (default): a disk thread completes I/O after seeded random
//!   latencies, the buffer daemon and syncer run on their own threads;
//! * deterministic ([`Config::deterministic`]): no background threads; I/O
//!   completes when [`run_pending_io`] / [`run_one_io`] is called, in an
//!   order decided by the seed, or when the only thread would otherwise
//!   sleep forever (then pending completions, and for buffer shortage the
//!   buffer daemon, run inline; if nothing can wake it, the kernel panics
//!   with a message saying so). Daemons run only through
//!   [`buf_daemon_pass`], [`buf_daemon_flush`] and [`syncer_pass`].

use std::prelude::rust_2021::*;

mod bio;
mod bp;
mod bufcache;
mod buflock;
mod callout;
mod cluster;
mod daemon;
mod device;
mod disk;
mod inspect;
mod machine;
mod misc;
mod sleep;
mod token;
pub mod trace;
mod vm;
mod vnode;

use std::sync::{Mutex, MutexGuard};

use crate::sys::ffi;

pub use bufcache::recycle;
pub use buflock::LockOwner;
pub use daemon::{
    buf_daemon_flush, buf_daemon_pass, syncer_pass, syncer_period, vfsync, vinvalbuf, SyncMode,
};
pub use device::{DevStats, Device, Fault, FaultOp};
pub use disk::{pending_io, quiesce_disk, run_one_io, run_pending_io};
pub use inspect::{
    buffers, buffers_of, counters, dirty_offsets, lookup, queue, snapshot, BufSnapshot, Counters,
    Queue,
};
pub use machine::{boot, shutdown, Config};
pub use misc::{console, console_take, crc32_bytes, panic_message, reset_after_panic};
pub use token::{
    held_by_current as token_held, holder as token_holder, stack_depth_current as token_stack_depth,
};
pub use vnode::{
    on_syncer_worklist, set_bmap, set_inactive, set_strategy, vm_evict, vm_valid, vnode_id,
    vnode_name, vnode_new, BmapFn, InactiveFn, StrategyFn,
};

static EXCLUSIVE: Mutex<()> = Mutex::new(());

/// Holds the machine for one test; shuts it down when dropped.
pub struct ExclusiveGuard {
    _g: MutexGuard<'static, ()>,
}

impl Drop for ExclusiveGuard {
    fn drop(&mut self) {
        trace::set_sink(None);
        shutdown();
        misc::clear_panic();
    }
}

/// Serialise users of the (global) machine: tests take this first, then
/// [`boot`] the machine they want. The machine is shut down (every buffer,
/// vnode and page freed) when the guard is dropped.
pub fn exclusive() -> ExclusiveGuard {
    let g = EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner());
    shutdown();
    misc::clear_panic();
    ExclusiveGuard { _g: g }
}

/// The configuration of the running machine.
pub fn config() -> Config {
    machine::lock().cfg.clone()
}

/// Whether the running machine is deterministic.
pub fn is_deterministic() -> bool {
    machine::lock().cfg.deterministic
}

/// Turn the simulated VM page shortage on or off (bqrelse then sends clean
/// buffers to brelse, and brelse releases pages / calls io_deallocate).
pub fn set_vm_shortage(on: bool) {
    machine::lock().cfg.vm_shortage = on;
}

/// Copy console output to stderr.
pub fn set_echo_console(on: bool) {
    misc::set_echo(on);
}

/// The calling thread's kernel thread id (as in trace events and
/// [`LockOwner::Thread`]).
pub fn current_thread_id() -> u32 {
    let mut g = machine::lock();
    machine::me(&mut g)
}

/// The name of a kernel thread.
pub fn thread_name(tid: u32) -> String {
    machine::lock().thread_name(tid).to_string()
}

/// Panics that happened on background threads (disk, daemons).
pub fn background_panics() -> Vec<String> {
    machine::lock().bg_panics.clone()
}

/// Wait until no I/O is pending (threaded mode), or complete all pending
/// I/O (deterministic mode).
pub fn quiesce() {
    if is_deterministic() {
        run_pending_io();
    } else {
        quiesce_disk();
    }
}

/// Deterministic mode: the virtual clock (ticks slept by timed-out sleeps).
pub fn vticks() -> u64 {
    machine::lock().vticks
}

/// Who holds a buffer's lock.
pub fn lock_owner(bp: *mut ffi::buf) -> LockOwner {
    snapshot(bp).lock
}

/// Buffer-cache limits in effect: (hibufspace, lobufspace,
/// hidirtybufspace, lodirtybufspace, hirunningspace).
pub fn limits() -> (i64, i64, i64, i64, i64) {
    let l = machine::lock().lim;
    (
        l.hibufspace,
        l.lobufspace,
        l.hidirtybufspace,
        l.lodirtybufspace,
        l.hirunningspace,
    )
}

/// tsleep() for Rust callers (flags as in C, timeout in ticks).
pub fn tsleep(ident: *const core::ffi::c_void, flags: i32, wmesg: &str, timo: i32) -> i32 {
    sleep::tsleep_current(ident as usize, flags, wmesg, timo)
}

/// tsleep_interlock() for Rust callers.
pub fn tsleep_interlock(ident: *const core::ffi::c_void) {
    sleep::interlock_current(ident as usize)
}

/// wakeup() for Rust callers.
pub fn wakeup(ident: *const core::ffi::c_void) {
    sleep::wakeup_current(ident as usize)
}

/// lwkt_gettoken() for Rust callers.
pub fn gettoken(tok: *mut ffi::lwkt_token) {
    token::get_current(tok as usize)
}

/// lwkt_reltoken() for Rust callers.
pub fn reltoken(tok: *mut ffi::lwkt_token) {
    token::rel_current(tok as usize)
}

/// PINTERLOCKED for tsleep().
pub const PINTERLOCKED: i32 = sleep::PINTERLOCKED;
/// EWOULDBLOCK, tsleep()'s timeout result.
pub const EWOULDBLOCK: i32 = sleep::EWOULDBLOCK;
