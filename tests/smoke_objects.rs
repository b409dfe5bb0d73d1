//! Smoke tests of the hosted HAMMER objects the I/O layer reaches beyond
//! volumes and buffers, run against every compiled-in implementation of
//! hammer_io.c:
//!
//! - `smoke_direct_io`: front-end file vnodes of inodes, whose strategy
//!   routine plays hammer_vop_strategy_write/_read: direct writes (full
//!   buffer, straight to the device; small, through a HAMMER buffer),
//!   in-memory bulk records replaced in the inode's tree, direct and
//!   indirect (CRC-checked) reads, `hammer_io_direct_uncache` through
//!   `hammer_scan_inode_snapshots` / `hammer_get_vnode`, and the records'
//!   release (`hammer_io_direct_wait`, alias invalidation);
//! - `smoke_critical_error`: a meta-data write fails on the device; the
//!   mount gets `HAMMER_MOUNT_CRITICAL_ERROR`, goes read-only, the flusher
//!   stops, and unmount still cleans up.
#![cfg(feature = "hosted")]

use core::ffi::{c_int, c_void};
use core::ptr::{addr_of_mut, null_mut};
use std::sync::Arc;

use hammer_io::hosted::hammer::invariants;
use hammer_io::hosted::hammer::objects::{self, hammer_ip_add_bulk, hammer_reclaim_vnode};
use hammer_io::hosted::hammer::trees::RecTree;
use hammer_io::hosted::hammer::{globals, IoImpl, Mount, Zone};
use hammer_io::hosted::kern::{self, Config, Fault, FaultOp};
use hammer_io::sys::ffi;

// Kernel entry points the test calls directly, with their real (unwinding)
// ABI.
extern "C-unwind" {
    fn getblk(
        vp: *mut ffi::vnode,
        loffset: ffi::off_t,
        size: c_int,
        blkflags: c_int,
        slptimeo: c_int,
    ) -> *mut ffi::buf;
    fn bawrite(bp: *mut ffi::buf);
    fn brelse(bp: *mut ffi::buf);
    fn breadnx(
        vp: *mut ffi::vnode,
        loffset: ffi::off_t,
        size: c_int,
        raoffset: *mut ffi::off_t,
        rabsize: *mut c_int,
        cnt: c_int,
        bpp: *mut *mut ffi::buf,
    ) -> c_int;
    fn push_bio(bio: *mut ffi::bio) -> *mut ffi::bio;
    fn vput(vp: *mut ffi::vnode);
}

const BUFSIZE: usize = ffi::HAMMER_BUFSIZE as usize;

fn implementations() -> Vec<IoImpl> {
    let v = IoImpl::available();
    if IoImpl::try_reference().is_none() {
        eprintln!("!!! REFERENCE hammer_io.c IS MISSING: its smoke tests are SKIPPED !!!");
    }
    if IoImpl::try_rust().is_none() {
        eprintln!(
            "!!! The Rust port is not enabled (cfg hammer_port): its smoke tests are SKIPPED !!!"
        );
    }
    v
}

fn check(step: &str, m: &Mount) {
    kern::quiesce();
    let mut errs = invariants::check(m);
    if let Some(p) = kern::panic_message() {
        errs.push(format!("kernel panicked: {p}"));
    }
    assert!(
        errs.is_empty(),
        "[{}] after {step}:\n  {}",
        m.implementation().name,
        errs.join("\n  ")
    );
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed))
        .collect()
}

/// How the front-end strategy routine of a test vnode reads.
#[derive(Clone, Copy)]
enum ReadMode {
    Direct,
    Indirect,
}

