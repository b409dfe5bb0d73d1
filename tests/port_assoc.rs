//! Associating buffer-cache buffers with HAMMER structures, on both
//! implementations: `hammer_io_init`, `_read` (cold through bread or
//! cluster_read, hot, the `hammer_debug_io & 1` trace, errors), `_new`
//! (fresh buffers zeroed, valid data kept, released buffers re-acquired),
//! `_advance`, `_notmeta`, `_inval` (EAGAIN and 0), `_wait` and
//! `_wait_all` (one waiter; the two-waiter chain is in port_threads).
#![cfg(feature = "hosted")]

#[macro_use]
mod port_common;

use core::sync::atomic::Ordering;
use port_common::*;

// ---------------------------------------------------------------------
// hammer_io_init
// ---------------------------------------------------------------------

both!(init_sets_volume_mount_and_type, |imp| {
    let _g = det(61);
    let m = mount(imp, 2);
    let v1 = volume_ptr(&m, 1);
    // SAFETY: a zeroed io of our own; the volume outlives the call.
    unsafe {
        let mut io: Box<ffi::hammer_io> = Box::new(core::mem::MaybeUninit::zeroed().assume_init());
        io.offset = 0x1234;
        io.bytes = 77;
        let p: *mut ffi::hammer_io = &mut *io;
        (imp.init)(p, v1, ffi::HAMMER_STRUCTURE_DATA_BUFFER);
        assert_eq!(io.volume, v1);
        assert_eq!(io.hmp, m.hmp(), "hmp taken from the volume's io");
        assert_eq!(io.type_, ffi::HAMMER_STRUCTURE_DATA_BUFFER);
        assert_eq!((io.offset, io.bytes), (0x1234, 77), "nothing else touched");
        assert!(io.bp.is_null() && io.mod_root.is_null());
        assert_eq!(io.modified() | io.released() | io.running(), 0);
        // Re-initialised as another type.
        (imp.init)(p, volume_ptr(&m, 0), ffi::HAMMER_STRUCTURE_UNDO_BUFFER);
        assert_eq!(io.volume, volume_ptr(&m, 0));
        assert_eq!(io.type_, ffi::HAMMER_STRUCTURE_UNDO_BUFFER);
        assert_eq!((io.offset, io.bytes), (0x1234, 77));
    }
    finish(m);
});

// ---------------------------------------------------------------------
// hammer_io_read
// ---------------------------------------------------------------------

/// The state `hammer_io_read` leaves a freshly read io and its buffer in.
fn assert_freshly_read(imp: IoImpl, m: &Mount, io: *mut ffi::hammer_io, what: &str) {
    let s = io_snap(m, io);
    assert!(
        s.has_bp && !s.released && !s.modified && !s.running && !s.waiting,
        "{what}: {s:?}"
    );
    let bs = bsnap(bp_of(io));
    assert_eq!(bs.ops, imp.bioops, "{what}: b_ops = &hammer_bioops");
    assert_eq!(bs.dep_first as usize, io as usize, "{what}: io on b_dep");
    assert_eq!(bs.lock, LockOwner::Kernel, "{what}: BUF_KERNPROC");
    assert_eq!(bs.flags & ffi::B_IODEBUG, 0, "{what}: B_IODEBUG cleared");
    assert_eq!(bs.queue, Queue::None);
}

both!(read_cold_uses_bread_without_clustering, |imp| {
    let _g = det(62);
    let m = mount(imp, 1);
    globals::hammer_cluster_enable.store(0, Ordering::SeqCst);
    let off = m.offset(Zone::Meta, 0, 3);
    let (_, dev_off) = m.locate(off);
    let data = pattern(3, BUFSIZE);
    m.devices()[0].write_stable(dev_off, &data);
    let reads = m.devices()[0].stats().reads;
    let c0 = globals::counters();
    // The running-read counter seen when the kernel is called.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let rec = record();
    trace::set_sink(Some(std::sync::Arc::new(move |e: &trace::Event| {
        if e.func == "breadnx" && e.kind == trace::Kind::Call {
            seen2
                .lock()
                .unwrap()
                .push(globals::hammer_count_io_running_read.load(Ordering::SeqCst));
        }
    })));
    let b = m.bread(off).expect("bread");
    trace::set_sink(None);
    drop(rec);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![BUFSIZE as i64],
        "counted while reading"
    );
    let io = b.io();
    assert_freshly_read(imp, &m, io, "meta");
    assert_eq!(b.read(), data);
    assert_eq!(m.devices()[0].stats().reads, reads + 1);
    let c1 = globals::counters();
    assert_eq!(c1.io_running_read, c0.io_running_read);
    assert_eq!(c1.disk_read, c0.disk_read + BUFSIZE as i64);
    assert_eq!(kern::counters().cluster_reads, 0);
    m.rel_buffer(b);
    finish(m);
});

