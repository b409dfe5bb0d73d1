//! `hammer_bioops`: the kernel's callbacks into the I/O layer, driven by
//! the hosted kernel (buffer daemon, recycling, brelse, I/O completion)
//! and called directly on locked buffers, on both implementations.
//!
//! - `io_checkwrite`: DATA and UNDO approved (io running, on iorun_list,
//!   `modified` cleared unless `modify_refs`), interlock failure pins the
//!   buffer (B_LOCKED, answer 1), VOLUME and META panic the kernel, or
//!   are pinned when it is already panicking;
//! - `io_deallocate`: refused for a referenced/interlocked or a modified
//!   io (B_LOCKED), else disassociation and `lose_root` (not volumes);
//! - `io_complete`: writes with and without B_ERROR per io type, reads,
//!   B_LOCKED, waiters and `hammer_io_wait_all` placemarkers;
//! - the callbacks that do nothing.
#![cfg(feature = "hosted")]

#[macro_use]
mod port_common;

use core::ptr::addr_of_mut;
use core::sync::atomic::Ordering;
use port_common::*;

fn locked_count() -> i32 {
    globals::counters().io_locked
}

/// A modified, bdwrite'n (released) buffer at `off` without references.
fn dirty_released(m: &Mount, off: u64, seed: u8) -> *mut ffi::hammer_io {
    let b = m.bread(off).expect("bread");
    dirty(m, &b, seed);
    let io = b.io();
    m.rel_buffer(b);
    let s = io_snap(m, io);
    assert!(s.modified && s.released && s.refs == 0, "{s:?}");
    io
}

// ---------------------------------------------------------------------
// io_checkwrite
// ---------------------------------------------------------------------

both!(checkwrite_approves_data_and_undo, |imp| {
    let _g = det(21);
    let m = mount(imp, 1);
    for (z, root) in [(Zone::LargeData, Root::Data), (Zone::Undo, Root::Undo)] {
        let off = m.offset(z, 0, 5);
        let (vol, dev_off) = m.locate(off);
        let io = dirty_released(&m, off, 7);
        let bp = bp_of(io);
        assert_eq!(io_snap(&m, io).root, root);
        let data = bdata(bp)[..64].to_vec();
        let c0 = globals::counters();
        let k0 = kern::counters();
        kern::buf_daemon_flush(usize::MAX);
        let k1 = kern::counters();
        assert_eq!(k1.io_checkwrite, k0.io_checkwrite + 1, "{z:?}: asked once");
        assert_eq!(k1.io_checkwrite_vetoes, k0.io_checkwrite_vetoes, "{z:?}");
        let s = io_snap(&m, io);
        assert!(s.running && s.on_iorun && !s.modified, "{z:?}: {s:?}");
        assert_eq!(s.root, Root::None, "{z:?}: off its mod tree");
        assert_eq!(s.refs, 0);
        // SAFETY: live io.
        assert_eq!(
            unsafe { lock::refs_word(addr_of_mut!((*io).lock)) },
            0,
            "{z:?}: interlock released"
        );
        assert_eq!(io_running_space(&m), bytes_of(io));
        let c1 = globals::counters();
        assert_eq!(c1.io_running_write, c0.io_running_write + bytes_of(io));
        assert_eq!(
            c1.dirtybufspace, c0.dirtybufspace,
            "{z:?}: not locked space"
        );
        assert_eq!(owner(bp), LockOwner::Kernel, "{z:?}: the write owns it");
        assert!(kern::pending_io() > 0);

        kern::run_pending_io();
        let s = io_snap(&m, io);
        assert!(
            !s.running && !s.on_iorun && s.has_bp && s.released,
            "{z:?}: {s:?}"
        );
        let c2 = globals::counters();
        assert_eq!(c2.io_running_write, c0.io_running_write);
        assert_eq!(c2.disk_write, c0.disk_write + bytes_of(io), "{z:?}: stats");
        assert_eq!(io_running_space(&m), 0);
        assert_eq!(
            m.devices()[vol as usize].read_current(dev_off, 64),
            data,
            "{z:?}: on the device"
        );
        let bs = bsnap(bp);
        assert_eq!(bs.flags & (ffi::B_DELWRI | ffi::B_LOCKED), 0);
        assert_eq!(bs.queue, Queue::Clean);
    }
    finish(m);
});