/// Installs a strategy routine on `ip`'s vnode that does what
/// hammer_vop_strategy_write / _read do for a regular file: writes become
/// bulk records plus `hammer_io_direct_write`; reads find the covering
/// in-memory record and go through `hammer_io_direct_read` or
/// `hammer_io_indirect_read`. `data_offset(file_offset)` is the
/// (pre-reserved) media location of a file block.
fn install_strategy(
    m: &Mount,
    vp: *mut ffi::vnode,
    mode: ReadMode,
    small_file: bool,
    data_offset: impl Fn(i64, usize) -> u64 + Send + Sync + 'static,
) {
    let hmp = m.hmp() as usize;
    let imp = m.implementation();
    kern::set_strategy(
        vp,
        Arc::new(move |bio: *mut ffi::bio| {
            let hmp = hmp as ffi::hammer_mount_t;
            // SAFETY: the kernel hands us a bio of a locked buffer of a
            // HAMMER file vnode whose v_data is a live inode.
            unsafe {
                let bp = (*bio).bio_buf;
                let ip = (*(*bp).b_vp).v_data as ffi::hammer_inode_t;
                let file_off = (*bio).bio_offset;
                if (*bp).b_cmd == ffi::BUF_CMD_WRITE {
                    // Small files get a small record (the code path that
                    // goes through a HAMMER buffer).
                    let bytes = if small_file { 1024 } else { (*bp).b_bufsize };
                    let record = hammer_ip_add_bulk(
                        ip,
                        file_off,
                        (*bp).b_data as *const c_void,
                        bytes,
                        data_offset(file_off, bytes as usize),
                    );
                    (imp.direct_write)(hmp, bio, record);
                } else {
                    // Find the in-memory record covering the block.
                    let mut rec = RecTree::min(addr_of_mut!((*ip).rec_tree));
                    while !rec.is_null() {
                        let l = &(*rec).leaf;
                        if (*rec).flags & ffi::HAMMER_RECF_DELETED_FE == 0
                            && l.base.key - l.data_len as i64 <= file_off
                            && file_off < l.base.key
                        {
                            break;
                        }
                        rec = RecTree::next(rec);
                    }
                    assert!(!rec.is_null(), "no record covers file offset {file_off}");
                    let leaf = addr_of_mut!((*rec).leaf);
                    let nbio = push_bio(bio);
                    (*nbio).bio_offset = (*leaf).data_offset as i64;
                    match mode {
                        ReadMode::Direct => (imp.direct_read)(hmp, nbio, leaf),
                        ReadMode::Indirect => (imp.indirect_read)(hmp, nbio, leaf),
                    };
                }
            }
        }),
    );
}

/// The vnode of an inode, from `hammer_get_vnode` (referenced; the
/// reference is dropped right away, the vnode stays attached).
fn vnode_of(ip: ffi::hammer_inode_t) -> *mut ffi::vnode {
    let mut vp = null_mut();
    // SAFETY: the inode is live and referenced by the caller.
    unsafe {
        assert_eq!(objects::hammer_get_vnode(ip, &mut vp), 0);
        vput(vp);
    }
    vp
}

