//! Dirtying and writing, on both implementations: `hammer_modify_buffer`
//! / `_volume` (+ `_done`) with and without UNDO, the modified trees
//! (`set_modlist`, `clear_modify` with B-Tree CRC finalisation,
//! `clear_modlist`), `modify_refs` / `waitmod`, the write interlock's
//! non-blocking paths (the blocking ones are in port_threads),
//! `hammer_io_flush` (+ reclaim), `hammer_io_flush_sync` and
//! `hammer_io_limit_backlog`.
#![cfg(feature = "hosted")]

#[macro_use]
mod port_common;

use core::ffi::{c_int, c_void};
use core::mem::size_of;
use core::ptr::{addr_of_mut, null_mut};
use core::sync::atomic::Ordering;
use port_common::*;

/// The first UNDO record of the FIFO: (undo_offset, data bytes, data).
fn first_undo(m: &Mount) -> (u64, i32, Vec<u8>) {
    let b = m.bread(m.offset(Zone::Undo, 0, 0)).expect("undo buffer");
    let raw = b.read();
    m.rel_buffer(b);
    assert_eq!(
        u16::from_le_bytes([raw[0], raw[1]]),
        0xC84E,
        "UNDO head signature"
    );
    assert_eq!(
        u16::from_le_bytes([raw[2], raw[3]]),
        0x0043,
        "an UNDO record"
    );
    let n = le32(&raw, 24) as i32;
    (le64(&raw, 16), n, raw[32..32 + n as usize].to_vec())
}

/// The UNDO FIFO's append point (the mount's cached blockmap).
fn undo_next(m: &Mount) -> u64 {
    // SAFETY: live mount.
    unsafe { (*m.hmp()).blockmap[ffi::HAMMER_ZONE_UNDO_INDEX as usize].next_offset }
}

fn lockval(io: *mut ffi::hammer_io) -> u32 {
    // SAFETY: live io.
    unsafe { lock::lockval_word(addr_of_mut!((*io).lock)) }
}

// ---------------------------------------------------------------------
// hammer_modify_buffer / _volume
// ---------------------------------------------------------------------

both!(modify_buffer_without_undo, |imp| {
    let _g = det(81);
    let m = mount(imp, 1);
    let undo0 = undo_next(&m);
    for (z, root, locked) in [
        (Zone::Meta, Root::Meta, true),
        (Zone::LargeData, Root::Data, false),
        (Zone::Undo, Root::Undo, false),
    ] {
        let b = m.bread(m.offset(z, 0, 40)).expect("bread");
        let io = b.io();
        let before = io_snap(&m, io);
        let lds = locked_dirty_space(&m);
        let dbs = globals::counters().dirtybufspace;
        // SAFETY: referenced buffer.
        unsafe { (imp.modify_buffer)(null_mut(), b.as_ptr(), nullv(), 0) };
        let mut want = before.clone();
        want.modified = true;
        want.modify_refs = 1;
        want.root = root;
        assert_eq!(io_snap(&m, io), want, "{z:?}");
        assert_eq!(lockval(io), 0, "{z:?}: the io lock was given back");
        let grow = if locked { BUFSIZE as i64 } else { 0 };
        assert_eq!(locked_dirty_space(&m), lds + grow, "{z:?}");
        assert_eq!(globals::counters().dirtybufspace, dbs + grow, "{z:?}");
        // Already modified and held: only the count moves.
        // SAFETY: as above.
        unsafe { (imp.modify_buffer)(null_mut(), b.as_ptr(), nullv(), 0) };
        want.modify_refs = 2;
        assert_eq!(io_snap(&m, io), want, "{z:?}");
        assert_eq!(locked_dirty_space(&m), lds + grow);
        // SAFETY: as above.
        unsafe {
            (imp.modify_buffer_done)(b.as_ptr());
            (imp.modify_buffer_done)(b.as_ptr());
        }
        want.modify_refs = 0;
        assert_eq!(io_snap(&m, io), want, "{z:?}");
        m.rel_buffer(b);
    }
    assert_eq!(undo_next(&m), undo0, "no UNDO generated");
    finish(m);
});

both!(modify_takes_a_released_buffer_back, |imp| {
    let _g = det(82);
    let m = mount(imp, 1);
    let off = m.offset(Zone::LargeData, 0, 41);
    let b = m.bread(off).expect("bread");
    dirty(&m, &b, 41);
    let io = b.io();
    let bp = bp_of(io);
    m.rel_buffer(b);
    assert_eq!(bsnap(bp).queue, Queue::Dirty);
    let b = m.bread(off).expect("again");
    let before = io_snap(&m, io);
    assert!(before.released && before.modified);
    let regets = kern::counters().regetblk;
    // SAFETY: referenced buffer.
    unsafe { (imp.modify_buffer)(null_mut(), b.as_ptr(), nullv(), 0) };
    assert_eq!(kern::counters().regetblk, regets + 1);
    let mut want = before.clone();
    want.released = false;
    want.modify_refs = 1;
    assert_eq!(io_snap(&m, io), want, "still on data_root once");
    let bs = bsnap(bp);
    assert_eq!(bs.lock, LockOwner::Kernel, "regetblk + BUF_KERNPROC");
    assert_eq!(bs.queue, Queue::None);
    // SAFETY: as above.
    unsafe { (imp.modify_buffer_done)(b.as_ptr()) };
    m.rel_buffer(b);
    finish(m);
});