both!(checkwrite_keeps_modified_while_modify_refs, |imp| {
    let _g = det(22);
    let m = mount(imp, 1);
    let off = m.offset(Zone::LargeData, 0, 6);
    let b = m.bread(off).expect("bread");
    let buffer = b.as_ptr();
    let io = b.io();
    // A modification in progress (modify_refs 1) when the last reference
    // goes: the data buffer is bdwrite'n anyway.
    // SAFETY: the buffer is referenced.
    unsafe { (imp.modify_buffer)(core::ptr::null_mut(), buffer, nullv(), 0) };
    m.rel_buffer(b);
    let s = io_snap(&m, io);
    assert!(s.modified && s.released && s.modify_refs == 1 && s.refs == 0);
    kern::buf_daemon_flush(usize::MAX);
    let s = io_snap(&m, io);
    assert!(s.running && s.on_iorun, "approved: {s:?}");
    assert!(s.modified, "modified kept while modify_refs != 0");
    assert_eq!(s.root, Root::Data);
    kern::run_pending_io();
    let b = m.bread(off).expect("again");
    // SAFETY: as above.
    unsafe { (imp.modify_buffer_done)(buffer) };
    let s = io_snap(&m, io);
    assert!(s.modified && s.modify_refs == 0 && !s.running);
    m.rel_buffer(b);
    finish(m);
});

both!(checkwrite_modify_refs_on_undo_asserts, |imp| {
    let _g = det(23);
    let m = mount(imp, 1);
    let off = m.offset(Zone::Undo, 0, 7);
    let (_, dev_off) = m.locate(off);
    let b = m.bread(off).expect("bread");
    let buffer = b.as_ptr();
    let io = b.io();
    // SAFETY: referenced.
    unsafe { (imp.modify_buffer)(core::ptr::null_mut(), buffer, nullv(), 0) };
    m.rel_buffer(b);
    let bp = grab(devvp(&m, 0), dev_off as i64);
    // Only DATA buffers may be written with modifications in progress.
    expect_kernel_panic("assertion", || checkwrite(imp, bp));
    let s = io_snap(&m, io);
    assert!(!s.running && s.modified, "{s:?}");
    // The panic left the interlock taken; give it back and tidy up.
    // SAFETY: the interlock is held (by the aborted callback).
    unsafe {
        let lk = addr_of_mut!((*io).lock);
        assert_eq!(lock::refs_word(lk), lock::REFS_LOCKED);
        lock::hammer_put_interlock(lk, 0);
    }
    bqrelse(bp);
    let b = m.bread(off).expect("again");
    // SAFETY: referenced.
    unsafe { (imp.modify_buffer_done)(buffer) };
    m.rel_buffer(b);
    finish(m);
});

both!(checkwrite_interlock_failure_pins_the_buffer, |imp| {
    let _g = det(24);
    let m = mount(imp, 1);
    // Referenced by HAMMER while the kernel wants to write it.
    let off = m.offset(Zone::LargeData, 0, 8);
    let io = dirty_released(&m, off, 8);
    let bp = bp_of(io);
    let b = m.bread(off).expect("again");
    let before = io_snap(&m, io);
    let k0 = kern::counters();
    kern::buf_daemon_flush(usize::MAX);
    let k1 = kern::counters();
    assert_eq!(k1.io_checkwrite, k0.io_checkwrite + 1);
    assert_eq!(
        k1.io_checkwrite_vetoes,
        k0.io_checkwrite_vetoes + 1,
        "answered 1"
    );
    assert_eq!(io_snap(&m, io), before, "the io is untouched");
    let bs = bsnap(bp);
    assert!(bs.flags & ffi::B_LOCKED != 0);
    assert!(bs.flags & ffi::B_DELWRI != 0, "still dirty");
    assert_eq!(bs.queue, Queue::Locked);
    assert_eq!(locked_count(), 1);
    assert_eq!(kern::pending_io(), 0, "nothing written");
    // The release sees B_LOCKED and flushes it (port_release covers it).
    m.rel_buffer(b);

    // Interlocked by someone else (no reference): refused the same way.
    let off = m.offset(Zone::LargeData, 0, 9);
    let (_, dev_off) = m.locate(off);
    let io = dirty_released(&m, off, 9);
    let bp = grab(devvp(&m, 0), dev_off as i64);
    // SAFETY: live io; we take and give back its interlock.
    unsafe {
        let lk = addr_of_mut!((*io).lock);
        assert_eq!(lock::hammer_try_interlock_norefs(lk), 1);
        let before = io_snap(&m, io);
        let n = locked_count();
        assert_eq!(checkwrite(imp, bp), 1);
        assert_eq!(io_snap(&m, io), before);
        assert!(bflag(bp, ffi::B_LOCKED));
        assert_eq!(locked_count(), n + 1);
        assert_eq!(
            lock::refs_word(lk),
            lock::REFS_LOCKED,
            "not ours to release"
        );
        lock::hammer_put_interlock(lk, 0);
    }
    brelse(bp);
    assert_eq!(bsnap(bp).queue, Queue::Locked);
    finish(m);
});

