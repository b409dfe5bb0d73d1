//! Calls from the kernel model into filesystem code: the per-buffer bioops
//! (`bp->b_ops`) wrappers of buf2.h and bio_done callbacks.
//!
//! The C function-pointer types are declared "C"; the targets may panic
//! (HAMMER's KKASSERT -> panic() unwinds in the hosted build), so they are
//! called through the equivalent "C-unwind" type. No environment lock is
//! held across any of these calls.

use std::prelude::rust_2021::*;

use crate::sys::ffi;

use super::bp::{BioP, Bp};
use super::machine::lock;
use super::misc::kpanic;
use super::trace;

type BioFn = unsafe extern "C-unwind" fn(*mut ffi::bio);

fn ops(bp: Bp) -> Option<ffi::bio_ops> {
    let p = bp.ops();
    if p.is_null() {
        None
    } else {
        // SAFETY: b_ops points to the filesystem's static bio_ops table.
        Some(unsafe { core::ptr::read(p) })
    }
}

/// buf_deallocate(): ask the filesystem to let go of a passively
/// associated buffer (it may set B_LOCKED instead).
pub(crate) fn buf_deallocate(bp: Bp) {
    if !bp.has_deps() {
        kpanic("assertion \"!LIST_EMPTY(&bp->b_dep)\" failed in buf_deallocate".to_string());
    }
    if let Some(f) = ops(bp).and_then(|o| o.io_deallocate) {
        lock().st.io_deallocate += 1;
        trace::callback("io_deallocate", bp, &[]);
        // SAFETY: calling the filesystem's callback with its buffer.
        trace::fs_entry(|| unsafe { f(bp.0) });
    }
}

/// buf_start(): tell the filesystem a write is being issued.
pub(crate) fn buf_start(bp: Bp) {
    if let Some(f) = ops(bp).and_then(|o| o.io_start) {
        lock().st.io_start += 1;
        trace::callback("io_start", bp, &[]);
        // SAFETY: as above.
        trace::fs_entry(|| unsafe { f(bp.0) });
    }
}

/// buf_complete(): I/O on the buffer finished.
pub(crate) fn buf_complete(bp: Bp) {
    if let Some(f) = ops(bp).and_then(|o| o.io_complete) {
        lock().st.io_complete += 1;
        trace::callback("io_complete", bp, &[]);
        // SAFETY: as above.
        trace::fs_entry(|| unsafe { f(bp.0) });
    }
}

/// buf_checkwrite(): may the kernel write this dirty buffer? (0 = yes)
pub(crate) fn buf_checkwrite(bp: Bp) -> i32 {
    match ops(bp).and_then(|o| o.io_checkwrite) {
        Some(f) => {
            lock().st.io_checkwrite += 1;
            trace::callback("io_checkwrite", bp, &[]);
            // SAFETY: calling the filesystem's callback with its buffer.
            let r = trace::fs_entry(|| unsafe { f(bp.0) });
            if r != 0 {
                lock().st.io_checkwrite_vetoes += 1;
            }
            trace::buf_ret("io_checkwrite", bp, r as i64);
            r
        }
        None => 0,
    }
}

/// buf_checkread(): may the kernel read-ahead into this buffer? (0 = yes)
pub(crate) fn buf_checkread(bp: Bp) -> i32 {
    match ops(bp).and_then(|o| o.io_checkread) {
        Some(f) => {
            lock().st.io_checkread += 1;
            trace::callback("io_checkread", bp, &[]);
            // SAFETY: calling the filesystem's callback with its buffer.
            let r = trace::fs_entry(|| unsafe { f(bp.0) });
            trace::buf_ret("io_checkread", bp, r as i64);
            r
        }
        None => 0,
    }
}

/// buf_countdeps(): should the write be deferred? (non-zero = yes)
pub(crate) fn buf_countdeps(bp: Bp, n: i32) -> i32 {
    match ops(bp).and_then(|o| o.io_countdeps) {
        Some(f) => {
            lock().st.io_countdeps += 1;
            trace::callback("io_countdeps", bp, &[n as i64]);
            // SAFETY: calling the filesystem's callback with its buffer.
            let r = trace::fs_entry(|| unsafe { f(bp.0, n) });
            trace::buf_ret("io_countdeps", bp, r as i64);
            r
        }
        None => 0,
    }
}

/// Call a bio_done callback.
pub(crate) fn call_biodone(f: BioFn, bio: BioP) {
    trace::bio_event(
        "bio_done",
        trace::Kind::Callback,
        bio.0,
        &[f as usize as i64],
    );
    // SAFETY: the callback was registered for this bio.
    trace::fs_entry(|| unsafe { f(bio.0) });
}

/// A Rust bio_done callback, in the C pointer type b_bio*.bio_done has.
pub(crate) fn biodone_fn(f: unsafe extern "C-unwind" fn(*mut ffi::bio)) -> ffi::biodone_t {
    Some(f)
}
