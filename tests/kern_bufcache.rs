//! Buffer cache of the hosted kernel: hashing, locking, queue placement,
//! recycling with io_deallocate, page validity.
#![cfg(feature = "hosted")]

mod kern_util;

use hammer_io::hosted::kern::{self, Device, LockOwner, Queue};
use hammer_io::sys::ffi;
use kern_util::*;

#[test]
fn getblk_hashes_and_finds_the_same_buffer() {
    let _x = kern::exclusive();
    boot_det(1);
    let dev = Device::memory("d0", 1 << 20);
    let vp = dev.vnode();
    let me = kern::current_thread_id();

    let bp = getblk(vp, 32768, BS);
    let s = kern::snapshot(bp);
    assert_eq!(s.lock, LockOwner::Thread(me));
    assert_eq!(s.queue, Queue::None);
    assert_eq!(s.loffset, 32768);
    assert_eq!(s.bcount, BS);
    assert_eq!(s.flags & ffi::B_CACHE, 0, "fresh pages are not valid");
    assert_ne!(s.flags & ffi::B_VMIO, 0);
    assert_ne!(s.flags & (ffi::B_HASHED | ffi::B_VNCLEAN), 0);
    assert!(kern::lookup(vp, 32768).is_some());

    bqrelse(bp);
    let s = kern::snapshot(bp);
    assert_eq!(s.lock, LockOwner::Unlocked);
    assert_eq!(s.queue, Queue::Clean);

    // FINDBLK_TEST: unlocked, still queued.
    let t = findblk(vp, 32768, ffi::FINDBLK_TEST);
    assert_eq!(t, bp);
    assert_eq!(kern::snapshot(bp).lock, LockOwner::Unlocked);
    // FINDBLK_NBLOCK: locked but left on its queue until bremfree().
    let n = findblk(vp, 32768, ffi::FINDBLK_NBLOCK);
    assert_eq!(n, bp);
    let s = kern::snapshot(bp);
    assert_eq!(s.lock, LockOwner::Thread(me));
    assert_eq!(s.queue, Queue::Clean);
    bremfree(bp);
    assert_eq!(kern::snapshot(bp).queue, Queue::None);
    bqrelse(bp);
    // Not present at another offset.
    assert!(findblk(vp, 0, ffi::FINDBLK_TEST).is_null());

    // getblk() hits the hash: same header, locked, off the queue, and
    // B_AGE cleared.
    or_flags(findblk(vp, 32768, ffi::FINDBLK_TEST), ffi::B_AGE);
    let again = getblk(vp, 32768, BS);
    assert_eq!(again, bp);
    let s = kern::snapshot(bp);
    assert_eq!(s.queue, Queue::None);
    assert_eq!(s.flags & ffi::B_AGE, 0);
    assert_eq!(s.refs, 0, "the lookup ref is dropped");
    assert!(kern::counters().getblk_hits >= 1);
    bqrelse(bp);
}

#[test]
fn findblk_nblock_fails_on_a_held_buffer() {
    let _x = kern::exclusive();
    boot_det(2);
    let dev = Device::memory("d0", 1 << 20);
    let vp = dev.vnode();
    let bp = getblk(vp, 0, BS);
    // Held by us: a non-blocking lock attempt fails (no recursion).
    assert!(findblk(vp, 0, ffi::FINDBLK_NBLOCK).is_null());
    // Blocking recursion on our own lock is a kernel panic.
    expect_kernel_panic("locking against myself", || findblk(vp, 0, 0));
    bqrelse(bp);
}

