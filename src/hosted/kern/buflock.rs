//! The buffer lock (`bp->b_lock`): an exclusive lockmgr lock whose owner is
//! a thread or, after BUF_KERNPROC() / lockmgr_kernproc(), the pseudo owner
//! "kernel", which any thread may release (typically I/O completion). The
//! thread that handed a lock to the kernel cannot lock it again
//! recursively: it waits like everybody else. Waiting releases the
//! waiter's LWKT tokens.

use std::format;
use std::prelude::rust_2021::*;

use core::ffi::{c_int, c_uint};
use core::mem::offset_of;

use crate::sys::ffi;

use super::bp::Bp;
use super::machine::{block, lock, me, Guard, Kern, CV};
use super::misc::kpanic;
use super::trace;

/// Who owns a buffer lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockOwner {
    Unlocked,
    /// A kernel thread (ids as in [`super::current_thread_id`]).
    Thread(u32),
    /// Handed to the kernel (BUF_KERNPROC): any thread may release it.
    Kernel,
}

pub(crate) const EBUSY: i32 = 16;
pub(crate) const ENOLCK: i32 = 77;
pub(crate) const LK_KERNTHREAD: isize = -2;
pub(crate) const LK_NOTHREAD: isize = -1;
const LK_TYPE_MASK: u32 = 0xf;
const LK_EXCLUSIVE: u32 = 0x2;
const LK_RELEASE: u32 = 0x6;
const LK_NOWAIT: u32 = 0x10;
const LK_TIMELOCK: u32 = 0x0200_0000;

fn mirror(g: &Kern, idx: usize) {
    let r = &g.bufs[idx];
    let holder = match r.owner {
        LockOwner::Unlocked => LK_NOTHREAD as *mut ffi::thread,
        LockOwner::Kernel => LK_KERNTHREAD as *mut ffi::thread,
        LockOwner::Thread(t) => (&*g.threads[t as usize].tptr as *const u64)
            .cast_mut()
            .cast::<ffi::thread>(),
    };
    let count = (r.owner != LockOwner::Unlocked) as i32;
    r.bp.mirror_lock(count, holder);
}

/// Non-blocking exclusive lock (LK_NOWAIT): EBUSY if held by anyone,
/// including the caller.
pub(crate) fn try_lock(g: &mut Kern, me: u32, idx: usize) -> Result<(), i32> {
    if g.bufs[idx].owner == LockOwner::Unlocked {
        g.bufs[idx].owner = LockOwner::Thread(me);
        mirror(g, idx);
        Ok(())
    } else {
        Err(EBUSY)
    }
}

/// Blocking exclusive lock. With `sleepfail` a lock that had to wait
/// returns ENOLCK after waking up (LK_SLEEPFAIL) instead of taking the
/// lock; `timo` (ticks, 0 = forever) bounds the wait (EWOULDBLOCK).
pub(crate) fn lock_buf(
    mut g: Guard,
    me: u32,
    idx: usize,
    sleepfail: bool,
    timo: i32,
) -> (Guard, i32) {
    loop {
        match g.bufs[idx].owner {
            LockOwner::Unlocked => {
                g.bufs[idx].owner = LockOwner::Thread(me);
                mirror(&g, idx);
                return (g, 0);
            }
            LockOwner::Thread(t) if t == me => {
                let name = g.thread_name(me).to_string();
                drop(g);
                kpanic(format!(
                    "lockmgr: locking against myself (thread {name}, buffer lock)"
                ));
            }
            _ => {}
        }
        g.st.buflock_waits += 1;
        let (g2, timed_out) = block(g, me, "buffer lock", timo, false, move |k| {
            k.bufs[idx].owner == LockOwner::Unlocked
        });
        g = g2;
        if timed_out {
            return (g, super::sleep::EWOULDBLOCK);
        }
        if sleepfail {
            return (g, ENOLCK);
        }
    }
}

