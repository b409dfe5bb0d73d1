//! Direct I/O of front-end file buffers, on both implementations:
//! `hammer_io_direct_write` (full aligned buffers straight to the device
//! with two pushed bio layers and `HAMMER_RECG_DIRECT_IO|_INVAL`, the
//! completion and its `DIRECT_WAIT` wakeup, write errors; small writes
//! through a HAMMER buffer; the error path that drops the record),
//! `hammer_io_direct_read`, `hammer_io_indirect_read` (CRC checked or
//! not, uncached and cached device buffer, errors), `hammer_io_direct_wait`
//! and `hammer_io_direct_uncache`.
//!
//! The file vnode's strategy routine plays hammer_vop_strategy_write /
//! _read: it builds the record and calls the implementation, logging what
//! the call returned.
#![cfg(feature = "hosted")]

#[macro_use]
mod port_common;

use core::ffi::{c_int, c_void};
use core::ptr::{addr_of_mut, null_mut};
use core::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use hammer_io::hosted::hammer::objects::{
    hammer_ip_add_bulk, hammer_mem_add, hammer_reclaim_vnode,
};
use hammer_io::hosted::hammer::trees::RecTree;
use port_common::*;

#[derive(Clone, Copy, PartialEq, Eq)]
enum ReadMode {
    Direct,
    Indirect,
    IndirectNoLeaf,
}

/// What the strategy routine saw: (return value, record) per write,
/// return value per read.
#[derive(Default)]
struct Log {
    writes: Vec<(c_int, usize)>,
    reads: Vec<c_int>,
}

/// An inode with its front-end vnode (one test reference on the inode).
fn front(m: &Mount, obj_id: i64) -> (ffi::hammer_inode_t, *mut ffi::vnode) {
    let ip = m.create_inode(obj_id);
    let mut vp = null_mut();
    // SAFETY: the inode is live and referenced.
    unsafe {
        assert_eq!(objects::hammer_get_vnode(ip, &mut vp), 0);
        k::vput(vp);
    }
    (ip, vp)
}

/// Reclaims the vnode and drops the test's reference (committing and
/// destroying the inode's records).
fn release_front(ip: ffi::hammer_inode_t) {
    // SAFETY: the inode is live; its vnode is idle.
    unsafe {
        hammer_reclaim_vnode(ip);
        objects::hammer_rel_inode(ip, 0);
    }
}

/// Installs the strategy routine on `vp`. Writes of `len` bytes at file
/// offset `f` become a bulk record at `place(f)`; reads look up the
/// covering in-memory record.
fn install(
    m: &Mount,
    vp: *mut ffi::vnode,
    mode: ReadMode,
    len: c_int,
    place: impl Fn(i64) -> u64 + Send + Sync + 'static,
) -> Arc<Mutex<Log>> {
    let log = Arc::new(Mutex::new(Log::default()));
    let log2 = log.clone();
    let hmp = m.hmp() as usize;
    let imp = m.implementation();
    kern::set_strategy(
        vp,
        Arc::new(move |bio: *mut ffi::bio| {
            let hmp = hmp as ffi::hammer_mount_t;
            // SAFETY: the kernel hands us a bio of a locked buffer of a
            // file vnode whose v_data is a live inode.
            unsafe {
                let bp = (*bio).bio_buf;
                let ip = (*(*bp).b_vp).v_data as ffi::hammer_inode_t;
                let file_off = (*bio).bio_offset;
                if (*bp).b_cmd == ffi::BUF_CMD_WRITE {
                    let record = hammer_ip_add_bulk(
                        ip,
                        file_off,
                        (*bp).b_data as *const c_void,
                        len,
                        place(file_off),
                    );
                    let r = (imp.direct_write)(hmp, bio, record);
                    log2.lock().unwrap().writes.push((r, record as usize));
                } else {
                    let rec = covering(ip, file_off);
                    assert!(!rec.is_null(), "no record covers {file_off}");
                    let leaf = addr_of_mut!((*rec).leaf);
                    let nbio = k::push_bio(bio);
                    (*nbio).bio_offset = (*leaf).data_offset as i64;
                    let r = match mode {
                        ReadMode::Direct => (imp.direct_read)(hmp, nbio, leaf),
                        ReadMode::Indirect => (imp.indirect_read)(hmp, nbio, leaf),
                        ReadMode::IndirectNoLeaf => (imp.indirect_read)(hmp, nbio, null_mut()),
                    };
                    log2.lock().unwrap().reads.push(r);
                }
            }
        }),
    );
    log
}