both!(checkwrite_volume_and_meta_panic, |imp| {
    let _g = det(25);
    let m = mount(imp, 1);
    let vp = devvp(&m, 0);
    let meta = m.offset(Zone::Meta, 0, 1);
    let (_, meta_dev) = m.locate(meta);
    let b = m.bread(meta).expect("meta");
    m.rel_buffer(b);
    // The volume header (device offset 0) and a meta-data buffer, both
    // passively associated.
    for (what, dev_off) in [("volume", 0i64), ("meta", meta_dev as i64)] {
        let bp = grab(vp, dev_off);
        let io = bsnap(bp).dep_first.cast::<ffi::hammer_io>();
        assert!(!io.is_null(), "{what}");
        let before = io_snap(&m, io);
        let n = locked_count();
        catch_kernel_panic("hammer_io_checkwrite: illegal buffer", || {
            checkwrite(imp, bp)
        });
        assert!(kern::panic_message().is_some(), "{what}: panicstr set");
        assert_eq!(io_snap(&m, io), before, "{what}");
        assert!(!bflag(bp, ffi::B_LOCKED), "{what}: panicked before pinning");
        assert_eq!(locked_count(), n);
        // With the system already panicking the buffer is pinned instead,
        // once.
        assert_eq!(checkwrite(imp, bp), 1, "{what}");
        assert!(bflag(bp, ffi::B_LOCKED), "{what}");
        assert_eq!(locked_count(), n + 1);
        assert_eq!(checkwrite(imp, bp), 1, "{what}");
        assert_eq!(locked_count(), n + 1, "{what}: B_LOCKED counted once");
        assert_eq!(io_snap(&m, io), before, "{what}");
        kern::reset_after_panic();
        bqrelse(bp);
        assert_eq!(bsnap(bp).queue, Queue::Locked);
    }
    // The same through panicstr set by hand.
    let b = m.bread(m.offset(Zone::Btree, 0, 2)).expect("btree");
    let bp = bp_of(b.io());
    m.rel_buffer(b);
    relock(bp);
    set_panicstr(true);
    let n = locked_count();
    let r = checkwrite(imp, bp);
    set_panicstr(false);
    assert_eq!(r, 1);
    assert_eq!(locked_count(), n + 1);
    bqrelse(bp);
    // Unload disassociates the pinned buffers, balancing the counter.
    finish(m);
});

// ---------------------------------------------------------------------
// io_deallocate
// ---------------------------------------------------------------------

both!(deallocate_refused_while_referenced_or_interlocked, |imp| {
    let _g = det(31);
    let m = mount(imp, 1);
    let off = m.offset(Zone::LargeData, 0, 1);
    let b = m.bread(off).expect("bread");
    let io = b.io();
    let bp = bp_of(io);
    m.rel_buffer(b);
    let b = m.bread(off).expect("referenced again");
    let before = io_snap(&m, io);
    let d0 = kern::counters().io_deallocate;
    let n = locked_count();
    // getnewbuf recycling.
    kern::recycle(usize::MAX);
    assert!(kern::counters().io_deallocate > d0);
    assert_eq!(io_snap(&m, io), before, "still associated");
    let bs = bsnap(bp);
    assert!(bs.flags & ffi::B_LOCKED != 0);
    assert_eq!(bs.queue, Queue::Locked);
    assert_eq!(bs.dep_first as usize, io as usize);
    assert!(locked_count() > n);
    m.rel_buffer(b);
    assert!(io_snap(&m, io).root == Root::None);

    // Interlocked (e.g. by a release in progress), called directly.
    let off = m.offset(Zone::LargeData, 0, 2);
    let (_, dev_off) = m.locate(off);
    let b = m.bread(off).expect("bread");
    let io = b.io();
    m.rel_buffer(b);
    let bp = grab(devvp(&m, 0), dev_off as i64);
    // SAFETY: live io.
    unsafe {
        let lk = addr_of_mut!((*io).lock);
        assert_eq!(lock::hammer_try_interlock_norefs(lk), 1);
        let before = io_snap(&m, io);
        let n = locked_count();
        deallocate(imp, bp);
        assert_eq!(io_snap(&m, io), before);
        assert!(bflag(bp, ffi::B_LOCKED));
        assert_eq!(locked_count(), n + 1);
        assert_eq!(lock::refs_word(lk), lock::REFS_LOCKED);
        lock::hammer_put_interlock(lk, 0);
    }
    bqrelse(bp);
    finish(m);
});