#[test]
fn queue_placement_follows_the_flags() {
    let _x = kern::exclusive();
    boot_det(3);
    let dev = Device::memory("d0", 1 << 20);
    let vp = dev.vnode();

    // bdwrite -> DIRTY, B_DELWRI|B_CACHE, dirty tree, syncer worklist.
    let a = dirty_buf(vp, 0, 1, false, false);
    let s = kern::snapshot(a);
    assert_eq!(s.queue, Queue::Dirty);
    assert_eq!(
        s.flags & (ffi::B_DELWRI | ffi::B_CACHE),
        ffi::B_DELWRI | ffi::B_CACHE
    );
    assert_ne!(s.flags & ffi::B_VNDIRTY, 0);
    assert_eq!(s.bio2_offset, 0, "bdwrite maps bio2 through VOP_BMAP");
    assert_eq!(kern::dirty_offsets(vp), vec![0]);
    assert!(kern::on_syncer_worklist(vp));

    // B_LOCKED wins over B_DELWRI in bqrelse and brelse.
    regetblk_locked(a);
    or_flags(a, ffi::B_LOCKED);
    bqrelse(a);
    assert_eq!(kern::snapshot(a).queue, Queue::Locked);
    regetblk(a);
    brelse(a);
    assert_eq!(kern::snapshot(a).queue, Queue::Locked);
    assert_ne!(
        flags(a) & ffi::B_DELWRI,
        0,
        "still dirty on the LOCKED queue"
    );

    // brelse of a dirty buffer without B_INVAL: DIRTY, and RELBUF dropped.
    regetblk(a);
    clear_flags(a, ffi::B_LOCKED);
    or_flags(a, ffi::B_RELBUF);
    brelse(a);
    let s = kern::snapshot(a);
    assert_eq!(s.queue, Queue::Dirty);
    assert_eq!(s.flags & ffi::B_RELBUF, 0);

    // Clean buffer released normally: CLEAN tail; bqrelse clears the
    // transient NOCACHE/RELBUF only after placing it.
    let b = getblk(vp, 65536, BS);
    or_flags(b, ffi::B_CACHE);
    brelse(b);
    let clean = kern::queue(Queue::Clean);
    assert_eq!(clean.last().map(|s| s.bp), Some(b));

    // B_INVAL clean buffer: pages released, disassociated, header parked
    // on EMPTYKVA (head).
    let c = getblk(vp, 131072, BS);
    or_flags(c, ffi::B_INVAL);
    brelse(c);
    assert!(kern::lookup(vp, 131072).is_none());
    let ek = kern::queue(Queue::EmptyKva);
    assert_eq!(ek.first().map(|s| s.bp), Some(c));
    assert_eq!(kern::snapshot(c).vnode, 0);

    // NOCACHE|RELBUF on a dirty buffer: undirtied, destroyed with its
    // pages invalidated.
    let d = dirty_buf(vp, 196608, 9, false, false);
    regetblk_locked(d);
    or_flags(d, ffi::B_NOCACHE | ffi::B_RELBUF);
    brelse(d);
    assert!(kern::lookup(vp, 196608).is_none());
    assert!(
        !kern::vm_valid(vp, 196608, BS as i64),
        "B_NOCACHE invalidates the pages"
    );
    assert!(!kern::dirty_offsets(vp).contains(&196608));

    // RELBUF alone on a clean buffer: destroyed but pages stay valid.
    let e = getblk(vp, 262144, BS);
    write_data(e, 0, &pattern(5, BS as usize));
    bdwrite(e); // makes the pages valid
    regetblk_locked(e);
    // simulate the write having happened
    // SAFETY: the test holds the buffer (or calls a no-argument entry point).
    unsafe { ffi::bundirty(e) };
    or_flags(e, ffi::B_RELBUF);
    brelse(e);
    assert!(kern::lookup(vp, 262144).is_none());
    assert!(kern::vm_valid(vp, 262144, BS as i64));
}

/// regetblk() for a buffer without deps: B_LOCKED must be set first, the
/// kernel asserts it.
fn regetblk_locked(bp: *mut ffi::buf) {
    let had = flags(bp) & ffi::B_LOCKED;
    or_flags(bp, ffi::B_LOCKED);
    regetblk(bp);
    if had == 0 {
        clear_flags(bp, ffi::B_LOCKED);
    }
}

#[test]
fn regetblk_asserts_locked_or_deps() {
    let _x = kern::exclusive();
    boot_det(4);
    let dev = Device::memory("d0", 1 << 20);
    let vp = dev.vnode();
    let bp = getblk(vp, 0, BS);
    bqrelse(bp);
    expect_kernel_panic("regetblk", || regetblk(bp));
}

#[test]
fn bremfree_of_unqueued_buffer_panics() {
    let _x = kern::exclusive();
    boot_det(5);
    let dev = Device::memory("d0", 1 << 20);
    let vp = dev.vnode();
    let bp = getblk(vp, 0, BS);
    expect_kernel_panic("removing a buffer not on a queue", || bremfree(bp));
    bqrelse(bp);
    // bqrelse of an already queued buffer panics too.
    let bp = getblk(vp, 0, BS);
    bqrelse(bp);
    expect_kernel_panic("bqrelse: free buffer onto another queue", || bqrelse(bp));
}

