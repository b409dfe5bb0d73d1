#![allow(non_upper_case_globals)]

//! HAMMER's counters and tunables that the I/O layer reads and updates.
//!
//! In the kernel they live in `hammer_vfsops.c` as plain C globals, exported
//! through sysctl. Both implementations of the I/O layer (the C reference
//! and the Rust port) reach them by symbol name, so they are defined here
//! with `#[no_mangle]` and the C types `hammer.h` declares for them. The
//! atomic wrapper types have the same size and alignment as the plain
//! integers, so C code that does `atomic_add_long(&hammer_count_...)` or
//! `hammer_stats_disk_read += n` on them is fine, and Rust code can read
//! them without `static mut`.
//!
//! The remaining counters are private to the hosted neighbours (the
//! kernel exports them too, but nothing in the I/O layer touches them).

use core::sync::atomic::{AtomicI32, AtomicI64, Ordering};

// `long` is 64 bits on every target this crate builds for (LP64), which
// the AtomicI64 below relies on.
const _: () = assert!(core::mem::size_of::<core::ffi::c_long>() == 8);

/// `long hammer_count_dirtybufspace`: bytes of modified volume-header and
/// meta-data buffers (they cannot be written by the kernel on its own).
#[no_mangle]
pub static hammer_count_dirtybufspace: AtomicI64 = AtomicI64::new(0);

/// `int hammer_count_io_locked`: buffers HAMMER has pinned with B_LOCKED.
#[no_mangle]
pub static hammer_count_io_locked: AtomicI32 = AtomicI32::new(0);

/// `long hammer_count_io_running_read`: bytes of synchronous reads in flight.
#[no_mangle]
pub static hammer_count_io_running_read: AtomicI64 = AtomicI64::new(0);

/// `long hammer_count_io_running_write`: bytes of writes in flight.
#[no_mangle]
pub static hammer_count_io_running_write: AtomicI64 = AtomicI64::new(0);

/// `int64_t hammer_stats_disk_read`: bytes read from the media, ever.
#[no_mangle]
pub static hammer_stats_disk_read: AtomicI64 = AtomicI64::new(0);

/// `int64_t hammer_stats_disk_write`: bytes written to the media, ever.
#[no_mangle]
pub static hammer_stats_disk_write: AtomicI64 = AtomicI64::new(0);

/// `int hammer_debug_io`: debug print mask (0x1 reads, 0x2 writes,
/// 0x4 buffer loads).
#[no_mangle]
pub static hammer_debug_io: AtomicI32 = AtomicI32::new(0);

/// `int hammer_cluster_enable`: whether reads may cluster (read-ahead).
/// The kernel's default is 1.
#[no_mangle]
pub static hammer_cluster_enable: AtomicI32 = AtomicI32::new(1);

/// `int hammer_verify_data`: check data CRCs on indirect reads. The
/// kernel's default is 1.
#[no_mangle]
pub static hammer_verify_data: AtomicI32 = AtomicI32::new(1);

/// `hammer_count_refedbufs`: buffers with at least one reference.
pub static HAMMER_COUNT_REFEDBUFS: AtomicI32 = AtomicI32::new(0);
/// `hammer_count_buffers`: allocated `hammer_buffer` structures.
pub static HAMMER_COUNT_BUFFERS: AtomicI32 = AtomicI32::new(0);
/// `hammer_count_volumes`: allocated `hammer_volume` structures.
pub static HAMMER_COUNT_VOLUMES: AtomicI32 = AtomicI32::new(0);
/// `hammer_count_nodes`: allocated `hammer_node` structures.
pub static HAMMER_COUNT_NODES: AtomicI32 = AtomicI32::new(0);
/// `hammer_count_inodes`: allocated `hammer_inode` structures.
pub static HAMMER_COUNT_INODES: AtomicI32 = AtomicI32::new(0);
/// `hammer_count_records`: allocated `hammer_record` structures.
pub static HAMMER_COUNT_RECORDS: AtomicI32 = AtomicI32::new(0);
/// `hammer_contention_count`: times a HAMMER lock had to be waited for.
pub static HAMMER_CONTENTION_COUNT: AtomicI64 = AtomicI64::new(0);
/// `hammer_stats_undo`: bytes of UNDO laid down.
pub static HAMMER_STATS_UNDO: AtomicI64 = AtomicI64::new(0);
/// `hammer_stats_commits`: final flusher finalizations.
pub static HAMMER_STATS_COMMITS: AtomicI64 = AtomicI64::new(0);
/// `hammer_debug_locks`: print lock contention.
pub static HAMMER_DEBUG_LOCKS: AtomicI32 = AtomicI32::new(0);
/// `hammer_verify_zone`: validate blockmap lookups against the freemap.
/// The hosted blockmap is a direct map, so only 0 is supported (the
/// kernel's default).
pub static HAMMER_VERIFY_ZONE: AtomicI32 = AtomicI32::new(0);

