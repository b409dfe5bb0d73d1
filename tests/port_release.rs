//! `hammer_io_release`: every outcome of the C function, on both
//! implementations.
//!
//! | io state | result |
//! |---|---|
//! | (flush or reclaim), clean, not running | disassociated, bp returned (regetblk + BUF_KERNPROC first if it was released) |
//! | modified DATA/UNDO, held | `bdwrite` with B_CLUSTEROK, NULL (still associated) |
//! | modified META/VOLUME | kept as is, NULL |
//! | clean, held | released passively, bp returned; disassociated if B_LOCKED |
//! | clean, released, idle | `regetblk`, bp returned; disassociated if B_LOCKED |
//! | released and running | NULL |
//!
//! plus the flushes B_LOCKED triggers for modified DATA and UNDO buffers
//! (the latter with `hammer_undo_reclaim`) and the `waitdep` wait.
#![cfg(feature = "hosted")]

#[macro_use]
mod port_common;

use port_common::*;

/// Every zone a buffer can live in, with the structure type it gets.
const ZONES: [Zone; 5] = [
    Zone::Btree,
    Zone::Meta,
    Zone::LargeData,
    Zone::SmallData,
    Zone::Undo,
];

fn buf_zone_off(m: &Mount, z: Zone, i: u64) -> u64 {
    m.offset(z, 0, i)
}

both!(clean_held_is_released_passively, |imp| {
    let _g = det(1);
    let m = mount(imp, 1);
    for (i, z) in ZONES.iter().enumerate() {
        let b = m.bread(buf_zone_off(&m, *z, 3 + i as u64)).expect("bread");
        let io = b.io();
        let bp = bp_of(io);
        let before = io_snap(&m, io);
        assert!(!before.released, "{z:?}: a fresh read holds the buffer");
        assert_eq!(
            owner(bp),
            LockOwner::Kernel,
            "{z:?}: BUF_KERNPROC after read"
        );
        let ret = release_last(imp, b, 0);
        assert_eq!(ret, bp, "{z:?}: the bp is handed back");
        let mut want = before.clone();
        want.released = true;
        want.refs = 0;
        assert_eq!(io_snap(&m, io), want, "{z:?}");
        let s = bsnap(bp);
        assert_eq!(s.dep_first as usize, io as usize, "{z:?}: still associated");
        assert_eq!(s.ops, imp.bioops);
        assert_eq!(
            s.flags & (ffi::B_LOCKED | ffi::B_NOCACHE | ffi::B_RELBUF),
            0
        );
        brelse(ret);
        let s = bsnap(bp);
        assert_eq!(s.queue, Queue::Clean, "{z:?}");
        assert_eq!(s.lock, LockOwner::Unlocked);
        assert_eq!(
            s.dep_first as usize, io as usize,
            "{z:?}: passively associated"
        );
    }
    assert_eq!(globals::counters().io_locked, 0);
    finish(m);
});

both!(clean_held_with_b_locked_is_disassociated, |imp| {
    let _g = det(2);
    let m = mount(imp, 1);
    let off = m.offset(Zone::LargeData, 0, 4);
    let b = m.bread(off).expect("bread");
    let io = b.io();
    let bp = bp_of(io);
    // The kernel's earlier refusal to let go of the buffer (a failed
    // io_deallocate) is what leaves B_LOCKED behind.
    // SAFETY: HAMMER holds the buffer; the counter follows the flag.
    unsafe { (*bp).b_flags |= ffi::B_LOCKED };
    globals::hammer_count_io_locked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let ret = release_last(imp, b, 0);
    assert_eq!(ret, bp);
    let s = io_snap(&m, io);
    assert!(s.released && !s.has_bp && !s.modified);
    assert_eq!(s.root, Root::None, "release does not put it on lose_root");
    // SAFETY: the structure is alive (kept by release_last).
    unsafe {
        assert!((*objects_buffer(io)).ondisk.is_null(), "ondisk cleared");
    }
    let bs = bsnap(bp);
    assert!(bs.dep_first.is_null(), "b_dep emptied");
    assert!(bs.ops.is_null(), "b_ops cleared");
    assert_eq!(bs.flags & ffi::B_LOCKED, 0, "B_LOCKED cleared");
    assert_eq!(
        bs.flags & (ffi::B_NOCACHE | ffi::B_RELBUF),
        0,
        "not reclaimed"
    );
    assert_eq!(
        globals::counters().io_locked,
        0,
        "hammer_count_io_locked back"
    );
    brelse(ret);
    assert_eq!(
        bsnap(bp).queue,
        Queue::Clean,
        "an ordinary cached buffer now"
    );
    finish(m);
});