both!(modify_buffer_with_undo, |imp| {
    let _g = det(83);
    let m = mount(imp, 1);
    let off = m.offset(Zone::Meta, 0, 42);
    let (_, dev_off) = m.locate(off);
    let old = pattern(42, BUFSIZE);
    m.devices()[0].write_stable(dev_off, &old);
    let mut t = m.start_transaction();
    let b = m.bread(off).expect("bread");
    // SAFETY: referenced buffer; base points 256 bytes into its data.
    unsafe {
        let base = ((*b.as_ptr()).ondisk as *mut u8).add(256) as *mut c_void;
        (imp.modify_buffer)(t.as_ptr(), b.as_ptr(), base, 100);
    }
    let s = io_snap(&m, b.io());
    assert!(s.modified && s.modify_refs == 1 && s.root == Root::Meta);
    let (undo_off, n, data) = first_undo(&m);
    assert_eq!(
        undo_off,
        b.zone2() + 256,
        "hammer_generate_undo(zone2_offset + rel)"
    );
    assert_eq!(n, 100);
    assert_eq!(data, old[256..356].to_vec(), "the old bytes");
    // The UNDO FIFO moved the root volume's append point: it is dirty.
    assert_eq!(root_of(&m, volume_ptr(&m, 0).cast()), Root::Volu);
    // SAFETY: as above.
    unsafe { (imp.modify_buffer_done)(b.as_ptr()) };
    m.rel_buffer(b);
    m.done_transaction(t);
    finish(m);
});

both!(modify_volume_with_and_without_undo, |imp| {
    let _g = det(84);
    let m = mount(imp, 2);
    let v = m.get_volume(1).expect("volume 1");
    let vio = v.as_ptr().cast::<ffi::hammer_io>();
    let undo0 = undo_next(&m);
    // SAFETY: referenced volume.
    unsafe { (imp.modify_volume)(null_mut(), v.as_ptr(), nullv(), 0) };
    let s = io_snap(&m, vio);
    assert!(s.modified && s.modify_refs == 1 && s.root == Root::Volu && !s.released);
    assert_eq!(undo_next(&m), undo0, "no UNDO");
    assert_eq!(locked_dirty_space(&m), BUFSIZE as i64);
    // SAFETY: as above.
    unsafe { (imp.modify_volume_done)(v.as_ptr()) };
    assert_eq!(io_snap(&m, vio).modify_refs, 0);

    let old = v.read()[512..576].to_vec();
    let mut t = m.start_transaction();
    // SAFETY: as above; base points 512 bytes into the header.
    unsafe {
        let base = ((*v.as_ptr()).ondisk as *mut u8).add(512) as *mut c_void;
        (imp.modify_volume)(t.as_ptr(), v.as_ptr(), base, 64);
    }
    let (undo_off, n, data) = first_undo(&m);
    assert_eq!(
        undo_off,
        ffi::HAMMER_ZONE_RAW_VOLUME | (1u64 << 52) | 512,
        "HAMMER_ENCODE_RAW_VOLUME(vol_no, rel_offset)"
    );
    assert_eq!(n, 64);
    assert_eq!(data, old);
    assert_eq!(io_snap(&m, vio).modify_refs, 1);
    // SAFETY: as above.
    unsafe { (imp.modify_volume_done)(v.as_ptr()) };
    m.done_transaction(t);
    m.rel_volume(v);
    finish(m);
});