/// BUF_UNLOCK(): the owner (or anybody, for a kernel-owned lock) releases.
pub(crate) fn unlock(g: &mut Kern, me: u32, idx: usize) {
    match g.bufs[idx].owner {
        LockOwner::Kernel => {}
        LockOwner::Thread(t) if t == me => {}
        LockOwner::Thread(t) => {
            let msg = format!(
                "lockmgr: thread {} unlocking a buffer lock held exclusively by thread {}",
                g.thread_name(me),
                g.thread_name(t)
            );
            kpanic(msg);
        }
        LockOwner::Unlocked => kpanic("lockmgr: releasing an unlocked buffer lock".to_string()),
    }
    g.bufs[idx].owner = LockOwner::Unlocked;
    mirror(g, idx);
    CV.notify_all();
}

/// BUF_KERNPROC(): hand the lock to the kernel.
pub(crate) fn kernproc(g: &mut Kern, me: u32, idx: usize) {
    match g.bufs[idx].owner {
        LockOwner::Kernel => {}
        LockOwner::Thread(t) if t == me => {
            g.bufs[idx].owner = LockOwner::Kernel;
            mirror(g, idx);
        }
        other => kpanic(format!(
            "lockmgr_kernproc: lock not owned by curthread ({:?})",
            other
        )),
    }
}

/// BUF_REFCNT().
pub(crate) fn count(g: &Kern, idx: usize) -> i32 {
    (g.bufs[idx].owner != LockOwner::Unlocked) as i32
}

/// The buffer whose b_lock is at `lkp`.
fn buf_of_lock(g: &Kern, lkp: *mut ffi::lock) -> usize {
    let bp = (lkp as usize).wrapping_sub(offset_of!(ffi::buf, b_lock)) as *mut ffi::buf;
    super::bufcache::check(g, bp)
}

/// lockmgr_kernproc(): hand an exclusively held lock over to the kernel.
///
/// # Safety
/// `lkp` must be the b_lock of a buffer of this machine.
#[no_mangle]
pub unsafe extern "C-unwind" fn lockmgr_kernproc(lkp: *mut ffi::lock) {
    let mut g = lock();
    let idx = buf_of_lock(&g, lkp);
    trace::buf_call_locked(&g, "lockmgr_kernproc", Bp(g.bufs[idx].bp.0), &[]);
    let me = me(&mut g);
    kernproc(&mut g, me, idx);
}

/// lockmgr() on a buffer lock: LK_EXCLUSIVE (optionally LK_NOWAIT /
/// LK_TIMELOCK) and LK_RELEASE.
///
/// # Safety
/// `lkp` must be the b_lock of a buffer of this machine.
#[no_mangle]
pub unsafe extern "C-unwind" fn lockmgr(lkp: *mut ffi::lock, flags: c_uint) -> c_int {
    let mut g = lock();
    let idx = buf_of_lock(&g, lkp);
    let me = me(&mut g);
    match flags & LK_TYPE_MASK {
        LK_EXCLUSIVE => {
            if flags & LK_NOWAIT != 0 {
                match try_lock(&mut g, me, idx) {
                    Ok(()) => 0,
                    Err(e) => e,
                }
            } else {
                let timo = if flags & LK_TIMELOCK != 0 {
                    // SAFETY: lkp is a live buffer lock (checked above).
                    unsafe { core::ptr::addr_of!((*lkp).lk_timo).read_volatile() }
                } else {
                    0
                };
                lock_buf(g, me, idx, false, timo).1
            }
        }
        LK_RELEASE => {
            unlock(&mut g, me, idx);
            0
        }
        other => {
            drop(g);
            kpanic(format!(
                "hosted lockmgr: unsupported request {other:#x} on a buffer lock"
            ))
        }
    }
}

/// lockcount(): number of holds on the lock (0 or 1, exclusive only).
///
/// # Safety
/// `lkp` must be the b_lock of a buffer of this machine.
#[no_mangle]
pub unsafe extern "C-unwind" fn lockcount(lkp: *mut ffi::lock) -> c_int {
    let g = lock();
    let idx = buf_of_lock(&g, lkp);
    count(&g, idx)
}

/// lockcountnb(): as lockcount().
///
/// # Safety
/// `lkp` must be the b_lock of a buffer of this machine.
#[no_mangle]
pub unsafe extern "C-unwind" fn lockcountnb(lkp: *mut ffi::lock) -> c_int {
    // SAFETY: same contract.
    unsafe { lockcount(lkp) }
}