fn direct_io(imp: IoImpl, cfg: Config) {
    let _machine = kern::exclusive();
    kern::boot(cfg);
    globals::reset();
    let m = Mount::builder().implementation(imp).build();
    check("mount", &m);

    // Two inodes of the same object (a live one and a snapshot) and one
    // other object.
    let ip = m.create_inode(1000);
    // SAFETY: the mount is live.
    let ip_snap = unsafe { objects::hammer_create_inode(m.hmp(), 1000, 0x1234, 0) };
    assert!(!ip_snap.is_null());
    let ip2 = m.create_inode(2000);
    let vp = vnode_of(ip);
    let vp_snap = vnode_of(ip_snap);
    let vp2 = vnode_of(ip2);
    // SAFETY: the inodes are live.
    unsafe {
        assert_eq!((*vp).v_data, ip as *mut c_void);
        assert_eq!((*ip).vp, vp);
    }

    // Media: file block n of object 1000 lives in large-data buffer 50+n;
    // small writes go to the small-data zone.
    let large = m.offset(Zone::LargeData, 0, 50);
    let small = m.offset(Zone::SmallData, 0, 60);
    let place = move |file_off: i64, bytes: usize| {
        if bytes >= BUFSIZE {
            large + file_off as u64
        } else {
            small + (file_off as u64 / BUFSIZE as u64) * 1024
        }
    };
    install_strategy(&m, vp, ReadMode::Direct, false, place);
    install_strategy(&m, vp_snap, ReadMode::Indirect, false, place);
    install_strategy(&m, vp2, ReadMode::Direct, true, place);

    // -- Full-buffer direct write ---------------------------------------
    let block0 = pattern(3, BUFSIZE);
    // SAFETY: getblk returns the locked buffer; bawrite hands it to the
    // kernel, which releases it when the write completes.
    unsafe {
        let bp = getblk(vp, 0, BUFSIZE as c_int, 0, 0);
        core::ptr::copy_nonoverlapping(block0.as_ptr(), (*bp).b_data as *mut u8, BUFSIZE);
        bawrite(bp);
    }
    // The record is in the tree with its direct I/O flags until the write
    // completes.
    // SAFETY: the inode is live.
    unsafe {
        let rec = RecTree::min(addr_of_mut!((*ip).rec_tree));
        assert!(!rec.is_null(), "direct write installed a record");
        assert!((*rec).gflags & ffi::HAMMER_RECG_DIRECT_INVAL != 0);
        assert_eq!(
            (*rec).zone2_offset,
            (large & !ffi::HAMMER_OFF_ZONE_MASK) | ffi::HAMMER_ZONE_RAW_BUFFER
        );
        (imp.direct_wait)(rec);
        assert!((*rec).gflags & ffi::HAMMER_RECG_DIRECT_IO == 0);
    }
    check("direct write", &m);
    let (vol, dev_off) = m.locate(large);
    assert_eq!(
        m.devices()[vol as usize].read_current(dev_off, BUFSIZE),
        block0,
        "direct write reached the device"
    );
    let bio2 = kern::lookup(vp, 0).expect("file buffer cached").bio2_offset;
    assert_ne!(
        bio2,
        ffi::NOOFFSET,
        "the file buffer caches its media offset"
    );

    // Rewriting the block replaces the record (the old one is deleted by
    // the front-end).
    let block0b = pattern(4, BUFSIZE);
    // SAFETY: as above.
    unsafe {
        let bp = getblk(vp, 0, BUFSIZE as c_int, 0, 0);
        core::ptr::copy_nonoverlapping(block0b.as_ptr(), (*bp).b_data as *mut u8, BUFSIZE);
        bawrite(bp);
    }
    kern::quiesce();
    // SAFETY: the inode is live.
    unsafe {
        let mut live = 0;
        let mut rec = RecTree::min(addr_of_mut!((*ip).rec_tree));
        while !rec.is_null() {
            if (*rec).flags & ffi::HAMMER_RECF_DELETED_FE == 0 {
                live += 1;
            }
            rec = RecTree::next(rec);
        }
        assert_eq!(live, 1, "one live record per block after a rewrite");
    }
    check("direct rewrite", &m);

    // -- Small write through a HAMMER buffer ------------------------------
    let data = pattern(9, 1024);
    // SAFETY: as above.
    unsafe {
        let bp = getblk(vp2, 0, BUFSIZE as c_int, 0, 0);
        core::ptr::copy_nonoverlapping(data.as_ptr(), (*bp).b_data as *mut u8, 1024);
        bawrite(bp);
    }
    kern::quiesce();
    let b = m.bread(small).expect("small-data buffer");
    assert_eq!(
        &b.read()[..1024],
        &data[..],
        "small write landed in the HAMMER buffer"
    );
    // SAFETY: the buffer is referenced.
    assert!(unsafe { (*b.io()).modified() } != 0, "and left it modified");
    m.rel_buffer(b);
    check("small write", &m);

    // -- Reads: direct on the live inode's vnode after dropping its cached
    // block, indirect (CRC-checked) through the snapshot's vnode.
    m.flush_sync();
    // SAFETY: the cached file buffer is ours to destroy.
    unsafe {
        let bp = getblk(vp, 0, BUFSIZE as c_int, 0, 0);
        (*bp).b_flags |= ffi::B_INVAL | ffi::B_NOCACHE | ffi::B_RELBUF;
        brelse(bp);
    }
    kern::vm_evict(vp);
    // SAFETY: bread returns the locked buffer, released right after.
    unsafe {
        let mut bp = null_mut();
        assert_eq!(
            breadnx(vp, 0, BUFSIZE as c_int, null_mut(), null_mut(), 0, &mut bp),
            0
        );
        let got = core::slice::from_raw_parts((*bp).b_data as *const u8, BUFSIZE).to_vec();
        brelse(bp);
        assert_eq!(got, block0b, "direct read returns the media data");
    }
    check("direct read", &m);
    // The snapshot inode needs its own record pointing at the same data.
    // SAFETY: the snapshot inode is live.
    unsafe {
        let rec = hammer_ip_add_bulk(
            ip_snap,
            0,
            block0b.as_ptr() as *const c_void,
            BUFSIZE as c_int,
            large,
        );
        objects::hammer_mem_add(rec);
        let mut bp = null_mut();
        assert_eq!(
            breadnx(
                vp_snap,
                0,
                BUFSIZE as c_int,
                null_mut(),
                null_mut(),
                0,
                &mut bp
            ),
            0
        );
        let got = core::slice::from_raw_parts((*bp).b_data as *const u8, BUFSIZE).to_vec();
        let err = (*bp).b_flags & ffi::B_ERROR;
        brelse(bp);
        assert_eq!(err, 0, "indirect read with a good CRC succeeds");
        assert_eq!(got, block0b, "indirect read returns the media data");
    }
    check("indirect read", &m);

    // -- direct_uncache: every snapshot of object 1000 forgets the cached
    // media offset of its block.
    // SAFETY: the record's leaf is live while the inode is.
    unsafe {
        let mut rec = RecTree::min(addr_of_mut!((*ip).rec_tree));
        while !rec.is_null() && (*rec).flags & ffi::HAMMER_RECF_DELETED_FE != 0 {
            rec = RecTree::next(rec);
        }
        assert!(kern::lookup(vp, 0).expect("cached").bio2_offset != ffi::NOOFFSET);
        (imp.direct_uncache)(m.hmp(), addr_of_mut!((*rec).leaf));
    }
    assert_eq!(
        kern::lookup(vp, 0).expect("cached").bio2_offset,
        ffi::NOOFFSET,
        "uncached"
    );
    check("direct uncache", &m);

    // -- Release: vnodes reclaimed, inodes synced (records committed,
    // direct I/O aliases invalidated) and unloaded.
    // SAFETY: the inodes are live; each holds the test's reference plus
    // its vnode's.
    unsafe {
        for ip in [ip, ip_snap, ip2] {
            hammer_reclaim_vnode(ip);
            objects::hammer_rel_inode(ip, 0);
        }
        assert!(
            (*m.hmp()).rb_inos_root.rbh_root.is_null(),
            "all inodes unloaded"
        );
    }
    check("inodes released", &m);
    assert_eq!(globals::counters().records, 0, "every record destroyed");

    m.unmount();
    kern::quiesce();
    let errs = invariants::check_quiescent();
    assert!(
        errs.is_empty(),
        "[{}] after unmount:\n  {}",
        imp.name,
        errs.join("\n  ")
    );
}