both!(modify_asserts_sync_lock_and_offset, |imp| {
    let _g = det(85);
    let m = mount(imp, 1);
    let b = m.bread(m.offset(Zone::Meta, 0, 43)).expect("bread");
    let io = b.io();
    let before = io_snap(&m, io);
    // A transaction without the sync lock may not modify.
    let mut t = m.start_flusher_transaction();
    expect_kernel_panic("assertion", || {
        // SAFETY: referenced buffer.
        unsafe { (imp.modify_buffer)(t.as_ptr(), b.as_ptr(), nullv(), 0) }
    });
    assert_eq!(io_snap(&m, io), before, "checked before anything");
    m.done_transaction(t);
    // A base outside the buffer: the io is modified first, then the
    // assertion fires.
    let mut t = m.start_transaction();
    expect_kernel_panic("assertion", || {
        // SAFETY: the bogus base is only compared, never dereferenced.
        unsafe {
            let base = ((*b.as_ptr()).ondisk as *mut u8).wrapping_add(BUFSIZE) as *mut c_void;
            (imp.modify_buffer)(t.as_ptr(), b.as_ptr(), base, 8)
        }
    });
    let s = io_snap(&m, io);
    assert!(s.modified && s.modify_refs == 1, "{s:?}");
    // SAFETY: as above.
    unsafe { (imp.modify_buffer_done)(b.as_ptr()) };
    m.done_transaction(t);
    // Same for a volume.
    let v = m.get_volume(0).expect("volume");
    let mut t = m.start_flusher_transaction();
    let vs = io_snap(&m, v.as_ptr().cast());
    expect_kernel_panic("assertion", || {
        // SAFETY: referenced volume.
        unsafe { (imp.modify_volume)(t.as_ptr(), v.as_ptr(), nullv(), 0) }
    });
    assert_eq!(io_snap(&m, v.as_ptr().cast()), vs);
    m.done_transaction(t);
    let mut t = m.start_transaction();
    expect_kernel_panic("assertion", || {
        // SAFETY: the bogus base is only compared, never dereferenced.
        unsafe {
            let base = ((*v.as_ptr()).ondisk as *mut u8).wrapping_sub(1) as *mut c_void;
            (imp.modify_volume)(t.as_ptr(), v.as_ptr(), base, 8)
        }
    });
    let s = io_snap(&m, v.as_ptr().cast());
    assert!(
        s.modified && s.modify_refs == 1,
        "modified before the check: {s:?}"
    );
    // SAFETY: referenced volume.
    unsafe { (imp.modify_volume_done)(v.as_ptr()) };
    m.done_transaction(t);
    m.rel_volume(v);
    m.rel_buffer(b);
    finish(m);
});

both!(modify_done_wakes_waitmod_at_zero, |imp| {
    let _g = det(86);
    let m = mount(imp, 1);
    let b = m.bread(m.offset(Zone::LargeData, 0, 44)).expect("bread");
    let io = b.io();
    name_obj(io, "modify-io");
    // SAFETY: referenced buffer.
    unsafe {
        (imp.modify_buffer)(null_mut(), b.as_ptr(), nullv(), 0);
        (imp.modify_buffer)(null_mut(), b.as_ptr(), nullv(), 0);
        (*io).set_waitmod(1);
    }
    let rec = record();
    // SAFETY: as above.
    unsafe { (imp.modify_buffer_done)(b.as_ptr()) };
    let s = io_snap(&m, io);
    assert!(s.modify_refs == 1 && s.waitmod, "not yet: {s:?}");
    assert_eq!(calls_on(&rec.snapshot(), "wakeup", "modify-io"), 0);
    // SAFETY: as above.
    unsafe { (imp.modify_buffer_done)(b.as_ptr()) };
    let s = io_snap(&m, io);
    assert!(s.modify_refs == 0 && !s.waitmod, "{s:?}");
    assert_eq!(calls_on(&rec.take(), "wakeup", "modify-io"), 1);
    // No waiter: no wakeup.
    // SAFETY: as above.
    unsafe {
        (imp.modify_buffer)(null_mut(), b.as_ptr(), nullv(), 0);
        (imp.modify_buffer_done)(b.as_ptr());
    }
    assert_eq!(calls_on(&rec.take(), "wakeup", "modify-io"), 0);
    trace::set_sink(None);
    // One done too many.
    expect_kernel_panic("assertion", || {
        // SAFETY: as above.
        unsafe { (imp.modify_buffer_done)(b.as_ptr()) }
    });
    assert_eq!(io_snap(&m, io).modify_refs, 0);
    m.rel_buffer(b);
    finish(m);
});

both!(write_interlock_without_contention, |imp| {
    let _g = det(87);
    let m = mount(imp, 1);
    let b = m.bread(m.offset(Zone::Meta, 0, 45)).expect("bread");
    let io = b.io();
    name_obj(io, "interlock-io");
    let before = io_snap(&m, io);
    let rec = record();
    // SAFETY: referenced io.
    unsafe { (imp.write_interlock)(io) };
    let ev = rec.take();
    let mut want = before.clone();
    want.modify_refs = -1;
    assert_eq!(io_snap(&m, io), want);
    assert_eq!(calls_on(&ev, "lwkt_gettoken", "hmp.io_token"), 1);
    assert_eq!(calls_on(&ev, "tsleep", "interlock-io"), 0);
    // SAFETY: as above.
    unsafe { (imp.done_interlock)(io) };
    assert_eq!(io_snap(&m, io), before);
    assert_eq!(
        calls_on(&rec.take(), "wakeup", "interlock-io"),
        0,
        "nobody waits"
    );
    // A waiter flagged: woken.
    // SAFETY: as above.
    unsafe {
        (imp.write_interlock)(io);
        (*io).set_waitmod(1);
        (imp.done_interlock)(io);
    }
    assert_eq!(io_snap(&m, io), before, "waitmod cleared");
    assert_eq!(calls_on(&rec.take(), "wakeup", "interlock-io"), 1);
    trace::set_sink(None);
    // done without the interlock.
    expect_kernel_panic("assertion", || {
        // SAFETY: as above.
        unsafe { (imp.done_interlock)(io) }
    });
    assert_eq!(io_snap(&m, io), before);
    m.rel_buffer(b);
    finish(m);
});

