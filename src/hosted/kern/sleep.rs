//! tsleep / tsleep_interlock / wakeup.
//!
//! Every thread has one sleep-queue slot (TDF_TSLEEPQ plus a wait channel).
//! tsleep_interlock() puts the thread on the queue for an ident early;
//! wakeup() takes every queued thread off the queue for that ident. A
//! later tsleep(PINTERLOCKED) finds itself already off the queue if a
//! wakeup happened in between and returns at once, so no wakeup is lost.
//! A timeout (in ticks of `hz`) ends the sleep with EWOULDBLOCK. Sleeping
//! releases the thread's LWKT tokens (see `token`).

use std::format;
use std::prelude::rust_2021::*;

use core::ffi::{c_char, c_int, c_void};
use std::ffi::CStr;

use super::machine::{block, lock, lock_raw, me, Guard, Kern, CV};
use super::misc;
use super::trace;

pub(crate) const PINTERLOCKED: i32 = 0x400;
pub(crate) const EWOULDBLOCK: i32 = 35;

/// Put `me` on the sleep queue for `ident` (replacing any earlier ident).
pub(crate) fn interlock(g: &mut Kern, me: u32, ident: usize) {
    let t = &mut g.threads[me as usize];
    t.tsleepq = true;
    t.wchan = ident;
}

/// Wake every thread queued on `ident`.
pub(crate) fn wakeup_locked(g: &mut Kern, ident: usize) {
    let mut any = false;
    for t in g.threads.iter_mut() {
        if t.tsleepq && t.wchan == ident {
            t.tsleepq = false;
            any = true;
        }
    }
    g.st.wakeups += 1;
    if any {
        CV.notify_all();
    }
}

/// Wake one thread queued on `ident` (the first registered).
pub(crate) fn wakeup_one_locked(g: &mut Kern, ident: usize) {
    if let Some(t) = g.threads.iter_mut().find(|t| t.tsleepq && t.wchan == ident) {
        t.tsleepq = false;
        CV.notify_all();
    }
}

/// The body of tsleep() for thread `me`; returns 0, or EWOULDBLOCK on
/// timeout.
pub(crate) fn sleep(
    mut g: Guard,
    me: u32,
    ident: usize,
    flags: i32,
    wmesg: &str,
    timo: i32,
) -> (Guard, i32) {
    if let Some((msg, ptid)) = misc::panic_info() {
        // After a panic tsleep returns at once. A test thread that sleeps
        // while another thread panicked would never be woken: report it.
        let daemon = g.threads[me as usize].daemon;
        if !daemon && ptid != Some((g.gen, me)) {
            drop(g);
            std::panic!("kernel panic on another thread: {msg}");
        }
        if !g.cfg.deterministic {
            drop(g);
            std::thread::sleep(std::time::Duration::from_millis(1));
            g = lock_raw();
        }
        return (g, 0);
    }
    if flags & PINTERLOCKED == 0 {
        interlock(&mut g, me, ident);
    }
    if !g.threads[me as usize].tsleepq {
        // A wakeup already came in after the interlock.
        return (g, 0);
    }
    g.st.tsleeps += 1;
    let daemon_helps = ident == super::bufcache::needsbuffer_ident();
    let what = format!("tsleep \"{wmesg}\"");
    let (mut g, timed_out) = block(g, me, &what, timo, daemon_helps, move |k| {
        !k.threads[me as usize].tsleepq
    });
    let t = &mut g.threads[me as usize];
    let was_queued = t.tsleepq;
    t.tsleepq = false;
    t.wchan = 0;
    let err = if timed_out && was_queued {
        EWOULDBLOCK
    } else {
        0
    };
    (g, err)
}

/// tsleep() for the calling thread.
pub(crate) fn tsleep_current(ident: usize, flags: i32, wmesg: &str, timo: i32) -> i32 {
    let mut g = lock();
    let me = me(&mut g);
    sleep(g, me, ident, flags, wmesg, timo).1
}

pub(crate) fn interlock_current(ident: usize) {
    let mut g = lock();
    let me = me(&mut g);
    interlock(&mut g, me, ident);
}

pub(crate) fn wakeup_current(ident: usize) {
    let mut g = lock();
    wakeup_locked(&mut g, ident);
}

fn wmesg_str(p: *const c_char) -> String {
    if p.is_null() {
        return String::from("?");
    }
    // SAFETY: tsleep's wmesg is a NUL-terminated C string.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// tsleep(): sleep on `ident` until woken, or for at most `timo` ticks.
///
/// # Safety
/// `wmesg` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C-unwind" fn tsleep(
    ident: *const c_void,
    flags: c_int,
    wmesg: *const c_char,
    timo: c_int,
) -> c_int {
    trace::obj_call_args("tsleep", ident as usize, &[flags as i64, timo as i64]);
    let w = wmesg_str(wmesg);
    let r = tsleep_current(ident as usize, flags, &w, timo);
    trace::obj_ret("tsleep", ident as usize, r as i64);
    r
}

/// tsleep_interlock(): queue the caller on `ident` ahead of tsleep().
///
/// # Safety
/// None beyond passing an address used as a wait channel.
#[no_mangle]
pub unsafe extern "C-unwind" fn tsleep_interlock(ident: *const c_void, _flags: c_int) {
    trace::obj_call("tsleep_interlock", ident as usize);
    interlock_current(ident as usize);
}

/// wakeup(): wake every thread sleeping (or interlocked) on `ident`.
///
/// # Safety
/// None beyond passing an address used as a wait channel.
#[no_mangle]
pub unsafe extern "C-unwind" fn wakeup(ident: *const c_void) {
    trace::obj_call("wakeup", ident as usize);
    wakeup_current(ident as usize);
}

/// wakeup_one(): wake one thread sleeping on `ident`.
///
/// # Safety
/// None beyond passing an address used as a wait channel.
#[no_mangle]
pub unsafe extern "C-unwind" fn wakeup_one(ident: *const c_void) {
    trace::obj_call("wakeup_one", ident as usize);
    let mut g = lock();
    wakeup_one_locked(&mut g, ident as usize);
}