both!(read_clusters_when_limit_allows, |imp| {
    let _g = det(63);
    let m = mount(imp, 1);
    let vp = devvp(&m, 0);
    // Meta-data: hammer_load_buffer allows clustering to the end of the
    // big-block; large-data buffers pass limit == bytes.
    for (z, clustered) in [(Zone::Meta, true), (Zone::LargeData, false)] {
        let off = m.offset(z, 0, 100);
        let (_, dev_off) = m.locate(off);
        let rec = record();
        let b = m.bread(off).expect("bread");
        let ev = rec.take();
        trace::set_sink(None);
        let cr: Vec<&trace::Event> = ev
            .iter()
            .filter(|e| e.func == "cluster_readx" && e.kind == trace::Kind::Call)
            .collect();
        if clustered {
            assert_eq!(cr.len(), 1, "{z:?}");
            let bb_end = (dev_off - m.layout().buf_beg) / ffi::HAMMER_LARGEBLOCK_SIZE64
                * ffi::HAMMER_LARGEBLOCK_SIZE64
                + ffi::HAMMER_LARGEBLOCK_SIZE64
                + m.layout().buf_beg;
            assert_eq!(
                cr[0].args,
                vec![bb_end as i64, dev_off as i64, BUFSIZE as i64],
                "cluster_read(devvp, offset + limit, offset, bytes, ...)"
            );
            assert_eq!(calls(&ev, "breadnx"), 0);
            assert!(
                kern::lookup(vp, dev_off as i64 + BUFSIZE as i64).is_some(),
                "read-ahead"
            );
        } else {
            assert!(cr.is_empty(), "{z:?}");
            assert_eq!(calls(&ev, "breadnx"), 1);
        }
        assert_freshly_read(imp, &m, b.io(), "clustered");
        m.rel_buffer(b);
    }
    // hammer_cluster_enable = 0 turns clustering off.
    globals::hammer_cluster_enable.store(0, Ordering::SeqCst);
    let rec = record();
    let b = m.bread(m.offset(Zone::Meta, 0, 300)).expect("bread");
    let ev = rec.take();
    trace::set_sink(None);
    assert_eq!(calls(&ev, "cluster_readx"), 0);
    assert_eq!(calls(&ev, "breadnx"), 1);
    m.rel_buffer(b);
    finish(m);
});

both!(read_hot_does_nothing, |imp| {
    let _g = det(64);
    let m = mount(imp, 1);
    let b = m.bread(m.offset(Zone::Meta, 0, 4)).expect("bread");
    let io = b.io();
    let before = io_snap(&m, io);
    let bs0 = bsnap(bp_of(io));
    let rec = record();
    // SAFETY: referenced io with its buffer.
    let r = unsafe { (imp.read)(devvp(&m, 0), io, ffi::HAMMER_BUFSIZE * 4) };
    let ev = rec.take();
    trace::set_sink(None);
    assert_eq!(r, 0);
    assert_eq!(io_snap(&m, io), before);
    assert_eq!(bsnap(bp_of(io)).flags, bs0.flags);
    assert_eq!(
        calls(&ev, "breadnx") + calls(&ev, "cluster_readx") + calls(&ev, "getblk"),
        0
    );
    m.rel_buffer(b);
    finish(m);
});