// ---------------------------------------------------------------------
// The modified trees
// ---------------------------------------------------------------------

const NODE: usize = size_of::<ffi::hammer_node_ondisk>();

/// Loads node `node_off` (B-Tree zone), referenced.
fn get_node(t: &mut hammer_io::hosted::hammer::Transaction, node_off: u64) -> ffi::hammer_node_t {
    let mut error: c_int = 0;
    // SAFETY: live transaction.
    let n = unsafe { objects::hammer_get_node(t.as_ptr(), node_off, true, &mut error) };
    assert_eq!(error, 0);
    n
}

fn node_refs(n: ffi::hammer_node_t) -> u32 {
    // SAFETY: live node.
    unsafe { lock::isactive(addr_of_mut!((*n).lock)) }
}

both!(clear_modify_finalizes_btree_crcs, |imp| {
    let _g = det(88);
    let m = mount(imp, 1);
    for inval in [0, 1] {
        let buf_off = m.offset(Zone::Btree, 0, 46 + inval as u64);
        let mut t = m.start_transaction();
        let a = get_node(&mut t, buf_off);
        let c = get_node(&mut t, buf_off + NODE as u64);
        // SAFETY: referenced nodes of a referenced transaction.
        unsafe {
            objects::hammer_modify_node_noundo(t.as_ptr(), a);
            core::ptr::write_bytes((*a).ondisk as *mut u8, 0x5A, NODE);
            (*(*a).ondisk).crc = 0xDEAD_BEEF;
            objects::hammer_modify_node_done(a);
            assert!((*a).flags & ffi::HAMMER_NODE_NEEDSCRC != 0);
            // A node of the same buffer without a pending CRC.
            (*(*c).ondisk).crc = 0x1234_5678;
        }
        assert_eq!(node_refs(a), 2, "NEEDSCRC holds a reference");
        // SAFETY: as above.
        unsafe { ffi::hammer_rel_node(a) };
        assert_eq!(node_refs(a), 1);
        let b = m.bread(buf_off).expect("the node buffer");
        let io = b.io();
        let s = io_snap(&m, io);
        assert!(s.modified && s.gencrc && s.root == Root::Meta, "{s:?}");
        let lds = locked_dirty_space(&m);
        let dbs = globals::counters().dirtybufspace;
        // SAFETY: referenced io.
        unsafe { (imp.clear_modify)(io, inval) };
        let s = io_snap(&m, io);
        assert!(!s.modified && !s.gencrc && s.root == Root::None, "{s:?}");
        assert_eq!(locked_dirty_space(&m), lds - BUFSIZE as i64);
        assert_eq!(globals::counters().dirtybufspace, dbs - BUFSIZE as i64);
        let data = b.read();
        if inval == 0 {
            assert_eq!(
                le32(&data, 0),
                crc32(&data[4..4 + ffi::HAMMER_BTREE_CRCSIZE]),
                "crc32 of the node after its crc field"
            );
        } else {
            assert_eq!(le32(&data, 0), 0xDEAD_BEEF, "inval: no CRC");
        }
        assert_eq!(le32(&data, NODE), 0x1234_5678, "other nodes untouched");
        assert_eq!(node_refs(a), 0, "the NEEDSCRC reference was dropped");
        // SAFETY: nodes stay cached on the buffer's clist.
        unsafe {
            assert_eq!((*a).flags & ffi::HAMMER_NODE_NEEDSCRC, 0);
            ffi::hammer_rel_node(c);
        }
        m.rel_buffer(b);
        m.done_transaction(t);
    }
    finish(m);
});