/// The live in-memory record of `ip` covering `file_off`.
///
/// # Safety
///
/// `ip` is live.
unsafe fn covering(ip: ffi::hammer_inode_t, file_off: i64) -> ffi::hammer_record_t {
    // SAFETY: caller contract.
    unsafe {
        let mut rec = RecTree::min(addr_of_mut!((*ip).rec_tree));
        while !rec.is_null() {
            let l = &(*rec).leaf;
            if (*rec).flags & ffi::HAMMER_RECF_DELETED_FE == 0
                && l.base.key - l.data_len as i64 <= file_off
                && file_off < l.base.key
            {
                return rec;
            }
            rec = RecTree::next(rec);
        }
        null_mut()
    }
}

/// Writes `data` at file offset 0 of `vp` (getblk + bawrite).
fn write_block(vp: *mut ffi::vnode, data: &[u8]) -> *mut ffi::buf {
    // SAFETY: getblk returns the locked buffer; bawrite hands it over.
    unsafe {
        let bp = k::getblk(vp, 0, BUFSIZE as c_int, 0, 0);
        core::ptr::copy_nonoverlapping(data.as_ptr(), (*bp).b_data as *mut u8, data.len());
        k::bawrite(bp);
        bp
    }
}

/// Reads file offset 0 of `vp`: (error, data, b_flags).
fn read_block(vp: *mut ffi::vnode) -> (c_int, Vec<u8>, u32) {
    // SAFETY: breadnx returns the locked buffer, released right after
    // (thrown away, so the next read goes to the strategy again).
    unsafe {
        let mut bp = null_mut();
        let e = k::breadnx(vp, 0, BUFSIZE as c_int, null_mut(), null_mut(), 0, &mut bp);
        let data = bdata(bp);
        let flags = (*bp).b_flags;
        (*bp).b_flags |= ffi::B_INVAL | ffi::B_NOCACHE | ffi::B_RELBUF;
        k::brelse(bp);
        kern::vm_evict(vp);
        (e, data, flags)
    }
}

/// An in-memory record of `ip` for file block 0 whose data is `data`
/// (for its CRC) at `data_offset`.
fn add_record(ip: ffi::hammer_inode_t, data: &[u8], data_offset: u64) -> ffi::hammer_record_t {
    // SAFETY: live, referenced inode.
    unsafe {
        let rec = hammer_ip_add_bulk(
            ip,
            0,
            data.as_ptr() as *const c_void,
            data.len() as c_int,
            data_offset,
        );
        assert_eq!(hammer_mem_add(rec), 0);
        rec
    }
}

fn gflags(rec: usize) -> c_int {
    // SAFETY: the record is live (in its inode's tree).
    unsafe { (*(rec as ffi::hammer_record_t)).gflags }
}

/// A large-data offset beyond the end of volume 0 (zone-2 offset past
/// `maxbuf_off`).
fn beyond_volume(m: &Mount) -> u64 {
    let bb = m.layout().bigblocks + 2;
    ffi::HAMMER_ZONE_LARGE_DATA | (bb * ffi::HAMMER_LARGEBLOCK_SIZE64)
}

// ---------------------------------------------------------------------
// hammer_io_direct_write
// ---------------------------------------------------------------------