both!(deallocate_refused_when_modified, |imp| {
    let _g = det(32);
    let m = mount(imp, 1);
    let off = m.offset(Zone::LargeData, 0, 3);
    let (_, dev_off) = m.locate(off);
    let io = dirty_released(&m, off, 3);
    let bp = grab(devvp(&m, 0), dev_off as i64);
    let before = io_snap(&m, io);
    let n = locked_count();
    deallocate(imp, bp);
    assert_eq!(io_snap(&m, io), before, "modified io kept");
    assert!(bflag(bp, ffi::B_LOCKED));
    assert_eq!(locked_count(), n + 1);
    // SAFETY: live io.
    assert_eq!(
        unsafe { lock::refs_word(addr_of_mut!((*io).lock)) },
        0,
        "interlock given back"
    );
    bqrelse(bp);
    assert_eq!(bsnap(bp).queue, Queue::Locked);
    // The flusher writes it at unmount; completion then deallocates it.
    finish(m);
});

both!(deallocate_disassociates_onto_lose_root, |imp| {
    let _g = det(33);
    let m = mount(imp, 2);
    let vp = devvp(&m, 0);
    let offs: Vec<u64> = [Zone::LargeData, Zone::Meta, Zone::Undo]
        .iter()
        .map(|&z| m.offset(z, 0, 11))
        .collect();
    let mut ios = Vec::new();
    for &off in &offs {
        let b = m.bread(off).expect("bread");
        ios.push(b.io());
        m.rel_buffer(b);
    }
    // Volume 1, loaded and passively released, referenced by nothing.
    let v = m.get_volume(1).expect("volume 1");
    let vio = v.as_ptr().cast::<ffi::hammer_io>();
    m.rel_volume(v);
    assert!(io_snap(&m, vio).has_bp);
    let n = locked_count();

    kern::recycle(usize::MAX);
    for (&off, &io) in offs.iter().zip(&ios) {
        let s = io_snap(&m, io);
        assert!(!s.has_bp && s.released && !s.modified, "{off:#x}: {s:?}");
        assert_eq!(s.root, Root::Lose, "{off:#x}");
        assert_eq!(s.refs, 0);
        // SAFETY: the structure stays (it is on lose_root).
        unsafe {
            assert!((*io.cast::<ffi::hammer_buffer>()).ondisk.is_null());
            assert_eq!(lock::refs_word(addr_of_mut!((*io).lock)), 0);
        }
        let (_, dev_off) = m.locate(off);
        assert!(kern::lookup(vp, dev_off as i64).is_none(), "recycled");
    }
    let s = io_snap(&m, vio);
    assert!(
        !s.has_bp && s.root == Root::None,
        "volumes never go on lose_root"
    );
    // SAFETY: volumes live as long as the mount.
    assert!(unsafe { (*vio.cast::<ffi::hammer_volume>()).ondisk.is_null() });
    // Volume 0's header is pinned (its buffers reference it).
    assert_eq!(locked_count(), n + 1);

    // Referencing a loose buffer again takes it off lose_root and reads
    // it back in.
    let b = m.bread(offs[0]).expect("again");
    let s = io_snap(&m, b.io());
    assert!(s.has_bp && s.root == Root::None && !s.released);
    m.rel_buffer(b);
    let v = m.get_volume(1).expect("volume 1 again");
    assert!(io_snap(&m, vio).has_bp);
    m.rel_volume(v);
    finish(m);
});