both!(clear_modify_without_gencrc_leaves_nodes, |imp| {
    let _g = det(89);
    let m = mount(imp, 1);
    let buf_off = m.offset(Zone::Btree, 0, 48);
    let mut t = m.start_transaction();
    let a = get_node(&mut t, buf_off);
    // SAFETY: referenced node.
    unsafe {
        objects::hammer_modify_node_noundo(t.as_ptr(), a);
        objects::hammer_modify_node_done(a);
        ffi::hammer_rel_node(a);
    }
    let b = m.bread(buf_off).expect("buffer");
    let io = b.io();
    // SAFETY: referenced io; gencrc cleared by hand.
    unsafe {
        (*io).set_gencrc(0);
        (*(*a).ondisk).crc = 0x0BAD_F00D;
        (imp.clear_modify)(io, 0);
    }
    assert!(!io_snap(&m, io).modified);
    assert_eq!(
        le32(&b.read(), 0),
        0x0BAD_F00D,
        "no delayed work without gencrc"
    );
    assert_eq!(node_refs(a), 1, "still held by NEEDSCRC");
    // A data buffer with gencrc: the flag is consumed, no node scan.
    let d = m.bread(m.offset(Zone::LargeData, 0, 48)).expect("data");
    dirty(&m, &d, 48);
    // SAFETY: referenced io.
    unsafe {
        (*d.io()).set_gencrc(1);
        (imp.clear_modify)(d.io(), 0);
    }
    let s = io_snap(&m, d.io());
    assert!(!s.modified && !s.gencrc && s.root == Root::None);
    m.rel_buffer(d);
    // Not modified: nothing at all, not even io_token.
    let rec = record();
    let before = io_snap(&m, io);
    // SAFETY: referenced io.
    unsafe { (imp.clear_modify)(io, 0) };
    assert_eq!(calls(&rec.take(), "lwkt_gettoken"), 0);
    trace::set_sink(None);
    assert_eq!(io_snap(&m, io), before);
    // Tidy up the node's pending CRC by hand.
    // SAFETY: the node is referenced by its NEEDSCRC flag.
    unsafe {
        (*a).flags &= !ffi::HAMMER_NODE_NEEDSCRC;
        ffi::hammer_rel_node(a);
    }
    m.rel_buffer(b);
    m.done_transaction(t);
    finish(m);
});

both!(clear_modlist_takes_loose_ios_off_lose_root, |imp| {
    let _g = det(90);
    let m = mount(imp, 1);
    let off = m.offset(Zone::LargeData, 0, 49);
    let b = m.bread(off).expect("bread");
    let io = b.io();
    m.rel_buffer(b);
    kern::recycle(usize::MAX);
    assert_eq!(root_of(&m, io), Root::Lose);
    // SAFETY: the structure lives on lose_root.
    unsafe { (imp.clear_modlist)(io) };
    let s = io_snap(&m, io);
    assert_eq!(s.root, Root::None);
    assert!(!s.has_bp);
    // SAFETY: live lose tree of the mount.
    unsafe {
        let lose = addr_of_mut!((*m.hmp()).lose_root);
        assert!((imp.mod_find)(lose, io).is_null(), "removed from the tree");
    }
    // On no tree: nothing, not even io_token.
    let rec = record();
    // SAFETY: as above.
    unsafe { (imp.clear_modlist)(io) };
    assert_eq!(calls(&rec.take(), "lwkt_gettoken"), 0);
    trace::set_sink(None);

    // A modified io, and a clean io on a tree other than lose_root, are
    // rejected.
    let b = m.bread(m.offset(Zone::LargeData, 0, 50)).expect("bread");
    dirty(&m, &b, 50);
    let io = b.io();
    expect_kernel_panic("assertion", || {
        // SAFETY: referenced io.
        unsafe { (imp.clear_modlist)(io) }
    });
    // SAFETY: as above; the modified bit flipped by hand and back.
    unsafe { (*io).set_modified(0) };
    expect_kernel_panic("assertion", || {
        // SAFETY: as above.
        unsafe { (imp.clear_modlist)(io) }
    });
    // SAFETY: as above.
    unsafe { (*io).set_modified(1) };
    assert_eq!(root_of(&m, io), Root::Data);
    m.rel_buffer(b);
    finish(m);
});