both!(direct_write_full_buffer, |imp| {
    let _g = det(101);
    let m = mount(imp, 1);
    let v0 = volume_ptr(&m, 0);
    // SAFETY: live volume.
    unsafe { (*v0).vol_flags &= !ffi::HAMMER_VOLF_NEEDFLUSH };
    let (ip, vp) = front(&m, 1000);
    let large = m.offset(Zone::LargeData, 0, 50);
    let (_, dev_off) = m.locate(large);
    let log = install(&m, vp, ReadMode::Direct, BUFSIZE as c_int, move |f| {
        large + f as u64
    });
    let data = pattern(1, BUFSIZE);
    let w0 = globals::counters().disk_write;
    let bp = write_block(vp, &data);
    let (r, rec) = log.lock().unwrap().writes[0];
    assert_eq!(r, 0);
    let z2 = zone2(large);
    // The write is in flight: the record carries it.
    assert_eq!(
        gflags(rec),
        ffi::HAMMER_RECG_DIRECT_IO | ffi::HAMMER_RECG_DIRECT_INVAL
    );
    // SAFETY: live record and (kernel-owned, in flight) file buffer.
    unsafe {
        let record = rec as ffi::hammer_record_t;
        assert_eq!((*record).zone2_offset, z2);
        assert!(
            (*record).flags & ffi::HAMMER_RECF_ONRBTREE != 0,
            "replaced before the I/O"
        );
        let b2 = &(*bp).b_bio_array[1];
        assert_eq!(b2.bio_offset, z2 as i64, "2nd layer: zone-2 offset");
        assert!(b2.bio_done.is_some(), "2nd layer: completion");
        assert_eq!(b2.bio_caller_info1.ptr, record as *mut c_void);
        let b3 = &(*bp).b_bio_array[2];
        assert_eq!(
            b3.bio_offset, dev_off as i64,
            "3rd layer: raw volume offset"
        );
    }
    assert_eq!(globals::counters().disk_write, w0 + BUFSIZE as i64);
    assert!(
        vol_flags(v0) & ffi::HAMMER_VOLF_NEEDFLUSH != 0,
        "flush_mark"
    );
    assert_eq!(owner(bp), LockOwner::Kernel);
    assert!(kern::pending_io() > 0);
    kern::run_pending_io();
    assert_eq!(
        gflags(rec),
        ffi::HAMMER_RECG_DIRECT_INVAL,
        "DIRECT_IO cleared"
    );
    assert_eq!(m.devices()[0].read_current(dev_off, BUFSIZE), data);
    assert!(!m.critical_error());
    let s = kern::lookup(vp, 0).expect("the file buffer stays cached");
    assert_eq!(s.flags & ffi::B_ERROR, 0);
    assert_eq!(s.bio2_offset, z2 as i64, "media offset cached");
    // hammer_io_direct_wait: no I/O to wait for, the alias invalidation
    // still runs.
    // SAFETY: live record.
    unsafe { (imp.direct_wait)(rec as ffi::hammer_record_t) };
    assert_eq!(gflags(rec), 0);
    release_front(ip);
    finish(m);
});

both!(direct_wait_is_woken_by_the_completion, |imp| {
    let _g = det(102);
    let m = mount(imp, 1);
    let (ip, vp) = front(&m, 1001);
    let large = m.offset(Zone::LargeData, 0, 51);
    let log = install(&m, vp, ReadMode::Direct, BUFSIZE as c_int, move |f| {
        large + f as u64
    });
    write_block(vp, &pattern(2, BUFSIZE));
    let (_, rec) = log.lock().unwrap().writes[0];
    let recp = rec as ffi::hammer_record_t;
    // SAFETY: live record.
    name_obj(unsafe { addr_of_mut!((*recp).flags) }, "record-flags");
    let r = record();
    assert!(kern::pending_io() > 0);
    // SAFETY: as above. The deterministic machine completes the write
    // while we sleep.
    unsafe { (imp.direct_wait)(recp) };
    let ev = r.take();
    trace::set_sink(None);
    assert_eq!(
        gflags(rec),
        0,
        "DIRECT_IO, DIRECT_WAIT and DIRECT_INVAL all gone"
    );
    assert!(calls_on(&ev, "tsleep", "record-flags") >= 1, "it slept");
    assert_eq!(
        calls_on(&ev, "wakeup", "record-flags"),
        1,
        "woken by the completion"
    );
    assert_eq!(kern::pending_io(), 0);
    release_front(ip);
    finish(m);
});