both!(deallocate_from_getnewbuf_under_a_buffer_limit, |imp| {
    let _g = machine(Config::deterministic(36).with_buffer_limit(12));
    let m = mount(imp, 1);
    // One buffer stays referenced (the kernel must leave it alone), the
    // others are released as soon as they are read.
    let held = m.bread(m.offset(Zone::LargeData, 0, 0)).expect("held");
    let hio = held.io();
    let hbp = bp_of(hio);
    let k0 = kern::counters();
    let mut ios = Vec::new();
    for i in 1..40u64 {
        let b = m.bread(m.offset(Zone::LargeData, 0, i)).expect("bread");
        ios.push(b.io());
        m.rel_buffer(b);
    }
    let k1 = kern::counters();
    assert!(k1.recycled > k0.recycled, "getblk had to recycle buffers");
    assert!(k1.io_deallocate > k0.io_deallocate, "through io_deallocate");
    let loose = ios
        .iter()
        .filter(|&&io| {
            let s = io_snap(&m, io);
            assert!(s.has_bp || s.root == Root::Lose, "{s:?}");
            !s.has_bp
        })
        .count();
    assert!(
        loose >= 39 - 12,
        "most released buffers were recycled: {loose}"
    );
    // The referenced buffer is HAMMER's (held, on no queue): untouched.
    let s = io_snap(&m, hio);
    assert!(s.has_bp && s.refs == 1 && !s.released);
    let bs = bsnap(hbp);
    assert_eq!(bs.dep_first as usize, hio as usize);
    assert_eq!((bs.lock, bs.queue), (LockOwner::Kernel, Queue::None));
    m.rel_buffer(held);
    finish(m);
});

both!(deallocate_from_brelse_invalidation, |imp| {
    let _g = det(34);
    let m = mount(imp, 1);
    let vp = devvp(&m, 0);
    let off = m.offset(Zone::Btree, 0, 12);
    let (_, dev_off) = m.locate(off);
    let b = m.bread(off).expect("bread");
    let io = b.io();
    m.rel_buffer(b);
    let bp = grab(vp, dev_off as i64);
    let d0 = kern::counters().io_deallocate;
    // SAFETY: the buffer is locked by us.
    unsafe { (*bp).b_flags |= ffi::B_INVAL };
    brelse(bp);
    assert_eq!(kern::counters().io_deallocate, d0 + 1);
    let s = io_snap(&m, io);
    assert!(!s.has_bp && s.root == Root::Lose, "{s:?}");
    assert!(kern::lookup(vp, dev_off as i64).is_none());
    finish(m);
});

both!(deallocate_asserts_not_locked_not_running, |imp| {
    let _g = det(35);
    let m = mount(imp, 1);
    let off = m.offset(Zone::LargeData, 0, 13);
    let (_, dev_off) = m.locate(off);
    let b = m.bread(off).expect("bread");
    let io = b.io();
    m.rel_buffer(b);
    let bp = grab(devvp(&m, 0), dev_off as i64);
    // SAFETY: locked by us; the flag is counted.
    unsafe { (*bp).b_flags |= ffi::B_LOCKED };
    globals::hammer_count_io_locked.fetch_add(1, Ordering::SeqCst);
    let before = io_snap(&m, io);
    expect_kernel_panic("assertion", || deallocate(imp, bp));
    assert_eq!(io_snap(&m, io), before);
    bqrelse(bp);
    finish(m);
});

// ---------------------------------------------------------------------
// io_complete
// ---------------------------------------------------------------------