both!(read_debug_trace_names_each_type, |imp| {
    let _g = det(65);
    let m = mount(imp, 2);
    globals::hammer_cluster_enable.store(0, Ordering::SeqCst);
    // A buffer whose data stays in the page cache after its buffer is
    // recycled: reading it again needs no device I/O.
    let vm_hit = m.offset(Zone::LargeData, 0, 6);
    let b = m.bread(vm_hit).expect("bread");
    m.rel_buffer(b);
    kern::recycle(usize::MAX);
    // Volume 1's header must really come from the device.
    kern::vm_evict(devvp(&m, 1));
    globals::hammer_debug_io.store(1, Ordering::SeqCst);
    kern::console_take();

    let v = m.get_volume(1).expect("volume 1");
    let vbp = bp_of(v.as_ptr().cast());
    let mut want = vec![format!("doff {:016x} volume\n", bsnap(vbp).bio2_offset)];
    let mut keep = Vec::new();
    for (off, name) in [
        (m.offset(Zone::Btree, 0, 5), "btree"),
        (m.offset(Zone::Meta, 0, 5), "meta"),
        (zone2(m.offset(Zone::Meta, 0, 6)), "meta?"),
        (m.offset(Zone::LargeData, 0, 5), "data"),
        (m.offset(Zone::SmallData, 0, 5), "data"),
        (m.offset(Zone::Undo, 0, 5), "undo"),
    ] {
        let b = m.bread(off).expect(name);
        want.push(format!(
            "doff {:016x} {name}\n",
            bsnap(bp_of(b.io())).bio2_offset
        ));
        keep.push(b);
    }
    // The freemap zone cannot be read through hammer_bread in the hosted
    // model: an io of a freemap-zone buffer on its own.
    let fm = ffi::HAMMER_ZONE_FREEMAP | 0x4000;
    let dev_off = (m.layout().buf_beg + 0x4000) as i64;
    let sa = Standalone::new(imp, &m, 0, ffi::HAMMER_STRUCTURE_META_BUFFER, fm, dev_off);
    // SAFETY: our standalone io.
    assert_eq!(
        unsafe { (imp.read)(devvp(&m, 0), sa.io(), ffi::HAMMER_BUFSIZE) },
        0
    );
    want.push(format!(
        "doff {:016x} freemap\n",
        bsnap(bp_of(sa.io())).bio2_offset
    ));
    sa.destroy(imp);

    // B_IODEBUG is whatever the last vn_strategy left: a buffer someone
    // else read from the device is reported (and the flag cleared) ...
    let other = m.offset(Zone::LargeData, 0, 7);
    let (_, odev) = m.locate(other);
    let mut bp = core::ptr::null_mut();
    // SAFETY: a plain read of the device vnode, released right away.
    unsafe {
        assert_eq!(
            k::breadnx(
                devvp(&m, 0),
                odev as i64,
                ffi::HAMMER_BUFSIZE,
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                0,
                &mut bp
            ),
            0
        );
        k::bqrelse(bp);
    }
    assert!(bflag(bp, ffi::B_IODEBUG));
    let b = m.bread(other).expect("read by someone else");
    want.push(format!(
        "doff {:016x} data\n",
        bsnap(bp_of(b.io())).bio2_offset
    ));
    assert_freshly_read(imp, &m, b.io(), "B_IODEBUG left set");
    keep.push(b);
    // ... while data found in the page cache is not.
    let b = m.bread(vm_hit).expect("page cache hit");
    assert_freshly_read(imp, &m, b.io(), "page cache hit");
    keep.push(b);

    let console = kern::console_take();
    let lines: Vec<String> = console
        .split_inclusive('\n')
        .filter(|l| l.starts_with("doff "))
        .map(str::to_string)
        .collect();
    assert_eq!(lines, want);

    globals::hammer_debug_io.store(0, Ordering::SeqCst);
    for b in keep {
        m.rel_buffer(b);
    }
    m.rel_volume(v);
    finish(m);
});