/// `io` as its `hammer_buffer`.
fn objects_buffer(io: *mut ffi::hammer_io) -> ffi::hammer_buffer_t {
    io.cast()
}

both!(flush_clean_held_disassociates, |imp| {
    let _g = det(3);
    let m = mount(imp, 1);
    for (i, z) in ZONES.iter().enumerate() {
        let off = buf_zone_off(&m, *z, 10 + i as u64);
        let b = m.bread(off).expect("bread");
        let io = b.io();
        let bp = bp_of(io);
        let ret = release_last(imp, b, 1);
        assert_eq!(ret, bp, "{z:?}");
        let s = io_snap(&m, io);
        assert!(s.released && !s.has_bp, "{z:?}: {s:?}");
        let bs = bsnap(bp);
        assert!(bs.dep_first.is_null() && bs.ops.is_null(), "{z:?}");
        assert_eq!(
            bs.lock,
            LockOwner::Kernel,
            "{z:?}: still HAMMER's lock, kernel-owned"
        );
        assert_eq!(bs.flags & (ffi::B_NOCACHE | ffi::B_RELBUF), 0, "{z:?}");
        brelse(ret);
    }
    finish(m);
});

both!(flush_clean_released_regetblks_then_disassociates, |imp| {
    let _g = det(4);
    let m = mount(imp, 1);
    let off = m.offset(Zone::Meta, 0, 7);
    let b = m.bread(off).expect("bread");
    let io = b.io();
    let bp = bp_of(io);
    m.rel_buffer(b);
    assert_eq!(bsnap(bp).queue, Queue::Clean);
    // A new reference does not take the buffer back from the kernel.
    let b = m.bread(off).expect("bread again");
    assert!(io_snap(&m, io).released);
    assert_eq!(bsnap(bp).lock, LockOwner::Unlocked);
    let regets = kern::counters().regetblk;
    let ret = release_last(imp, b, 1);
    assert_eq!(ret, bp);
    assert_eq!(kern::counters().regetblk, regets + 1, "regetblk");
    let bs = bsnap(bp);
    assert_eq!(bs.lock, LockOwner::Kernel, "regetblk + BUF_KERNPROC");
    assert_eq!(bs.queue, Queue::None, "taken off its queue");
    assert!(bs.dep_first.is_null());
    let s = io_snap(&m, io);
    assert!(s.released && !s.has_bp);
    brelse(ret);
    finish(m);
});

both!(reclaim_clean_disassociates_with_nocache_relbuf, |imp| {
    let _g = det(5);
    let m = mount(imp, 1);
    let vp = devvp(&m, 0);
    // Held (released == 0) and released (passive) variants.
    for (i, passive) in [false, true].into_iter().enumerate() {
        let off = m.offset(Zone::SmallData, 0, 20 + i as u64);
        let (_, dev_off) = m.locate(off);
        let mut b = m.bread(off).expect("bread");
        let io = b.io();
        let bp = bp_of(io);
        if passive {
            m.rel_buffer(b);
            b = m.bread(off).expect("again");
        }
        // SAFETY: the io is referenced.
        unsafe { (*io).set_reclaim(1) };
        let ret = release_last(imp, b, 0);
        assert_eq!(ret, bp, "passive={passive}");
        let s = io_snap(&m, io);
        assert!(!s.reclaim, "reclaim is consumed");
        assert!(!s.has_bp && s.released);
        let bs = bsnap(bp);
        assert!(bs.flags & ffi::B_NOCACHE != 0 && bs.flags & ffi::B_RELBUF != 0);
        assert_eq!(bs.lock, LockOwner::Kernel);
        brelse(ret);
        assert!(
            kern::lookup(vp, dev_off as i64).is_none(),
            "the kernel threw the buffer away"
        );
    }
    finish(m);
});