/// What a write error does to one io type.
fn write_error(imp: IoImpl, kind: &str, seed: u64) {
    let _g = det(seed);
    let m = mount(imp, 2);
    type Keep = Box<dyn FnOnce(&Mount)>;
    let (io, dev, dev_off, keep): (*mut ffi::hammer_io, usize, u64, Keep) = match kind {
        "volume" => {
            let v = m.get_volume(1).expect("volume 1");
            m.modify_volume(None, &v, 1024, b"volume header change", false);
            let io = v.as_ptr().cast::<ffi::hammer_io>();
            (io, 1, 0, Box::new(move |m: &Mount| m.rel_volume(v)))
        }
        _ => {
            let z = match kind {
                "data" => Zone::LargeData,
                "meta" => Zone::Meta,
                _ => Zone::Undo,
            };
            let off = m.offset(z, 0, 14);
            let (vol, dev_off) = m.locate(off);
            let b = m.bread(off).expect("bread");
            dirty(&m, &b, 14);
            let io = b.io();
            (
                io,
                vol as usize,
                dev_off,
                Box::new(move |m: &Mount| m.rel_buffer(b)),
            )
        }
    };
    let bp = bp_of(io);
    m.devices()[dev].add_fault(Fault::at(FaultOp::Write, dev_off, BUFSIZE as u64));
    let c0 = globals::counters();
    let before = io_snap(&m, io);
    flush(imp, io, 0);
    assert!(io_snap(&m, io).running);
    let rec = record();
    kern::run_pending_io();
    let ev = rec.take();
    trace::set_sink(None);
    // The completion bundirty()s the failed buffer (nothing else does on
    // this path: B_ERROR is gone before bpdone could re-dirty it).
    let bundirty = ev
        .iter()
        .filter(|e| e.func == "bundirty" && e.buf.map(|b| b.offset) == Some(dev_off as i64))
        .count();
    assert_eq!(bundirty, 1, "{kind}: bundirty");
    let s = io_snap(&m, io);
    let undo = kind == "undo";
    assert!(!s.running && !s.on_iorun && !s.modified, "{kind}: {s:?}");
    assert_eq!(s.ioerror, !undo, "{kind}: UNDO buffers are thrown away");
    assert_eq!(
        s.refs,
        before.refs + u32::from(!undo),
        "{kind}: ioerror holds a reference"
    );
    assert!(s.has_bp, "{kind}");
    let bs = bsnap(bp);
    assert_eq!(bs.flags & ffi::B_ERROR, 0, "{kind}: B_ERROR cleared");
    assert_eq!(bs.flags & ffi::B_DELWRI, 0, "{kind}: not re-dirtied");
    assert_eq!(bs.dep_first as usize, io as usize, "{kind}");
    assert!(m.critical_error(), "{kind}");
    let log = m.critical_errors();
    assert_eq!(log.len(), 1, "{kind}: {log:?}");
    assert_eq!(log[0].obj_id, -1);
    assert_eq!(log[0].error, ffi::EIO);
    assert_eq!(log[0].msg, "while flushing meta-data");
    let c1 = globals::counters();
    assert_eq!(c1.io_running_write, c0.io_running_write);
    assert_eq!(
        c1.disk_write,
        c0.disk_write + bytes_of(io),
        "{kind}: counted anyway"
    );
    assert_eq!(io_running_space(&m), 0);
    assert_eq!(m.devices()[dev].stats().failed, 1);

    // hammer_io_clear_error drops the error and its reference; the
    // caller's own reference must survive.
    // SAFETY: we hold a reference.
    unsafe { (imp.clear_error)(io) };
    let s2 = io_snap(&m, io);
    assert!(!s2.ioerror);
    assert_eq!(s2.refs, before.refs);
    m.devices()[dev].clear_faults();
    keep(&m);
    finish(m);
}

both!(complete_write_error_data, |imp| {
    write_error(imp, "data", 41)
});
both!(complete_write_error_undo, |imp| {
    write_error(imp, "undo", 42)
});
both!(complete_write_error_meta, |imp| {
    write_error(imp, "meta", 43)
});
both!(complete_write_error_volume, |imp| {
    write_error(imp, "volume", 44)
});

both!(clear_error_without_own_reference, |imp| {
    let _g = det(45);
    let m = mount(imp, 1);
    for (i, asserting) in [false, true].into_iter().enumerate() {
        let off = m.offset(Zone::Meta, 0, 15 + i as u64);
        let (_, dev_off) = m.locate(off);
        m.devices()[0].add_fault(Fault::at(FaultOp::Write, dev_off, BUFSIZE as u64));
        let b = m.bread(off).expect("bread");
        dirty(&m, &b, 15);
        let io = b.io();
        flush(imp, io, 0);
        kern::run_pending_io();
        m.rel_buffer(b);
        let s = io_snap(&m, io);
        assert!(
            s.ioerror && s.refs == 1,
            "only the error's reference: {s:?}"
        );
        if asserting {
            // hammer_io_clear_error insists the caller holds a reference.
            expect_kernel_panic("assertion", || {
                // SAFETY: live io (the bp keeps the structure).
                unsafe { (imp.clear_error)(io) }
            });
        } else {
            // SAFETY: as above.
            unsafe { (imp.clear_error_noassert)(io) };
        }
        let s = io_snap(&m, io);
        assert!(!s.ioerror && s.refs == 0, "{s:?}");
        // Nothing left to clear: both are no-ops.
        // SAFETY: as above.
        unsafe {
            (imp.clear_error_noassert)(io);
        }
        assert_eq!(io_snap(&m, io), s);
        m.devices()[0].clear_faults();
    }
    finish(m);
});