both!(set_modlist_rejects_duplicates_and_dummies, |imp| {
    let _g = det(91);
    let m = mount(imp, 1);
    let off = m.offset(Zone::Meta, 0, 51);
    let (_, dev_off) = m.locate(off);
    let b = m.bread(off).expect("bread");
    dirty(&m, &b, 51);
    // A second io for the same volume and offset: its modification would
    // put a duplicate key on meta_root.
    let sa = Standalone::new(
        imp,
        &m,
        0,
        ffi::HAMMER_STRUCTURE_META_BUFFER,
        off,
        dev_off as i64,
    );
    // The buffer is HAMMER's (locked): give the standalone io its own
    // buffer at the same device offset through a second device vnode is
    // not possible, so attach it by hand to a fresh private buffer.
    let lds = locked_dirty_space(&m);
    let dbs = globals::counters().dirtybufspace;
    // SAFETY: a pbuf-like private buffer is not needed: modify only needs
    // io->bp non-NULL and the io referenced; we point it at the meta
    // buffer's bp without touching the buffer.
    unsafe {
        (*sa.io()).bp = bp_of(b.io());
        (*sa.io()).set_released(0);
    }
    expect_kernel_panic("hammer_io_set_modlist: duplicate entry", || {
        // SAFETY: referenced standalone buffer.
        unsafe { (imp.modify_buffer)(null_mut(), sa.buffer, nullv(), 0) }
    });
    // The io had been filed (and its space counted) before the insert
    // failed; undo that and detach it again.
    assert_eq!(root_of(&m, sa.io()), Root::Meta);
    assert_eq!(locked_dirty_space(&m), lds + BUFSIZE as i64);
    assert_eq!(globals::counters().dirtybufspace, dbs + BUFSIZE as i64);
    // SAFETY: undoing the half-done filing by hand.
    unsafe {
        let io = sa.io();
        assert_eq!((*io).modified(), 0);
        (*io).mod_root = null_mut();
        (*m.hmp()).locked_dirty_space -= BUFSIZE as i64;
        globals::hammer_count_dirtybufspace.fetch_sub(BUFSIZE as i64, Ordering::SeqCst);
        (*io).bp = null_mut();
        (*io).modify_refs = 0;
        // The io lock was left held exclusively.
        assert_ne!(lock::lockval_word(addr_of_mut!((*io).lock)), 0);
        (*io).lock.lockval = 0;
        (*io).lock.lowner = null_mut();
    }
    sa.destroy(imp);

    // A placemarker type cannot be filed at all.
    let sa = Standalone::new(imp, &m, 0, ffi::HAMMER_STRUCTURE_DUMMY, off, dev_off as i64);
    // SAFETY: as above.
    unsafe {
        (*sa.io()).bp = bp_of(b.io());
    }
    expect_kernel_panic("hammer_io_set_modlist: bad io type", || {
        // SAFETY: as above.
        unsafe { (imp.modify_buffer)(null_mut(), sa.buffer, nullv(), 0) }
    });
    // SAFETY: as above.
    unsafe {
        let io = sa.io();
        assert!((*io).mod_root.is_null());
        (*io).bp = null_mut();
        (*io).modify_refs = 0;
        (*io).lock.lockval = 0;
        (*io).lock.lowner = null_mut();
        (*io).type_ = ffi::HAMMER_STRUCTURE_META_BUFFER;
    }
    sa.destroy(imp);
    m.rel_buffer(b);
    finish(m);
});

both!(disassociate_rejects_dummies, |imp| {
    let _g = det(92);
    let m = mount(imp, 1);
    let off = m.offset(Zone::LargeData, 0, 52);
    let (_, dev_off) = m.locate(off);
    let sa = Standalone::new(
        imp,
        &m,
        0,
        ffi::HAMMER_STRUCTURE_DATA_BUFFER,
        off,
        dev_off as i64,
    );
    // SAFETY: our standalone io.
    assert_eq!(
        unsafe { (imp.read)(devvp(&m, 0), sa.io(), ffi::HAMMER_BUFSIZE) },
        0
    );
    let bp = bp_of(sa.io());
    // SAFETY: as above.
    unsafe { (*sa.io()).type_ = ffi::HAMMER_STRUCTURE_DUMMY };
    expect_kernel_panic("hammer_io_disassociate: bad io type", || {
        // SAFETY: as above.
        unsafe { (imp.release)(sa.io(), 1) }
    });
    // The link was already cut when the type was looked at.
    assert!(bp_of(sa.io()).is_null());
    assert!(bsnap(bp).dep_first.is_null());
    brelse(bp);
    // SAFETY: as above.
    unsafe { (*sa.io()).type_ = ffi::HAMMER_STRUCTURE_DATA_BUFFER };
    sa.destroy(imp);
    finish(m);
});

// ---------------------------------------------------------------------
// hammer_io_flush
// ---------------------------------------------------------------------

both!(flush_starts_the_write, |imp| {
    let _g = det(93);
    let m = mount(imp, 1);
    let v0 = volume_ptr(&m, 0);
    let b = m.bread(m.offset(Zone::LargeData, 0, 53)).expect("bread");
    let io = b.io();
    let bp = bp_of(io);
    // Clean: nothing happens.
    let before = io_snap(&m, io);
    let rec = record();
    // SAFETY: referenced io.
    unsafe { (imp.flush)(io, 1) };
    assert!(rec.take().is_empty(), "no kernel call at all");
    assert_eq!(io_snap(&m, io), before);

    dirty(&m, &b, 53);
    // SAFETY: live volume.
    unsafe { (*v0).vol_flags &= !ffi::HAMMER_VOLF_NEEDFLUSH };
    let c0 = globals::counters();
    let before = io_snap(&m, io);
    // SAFETY: as above.
    unsafe { (imp.flush)(io, 0) };
    let ev = rec.take();
    trace::set_sink(None);
    let mut want = before.clone();
    want.released = true;
    want.modified = false;
    want.running = true;
    want.root = Root::None;
    want.on_iorun = true;
    assert_eq!(io_snap(&m, io), want);
    assert_eq!(*iorun(&m).last().unwrap(), io, "at the tail");
    assert_eq!(calls(&ev, "cluster_awrite"), 1);
    assert_eq!(io_running_space(&m), bytes_of(io));
    assert_eq!(
        globals::counters().io_running_write,
        c0.io_running_write + bytes_of(io)
    );
    assert!(
        vol_flags(v0) & ffi::HAMMER_VOLF_NEEDFLUSH != 0,
        "hammer_io_flush_mark"
    );
    assert_eq!(owner(bp), LockOwner::Kernel);
    assert_eq!(bsnap(bp).flags & ffi::B_LOCKED, 0);
    kern::run_pending_io();
    assert!(!io_snap(&m, io).running);
    m.rel_buffer(b);
    finish(m);
});