both!(read_error_still_sets_up_the_buffer, |imp| {
    let _g = det(66);
    let m = mount(imp, 1);
    let off = m.offset(Zone::LargeData, 0, 7);
    let (_, dev_off) = m.locate(off);
    m.devices()[0].add_fault(Fault::at(FaultOp::Read, dev_off, BUFSIZE as u64).times(1));
    let sa = Standalone::new(
        imp,
        &m,
        0,
        ffi::HAMMER_STRUCTURE_DATA_BUFFER,
        off,
        dev_off as i64,
    );
    let c0 = globals::counters();
    // SAFETY: our standalone io.
    let r = unsafe { (imp.read)(devvp(&m, 0), sa.io(), ffi::HAMMER_BUFSIZE) };
    assert_eq!(r, ffi::EIO);
    let io = sa.io();
    let bp = bp_of(io);
    assert!(!bp.is_null(), "the buffer is there even after an error");
    let bs = bsnap(bp);
    assert!(bs.flags & ffi::B_ERROR != 0);
    assert_eq!(bs.ops, imp.bioops);
    assert_eq!(bs.dep_first as usize, io as usize);
    assert_eq!(bs.lock, LockOwner::Kernel);
    // SAFETY: live io.
    unsafe {
        assert_eq!((*io).released(), 0);
        assert_eq!((*io).modified() | (*io).running(), 0);
    }
    let c1 = globals::counters();
    assert_eq!(c1.io_running_read, c0.io_running_read);
    assert_eq!(
        c1.disk_read,
        c0.disk_read + BUFSIZE as i64,
        "counted anyway"
    );
    sa.destroy(imp);
    assert!(
        kern::lookup(devvp(&m, 0), dev_off as i64).is_none(),
        "B_ERROR: thrown away"
    );

    // Through hammer_bread: the error comes back and no structure stays.
    m.devices()[0].add_fault(Fault::at(FaultOp::Read, dev_off, BUFSIZE as u64).times(1));
    let nbuf = globals::counters().buffers;
    assert_eq!(m.bread(off).err(), Some(ffi::EIO));
    assert_eq!(globals::counters().buffers, nbuf);
    finish(m);
});

// ---------------------------------------------------------------------
// hammer_io_new
// ---------------------------------------------------------------------

both!(new_fresh_buffer_is_zeroed_and_modified, |imp| {
    let _g = det(67);
    let m = mount(imp, 1);
    for (z, root, locked) in [
        (Zone::Meta, Root::Meta, true),
        (Zone::Btree, Root::Meta, true),
        (Zone::LargeData, Root::Data, false),
        (Zone::Undo, Root::Undo, false),
    ] {
        let off = m.offset(z, 0, 8);
        let (_, dev_off) = m.locate(off);
        m.devices()[0].write_stable(dev_off, &pattern(8, BUFSIZE));
        let reads = m.devices()[0].stats().reads;
        let lds = locked_dirty_space(&m);
        let dbs = globals::counters().dirtybufspace;
        let b = m.bnew(off).expect("bnew");
        let io = b.io();
        let s = io_snap(&m, io);
        assert!(
            s.has_bp && !s.released && s.modified && !s.running && !s.waiting,
            "{z:?}: {s:?}"
        );
        assert_eq!(s.modify_refs, 0, "{z:?}: modified without a modify ref");
        assert_eq!(s.root, root, "{z:?}");
        let bs = bsnap(bp_of(io));
        assert_eq!(bs.ops, imp.bioops);
        assert_eq!(bs.dep_first as usize, io as usize);
        assert_eq!(bs.lock, LockOwner::Kernel);
        assert_eq!(
            b.read(),
            vec![0u8; BUFSIZE],
            "{z:?}: vfs_bio_clrbuf zeroed it"
        );
        assert_eq!(m.devices()[0].stats().reads, reads, "{z:?}: nothing read");
        let grow = if locked { BUFSIZE as i64 } else { 0 };
        assert_eq!(locked_dirty_space(&m), lds + grow, "{z:?}");
        assert_eq!(globals::counters().dirtybufspace, dbs + grow, "{z:?}");
        m.rel_buffer(b);
    }
    finish(m);
});