both!(direct_write_error_is_critical, |imp| {
    let _g = det(103);
    let m = mount(imp, 1);
    let (ip, vp) = front(&m, 1002);
    let large = m.offset(Zone::LargeData, 0, 52);
    let (_, dev_off) = m.locate(large);
    m.devices()[0].add_fault(Fault::at(FaultOp::Write, dev_off, BUFSIZE as u64));
    let log = install(&m, vp, ReadMode::Direct, BUFSIZE as c_int, move |f| {
        large + f as u64
    });
    write_block(vp, &pattern(3, BUFSIZE));
    let (r, rec) = log.lock().unwrap().writes[0];
    assert_eq!(r, 0, "the error comes later");
    kern::run_pending_io();
    assert!(m.critical_error());
    let log = m.critical_errors();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].obj_id, 1002, "blamed on the record's inode");
    assert_eq!(log[0].error, ffi::EIO);
    assert_eq!(log[0].msg, "while writing bulk data");
    assert!(
        kern::lookup(vp, 0).is_none(),
        "B_INVAL: the file buffer is thrown away"
    );
    assert_eq!(gflags(rec), ffi::HAMMER_RECG_DIRECT_INVAL);
    m.devices()[0].clear_faults();
    release_front(ip);
    finish(m);
});

both!(direct_write_small_goes_through_a_hammer_buffer, |imp| {
    let _g = det(104);
    let m = mount(imp, 1);
    let (ip, vp) = front(&m, 1003);
    let small = m.offset(Zone::SmallData, 0, 53) + 2048;
    let log = install(&m, vp, ReadMode::Direct, 1024, move |_| small);
    let data = pattern(4, BUFSIZE);
    let w0 = globals::counters().disk_write;
    let pend = kern::pending_io();
    write_block(vp, &data);
    let (r, rec) = log.lock().unwrap().writes[0];
    assert_eq!(r, 0);
    assert_eq!(gflags(rec), 0, "no direct I/O flags");
    assert_eq!(kern::pending_io(), pend, "no device write");
    assert_eq!(globals::counters().disk_write, w0);
    // SAFETY: live record.
    assert!(unsafe { (*(rec as ffi::hammer_record_t)).flags } & ffi::HAMMER_RECF_ONRBTREE != 0);
    let s = kern::lookup(vp, 0).expect("file buffer");
    assert_eq!(s.flags & ffi::B_ERROR, 0);
    assert!(s.flags & ffi::B_AGE != 0, "B_AGE");
    assert_eq!(s.lock, LockOwner::Unlocked, "biodone'd");
    let b = m.bread(small).expect("the HAMMER buffer");
    let io = b.io();
    assert_eq!(&b.read()[2048..3072], &data[..1024]);
    let st = io_snap(&m, io);
    assert!(
        st.modified && st.modify_refs == 0 && st.root == Root::Data,
        "{st:?}"
    );
    m.rel_buffer(b);
    // hammer_io_direct_wait on a record without direct I/O: nothing.
    let r = record();
    // SAFETY: live record.
    unsafe { (imp.direct_wait)(rec as ffi::hammer_record_t) };
    let ev = r.take();
    trace::set_sink(None);
    assert_eq!(gflags(rec), 0);
    assert_eq!(
        calls(&ev, "lwkt_gettoken") + calls(&ev, "tsleep") + calls(&ev, "findblk"),
        0
    );
    release_front(ip);
    finish(m);
});

both!(direct_write_errors_drop_the_record, |imp| {
    let _g = det(105);
    let m = mount(imp, 1);
    // (error expected, data offset, length)
    let cases: [(c_int, u64, c_int); 2] = [
        // Full buffer past the end of the volume.
        (ffi::EIO, beyond_volume(&m), BUFSIZE as c_int),
        // Small write into a zone the blockmap does not map.
        (ffi::EINVAL, 0xC000_0000_0000_0000 | 0x4000, 1024),
    ];
    for (i, (err, off, len)) in cases.into_iter().enumerate() {
        let (ip, vp) = front(&m, 1010 + i as i64);
        let log = install(&m, vp, ReadMode::Direct, len, move |_| off);
        let recs = globals::counters().records;
        kern::console_take();
        write_block(vp, &pattern(5, BUFSIZE));
        kern::run_pending_io();
        let (r, _) = log.lock().unwrap().writes[0];
        assert_eq!(r, err, "case {i}");
        assert_eq!(
            globals::counters().records,
            recs,
            "case {i}: the record is destroyed"
        );
        // SAFETY: live inode.
        assert!(unsafe { RecTree::is_empty(addr_of_mut!((*ip).rec_tree)) });
        let console = kern::console_take();
        let want = format!("hammer_direct_write: failed @ {off:016x}\n");
        assert!(console.contains(&want), "case {i}: {console:?}");
        // bpdone re-dirties a failed write (no B_INVAL on this path).
        let s = kern::lookup(vp, 0).expect("file buffer");
        assert!(s.flags & ffi::B_ERROR != 0, "case {i}");
        assert_eq!(s.error, ffi::EIO, "case {i}");
        let bp = grab(vp, 0);
        // SAFETY: locked by us; thrown away so nothing retries it.
        unsafe { (*bp).b_flags |= ffi::B_INVAL | ffi::B_NOCACHE };
        brelse(bp);
        assert!(!m.critical_error());
        release_front(ip);
    }
    finish(m);
});

