//! The HAMMER side of the hosted environment: every HAMMER symbol the I/O
//! layer imports (io-imports.txt), implemented with the semantics of the
//! real HAMMER files, plus the tools tests drive the I/O layer with.
//!
//! - [`lock`]: `struct hammer_lock` (hammer_subs.c);
//! - [`ondisk`]: volumes and buffers (hammer_ondisk.c), loading and
//!   releasing their buffer-cache buffers through the current [`IoImpl`];
//! - [`blockmap`] and [`undo`]: zone translation, the UNDO FIFO;
//! - [`objects`]: inodes with front-end vnodes, in-memory records and
//!   B-Tree nodes (hammer_inode.c, hammer_object.c, hammer_ondisk.c);
//! - [`mount`]: a [`Mount`] builder (volumes on hosted devices),
//!   `hammer_critical_error`, unmount-style teardown;
//! - [`flusher`]: the flusher's buffer ordering (hammer_flusher.c);
//! - [`ioimpl`]: [`IoImpl`], the table of the 37 exports of an
//!   implementation of hammer_io.c (the C reference or the Rust port) and
//!   the process-wide "current implementation" the neighbours call;
//! - [`globals`]: the counters and tunables shared with the I/O layer;
//! - [`invariants`]: checks of the I/O layer's invariants for tests.
//!
//! The neighbours call the I/O layer only through the current [`IoImpl`],
//! so the same workload runs against either implementation.

pub mod blockmap;
pub mod flusher;
pub mod globals;
pub mod invariants;
pub mod ioimpl;
pub mod kcall;
pub mod lock;
pub mod mount;
mod ntrace;
pub mod objects;
pub mod ondisk;
mod queue;
pub mod trees;
pub mod undo;

pub use ioimpl::IoImpl;
pub use mount::{BufRef, Mount, MountBuilder, Transaction, VolRef, Zone};

use std::boxed::Box;
use std::ffi::CString;
use std::format;

use crate::sys::ffi;

/// The calling thread's identity, as stored in lock owner fields
/// (`lowner`, `rowner`): one stable address per kernel thread of the
/// hosted machine, so pseudo threads the deterministic machine runs inline
/// on the test's OS thread count as different threads, as they should.
pub fn curthread() -> *mut ffi::thread {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static IDS: Mutex<Option<HashMap<u32, Box<u64>>>> = Mutex::new(None);
    let tid = crate::hosted::kern::current_thread_id();
    let mut ids = IDS.lock().unwrap_or_else(|e| e.into_inner());
    let slot = ids
        .get_or_insert_with(HashMap::new)
        .entry(tid)
        .or_insert_with(|| Box::new(tid as u64));
    (&**slot as *const u64).cast_mut().cast()
}

/// Panics the hosted kernel with `msg` (through its `panic`, so `panicstr`
/// gets set and the test unwinds as for any kernel panic).
pub fn kpanic(msg: &str) -> ! {
    let c = CString::new(msg.replace('\0', " ")).expect("no NUL left");
    // SAFETY: both strings are NUL-terminated and outlive the call; the
    // format consumes exactly one string argument.
    unsafe { ffi::panic(c"%s".as_ptr(), c.as_ptr()) }
}

/// Prints `msg` on the hosted console (`kprintf`).
pub fn kprint(msg: &str) {
    let c = CString::new(msg.replace('\0', " ")).expect("no NUL left");
    // SAFETY: as in `kpanic`.
    unsafe {
        ffi::kprintf(c"%s\n".as_ptr(), c.as_ptr());
    }
}

/// `KKASSERT`: panics the hosted kernel when `cond` is false.
#[track_caller]
pub fn kassert(cond: bool, what: &str) {
    if !cond {
        let at = core::panic::Location::caller();
        kpanic(&format!(
            "assertion \"{what}\" failed at {}:{}",
            at.file(),
            at.line()
        ));
    }
}