both!(new_keeps_valid_data, |imp| {
    let _g = det(68);
    let m = mount(imp, 1);
    let vp = devvp(&m, 0);
    for (i, passive) in [false, true].into_iter().enumerate() {
        let off = m.offset(Zone::LargeData, 0, 9 + i as u64);
        let (_, dev_off) = m.locate(off);
        let data = pattern(9 + i as u8, BUFSIZE);
        m.devices()[0].write_stable(dev_off, &data);
        let mut b = m.bread(off).expect("bread");
        let io = b.io();
        let bp = bp_of(io);
        if passive {
            m.rel_buffer(b);
            b = m.bread(off).expect("again");
            assert!(io_snap(&m, io).released);
        }
        let regets = kern::counters().regetblk;
        // SAFETY: referenced io.
        assert_eq!(unsafe { (imp.new)(vp, io) }, 0);
        assert_eq!(bp_of(io), bp, "same buffer");
        assert_eq!(
            kern::counters().regetblk,
            regets + u64::from(passive),
            "passive={passive}: regetblk only for a released buffer"
        );
        let s = io_snap(&m, io);
        assert!(!s.released && s.modified && s.modify_refs == 0, "{s:?}");
        assert_eq!(owner(bp), LockOwner::Kernel);
        assert_eq!(b.read(), data, "valid data survives vfs_bio_clrbuf");
        m.rel_buffer(b);
    }
    finish(m);
});

// ---------------------------------------------------------------------
// hammer_io_advance, hammer_io_notmeta
// ---------------------------------------------------------------------

both!(advance_bumps_the_activity_count, |imp| {
    let _g = det(69);
    let m = mount(imp, 1);
    let b = m.bread(m.offset(Zone::Meta, 0, 10)).expect("bread");
    let io = b.io();
    let bp = bp_of(io);
    let mut act = bsnap(bp).act_count;
    for _ in 0..30 {
        // SAFETY: referenced io.
        unsafe { (imp.advance)(io) };
        act = if act > ffi::ACT_MAX - ffi::ACT_ADVANCE {
            ffi::ACT_MAX
        } else {
            act + ffi::ACT_ADVANCE
        };
        assert_eq!(bsnap(bp).act_count, act);
    }
    assert_eq!(act, ffi::ACT_MAX);
    m.rel_buffer(b);
    // Without a buffer: nothing to do.
    let off = m.offset(Zone::Meta, 0, 11);
    let b = m.bread(off).expect("bread");
    let io = b.io();
    m.rel_buffer(b);
    kern::recycle(usize::MAX);
    assert!(!io_snap(&m, io).has_bp);
    let before = io_snap(&m, io);
    // SAFETY: the structure is on lose_root, alive.
    unsafe { (imp.advance)(io) };
    assert_eq!(io_snap(&m, io), before);
    finish(m);
});

both!(notmeta_sets_b_notmeta_once, |imp| {
    let _g = det(70);
    let m = mount(imp, 1);
    let b = m.bread(m.offset(Zone::LargeData, 0, 12)).expect("bread");
    let bp = bp_of(b.io());
    let f0 = bsnap(bp).flags;
    assert_eq!(f0 & ffi::B_NOTMETA, 0);
    let rec = record();
    // SAFETY: referenced buffer.
    unsafe { (imp.notmeta)(b.as_ptr()) };
    let ev = rec.take();
    assert_eq!(bsnap(bp).flags, f0 | ffi::B_NOTMETA);
    assert_eq!(
        calls_on(&ev, "lwkt_gettoken", "hmp.io_token"),
        1,
        "under io_token"
    );
    // SAFETY: as above.
    unsafe { (imp.notmeta)(b.as_ptr()) };
    let ev = rec.take();
    trace::set_sink(None);
    assert_eq!(bsnap(bp).flags, f0 | ffi::B_NOTMETA);
    assert_eq!(
        calls_on(&ev, "lwkt_gettoken", "hmp.io_token"),
        0,
        "already set"
    );
    m.rel_buffer(b);
    finish(m);
});

// ---------------------------------------------------------------------
// hammer_io_inval
// ---------------------------------------------------------------------

both!(inval_refuses_associated_buffers, |imp| {
    let _g = det(71);
    let m = mount(imp, 1);
    let off = m.offset(Zone::LargeData, 0, 13);
    let (_, dev_off) = m.locate(off);
    let b = m.bread(off).expect("bread");
    let io = b.io();
    let bp = bp_of(io);
    m.rel_buffer(b);
    let before = io_snap(&m, io);
    let v = m.get_volume(0).expect("volume");
    // SAFETY: referenced volume.
    let r = unsafe { (imp.inval)(v.as_ptr(), zone2(off)) };
    assert_eq!(r, ffi::EAGAIN);
    assert_eq!(io_snap(&m, io), before);
    let bs = bsnap(bp);
    assert_eq!(bs.dep_first as usize, io as usize);
    assert_eq!(bs.queue, Queue::Clean, "bqrelse'd back");
    assert_eq!(bs.lock, LockOwner::Unlocked);
    assert_eq!(
        bs.flags & (ffi::B_NOCACHE | ffi::B_RELBUF | ffi::B_INVAL),
        0
    );
    assert!(kern::lookup(devvp(&m, 0), dev_off as i64).is_some());
    m.rel_volume(v);
    finish(m);
});