both!(complete_read_counts_and_wakes, |imp| {
    let _g = det(46);
    let m = mount(imp, 1);
    let off = m.offset(Zone::LargeData, 0, 16);
    let b = m.bread(off).expect("bread");
    let io = b.io();
    let bp = bp_of(io);
    m.rel_buffer(b);
    relock(bp);
    // SAFETY: live io; the waiting bit as hammer_io_wait leaves it.
    unsafe { (*io).set_waiting(1) };
    name_obj(io, "complete-io");
    let rec = record();
    let before = io_snap(&m, io);
    let c0 = globals::counters();
    complete(imp, bp);
    let ev = rec.take();
    trace::set_sink(None);
    let c1 = globals::counters();
    assert_eq!(
        c1.disk_read,
        c0.disk_read + bytes_of(io),
        "a read completion"
    );
    assert_eq!(c1.disk_write, c0.disk_write);
    let mut want = before.clone();
    want.waiting = false;
    assert_eq!(io_snap(&m, io), want);
    assert_eq!(
        calls_on(&ev, "wakeup", "complete-io"),
        1,
        "the waiter is woken"
    );
    // Nobody waiting: no wakeup.
    let rec = record();
    complete(imp, bp);
    let ev = rec.take();
    trace::set_sink(None);
    assert_eq!(calls_on(&ev, "wakeup", "complete-io"), 0);
    bqrelse(bp);
    finish(m);
});

both!(complete_with_b_locked_tries_deallocate, |imp| {
    let _g = det(47);
    let m = mount(imp, 1);
    let vp = devvp(&m, 0);
    // Unreferenced: the deallocation succeeds.
    let off = m.offset(Zone::LargeData, 0, 17);
    let b = m.bread(off).expect("bread");
    let io = b.io();
    let bp = bp_of(io);
    m.rel_buffer(b);
    relock(bp);
    // SAFETY: locked by us; counted.
    unsafe { (*bp).b_flags |= ffi::B_LOCKED };
    globals::hammer_count_io_locked.fetch_add(1, Ordering::SeqCst);
    let n = locked_count();
    complete(imp, bp);
    assert_eq!(locked_count(), n - 1);
    assert!(!bflag(bp, ffi::B_LOCKED));
    let s = io_snap(&m, io);
    assert!(!s.has_bp && s.root == Root::Lose, "{s:?}");
    assert!(bsnap(bp).dep_first.is_null());
    bqrelse(bp);

    // Referenced: deallocate refuses and pins it again.
    let off = m.offset(Zone::LargeData, 0, 18);
    let b = m.bread(off).expect("bread");
    let io = b.io();
    let bp = bp_of(io);
    m.rel_buffer(b);
    let b = m.bread(off).expect("referenced");
    relock(bp);
    // SAFETY: as above.
    unsafe { (*bp).b_flags |= ffi::B_LOCKED };
    globals::hammer_count_io_locked.fetch_add(1, Ordering::SeqCst);
    let n = locked_count();
    let d0 = kern::counters().io_deallocate;
    complete(imp, bp);
    let _ = d0;
    assert_eq!(locked_count(), n, "cleared, then set again");
    assert!(bflag(bp, ffi::B_LOCKED));
    assert!(io_snap(&m, io).has_bp);
    bqrelse(bp);
    assert_eq!(bsnap(bp).queue, Queue::Locked);
    m.rel_buffer(b);
    let _ = vp;
    finish(m);
});

both!(complete_asserts_released, |imp| {
    let _g = det(48);
    let m = mount(imp, 1);
    let b = m.bread(m.offset(Zone::LargeData, 0, 19)).expect("bread");
    let io = b.io();
    let before = io_snap(&m, io);
    assert!(!before.released);
    expect_kernel_panic("assertion", || complete(imp, bp_of(io)));
    assert_eq!(io_snap(&m, io), before);
    m.rel_buffer(b);
    finish(m);
});