both!(modified_data_and_undo_are_bdwritten, |imp| {
    let _g = det(6);
    let m = mount(imp, 1);
    for z in [Zone::LargeData, Zone::SmallData, Zone::Undo] {
        let off = m.offset(z, 0, 30);
        let b = m.bread(off).expect("bread");
        dirty(&m, &b, 1);
        let io = b.io();
        let bp = bp_of(io);
        let before = io_snap(&m, io);
        assert!(before.modified && !before.released);
        let bdw = kern::counters().bdwrite;
        let ret = release_last(imp, b, 0);
        assert!(ret.is_null(), "{z:?}: the bp stays associated");
        assert_eq!(kern::counters().bdwrite, bdw + 1, "{z:?}: bdwrite");
        let mut want = before.clone();
        want.released = true;
        want.refs = 0;
        assert_eq!(io_snap(&m, io), want, "{z:?}");
        let bs = bsnap(bp);
        assert!(bs.flags & ffi::B_CLUSTEROK != 0, "{z:?}: B_CLUSTEROK");
        assert!(bs.flags & ffi::B_DELWRI != 0, "{z:?}: delayed write");
        assert_eq!(bs.queue, Queue::Dirty, "{z:?}");
        assert_eq!(bs.lock, LockOwner::Unlocked);
        assert_eq!(bs.dep_first as usize, io as usize);

        // Released already: a second last-reference release changes
        // nothing (and does not bdwrite again).
        let b = m.bread(off).expect("again");
        let before = io_snap(&m, io);
        let ret = release_last(imp, b, 0);
        assert!(ret.is_null());
        let mut want = before.clone();
        want.refs = 0;
        assert_eq!(io_snap(&m, io), want, "{z:?}");
        assert_eq!(
            kern::counters().bdwrite,
            bdw + 1,
            "{z:?}: no second bdwrite"
        );
    }
    finish(m);
});

both!(modified_meta_and_volume_are_kept, |imp| {
    let _g = det(7);
    let m = mount(imp, 2);
    for z in [Zone::Btree, Zone::Meta] {
        let b = m.bread(m.offset(z, 0, 31)).expect("bread");
        dirty(&m, &b, 2);
        let io = b.io();
        let bp = bp_of(io);
        // Neither a reclaim request nor B_LOCKED lets a modified meta-data
        // buffer go.
        // SAFETY: the io is referenced; the flag is counted.
        unsafe {
            (*io).set_reclaim(1);
            (*bp).b_flags |= ffi::B_LOCKED;
        }
        globals::hammer_count_io_locked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let before = io_snap(&m, io);
        let ret = release_last(imp, b, 0);
        assert!(ret.is_null(), "{z:?}");
        let mut want = before.clone();
        want.refs = 0;
        assert_eq!(io_snap(&m, io), want, "{z:?}: untouched");
        let bs = bsnap(bp);
        assert_eq!(bs.lock, LockOwner::Kernel, "{z:?}: HAMMER keeps the buffer");
        assert_eq!(bs.queue, Queue::None);
        assert_eq!(bs.flags & (ffi::B_DELWRI | ffi::B_CLUSTEROK), 0);
        assert!(bs.flags & ffi::B_LOCKED != 0);
        assert_eq!(root_of(&m, io), Root::Meta);
        // SAFETY: as above.
        unsafe { (*io).set_reclaim(0) };
    }
    // Volume 1: no buffer references it, so this is its only reference.
    let v = m.get_volume(1).expect("volume");
    m.modify_volume(None, &v, 512, b"header", false);
    let io = v.as_ptr().cast::<ffi::hammer_io>();
    let before = io_snap(&m, io);
    assert!(before.modified && !before.released);
    assert_eq!(before.root, Root::Volu);
    let ret = release_last_volume(imp, v, 0);
    assert!(ret.is_null());
    let mut want = before.clone();
    want.refs = 0;
    assert_eq!(io_snap(&m, io), want);
    assert_eq!(owner(bp_of(io)), LockOwner::Kernel);
    // Let the unmount's flusher write them: the B_LOCKED buffers are
    // disassociated at unload, which balances hammer_count_io_locked.
    finish(m);
});

both!(released_idle_is_reacquired, |imp| {
    let _g = det(8);
    let m = mount(imp, 1);
    let off = m.offset(Zone::LargeData, 0, 40);
    let b = m.bread(off).expect("bread");
    let io = b.io();
    let bp = bp_of(io);
    m.rel_buffer(b);
    let b = m.bread(off).expect("again");
    let before = io_snap(&m, io);
    assert!(before.released && before.has_bp);
    let ret = release_last(imp, b, 0);
    assert_eq!(ret, bp);
    let bs = bsnap(bp);
    assert_eq!(bs.lock, me(), "regetblk without BUF_KERNPROC");
    assert_eq!(bs.queue, Queue::None);
    assert_eq!(
        bs.dep_first as usize, io as usize,
        "still passively associated"
    );
    let mut want = before.clone();
    want.refs = 0;
    assert_eq!(io_snap(&m, io), want);
    brelse(ret);
    assert_eq!(bsnap(bp).queue, Queue::Clean);
    finish(m);
});