both!(inval_destroys_other_device_buffers, |imp| {
    let _g = det(72);
    let m = mount(imp, 1);
    let vp = devvp(&m, 0);
    let v = m.get_volume(0).expect("volume");
    // No buffer at all: one is instantiated (covering stale VM pages) and
    // thrown away.
    let off = m.offset(Zone::SmallData, 0, 14);
    let (_, dev_off) = m.locate(off);
    let g0 = kern::counters().getblk;
    let rec = record();
    // SAFETY: referenced volume.
    assert_eq!(unsafe { (imp.inval)(v.as_ptr(), zone2(off)) }, 0);
    let ev = rec.take();
    assert_eq!(kern::counters().getblk, g0 + 1);
    assert_eq!(
        calls(&ev, "bundirty"),
        1,
        "bundirty, then B_NOCACHE|B_RELBUF brelse"
    );
    assert_eq!(calls(&ev, "brelse"), 1);
    assert!(kern::lookup(vp, dev_off as i64).is_none());
    assert!(!kern::vm_valid(vp, dev_off as i64, BUFSIZE as i64));

    // A dirty device buffer nobody associated: discarded, never written.
    let off = m.offset(Zone::SmallData, 0, 15);
    let (_, dev_off) = m.locate(off);
    trace::set_sink(None);
    // SAFETY: a plain device buffer of ours.
    unsafe {
        let bp = k::getblk(vp, dev_off as i64, ffi::HAMMER_BUFSIZE, 0, 0);
        core::ptr::write_bytes((*bp).b_data as *mut u8, 0xAB, BUFSIZE);
        k::bdwrite(bp);
    }
    let rec = record();
    assert!(kern::lookup(vp, dev_off as i64).unwrap().flags & ffi::B_DELWRI != 0);
    let writes = m.devices()[0].stats().writes;
    // SAFETY: as above.
    assert_eq!(unsafe { (imp.inval)(v.as_ptr(), zone2(off)) }, 0);
    let ev = rec.take();
    trace::set_sink(None);
    assert_eq!(calls(&ev, "findblk"), 1);
    assert_eq!(calls(&ev, "bremfree"), 1);
    assert_eq!(calls(&ev, "bundirty"), 1);
    assert!(kern::lookup(vp, dev_off as i64).is_none());
    assert!(
        !kern::dirty_offsets(vp).contains(&(dev_off as i64)),
        "bundirty"
    );
    kern::run_pending_io();
    assert_eq!(m.devices()[0].stats().writes, writes, "never written");
    assert_eq!(m.devices()[0].read_current(dev_off, 16), vec![0u8; 16]);
    m.rel_volume(v);
    finish(m);
});

// ---------------------------------------------------------------------
// hammer_io_wait, hammer_io_wait_all
// ---------------------------------------------------------------------

both!(wait_returns_at_once_when_idle, |imp| {
    let _g = det(73);
    let m = mount(imp, 1);
    let b = m.bread(m.offset(Zone::LargeData, 0, 16)).expect("bread");
    let io = b.io();
    let before = io_snap(&m, io);
    let rec = record();
    // SAFETY: referenced io.
    unsafe { (imp.wait)(io) };
    let ev = rec.take();
    trace::set_sink(None);
    assert_eq!(io_snap(&m, io), before);
    assert_eq!(calls(&ev, "tsleep") + calls(&ev, "lwkt_gettoken"), 0);
    m.rel_buffer(b);
    finish(m);
});