both!(flush_reclaim_pins_the_buffer, |imp| {
    let _g = det(94);
    let m = mount(imp, 1);
    let vp = devvp(&m, 0);
    let off = m.offset(Zone::LargeData, 0, 54);
    let (_, dev_off) = m.locate(off);
    let b = m.bread(off).expect("bread");
    dirty(&m, &b, 54);
    let io = b.io();
    let bp = bp_of(io);
    let n = globals::counters().io_locked;
    flush(imp, io, 1);
    let s = io_snap(&m, io);
    assert!(s.reclaim && s.running && !s.modified && s.released, "{s:?}");
    assert!(bflag(bp, ffi::B_LOCKED));
    assert_eq!(globals::counters().io_locked, n + 1);
    kern::run_pending_io();
    // Completion tried to deallocate: still referenced, so pinned again.
    assert!(bflag(bp, ffi::B_LOCKED));
    assert_eq!(globals::counters().io_locked, n + 1);
    // Dirty again and flushed with reclaim again: B_LOCKED counted once.
    m.modify(None, &b, 0, b"again", false);
    flush(imp, io, 1);
    assert_eq!(globals::counters().io_locked, n + 1);
    kern::run_pending_io();
    // The last reference goes: reclaimed for good.
    m.rel_buffer(b);
    assert_eq!(globals::counters().io_locked, n);
    assert!(kern::lookup(vp, dev_off as i64).is_none());
    finish(m);
});

both!(flush_of_a_released_buffer_regetblks, |imp| {
    let _g = det(95);
    let m = mount(imp, 1);
    let off = m.offset(Zone::LargeData, 0, 55);
    let b = m.bread(off).expect("bread");
    dirty(&m, &b, 55);
    let io = b.io();
    let bp = bp_of(io);
    m.rel_buffer(b);
    let b = m.bread(off).expect("again");
    assert!(io_snap(&m, io).released);
    let regets = kern::counters().regetblk;
    globals::hammer_debug_io.store(2, Ordering::SeqCst);
    kern::console_take();
    flush(imp, io, 0);
    globals::hammer_debug_io.store(0, Ordering::SeqCst);
    assert_eq!(kern::counters().regetblk, regets + 1);
    let s = io_snap(&m, io);
    assert!(s.released && s.running && !s.modified);
    assert_eq!(owner(bp), LockOwner::Kernel);
    let console = kern::console_take();
    let want = format!("hammer io_write {:016x}\n", bsnap(bp).loffset);
    assert!(console.contains(&want), "{console:?} lacks {want:?}");
    kern::run_pending_io();
    m.rel_buffer(b);
    finish(m);
});

both!(flush_finalizes_node_crcs_on_media, |imp| {
    let _g = det(96);
    let m = mount(imp, 1);
    let buf_off = m.offset(Zone::Btree, 0, 56);
    let (_, dev_off) = m.locate(buf_off);
    let mut t = m.start_transaction();
    let a = get_node(&mut t, buf_off);
    // SAFETY: referenced node.
    unsafe {
        objects::hammer_modify_node_noundo(t.as_ptr(), a);
        core::ptr::write_bytes((*a).ondisk as *mut u8, 0x77, NODE);
        objects::hammer_modify_node_done(a);
        ffi::hammer_rel_node(a);
    }
    m.done_transaction(t);
    let b = m.bread(buf_off).expect("buffer");
    flush(imp, b.io(), 0);
    kern::run_pending_io();
    let raw = m.devices()[0].read_current(dev_off, NODE);
    assert_eq!(
        le32(&raw, 0),
        crc32(&raw[4..]),
        "CRC written before the I/O"
    );
    assert_eq!(node_refs(a), 0);
    m.rel_buffer(b);
    finish(m);
});

both!(flush_asserts_no_modifiers, |imp| {
    let _g = det(97);
    let m = mount(imp, 1);
    let b = m.bread(m.offset(Zone::LargeData, 0, 57)).expect("bread");
    let io = b.io();
    // SAFETY: referenced buffer.
    unsafe { (imp.modify_buffer)(null_mut(), b.as_ptr(), nullv(), 0) };
    let before = io_snap(&m, io);
    expect_kernel_panic("assertion", || {
        // SAFETY: as above.
        unsafe { (imp.flush)(io, 0) }
    });
    assert_eq!(io_snap(&m, io), before);
    // SAFETY: as above.
    unsafe { (imp.modify_buffer_done)(b.as_ptr()) };
    m.rel_buffer(b);
    finish(m);
});