both!(
    direct_write_loses_a_blockmap_error_like_the_original,
    |imp| {
        let _g = det(106);
        let m = mount(imp, 1);
        let (ip, vp) = front(&m, 1020);
        // A full buffer in an unmapped zone: hammer_blockmap_lookup fails, but
        // hammer_get_volume (volume 0) overwrites the error, so the write
        // proceeds to zone-2 offset 0 of volume 0.
        let off = 0xC000_0000_0000_0000u64;
        let log = install(&m, vp, ReadMode::Direct, BUFSIZE as c_int, move |_| off);
        let data = pattern(6, BUFSIZE);
        write_block(vp, &data);
        let (r, rec) = log.lock().unwrap().writes[0];
        assert_eq!(r, 0);
        // SAFETY: live record.
        assert_eq!(unsafe { (*(rec as ffi::hammer_record_t)).zone2_offset }, 0);
        kern::run_pending_io();
        assert_eq!(
            m.devices()[0].read_current(m.layout().buf_beg, BUFSIZE),
            data,
            "written at the start of the buffer space"
        );
        release_front(ip);
        finish(m);
    }
);

// ---------------------------------------------------------------------
// hammer_io_direct_read, hammer_io_indirect_read
// ---------------------------------------------------------------------

both!(direct_read_reads_the_media, |imp| {
    let _g = det(111);
    let m = mount(imp, 1);
    let (ip, vp) = front(&m, 1100);
    let large = m.offset(Zone::LargeData, 0, 60);
    let (_, dev_off) = m.locate(large);
    let data = pattern(11, BUFSIZE);
    m.devices()[0].write_stable(dev_off, &data);
    add_record(ip, &data, large);
    let log = install(&m, vp, ReadMode::Direct, 0, |_| 0);
    let r0 = globals::counters().disk_read;
    let reads = m.devices()[0].stats().reads;
    // Look at the layers the read used.
    let layers = Arc::new(Mutex::new(Vec::new()));
    let l2 = layers.clone();
    trace::set_sink(Some(Arc::new(move |e: &trace::Event| {
        if e.func == "vn_strategy" && e.kind == trace::Kind::Call {
            l2.lock().unwrap().push((e.bio_layer, e.args.clone()));
        }
    })));
    let (e, got, flags) = read_block(vp);
    trace::set_sink(None);
    assert_eq!(e, 0);
    assert_eq!(flags & ffi::B_ERROR, 0);
    assert_eq!(got, data);
    assert_eq!(log.lock().unwrap().reads, vec![0]);
    assert_eq!(globals::counters().disk_read, r0 + BUFSIZE as i64);
    assert_eq!(m.devices()[0].stats().reads, reads + 1);
    let layers = layers.lock().unwrap().clone();
    assert!(
        layers.contains(&(Some(2), vec![dev_off as i64])),
        "3rd layer to the device at the raw offset: {layers:?}"
    );

    // A modified HAMMER buffer aliasing the block is written first.
    let newer = pattern(12, BUFSIZE);
    let b = m.bread(large).expect("alias");
    m.modify(None, &b, 0, &newer, false);
    m.rel_buffer(b);
    let (e, got, _) = read_block(vp);
    assert_eq!(e, 0);
    assert_eq!(got, newer, "hammer_sync_buffers ran before the read");
    release_front(ip);
    finish(m);
});