both!(
    released_idle_b_locked_from_recycling_is_disassociated,
    |imp| {
        let _g = det(9);
        let m = mount(imp, 1);
        let off = m.offset(Zone::LargeData, 0, 41);
        let b = m.bread(off).expect("bread");
        let io = b.io();
        let bp = bp_of(io);
        m.rel_buffer(b);
        // Referenced again, but the buffer stays on the CLEAN queue: the
        // kernel's attempt to recycle it fails (io_deallocate sees the ref).
        let b = m.bread(off).expect("again");
        kern::recycle(usize::MAX);
        let bs = bsnap(bp);
        assert!(bs.flags & ffi::B_LOCKED != 0, "io_deallocate refused");
        assert_eq!(bs.queue, Queue::Locked);
        // (The header of volume 0, referenced by the buffer, is pinned too.)
        let locked = globals::counters().io_locked;
        assert_eq!(
            locked as usize,
            kern::buffers()
                .iter()
                .filter(|s| s.flags & ffi::B_LOCKED != 0)
                .count()
        );
        assert!(io_snap(&m, io).has_bp);
        let ret = release_last(imp, b, 0);
        assert_eq!(ret, bp);
        let bs = bsnap(bp);
        assert_eq!(bs.lock, me());
        assert!(bs.dep_first.is_null(), "disassociated");
        assert_eq!(bs.flags & ffi::B_LOCKED, 0);
        assert_eq!(globals::counters().io_locked, locked - 1);
        let s = io_snap(&m, io);
        assert!(!s.has_bp && s.released);
        brelse(ret);
        finish(m);
    }
);

both!(running_returns_null, |imp| {
    let _g = det(10);
    let m = mount(imp, 1);
    for flush_arg in [0, 1] {
        let off = m.offset(Zone::LargeData, 0, 50 + flush_arg as u64);
        let b = m.bread(off).expect("bread");
        dirty(&m, &b, 3);
        let io = b.io();
        let bp = bp_of(io);
        flush(imp, io, 0);
        let before = io_snap(&m, io);
        assert!(before.running && before.released && !before.modified);
        assert!(kern::pending_io() > 0);
        let ret = release_last(imp, b, flush_arg);
        assert!(ret.is_null(), "flush={flush_arg}");
        let mut want = before.clone();
        want.refs = 0;
        assert_eq!(io_snap(&m, io), want, "flush={flush_arg}: untouched");
        assert_eq!(owner(bp), LockOwner::Kernel, "the write owns the buffer");
        kern::run_pending_io();
        let s = io_snap(&m, io);
        assert!(!s.running && !s.on_iorun && s.has_bp, "{s:?}");
        assert_eq!(bsnap(bp).queue, Queue::Clean);
    }
    finish(m);
});

both!(waitdep_waits_for_the_write, |imp| {
    let _g = det(11);
    let m = mount(imp, 1);
    let off = m.offset(Zone::LargeData, 0, 60);
    let b = m.bread(off).expect("bread");
    dirty(&m, &b, 4);
    let io = b.io();
    let bp = bp_of(io);
    flush(imp, io, 0);
    // SAFETY: the io is referenced.
    unsafe { (*io).set_waitdep(1) };
    assert!(io_snap(&m, io).running);
    let before = kern::pending_io();
    assert!(before > 0);
    // hammer_io_wait() sleeps; the deterministic machine completes the
    // write meanwhile. Then the released, idle io is re-acquired.
    let ret = release_last(imp, b, 0);
    assert_eq!(kern::pending_io(), 0, "the release waited for the write");
    assert_eq!(ret, bp);
    let s = io_snap(&m, io);
    assert!(!s.running && !s.waiting && !s.on_iorun && s.has_bp, "{s:?}");
    assert_eq!(owner(bp), me());
    brelse(ret);
    finish(m);
});