/// Offset encodings of hammer_disk.h (its function-like macros).
pub mod off {
    use crate::sys::ffi;

    /// `HAMMER_VOL_ENCODE`
    pub const fn vol_encode(vol_no: i32) -> u64 {
        ((vol_no as u64) & 255) << 52
    }

    /// `HAMMER_VOL_DECODE`
    pub const fn vol_decode(off: u64) -> i32 {
        ((off >> 52) & 255) as i32
    }

    /// `HAMMER_ZONE_DECODE`
    pub const fn zone_decode(off: u64) -> i32 {
        (off >> 60) as i32
    }

    /// `HAMMER_ZONE_ENCODE`
    pub const fn zone_encode(zone: i32, off: u64) -> u64 {
        ((zone as u64) << 60) | off
    }

    /// `HAMMER_ENCODE_RAW_VOLUME`
    pub const fn encode_raw_volume(vol_no: i32, offset: u64) -> u64 {
        ffi::HAMMER_ZONE_RAW_VOLUME | vol_encode(vol_no) | (offset & ffi::HAMMER_OFF_SHORT_MASK)
    }

    /// `HAMMER_ENCODE_RAW_BUFFER`
    pub const fn encode_raw_buffer(vol_no: i32, offset: u64) -> u64 {
        ffi::HAMMER_ZONE_RAW_BUFFER | vol_encode(vol_no) | (offset & ffi::HAMMER_OFF_SHORT_MASK)
    }

    /// `HAMMER_ENCODE_FREEMAP`
    pub const fn encode_freemap(vol_no: i32, offset: u64) -> u64 {
        ffi::HAMMER_ZONE_FREEMAP | vol_encode(vol_no) | (offset & ffi::HAMMER_OFF_SHORT_MASK)
    }

    /// `HAMMER_BUFSIZE` as a byte count.
    pub const BUFSIZE: u64 = ffi::HAMMER_BUFSIZE as u64;
    /// `HAMMER_BUFMASK64`
    pub const BUFMASK64: u64 = ffi::HAMMER_BUFMASK64;
    /// `HAMMER_LARGEBLOCK_SIZE64`
    pub const LARGEBLOCK_SIZE64: u64 = ffi::HAMMER_LARGEBLOCK_SIZE64;
    /// `HAMMER_LARGEBLOCK_MASK64`
    pub const LARGEBLOCK_MASK64: u64 = ffi::HAMMER_LARGEBLOCK_MASK64;
}

/// Compile-time checks that a hosted export has exactly the type of the
/// prototype bindgen read from the headers: both must coerce to one
/// function-pointer type (in the hosted build every bound function is
/// `extern "C-unwind"`, so that a kernel panic can unwind to the test
/// through C and Rust frames alike; the exports are declared the same way).
#[allow(dead_code)]
pub(crate) mod sig {
    pub fn same1<A, R>(
        _: unsafe extern "C-unwind" fn(A) -> R,
        _: unsafe extern "C-unwind" fn(A) -> R,
    ) {
    }
    pub fn same2<A, B, R>(
        _: unsafe extern "C-unwind" fn(A, B) -> R,
        _: unsafe extern "C-unwind" fn(A, B) -> R,
    ) {
    }
    pub fn same3<A, B, C, R>(
        _: unsafe extern "C-unwind" fn(A, B, C) -> R,
        _: unsafe extern "C-unwind" fn(A, B, C) -> R,
    ) {
    }
    pub fn same4<A, B, C, D, R>(
        _: unsafe extern "C-unwind" fn(A, B, C, D) -> R,
        _: unsafe extern "C-unwind" fn(A, B, C, D) -> R,
    ) {
    }
    pub fn same5<A, B, C, D, E, R>(
        _: unsafe extern "C-unwind" fn(A, B, C, D, E) -> R,
        _: unsafe extern "C-unwind" fn(A, B, C, D, E) -> R,
    ) {
    }
}