fn critical_error(imp: IoImpl, cfg: Config) {
    let _machine = kern::exclusive();
    kern::boot(cfg);
    globals::reset();
    let m = Mount::builder().implementation(imp).build();

    // Dirty a meta-data buffer (with UNDO), and make its write fail.
    let meta = m.offset(Zone::Meta, 0, 3);
    let mut t = m.start_transaction();
    let b = m.bread(meta).expect("meta buffer");
    m.modify(Some(&mut t), &b, 0, b"doomed", true);
    m.rel_buffer(b);
    m.done_transaction(t);
    let (vol, dev_off) = m.locate(meta);
    m.devices()[vol as usize].add_fault(Fault::at(FaultOp::Write, dev_off, BUFSIZE as u64));
    check("dirty meta", &m);

    m.flush(true);
    kern::quiesce();
    assert!(
        m.critical_error(),
        "[{}] a failed meta-data write is a critical error",
        imp.name
    );
    let log = m.critical_errors();
    assert_eq!(log.len(), 1, "one critical error: {log:?}");
    assert_eq!(log[0].error, ffi::EIO);
    assert_eq!(log[0].obj_id, -1);
    // SAFETY: the mount is live.
    unsafe {
        assert_eq!((*m.hmp()).ronly, 2, "forced read-only");
        assert_eq!((*m.hmp()).error, ffi::EIO);
    }
    assert!(!m.has_work(), "the flusher stops after a critical error");
    check("critical error", &m);
    // The failed buffer is pinned by its ioerror reference.
    let ioerr = invariants::ios(&m)
        .into_iter()
        .find(|s| s.ioerror)
        .expect("an io carries the error");
    assert_eq!(ioerr.type_, ffi::HAMMER_STRUCTURE_META_BUFFER);
    assert!(ioerr.refs >= 1);

    m.devices()[vol as usize].clear_faults();
    m.unmount();
    kern::quiesce();
    let errs = invariants::check_quiescent();
    assert!(
        errs.is_empty(),
        "[{}] after unmount:\n  {}",
        imp.name,
        errs.join("\n  ")
    );
}

