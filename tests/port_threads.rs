//! The blocking paths of the write interlock and of `hammer_io_wait_all`,
//! which need a second kernel thread, on a threaded machine (the disk
//! thread runs, the buffer daemon and syncer do not), against both
//! implementations:
//!
//! - a modifier sleeps in `hammer_io_modify` while the flusher holds the
//!   write interlock, and proceeds after `hammer_io_done_interlock`;
//! - `hammer_io_write_interlock` sleeps until `modify_refs` drains;
//! - two `hammer_io_wait_all` waiters queue two placemarkers; the
//!   completion wakes the first, which wakes the second.
#![cfg(feature = "hosted")]

#[macro_use]
mod port_common;

use core::ptr::{addr_of_mut, null_mut};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use port_common::*;

fn threaded(seed: u64) -> kern::ExclusiveGuard {
    machine(Config {
        seed,
        buf_daemon: false,
        syncer: false,
        ..Config::default()
    })
}

/// Polls `cond` for up to 10 s.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "timed out waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Joins `h` within 10 s.
fn join(what: &str, h: std::thread::JoinHandle<()>) {
    wait_until(what, || h.is_finished());
    h.join()
        .unwrap_or_else(|_| panic!("{what}: the thread panicked"));
}

/// `(*io).modify_refs`, read while other threads may change it.
fn modify_refs(io: usize) -> i32 {
    // SAFETY: a live io; a racy read of an int is what the C code does
    // too, and a volatile read keeps it from being cached.
    unsafe { core::ptr::addr_of!((*(io as *mut ffi::hammer_io)).modify_refs).read_volatile() }
}

fn waitmod(io: usize) -> bool {
    // SAFETY: as above (bitfield read through the accessor).
    unsafe { (*(io as *mut ffi::hammer_io)).waitmod() != 0 }
}

both!(write_interlock_blocks_a_modifier, |imp| {
    let _g = threaded(131);
    let m = mount(imp, 1);
    let b = m.bread(m.offset(Zone::LargeData, 0, 1)).expect("bread");
    let io = b.io() as usize;
    let buffer = b.as_ptr() as usize;
    // SAFETY: referenced io.
    unsafe { (imp.write_interlock)(io as *mut ffi::hammer_io) };
    assert_eq!(modify_refs(io), -1);

    let proceeded = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicI32::new(i32::MIN));
    let (p2, s2) = (proceeded.clone(), seen.clone());
    let modifier = std::thread::spawn(move || {
        // SAFETY: the buffer stays referenced by the test until joined.
        unsafe {
            (imp.modify_buffer)(null_mut(), buffer as ffi::hammer_buffer_t, nullv(), 0);
            s2.store(modify_refs(io), Ordering::SeqCst);
            p2.store(true, Ordering::SeqCst);
            (imp.modify_buffer_done)(buffer as ffi::hammer_buffer_t);
        }
    });
    // It blocks in hammer_io_modify (waitmod is only set there).
    wait_until("the modifier sleeps", || waitmod(io));
    std::thread::sleep(Duration::from_millis(30));
    assert!(
        !proceeded.load(Ordering::SeqCst),
        "the modifier went through the interlock"
    );
    assert_eq!(modify_refs(io), -1);
    // SAFETY: as above.
    assert_eq!(unsafe { (*(io as *mut ffi::hammer_io)).modified() }, 0);

    // SAFETY: as above.
    unsafe { (imp.done_interlock)(io as *mut ffi::hammer_io) };
    join("the modifier finishes", modifier);
    assert!(proceeded.load(Ordering::SeqCst));
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "it took its modify ref after waking"
    );
    let s = io_snap(&m, io as *mut ffi::hammer_io);
    assert!(s.modified && s.modify_refs == 0 && !s.waitmod, "{s:?}");
    assert_eq!(s.root, Root::Data);
    m.rel_buffer(b);
    finish(m);
});