both!(indirect_read_checks_the_crc, |imp| {
    let _g = det(112);
    let m = mount(imp, 1);
    let large = m.offset(Zone::LargeData, 0, 61);
    let (_, dev_off) = m.locate(large);
    let data = pattern(13, BUFSIZE);
    m.devices()[0].write_stable(dev_off, &data);
    let wrong = pattern(14, BUFSIZE);
    // (description, record data for the CRC, mode, verify, error expected)
    let cases = [
        ("good crc", &data, ReadMode::Indirect, 1, false),
        ("bad crc", &wrong, ReadMode::Indirect, 1, true),
        ("bad crc, verify off", &wrong, ReadMode::Indirect, 0, false),
        (
            "bad crc, no leaf",
            &wrong,
            ReadMode::IndirectNoLeaf,
            1,
            false,
        ),
    ];
    for (i, (what, crcdata, mode, verify, fails)) in cases.into_iter().enumerate() {
        let (ip, vp) = front(&m, 1110 + i as i64);
        add_record(ip, crcdata, large);
        let log = install(&m, vp, mode, 0, |_| 0);
        globals::hammer_verify_data.store(verify, Ordering::SeqCst);
        // Capture what the implementation stored in the front-end bio.
        let seen = Arc::new(Mutex::new(None));
        let s2 = seen.clone();
        trace::set_sink(Some(Arc::new(move |e: &trace::Event| {
            if e.func == "breadcb" && e.kind == trace::Kind::Call {
                *s2.lock().unwrap() = Some(e.args.clone());
            }
        })));
        let (e, got, flags) = read_block(vp);
        trace::set_sink(None);
        assert_eq!(log.lock().unwrap().reads, vec![0], "{what}");
        assert_eq!(
            seen.lock().unwrap().clone(),
            Some(vec![dev_off as i64, BUFSIZE as i64]),
            "{what}: breadcb(devvp, raw offset, size)"
        );
        if fails {
            assert_eq!(e, ffi::EIO, "{what}");
            assert!(flags & ffi::B_ERROR != 0, "{what}");
        } else {
            assert_eq!(e, 0, "{what}");
            assert_eq!(got, data, "{what}");
            assert!(flags & ffi::B_AGE != 0, "{what}: B_AGE");
        }
        // The device buffer was given back (bqrelse).
        let d = kern::lookup(devvp(&m, 0), dev_off as i64).expect("device buffer cached");
        assert_eq!(
            (d.lock, d.queue),
            (LockOwner::Unlocked, Queue::Clean),
            "{what}"
        );
        assert_eq!(d.flags & (ffi::B_ERROR | ffi::B_INVAL), 0, "{what}");
        release_front(ip);
    }
    finish(m);
});

both!(indirect_read_front_bio_fields, |imp| {
    let _g = det(113);
    let m = mount(imp, 1);
    let large = m.offset(Zone::LargeData, 0, 62);
    let (_, dev_off) = m.locate(large);
    let data = pattern(15, BUFSIZE);
    m.devices()[0].write_stable(dev_off, &data);
    for (verify, leaf) in [(1, true), (0, true), (1, false)] {
        globals::hammer_verify_data.store(verify, Ordering::SeqCst);
        let (ip, vp) = front(&m, 1120 + verify as i64 * 2 + leaf as i64);
        let rec = add_record(ip, &data, large);
        // SAFETY: a locked file buffer of ours; its 2nd layer plays the
        // front-end bio (the callback completes it, then we release it).
        unsafe {
            let bp = k::getblk(vp, 0, BUFSIZE as c_int, 0, 0);
            (*bp).b_cmd = ffi::BUF_CMD_READ;
            (*bp).b_flags &= !ffi::B_CACHE;
            (*bp).b_bio_array[0].bio_done = Some(ffi::biodone_sync);
            (*bp).b_bio_array[0].bio_flags |= ffi::BIO_SYNC;
            let nbio = k::push_bio(addr_of_mut!((*bp).b_bio_array[0]));
            (*nbio).bio_offset = large as i64;
            (*nbio).bio_caller_info1.uvalue32 = 0x5555;
            (*nbio).bio_caller_info2.index = 7;
            let l = if leaf {
                addr_of_mut!((*rec).leaf)
            } else {
                null_mut()
            };
            assert_eq!((imp.indirect_read)(m.hmp(), nbio, l), 0);
            kern::run_pending_io();
            let (idx, crc) = (
                (*nbio).bio_caller_info2.index,
                (*nbio).bio_caller_info1.uvalue32,
            );
            if verify == 1 && leaf {
                assert_eq!((idx, crc), (1, (*rec).leaf.data_crc));
            } else {
                assert_eq!(idx, 0, "verify={verify} leaf={leaf}");
                assert_eq!(crc, 0x5555, "left alone");
            }
            assert_eq!(bdata(bp), data);
            k::brelse(bp);
        }
        release_front(ip);
    }
    finish(m);
});