// ---------------------------------------------------------------------
// hammer_io_flush_sync, hammer_io_limit_backlog
// ---------------------------------------------------------------------

both!(flush_sync_flushes_marked_volumes_only, |imp| {
    let _g = det(98);
    let m = mount(imp, 2);
    let (v0, v1) = (volume_ptr(&m, 0), volume_ptr(&m, 1));
    // Nothing marked: no pbuf, no device command.
    // SAFETY: live volumes.
    unsafe {
        (*v0).vol_flags &= !ffi::HAMMER_VOLF_NEEDFLUSH;
        (*v1).vol_flags &= !ffi::HAMMER_VOLF_NEEDFLUSH;
    }
    let rec = record();
    m.flush_sync();
    let ev = rec.take();
    assert_eq!(calls(&ev, "getpbuf"), 0);
    assert_eq!(kern::counters().disk_flushes, 0);

    // A HAMMER write on volume 1 marks it.
    let b = m
        .bread(m.offset(Zone::SmallData, 1, 3))
        .expect("bread on volume 1");
    dirty(&m, &b, 3);
    flush(imp, b.io(), 0);
    kern::run_pending_io();
    m.rel_buffer(b);
    assert_eq!(vol_flags(v0) & ffi::HAMMER_VOLF_NEEDFLUSH, 0);
    assert!(vol_flags(v1) & ffi::HAMMER_VOLF_NEEDFLUSH != 0);
    assert!(!m.devices()[1].cache_is_empty());
    let (f0, f1) = (
        m.devices()[0].stats().flushes,
        m.devices()[1].stats().flushes,
    );
    rec.take();
    m.flush_sync();
    let ev = rec.take();
    assert_eq!(vol_flags(v1) & ffi::HAMMER_VOLF_NEEDFLUSH, 0, "cleared");
    assert_eq!(m.devices()[0].stats().flushes, f0);
    assert_eq!(m.devices()[1].stats().flushes, f1 + 1);
    assert!(m.devices()[1].cache_is_empty(), "device cache drained");
    assert_eq!(calls(&ev, "getpbuf"), 1);
    assert_eq!(calls(&ev, "relpbuf"), 1);

    // Both marked: one BUF_CMD_FLUSH each, all waited for.
    // SAFETY: live volumes.
    unsafe {
        (*v0).vol_flags |= ffi::HAMMER_VOLF_NEEDFLUSH;
        (*v1).vol_flags |= ffi::HAMMER_VOLF_NEEDFLUSH;
    }
    m.flush_sync();
    let ev = rec.take();
    trace::set_sink(None);
    assert_eq!(calls(&ev, "getpbuf"), 2);
    assert_eq!(calls(&ev, "relpbuf"), 2);
    assert_eq!(m.devices()[0].stats().flushes, f0 + 1);
    assert_eq!(m.devices()[1].stats().flushes, f1 + 2);
    assert_eq!(kern::pending_io(), 0);
    assert_eq!(vol_flags(v0) & ffi::HAMMER_VOLF_NEEDFLUSH, 0);
    finish(m);
});

both!(limit_backlog_waits_for_running_writes, |imp| {
    let _g = machine(Config {
        hirunningspace: Some(6 * BUFSIZE as i64),
        ..Config::deterministic(99)
    });
    let m = mount(imp, 1);
    // Idle: returns at once.
    let w0 = kern::counters().runningbuf_waits;
    // SAFETY: live mount.
    unsafe { (imp.limit_backlog)(m.hmp()) };
    assert_eq!(kern::counters().runningbuf_waits, w0);
    // Eight 16K writes in flight, limit 4/6 of 96K.
    // (Read them all first: a synchronous read lets the deterministic
    // machine complete pending writes while it waits.)
    let bufs: Vec<BufRef> = (0..8u64)
        .map(|i| {
            m.bread(m.offset(Zone::LargeData, 0, 60 + i))
                .expect("bread")
        })
        .collect();
    for (i, b) in bufs.iter().enumerate() {
        dirty(&m, b, 60 + i as u8);
        flush(imp, b.io(), 0);
    }
    assert_eq!(kern::pending_io(), 8);
    assert!(kern::counters().runningbufspace > 4 * BUFSIZE as i64);
    // SAFETY: as above.
    unsafe { (imp.limit_backlog)(m.hmp()) };
    let c = kern::counters();
    assert!(c.runningbuf_waits > w0, "it waited");
    assert!(
        c.runningbufspace <= 4 * BUFSIZE as i64,
        "{}",
        c.runningbufspace
    );
    for b in bufs {
        m.rel_buffer(b);
    }
    finish(m);
});