both!(wait_sleeps_until_the_write_completes, |imp| {
    let _g = det(74);
    let m = mount(imp, 1);
    let b = m.bread(m.offset(Zone::LargeData, 0, 17)).expect("bread");
    dirty(&m, &b, 17);
    let io = b.io();
    flush(imp, io, 0);
    assert!(io_snap(&m, io).running);
    name_obj(io, "wait-io");
    let rec = record();
    // SAFETY: referenced io.
    unsafe { (imp.wait)(io) };
    let ev = rec.take();
    trace::set_sink(None);
    let s = io_snap(&m, io);
    assert!(!s.running && !s.waiting && !s.on_iorun, "{s:?}");
    assert_eq!(kern::pending_io(), 0);
    assert!(calls_on(&ev, "tsleep_interlock", "wait-io") >= 1);
    assert!(calls_on(&ev, "tsleep", "wait-io") >= 1);
    assert_eq!(
        calls_on(&ev, "wakeup", "wait-io"),
        1,
        "woken by the completion"
    );
    // The sleeps were bounded by hz (hammer_io_wait's timeout).
    let hz = kern::config().hz as i64;
    assert!(ev
        .iter()
        .filter(|e| e.func == "tsleep" && e.kind == trace::Kind::Call)
        .all(|e| e.args.get(1) == Some(&hz)));
    m.rel_buffer(b);
    finish(m);
});

both!(wait_all_without_io_only_flushes, |imp| {
    let _g = det(75);
    let m = mount(imp, 1);
    let v0 = volume_ptr(&m, 0);
    // A completed HAMMER write marks the volume for a device flush.
    let b = m.bread(m.offset(Zone::LargeData, 0, 18)).expect("bread");
    dirty(&m, &b, 18);
    flush(imp, b.io(), 0);
    kern::run_pending_io();
    m.rel_buffer(b);
    assert!(vol_flags(v0) & ffi::HAMMER_VOLF_NEEDFLUSH != 0);
    assert!(!m.devices()[0].cache_is_empty());
    let f0 = m.devices()[0].stats().flushes;
    // SAFETY: live mount.
    unsafe { (imp.wait_all)(m.hmp(), c"tstwa0".as_ptr(), 0) };
    assert_eq!(m.devices()[0].stats().flushes, f0, "doflush = 0");
    assert!(vol_flags(v0) & ffi::HAMMER_VOLF_NEEDFLUSH != 0);
    // SAFETY: as above.
    unsafe { (imp.wait_all)(m.hmp(), c"tstwa1".as_ptr(), 1) };
    assert_eq!(m.devices()[0].stats().flushes, f0 + 1);
    assert!(m.devices()[0].cache_is_empty());
    assert_eq!(vol_flags(v0) & ffi::HAMMER_VOLF_NEEDFLUSH, 0);
    finish(m);
});

both!(wait_all_waits_for_every_running_io, |imp| {
    let _g = det(76);
    let m = mount(imp, 1);
    let mut bufs = Vec::new();
    for i in 0..3u64 {
        let b = m
            .bread(m.offset(Zone::LargeData, 0, 20 + i))
            .expect("bread");
        dirty(&m, &b, 20 + i as u8);
        flush(imp, b.io(), 0);
        bufs.push(b);
    }
    let ios: Vec<_> = bufs.iter().map(|b| b.io()).collect();
    assert_eq!(iorun(&m), ios);
    let f0 = m.devices()[0].stats().flushes;
    let rec = record();
    // SAFETY: live mount.
    unsafe { (imp.wait_all)(m.hmp(), c"tstwa2".as_ptr(), 1) };
    let ev = rec.take();
    trace::set_sink(None);
    assert!(iorun(&m).is_empty(), "placemarker gone, ios done");
    for &io in &ios {
        assert!(!io_snap(&m, io).running);
    }
    assert_eq!(kern::pending_io(), 0);
    assert_eq!(
        m.devices()[0].stats().flushes,
        f0 + 1,
        "then the device flush"
    );
    // It slept (no timeout) until its placemarker reached the head.
    let sleeps: Vec<_> = ev
        .iter()
        .filter(|e| e.func == "tsleep" && e.kind == trace::Kind::Call)
        .collect();
    assert!(!sleeps.is_empty());
    assert!(sleeps.iter().all(|e| e.args == vec![0, 0]), "{sleeps:?}");
    for b in bufs {
        m.rel_buffer(b);
    }
    finish(m);
});