both!(indirect_read_from_a_cached_device_buffer, |imp| {
    let _g = det(114);
    let m = mount(imp, 1);
    let (ip, vp) = front(&m, 1130);
    let large = m.offset(Zone::LargeData, 0, 63);
    let (_, dev_off) = m.locate(large);
    let data = pattern(16, BUFSIZE);
    m.devices()[0].write_stable(dev_off, &data);
    // The device buffer is cached (a HAMMER buffer, passively associated).
    let b = m.bread(large).expect("hammer buffer");
    let io = b.io();
    m.rel_buffer(b);
    add_record(ip, &data, large);
    install(&m, vp, ReadMode::Indirect, 0, |_| 0);
    let reads = m.devices()[0].stats().reads;
    let (e, got, _) = read_block(vp);
    assert_eq!(e, 0);
    assert_eq!(got, data);
    assert_eq!(m.devices()[0].stats().reads, reads, "served from the cache");
    let d = kern::lookup(devvp(&m, 0), dev_off as i64).expect("cached");
    assert_eq!(d.dep_first as usize, io as usize, "still HAMMER's");
    assert_eq!((d.lock, d.queue), (LockOwner::Unlocked, Queue::Clean));
    assert!(io_snap(&m, io).released);
    release_front(ip);
    finish(m);
});

both!(indirect_read_device_error_propagates, |imp| {
    let _g = det(117);
    let m = mount(imp, 1);
    let (ip, vp) = front(&m, 1160);
    let large = m.offset(Zone::LargeData, 0, 64);
    let (_, dev_off) = m.locate(large);
    let data = pattern(18, BUFSIZE);
    add_record(ip, &data, large);
    // ENXIO rather than EIO, to tell it from a CRC failure.
    m.devices()[0].add_fault(
        Fault::at(FaultOp::Read, dev_off, BUFSIZE as u64)
            .times(1)
            .error(6),
    );
    install(&m, vp, ReadMode::Indirect, 0, |_| 0);
    let (e, _, flags) = read_block(vp);
    assert_eq!(e, 6, "the device's b_error is passed on");
    assert!(flags & ffi::B_ERROR != 0);
    let d = kern::lookup(devvp(&m, 0), dev_off as i64).expect("device buffer");
    assert_eq!(d.lock, LockOwner::Unlocked, "bqrelse'd");
    release_front(ip);
    finish(m);
});

both!(direct_and_indirect_read_errors, |imp| {
    let _g = det(115);
    let m = mount(imp, 1);
    let off = beyond_volume(&m);
    for (i, mode) in [ReadMode::Direct, ReadMode::Indirect]
        .into_iter()
        .enumerate()
    {
        let (ip, vp) = front(&m, 1140 + i as i64);
        add_record(ip, &pattern(17, BUFSIZE), off);
        let log = install(&m, vp, mode, 0, |_| 0);
        kern::console_take();
        let (e, _, flags) = read_block(vp);
        assert_eq!(e, ffi::EIO);
        assert!(flags & ffi::B_ERROR != 0);
        assert_eq!(log.lock().unwrap().reads, vec![ffi::EIO]);
        let want = format!("hammer_direct_read: failed @ {:016x}\n", zone2(off));
        assert!(kern::console_take().contains(&want));
        release_front(ip);
    }
    finish(m);
});