both!(complete_unlinks_from_iorun_and_wakes_placemarker, |imp| {
    let _g = det(49);
    let m = mount(imp, 1);
    let vp = devvp(&m, 0);
    let mut ios = Vec::new();
    let mut bps = Vec::new();
    for i in 0..2u64 {
        let off = m.offset(Zone::LargeData, 0, 20 + i);
        let (_, dev_off) = m.locate(off);
        let io = dirty_released(&m, off, 20 + i as u8);
        let bp = grab(vp, dev_off as i64);
        // The kernel's question, answered yes: io running and queued; we
        // play the write ourselves.
        assert_eq!(checkwrite(imp, bp), 0);
        ios.push(io);
        bps.push(bp);
    }
    assert_eq!(iorun(&m), ios);
    // A wait_all placemarker behind the first io.
    let mut dummy: Box<ffi::hammer_io> = Box::new(
        // SAFETY: all-zero is a valid hammer_io.
        unsafe { core::mem::MaybeUninit::zeroed().assume_init() },
    );
    dummy.type_ = ffi::HAMMER_STRUCTURE_DUMMY;
    let d: *mut ffi::hammer_io = &mut *dummy;
    // SAFETY: list surgery on the live mount's iorun_list (nothing else
    // runs): insert d after ios[0].
    unsafe {
        let a = ios[0];
        (*d).iorun_entry.tqe_next = (*a).iorun_entry.tqe_next;
        (*d).iorun_entry.tqe_prev = addr_of_mut!((*a).iorun_entry.tqe_next);
        (*(*a).iorun_entry.tqe_next).iorun_entry.tqe_prev = addr_of_mut!((*d).iorun_entry.tqe_next);
        (*a).iorun_entry.tqe_next = d;
    }
    assert_eq!(iorun(&m), vec![ios[0], d, ios[1]]);
    name_obj(d, "placemarker");
    let rec = record();
    // Not the head: no placemarker is woken.
    // SAFETY: locked buffers of ours.
    unsafe { k::bundirty(bps[1]) };
    complete(imp, bps[1]);
    assert_eq!(iorun(&m), vec![ios[0], d]);
    assert_eq!(calls_on(&rec.snapshot(), "wakeup", "placemarker"), 0);
    // The head, followed by a placemarker: woken.
    // SAFETY: as above.
    unsafe { k::bundirty(bps[0]) };
    complete(imp, bps[0]);
    let ev = rec.take();
    trace::set_sink(None);
    assert_eq!(iorun(&m), vec![d]);
    assert_eq!(calls_on(&ev, "wakeup", "placemarker"), 1);
    for &io in &ios {
        let s = io_snap(&m, io);
        assert!(!s.running && !s.on_iorun && !s.modified, "{s:?}");
    }
    assert_eq!(io_running_space(&m), 0);
    // SAFETY: remove the placemarker again.
    unsafe {
        let hmp = m.hmp();
        (*hmp).iorun_list.tqh_first = core::ptr::null_mut();
        (*hmp).iorun_list.tqh_last = addr_of_mut!((*hmp).iorun_list.tqh_first);
    }
    drop(dummy);
    for bp in bps {
        bqrelse(bp);
    }
    finish(m);
});

both!(trivial_callbacks_do_nothing, |imp| {
    let _g = det(50);
    let m = mount(imp, 1);
    let off = m.offset(Zone::LargeData, 0, 21);
    let (_, dev_off) = m.locate(off);
    let io = dirty_released(&m, off, 21);
    let vp = devvp(&m, 0);
    let bp = grab(vp, dev_off as i64);
    let before = io_snap(&m, io);
    let bs0 = bsnap(bp);
    let o = ops(imp);
    // SAFETY: a locked buffer carrying an io of `imp`; the vnode and
    // mount arguments are not dereferenced by HAMMER.
    unsafe {
        (o.io_start.unwrap())(bp);
        (o.io_movedeps.unwrap())(bp, bp);
        assert_eq!((o.io_countdeps.unwrap())(bp, 0), 0);
        assert_eq!((o.io_checkread.unwrap())(bp), 0);
        assert_eq!((o.io_fsync.unwrap())(vp), 0);
        assert_eq!((o.io_sync.unwrap())(core::ptr::null_mut()), 0);
    }
    assert_eq!(io_snap(&m, io), before);
    let bs1 = bsnap(bp);
    assert_eq!(
        (bs1.flags, bs1.queue, bs1.lock),
        (bs0.flags, bs0.queue, bs0.lock)
    );
    brelse(bp);
    finish(m);
});