#[test]
fn smoke_direct_io() {
    for imp in implementations() {
        direct_io(imp, Config::deterministic(11).with_buffer_limit(64));
        direct_io(
            imp,
            Config {
                seed: 12,
                buf_daemon: false,
                syncer: false,
                ..Config::default()
            },
        );
    }
}

#[test]
fn smoke_critical_error() {
    for imp in implementations() {
        critical_error(imp, Config::deterministic(21));
        critical_error(
            imp,
            Config {
                seed: 22,
                buf_daemon: false,
                syncer: false,
                ..Config::default()
            },
        );
    }
}

/// `struct hammer_lock`: reference/interlock transitions, and a contended
/// exclusive lock whose waiter gives up its LWKT tokens while asleep.
#[test]
fn smoke_hammer_lock() {
    use hammer_io::hosted::hammer::lock;
    use std::sync::atomic::{AtomicBool, Ordering};

    let Some(imp) = IoImpl::available().into_iter().next() else {
        eprintln!("!!! no hammer_io implementation compiled in: smoke_hammer_lock SKIPPED !!!");
        return;
    };
    let _machine = kern::exclusive();
    kern::boot(Config {
        seed: 31,
        buf_daemon: false,
        syncer: false,
        ..Config::default()
    });
    let m = Mount::builder().implementation(imp).build();
    let lk: &'static mut ffi::hammer_lock = Box::leak(Box::default());
    let lkp = lk as *mut ffi::hammer_lock;

    // SAFETY: the lock is leaked, so it outlives both threads; the mount
    // outlives the second thread (joined before unmount).
    unsafe {
        // Reference transitions: 0->1 sets CHECK, 1->0 clears it.
        lock::hammer_ref(lkp);
        assert_eq!(lock::refs_word(lkp), 1 | lock::REFS_CHECK);
        assert_eq!(
            lock::hammer_try_interlock_norefs(lkp),
            0,
            "no interlock with a reference"
        );
        lock::hammer_rel(lkp);
        assert_eq!(lock::refs_word(lkp), 0);
        // The first ref_interlock holds the interlock and must load.
        assert!(lock::ref_interlock(lkp));
        assert_eq!(
            lock::refs_word(lkp),
            1 | lock::REFS_LOCKED | lock::REFS_CHECK
        );
        lock::ref_interlock_done(lkp);
        assert_eq!(lock::refs_word(lkp), 1);
        assert!(!lock::ref_interlock(lkp), "2nd reference needs no load");
        assert!(!lock::rel_interlock(lkp, false), "2->1 is not the last");
        assert!(
            lock::rel_interlock(lkp, false),
            "1->0 is, with the interlock"
        );
        assert_eq!(lock::refs_word(lkp), lock::REFS_LOCKED);
        lock::rel_interlock_done(lkp, false);
        assert_eq!(lock::refs_word(lkp), 0);
        // try_interlock_norefs / put_interlock, with and without error.
        assert_eq!(lock::hammer_try_interlock_norefs(lkp), 1);
        lock::hammer_put_interlock(lkp, 1);
        assert_eq!(lock::refs_word(lkp), 0, "CHECK needs references to stick");

        // A contended exclusive lock.
        lock::hammer_ref(lkp);
        lock::hammer_lock_ex(lkp);
        lock::hammer_lock_ex(lkp);
        assert_eq!(
            lock::lockval_word(lkp),
            2 | lock::LOCKF_EXCLUSIVE,
            "recursive for its owner"
        );
        lock::hammer_unlock(lkp);
    }
    let hmp = m.hmp() as usize;
    let lkp_addr = lkp as usize;
    let got_it = std::sync::Arc::new(AtomicBool::new(false));
    let got = got_it.clone();
    let waiter = std::thread::spawn(move || {
        let hmp = hmp as ffi::hammer_mount_t;
        let lkp = lkp_addr as *mut ffi::hammer_lock;
        // SAFETY: see above.
        unsafe {
            let tok = addr_of_mut!((*hmp).io_token);
            kern::gettoken(tok);
            lock::hammer_lock_ex_ident(lkp, c"smoketst".as_ptr());
            // Back with the lock and, again, the token.
            assert_eq!(
                kern::token_held(tok),
                1,
                "the token is re-acquired on wakeup"
            );
            got.store(true, Ordering::SeqCst);
            lock::hammer_unlock(lkp);
            kern::reltoken(tok);
        }
    });
    // Wait until the waiter sleeps on the lock (WANTED is set).
    // SAFETY: see above.
    unsafe {
        let t0 = std::time::Instant::now();
        while lock::lockval_word(lkp) & lock::LOCKF_WANTED == 0 {
            assert!(t0.elapsed().as_secs() < 10, "the waiter never blocked");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // The sleeping waiter does not hold io_token: we can take it.
        let tok = addr_of_mut!((*m.hmp()).io_token);
        kern::gettoken(tok);
        assert!(!got_it.load(Ordering::SeqCst));
        kern::reltoken(tok);
        lock::hammer_unlock(lkp);
    }
    waiter.join().expect("waiter thread");
    assert!(got_it.load(Ordering::SeqCst));
    // SAFETY: see above.
    unsafe {
        assert_eq!(lock::lockval_word(lkp), 0);
        lock::hammer_rel(lkp);
    }
    m.unmount();
}

/// The invariant checker is not vacuous: corrupting the state it watches
/// is reported.
#[test]
fn smoke_invariants_detect() {
    let Some(imp) = IoImpl::available().into_iter().next() else {
        eprintln!(
            "!!! no hammer_io implementation compiled in: smoke_invariants_detect SKIPPED !!!"
        );
        return;
    };
    let _machine = kern::exclusive();
    kern::boot(Config::deterministic(41));
    globals::reset();
    let m = Mount::builder().implementation(imp).build();
    let off = m.offset(Zone::Meta, 0, 5);
    let b = m.bread(off).expect("meta");
    let io = b.io();
    m.rel_buffer(b);
    assert!(invariants::check(&m).is_empty());
    // SAFETY: the io stays live (its buffer is passively associated); each
    // corruption is undone before the next.
    unsafe {
        (*io).set_released(0);
        let e = invariants::check(&m);
        assert!(e.iter().any(|e| e.contains("released == 0")), "{e:?}");
        (*io).set_released(1);

        (*io).set_running(1);
        let e = invariants::check(&m);
        assert!(e.iter().any(|e| e.contains("not on iorun_list")), "{e:?}");
        (*io).set_running(0);

        (*io).set_modified(1);
        let e = invariants::check(&m);
        assert!(
            e.iter()
                .any(|e| e.contains("is on none") || e.contains("instead of meta_root")),
            "{e:?}"
        );
        (*io).set_modified(0);
    }
    assert!(invariants::check(&m).is_empty());
    // Device offsets are classified by the layout.
    use hammer_io::hosted::hammer::invariants::{classify, Kind};
    assert_eq!(classify(&m, 0, 0), Kind::Volume);
    let (_, meta_dev) = m.locate(off);
    assert_eq!(classify(&m, 0, meta_dev as i64), Kind::Meta);
    let (_, undo_dev) = m.locate(m.offset(Zone::Undo, 0, 0));
    assert_eq!(classify(&m, 0, undo_dev as i64), Kind::Undo);
    let (_, data_dev) = m.locate(m.offset(Zone::LargeData, 0, 0));
    assert_eq!(classify(&m, 0, data_dev as i64), Kind::Data);
    m.unmount();
}