both!(direct_reads_assert_the_large_data_zone, |imp| {
    let _g = det(116);
    let m = mount(imp, 1);
    let (ip, vp) = front(&m, 1150);
    for indirect in [false, true] {
        // SAFETY: a locked file buffer of ours, released after.
        unsafe {
            let bp = k::getblk(vp, 0, BUFSIZE as c_int, 0, 0);
            let bio = k::push_bio(addr_of_mut!((*bp).b_bio_array[0]));
            (*bio).bio_offset = m.offset(Zone::SmallData, 0, 1) as i64;
            expect_kernel_panic("assertion", || {
                if indirect {
                    (imp.indirect_read)(m.hmp(), bio, null_mut())
                } else {
                    (imp.direct_read)(m.hmp(), bio, null_mut())
                }
            });
            assert_eq!((*bp).b_flags & ffi::B_ERROR, 0, "nothing done");
            (*bp).b_flags |= ffi::B_INVAL;
            k::brelse(bp);
        }
    }
    release_front(ip);
    finish(m);
});

// ---------------------------------------------------------------------
// hammer_io_direct_uncache
// ---------------------------------------------------------------------

both!(direct_uncache_forgets_cached_media_offsets, |imp| {
    let _g = det(121);
    let m = mount(imp, 1);
    let (ip, vp) = front(&m, 1200);
    let large = m.offset(Zone::LargeData, 0, 70);
    let log = install(&m, vp, ReadMode::Direct, BUFSIZE as c_int, move |f| {
        large + f as u64
    });
    write_block(vp, &pattern(21, BUFSIZE));
    kern::run_pending_io();
    let (_, rec) = log.lock().unwrap().writes[0];
    let recp = rec as ffi::hammer_record_t;
    let cached = |vp| kern::lookup(vp, 0).expect("file buffer").bio2_offset;
    assert_eq!(cached(vp), zone2(large) as i64);
    // A snapshot of the same object with no vnode is skipped.
    // SAFETY: live mount.
    let snap = unsafe { objects::hammer_create_inode(m.hmp(), 1200, 0x99, 0) };
    assert!(!snap.is_null());
    // SAFETY: the record's leaf is live; the copies live on this stack.
    unsafe {
        let leaf = addr_of_mut!((*recp).leaf);
        // Not a DATA record, or not in the large-data zone: nothing.
        let mut other = *leaf;
        other.base.rec_type = ffi::HAMMER_RECTYPE_DATA + 1;
        let rec0 = record_events(|| (imp.direct_uncache)(m.hmp(), &mut other));
        assert_eq!(cached(vp), zone2(large) as i64);
        assert_eq!(rec0, 0, "no inode scanned");
        let mut other = *leaf;
        other.data_offset = m.offset(Zone::SmallData, 0, 70);
        let rec0 = record_events(|| (imp.direct_uncache)(m.hmp(), &mut other));
        assert_eq!(cached(vp), zone2(large) as i64);
        assert_eq!(rec0, 0);
        // The real thing.
        let n = record_events(|| (imp.direct_uncache)(m.hmp(), leaf));
        assert_eq!(cached(vp), ffi::NOOFFSET, "forgotten");
        assert_eq!(n, 1, "one getblk: on the live inode's vnode only");
        // Already forgotten: the buffer is not even locked.
        let n = record_events(|| (imp.direct_uncache)(m.hmp(), leaf));
        assert_eq!(n, 0);
        // No buffer at all: nothing either.
        let bp = grab(vp, 0);
        (*bp).b_flags |= ffi::B_INVAL;
        k::brelse(bp);
        assert!(kern::lookup(vp, 0).is_none());
        let n = record_events(|| (imp.direct_uncache)(m.hmp(), leaf));
        assert_eq!(n, 0);
        assert!(kern::lookup(vp, 0).is_none());
        objects::hammer_rel_inode(snap, 0);
    }
    release_front(ip);
    finish(m);
});

/// Runs `f` and counts the getblk calls it made.
fn record_events(f: impl FnOnce()) -> usize {
    let r = record();
    f();
    let ev = r.take();
    trace::set_sink(None);
    calls(&ev, "getblk")
}