both!(b_locked_modified_data_is_flushed, |imp| {
    let _g = det(12);
    let m = mount(imp, 1);
    let off = m.offset(Zone::LargeData, 0, 70);
    let (vol, dev_off) = m.locate(off);
    let data = pattern(9, 64);
    let b = m.bnew(off).expect("bnew");
    m.modify(None, &b, 0, &data, false);
    m.rel_buffer(b);
    let b = m.bread(off).expect("again");
    let io = b.io();
    let bp = bp_of(io);
    // The buffer daemon wants to write it but cannot interlock the
    // referenced io: B_LOCKED.
    kern::buf_daemon_flush(usize::MAX);
    assert!(bflag(bp, ffi::B_LOCKED));
    assert_eq!(bsnap(bp).queue, Queue::Locked);
    assert_eq!(globals::counters().io_locked, 1);
    let writes = m.devices()[0].stats().writes;

    let ret = release_last(imp, b, 0);
    assert!(ret.is_null(), "the write is running");
    let s = io_snap(&m, io);
    assert!(
        s.running && s.on_iorun && !s.modified && s.released && !s.reclaim,
        "{s:?}"
    );
    assert_eq!(s.root, Root::None);
    assert!(
        bflag(bp, ffi::B_LOCKED),
        "still pinned until the write completes"
    );
    assert_eq!(io_running_space(&m), bytes_of(io));

    kern::run_pending_io();
    assert!(m.devices()[0].stats().writes > writes);
    // Completion saw B_LOCKED and deallocated the (unreferenced) io.
    let s = io_snap(&m, io);
    assert!(!s.has_bp && !s.running && !s.on_iorun, "{s:?}");
    assert_eq!(s.root, Root::Lose);
    assert_eq!(globals::counters().io_locked, 0);
    assert_eq!(&m.devices()[vol as usize].read_current(dev_off, 64), &data);
    finish(m);
});

both!(b_locked_modified_undo_is_flushed_with_undo_reclaim, |imp| {
    let _g = det(13);
    let m = mount(imp, 1);
    let vp = devvp(&m, 0);
    // Buffer 0 holds the FIFO's append point (kept cached), buffer 1 does
    // not (reclaimed once written).
    for idx in [0u64, 1] {
        let off = m.offset(Zone::Undo, 0, idx);
        let (_, dev_off) = m.locate(off);
        let b = m.bread(off).expect("undo buffer");
        dirty(&m, &b, 5);
        m.rel_buffer(b);
        let b = m.bread(off).expect("again");
        let io = b.io();
        let bp = bp_of(io);
        kern::buf_daemon_flush(usize::MAX);
        assert!(bflag(bp, ffi::B_LOCKED), "idx {idx}");
        let ret = release_last(imp, b, 0);
        assert!(ret.is_null());
        let s = io_snap(&m, io);
        assert!(s.running && !s.modified, "idx {idx}: {s:?}");
        assert_eq!(s.reclaim, idx == 1, "idx {idx}: hammer_undo_reclaim");
        kern::run_pending_io();
        let s = io_snap(&m, io);
        assert!(!s.has_bp && !s.running && !s.reclaim, "idx {idx}: {s:?}");
        assert_eq!(s.root, Root::Lose);
        let cached = kern::lookup(vp, dev_off as i64);
        if idx == 1 {
            assert!(cached.is_none(), "reclaimed: B_NOCACHE|B_RELBUF");
        } else {
            let c = cached.expect("kept in the cache");
            assert!(c.dep_first.is_null());
            assert_eq!(c.queue, Queue::Clean);
        }
        assert_eq!(globals::counters().io_locked, 0);
    }
    finish(m);
});

both!(volume_release_paths, |imp| {
    let _g = det(14);
    let m = mount(imp, 2);
    // Volume 1 is loaded (read through the I/O layer) on its first
    // reference: held, then released passively.
    let v = m.get_volume(1).expect("volume 1");
    let io = v.as_ptr().cast::<ffi::hammer_io>();
    let bp = bp_of(io);
    assert!(!io_snap(&m, io).released);
    let ret = release_last_volume(imp, v, 0);
    assert_eq!(ret, bp);
    assert_eq!(owner(bp), LockOwner::Kernel);
    assert!(io_snap(&m, io).released && io_snap(&m, io).has_bp);
    brelse(ret);
    // Passively associated: the next last-reference release re-acquires
    // the bp.
    let v = m.get_volume(1).expect("volume 1");
    assert!(io_snap(&m, io).released);
    let ret = release_last_volume(imp, v, 0);
    assert_eq!(ret, bp);
    assert_eq!(owner(bp), me());
    brelse(ret);
    // With flush: disassociated (volume->ondisk cleared too).
    let v = m.get_volume(1).expect("volume 1");
    let ret = release_last_volume(imp, v, 1);
    assert_eq!(ret, bp);
    let s = io_snap(&m, io);
    assert!(!s.has_bp && s.root == Root::None);
    assert!(bsnap(bp).dep_first.is_null());
    brelse(ret);
    // And loaded again on the next reference.
    let v = m.get_volume(1).expect("volume 1 again");
    assert!(io_snap(&m, io).has_bp);
    m.rel_volume(v);
    finish(m);
});