both!(write_interlock_waits_for_modifiers_to_drain, |imp| {
    let _g = threaded(132);
    let m = mount(imp, 1);
    let b = m.bread(m.offset(Zone::Meta, 0, 2)).expect("bread");
    let io = b.io() as usize;
    // Two modifications in progress.
    // SAFETY: referenced buffer.
    unsafe {
        (imp.modify_buffer)(null_mut(), b.as_ptr(), nullv(), 0);
        (imp.modify_buffer)(null_mut(), b.as_ptr(), nullv(), 0);
    }
    assert_eq!(modify_refs(io), 2);
    let got = Arc::new(AtomicBool::new(false));
    let g2 = got.clone();
    let flusher = std::thread::spawn(move || {
        // SAFETY: the io stays referenced by the test until joined.
        unsafe { (imp.write_interlock)(io as *mut ffi::hammer_io) };
        g2.store(true, Ordering::SeqCst);
    });
    wait_until("the interlock sleeps", || waitmod(io));
    // SAFETY: as above.
    unsafe { (imp.modify_buffer_done)(b.as_ptr()) };
    std::thread::sleep(Duration::from_millis(30));
    assert!(
        !got.load(Ordering::SeqCst),
        "one modification is still in progress"
    );
    assert_eq!(modify_refs(io), 1);
    // SAFETY: as above.
    unsafe { (imp.modify_buffer_done)(b.as_ptr()) };
    join("the interlock is granted", flusher);
    assert!(got.load(Ordering::SeqCst));
    assert_eq!(modify_refs(io), -1);
    assert!(!waitmod(io));
    // SAFETY: as above.
    unsafe { (imp.done_interlock)(io as *mut ffi::hammer_io) };
    assert_eq!(modify_refs(io), 0);
    m.rel_buffer(b);
    finish(m);
});

both!(wait_all_placemarkers_chain, |imp| {
    let _g = threaded(133);
    let m = mount(imp, 1);
    let vp = devvp(&m, 0);
    let off = m.offset(Zone::LargeData, 0, 3);
    let (_, dev_off) = m.locate(off);
    let b = m.bread(off).expect("bread");
    dirty(&m, &b, 3);
    let io = b.io();
    m.rel_buffer(b);
    // The kernel decides to write it: io running, on iorun_list. We hold
    // the buffer and play the device, so the write completes exactly when
    // the test says.
    let bp = grab(vp, dev_off as i64);
    assert_eq!(checkwrite(imp, bp), 0);
    let hmp = m.hmp() as usize;
    let tok = move || {
        // SAFETY: the live mount's io_token.
        unsafe { addr_of_mut!((*(hmp as ffi::hammer_mount_t)).io_token) }
    };
    let list = |m: &Mount| {
        kern::gettoken(tok());
        let v = iorun(m);
        kern::reltoken(tok());
        v
    };
    let dummies = |v: &[*mut ffi::hammer_io]| -> Vec<usize> {
        v.iter()
            .copied()
            // SAFETY: list members are live (we hold io_token while reading).
            .filter(|&p| unsafe { (*p).type_ } == ffi::HAMMER_STRUCTURE_DUMMY)
            .map(|p| p as usize)
            .collect()
    };
    let done = [
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    ];
    let mut waiters = Vec::new();
    for (i, d) in done.iter().enumerate() {
        let d = d.clone();
        waiters.push(std::thread::spawn(move || {
            // SAFETY: the mount outlives the joined thread.
            unsafe { (imp.wait_all)(hmp as ffi::hammer_mount_t, c"tstwal".as_ptr(), 0) };
            d.store(true, Ordering::SeqCst);
        }));
        // Let each placemarker be queued before the next waiter comes.
        wait_until("the waiter queues its placemarker", || {
            dummies(&list(&m)).len() == i + 1
        });
    }
    let l = list(&m);
    assert_eq!(l.len(), 3, "io, placemarker 1, placemarker 2");
    assert_eq!(l[0], io);
    std::thread::sleep(Duration::from_millis(30));
    assert!(done.iter().all(|d| !d.load(Ordering::SeqCst)), "both wait");

    // The write completes: the first placemarker is woken, removes itself
    // and wakes the second, which is now at the head.
    // SAFETY: the buffer is ours (locked).
    unsafe { k::bundirty(bp) };
    complete(imp, bp);
    for (i, w) in waiters.into_iter().enumerate() {
        join(&format!("waiter {i} returns"), w);
    }
    assert!(list(&m).is_empty());
    let s = io_snap(&m, io);
    assert!(!s.running && !s.on_iorun, "{s:?}");
    bqrelse(bp);
    finish(m);
});