/// Values of every counter of this module at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// `hammer_count_dirtybufspace`
    pub dirtybufspace: i64,
    /// `hammer_count_io_locked`
    pub io_locked: i32,
    /// `hammer_count_io_running_read`
    pub io_running_read: i64,
    /// `hammer_count_io_running_write`
    pub io_running_write: i64,
    /// `hammer_stats_disk_read`
    pub disk_read: i64,
    /// `hammer_stats_disk_write`
    pub disk_write: i64,
    /// `hammer_count_refedbufs`
    pub refedbufs: i32,
    /// `hammer_count_buffers`
    pub buffers: i32,
    /// `hammer_count_volumes`
    pub volumes: i32,
    /// `hammer_count_nodes`
    pub nodes: i32,
    /// `hammer_count_inodes`
    pub inodes: i32,
    /// `hammer_count_records`
    pub records: i32,
}

/// Reads every counter.
pub fn counters() -> Counters {
    Counters {
        dirtybufspace: hammer_count_dirtybufspace.load(Ordering::SeqCst),
        io_locked: hammer_count_io_locked.load(Ordering::SeqCst),
        io_running_read: hammer_count_io_running_read.load(Ordering::SeqCst),
        io_running_write: hammer_count_io_running_write.load(Ordering::SeqCst),
        disk_read: hammer_stats_disk_read.load(Ordering::SeqCst),
        disk_write: hammer_stats_disk_write.load(Ordering::SeqCst),
        refedbufs: HAMMER_COUNT_REFEDBUFS.load(Ordering::SeqCst),
        buffers: HAMMER_COUNT_BUFFERS.load(Ordering::SeqCst),
        volumes: HAMMER_COUNT_VOLUMES.load(Ordering::SeqCst),
        nodes: HAMMER_COUNT_NODES.load(Ordering::SeqCst),
        inodes: HAMMER_COUNT_INODES.load(Ordering::SeqCst),
        records: HAMMER_COUNT_RECORDS.load(Ordering::SeqCst),
    }
}

/// Puts every counter and statistic back to zero and every tunable back
/// to the kernel's default, so one test's leftovers cannot leak into the
/// next one's checks.
pub fn reset() {
    hammer_count_dirtybufspace.store(0, Ordering::SeqCst);
    hammer_count_io_locked.store(0, Ordering::SeqCst);
    hammer_count_io_running_read.store(0, Ordering::SeqCst);
    hammer_count_io_running_write.store(0, Ordering::SeqCst);
    hammer_stats_disk_read.store(0, Ordering::SeqCst);
    hammer_stats_disk_write.store(0, Ordering::SeqCst);
    hammer_debug_io.store(0, Ordering::SeqCst);
    hammer_cluster_enable.store(1, Ordering::SeqCst);
    hammer_verify_data.store(1, Ordering::SeqCst);
    for c in [
        &HAMMER_COUNT_REFEDBUFS,
        &HAMMER_COUNT_BUFFERS,
        &HAMMER_COUNT_VOLUMES,
        &HAMMER_COUNT_NODES,
        &HAMMER_COUNT_INODES,
        &HAMMER_COUNT_RECORDS,
        &HAMMER_DEBUG_LOCKS,
        &HAMMER_VERIFY_ZONE,
    ] {
        c.store(0, Ordering::SeqCst);
    }
    for c in [
        &HAMMER_CONTENTION_COUNT,
        &HAMMER_STATS_UNDO,
        &HAMMER_STATS_COMMITS,
    ] {
        c.store(0, Ordering::SeqCst);
    }
}