#[test]
fn getnewbuf_recycles_with_deallocate_and_honours_b_locked() {
    let _x = kern::exclusive();
    reset_fake();
    kern::boot(kern::Config::deterministic(6).with_buffer_limit(2));
    let dev = Device::memory("d0", 1 << 20);
    let vp = dev.vnode();

    // Two buffers with (fake HAMMER) deps, released clean.
    let a = getblk(vp, 0, BS);
    attach_dep(a);
    or_flags(a, ffi::B_CACHE);
    bqrelse(a);
    let b = getblk(vp, 16384, BS);
    attach_dep(b);
    or_flags(b, ffi::B_CACHE);
    bqrelse(b);
    fake().as_mut().unwrap().dealloc.insert(0, Dealloc::Lock);

    // The third distinct block needs a header: getnewbuf scans CLEAN with
    // the B_AGE second chance, asks A (refuses with B_LOCKED -> LOCKED
    // queue, restart), then B (lets go) and recycles B.
    let c = getblk(vp, 32768, BS);
    let d = calls_named("io_deallocate");
    assert_eq!(d.len(), 2, "{d:?}");
    assert_eq!(d[0].loffset, 0);
    assert_eq!(d[1].loffset, 16384);
    // The kernel holds the buffer lock, off its queue, during deallocate.
    assert_eq!(d[0].queue, Queue::None);
    assert!(matches!(d[0].lock, LockOwner::Thread(_)));
    assert_eq!(c, b, "B's header was reused");
    let sa = kern::snapshot(a);
    assert_eq!(sa.queue, Queue::Locked);
    assert!(kern::lookup(vp, 0).is_some(), "A keeps its identity");
    assert!(kern::lookup(vp, 16384).is_none(), "B was destroyed");
    assert_eq!(kern::lookup(vp, 32768).map(|s| s.bp), Some(c));
    assert!(!has_dep(c));
    assert!(kern::counters().recycled >= 1);
    bqrelse(c);

    // B_AGE second chance: a buffer without B_AGE moves to the tail once.
    let q: Vec<_> = kern::queue(Queue::Clean)
        .iter()
        .map(|s| s.loffset)
        .collect();
    assert_eq!(q, vec![32768]);
}

#[test]
fn recycle_api_calls_deallocate() {
    let _x = kern::exclusive();
    boot_det(7);
    let dev = Device::memory("d0", 1 << 20);
    let vp = dev.vnode();
    for i in 0..3 {
        let bp = getblk(vp, i * 16384, BS);
        attach_dep(bp);
        bqrelse(bp);
    }
    fake()
        .as_mut()
        .unwrap()
        .dealloc
        .insert(16384, Dealloc::Lock);
    let n = kern::recycle(3);
    assert_eq!(n, 2);
    assert_eq!(calls_named("io_deallocate").len(), 3);
    assert_eq!(
        kern::lookup(vp, 16384).map(|s| s.queue),
        Some(Queue::Locked)
    );
    assert!(kern::lookup(vp, 0).is_none());
    assert!(kern::lookup(vp, 32768).is_none());
}

#[test]
fn brelse_invalidate_calls_deallocate_and_b_locked_goes_to_locked_queue() {
    let _x = kern::exclusive();
    boot_det(8);
    let dev = Device::memory("d0", 1 << 20);
    let vp = dev.vnode();
    let bp = getblk(vp, 0, BS);
    attach_dep(bp);
    or_flags(bp, ffi::B_NOCACHE);
    // The filesystem refuses: B_LOCKED with deps while B_INVAL is set
    // reaches vfs_vmio_release(), which asserts an empty b_dep, exactly
    // as the kernel does.
    fake().as_mut().unwrap().dealloc.insert(0, Dealloc::Lock);
    expect_kernel_panic("LIST_FIRST(&bp->b_dep) == NULL", || brelse(bp));

    // The filesystem lets go: the buffer is destroyed.
    let _x2 = ();
    kern::boot(kern::Config::deterministic(8));
    reset_fake();
    let dev = Device::memory("d1", 1 << 20);
    let vp = dev.vnode();
    let bp = getblk(vp, 0, BS);
    attach_dep(bp);
    or_flags(bp, ffi::B_ERROR);
    brelse(bp);
    assert_eq!(calls_named("io_deallocate").len(), 1);
    assert!(kern::lookup(vp, 0).is_none());
}

#[test]
fn vfs_bio_clrbuf_keeps_valid_data() {
    let _x = kern::exclusive();
    boot_det(9);
    let dev = Device::memory("d0", 1 << 20);
    dev.write_stable(0, &pattern(3, 4096));
    let vp = dev.vnode();

    // Read one page (4K buffer), then destroy the buffer but keep pages.
    let (e, bp) = bread(vp, 0, 4096);
    assert_eq!(e, 0);
    assert_eq!(read_data(bp, 0, 4096), pattern(3, 4096));
    or_flags(bp, ffi::B_RELBUF);
    brelse(bp);
    assert!(kern::lookup(vp, 0).is_none());
    assert!(kern::vm_valid(vp, 0, 4096));

    // A 16K buffer over it: first page valid, the rest not -> no B_CACHE.
    let bp = getblk(vp, 0, BS);
    assert_eq!(flags(bp) & ffi::B_CACHE, 0);
    // Garbage in the invalid part must be cleared, valid data kept.
    write_data(bp, 8192, &[0xee; 100]);
    // SAFETY: the test holds the buffer (or calls a no-argument entry point).
    unsafe { ffi::vfs_bio_clrbuf(bp) };
    assert_eq!(read_data(bp, 0, 4096), pattern(3, 4096), "valid page kept");
    assert!(
        read_data(bp, 4096, BS as usize - 4096)
            .iter()
            .all(|&x| x == 0),
        "invalid pages zeroed"
    );
    assert!(kern::vm_valid(vp, 0, BS as i64), "now all valid");
    // And a valid buffer is left completely alone.
    write_data(bp, 8192, &[0x55; 10]);
    // SAFETY: the test holds the buffer (or calls a no-argument entry point).
    unsafe { ffi::vfs_bio_clrbuf(bp) };
    assert_eq!(read_data(bp, 8192, 10), vec![0x55; 10]);
    or_flags(bp, ffi::B_RELBUF);
    brelse(bp);

    // getblk() now finds fully valid pages: B_CACHE without any I/O.
    let reads = kern::counters().disk_reads;
    let (e, bp) = bread(vp, 0, BS);
    assert_eq!(e, 0);
    assert_ne!(flags(bp) & ffi::B_CACHE, 0);
    assert_eq!(kern::counters().disk_reads, reads);
    assert_eq!(read_data(bp, 8192, 10), vec![0x55; 10]);
    bqrelse(bp);
}

#[test]
fn overlapping_buffers_share_pages() {
    let _x = kern::exclusive();
    boot_det(10);
    let dev = Device::memory("d0", 1 << 20);
    let vp = dev.vnode();
    let big = getblk(vp, 0, 65536);
    let small = getblk(vp, 16384, BS);
    write_data(small, 0, b"alias");
    assert_eq!(read_data(big, 16384, 5), b"alias".to_vec());
    bqrelse(small);
    bqrelse(big);
}

#[test]
fn size_mismatch_writes_dirty_or_dependent_buffers_first() {
    let _x = kern::exclusive();
    boot_det(11);
    let dev = Device::memory("d0", 1 << 20);
    let vp = dev.vnode();

    // Dirty, no deps: bwrite() with B_RELBUF, then a new 4K buffer that
    // finds the written pages valid.
    let a = dirty_buf(vp, 0, 4, false, false);
    let nb = getblk(vp, 0, 4096);
    assert_ne!(nb, std::ptr::null_mut());
    let s = kern::snapshot(nb);
    assert_eq!(s.bcount, 4096);
    assert_ne!(s.flags & ffi::B_CACHE, 0);
    assert_eq!(dev.read_current(0, 16), pattern(4, 16));
    assert_eq!(kern::counters().bwrite, 1);
    bqrelse(nb);
    let _ = a;

    // Clean with deps: also written first; io_start / io_complete run.
    let bp = getblk(vp, 65536, BS);
    write_data(bp, 0, &pattern(6, BS as usize));
    attach_dep(bp);
    or_flags(bp, ffi::B_CACHE);
    bqrelse(bp);
    fake().as_mut().unwrap().complete_releases.push(65536);
    let nb = getblk(vp, 65536, 4096);
    assert_eq!(kern::snapshot(nb).bcount, 4096);
    assert_eq!(calls_named("io_start").len(), 1);
    assert_eq!(calls_named("io_complete").len(), 1);
    assert_eq!(dev.read_current(65536, 16), pattern(6, 16));
    bqrelse(nb);
}

#[test]
fn size_mismatch_with_deps_kept_panics_like_the_kernel() {
    let _x = kern::exclusive();
    boot_det(12);
    let dev = Device::memory("d0", 1 << 20);
    let vp = dev.vnode();
    let bp = getblk(vp, 0, BS);
    attach_dep(bp);
    or_flags(bp, ffi::B_CACHE);
    bqrelse(bp);
    // bwrite()'s brelse(B_RELBUF) reaches vfs_vmio_release() with b_dep
    // still set: KKASSERT.
    expect_kernel_panic("LIST_FIRST(&bp->b_dep) == NULL", || getblk(vp, 0, 4096));
}
