//! Volumes and buffers, as hammer_ondisk.c manages them.
//!
//! A `hammer_volume` or `hammer_buffer` is referenced through its
//! `io.lock`; the first reference (0->1, with the interlock) loads the
//! media data by asking the I/O layer for the buffer-cache buffer
//! (`hammer_io_read` / `hammer_io_new`), the last one (1->0, with the
//! interlock) hands the buffer back to the I/O layer (`hammer_io_release`)
//! and `brelse`s whatever it returns. A `hammer_buffer` structure outlives
//! its references as long as its buffer-cache buffer stays associated (a
//! passive association the kernel may break through the bioops), and is
//! freed once it has neither references nor a buffer. Buffers are indexed
//! by their zone-X offset in the mount's buffer tree.
//!
//! All I/O-layer calls go through the current [`IoImpl`](super::IoImpl).

use core::ffi::{c_int, c_void};
use core::ptr::{addr_of_mut, null_mut};
use core::sync::atomic::Ordering;
use std::boxed::Box;
use std::format;

use super::blockmap::{hammer_blockmap_lookup, hammer_undo_lookup};
use super::globals::{hammer_debug_io, HAMMER_COUNT_BUFFERS, HAMMER_COUNT_REFEDBUFS};
use super::ioimpl::current;
use super::lock::{self, hammer_rel};
pub use super::ntrace::{
    hammer_bread, hammer_del_buffers, hammer_get_volume, hammer_rel_buffer, hammer_rel_volume,
    hammer_sync_buffers,
};
use super::objects::hammer_flush_buffer_nodes;
use super::off::{self, BUFMASK64, LARGEBLOCK_MASK64};
use super::queue::{tailq_empty, tailq_init};
use super::trees::{buf_lookup, vol_lookup, BufTree};
use super::{kassert, kprint};
use crate::sys::ffi;

pub(crate) use super::kcall::{gettoken, reltoken};

/// Releases a buffer-cache buffer the I/O layer handed back.
///
/// # Safety
///
/// `bp` is null or a locked buffer the caller owns.
pub(crate) unsafe fn brelse_opt(bp: *mut ffi::buf) {
    if !bp.is_null() {
        // SAFETY: caller contract.
        unsafe { super::kcall::brelse(bp) }
    }
}

// ---------------------------------------------------------------------
// Volumes
// ---------------------------------------------------------------------

/// `hammer_get_volume`: references volume `vol_no` of the mount, loading
/// its header on the 0->1 transition. ENOENT if there is no such volume.
///
/// # Safety
///
/// `hmp` is a live mount, `errorp` writable.
/// Untraced body of the C entry point `hammer_get_volume` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_get_volume_untraced(
    hmp: ffi::hammer_mount_t,
    vol_no: i32,
    errorp: *mut c_int,
) -> ffi::hammer_volume_t {
    // SAFETY: the volume tree of a live mount; volumes in it are live.
    unsafe {
        let volume = vol_lookup(addr_of_mut!((*hmp).rb_vols_root), vol_no);
        if volume.is_null() {
            *errorp = ffi::ENOENT;
            return null_mut();
        }
        if lock::ref_interlock(addr_of_mut!((*volume).io.lock)) {
            *errorp = load_volume(volume);
            if *errorp != 0 {
                return null_mut();
            }
        } else {
            kassert(!(*volume).ondisk.is_null(), "volume->ondisk");
            *errorp = 0;
        }
        volume
    }
}

/// `hammer_ref_volume`: adds a reference to a volume the caller can
/// already reach, loading it if needed.
///
/// # Safety
///
/// `volume` is a live volume of a live mount.
pub unsafe fn hammer_ref_volume(volume: ffi::hammer_volume_t) -> c_int {
    // SAFETY: caller contract.
    unsafe {
        if lock::ref_interlock(addr_of_mut!((*volume).io.lock)) {
            load_volume(volume)
        } else {
            kassert(!(*volume).ondisk.is_null(), "volume->ondisk");
            0
        }
    }
}

/// `hammer_get_root_volume`.
///
/// # Safety
///
/// `hmp` is a live mount with a root volume; `errorp` writable.
pub unsafe fn hammer_get_root_volume(
    hmp: ffi::hammer_mount_t,
    errorp: *mut c_int,
) -> ffi::hammer_volume_t {
    // SAFETY: caller contract.
    unsafe {
        let volume = (*hmp).rootvol;
        kassert(!volume.is_null(), "volume != NULL");
        if lock::ref_interlock(addr_of_mut!((*volume).io.lock)) {
            gettoken(addr_of_mut!((*hmp).fs_token));
            *errorp = load_volume(volume);
            reltoken(addr_of_mut!((*hmp).fs_token));
            if *errorp != 0 {
                return null_mut();
            }
        } else {
            kassert(!(*volume).ondisk.is_null(), "volume->ondisk");
            *errorp = 0;
        }
        volume
    }
}

/// `hammer_load_volume`: called with a reference and the interlock; reads
/// the header through the I/O layer. Releases the interlock on success,
/// the reference too on failure. Like the kernel it leaves an already
/// loaded volume alone.
///
/// # Safety
///
/// `volume` is live, referenced and interlocked by the caller.
unsafe fn load_volume(volume: ffi::hammer_volume_t) -> c_int {
    // SAFETY: caller contract.
    unsafe {
        if !(*volume).ondisk.is_null() {
            return 0;
        }
        let imp = current();
        let error = (imp.read)(
            (*volume).devvp,
            addr_of_mut!((*volume).io),
            ffi::HAMMER_BUFSIZE,
        );
        if error == 0 {
            (*volume).ondisk = (*(*volume).io.bp).b_data as *mut ffi::hammer_volume_ondisk;
            lock::ref_interlock_done(addr_of_mut!((*volume).io.lock));
        } else {
            hammer_rel_volume(volume, 1);
        }
        error
    }
}

/// `hammer_rel_volume`: drops a reference; the last one gives the header
/// buffer back to the I/O layer (with `locked`, the caller holds the
/// interlock and asks for a flush: the unload/failure path).
///
/// # Safety
///
/// `volume` is a live, referenced volume.
/// Untraced body of the C entry point `hammer_rel_volume` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_rel_volume_untraced(
    volume: ffi::hammer_volume_t,
    locked: c_int,
) {
    // SAFETY: caller contract; the mount outlives its volumes.
    unsafe {
        let lk = addr_of_mut!((*volume).io.lock);
        if lock::rel_interlock(lk, locked != 0) {
            let hmp = (*volume).io.hmp;
            gettoken(addr_of_mut!((*hmp).fs_token));
            (*volume).ondisk = null_mut();
            let bp = (current().release)(addr_of_mut!((*volume).io), locked);
            reltoken(addr_of_mut!((*hmp).fs_token));
            lock::rel_interlock_done(lk, locked != 0);
            brelse_opt(bp);
        }
    }
}

// ---------------------------------------------------------------------
// Buffers
// ---------------------------------------------------------------------

/// `hammer_direct_zone`: zones whose offsets translate straight to raw
/// buffer offsets (used to spot aliases on read-only mounts).
fn direct_zone(buf_offset: u64) -> bool {
    matches!(
        off::zone_decode(buf_offset),
        ffi::HAMMER_ZONE_RAW_BUFFER_INDEX
            | ffi::HAMMER_ZONE_FREEMAP_INDEX
            | ffi::HAMMER_ZONE_BTREE_INDEX
            | ffi::HAMMER_ZONE_META_INDEX
            | ffi::HAMMER_ZONE_LARGE_DATA_INDEX
            | ffi::HAMMER_ZONE_SMALL_DATA_INDEX
    )
}

/// The kind of `hammer_io` a zone's buffers are.
fn iotype_of_zone(zone: i32) -> ffi::hammer_io_type {
    match zone {
        ffi::HAMMER_ZONE_LARGE_DATA_INDEX | ffi::HAMMER_ZONE_SMALL_DATA_INDEX => {
            ffi::HAMMER_STRUCTURE_DATA_BUFFER
        }
        ffi::HAMMER_ZONE_UNDO_INDEX => ffi::HAMMER_STRUCTURE_UNDO_BUFFER,
        // Inodes and directory entries live in the meta zone and are
        // updated in place, so everything else is meta-data too.
        _ => ffi::HAMMER_STRUCTURE_META_BUFFER,
    }
}

/// Removes a buffer that is about to be referenced from the lose list.
///
/// # Safety
///
/// `buffer` is a live buffer of the live mount `hmp`.
unsafe fn unlose(hmp: ffi::hammer_mount_t, buffer: ffi::hammer_buffer_t) {
    // SAFETY: caller contract; the lose tree is protected by io_token,
    // since I/O completion may add to it.
    unsafe {
        let lose = addr_of_mut!((*hmp).lose_root);
        if (*buffer).io.mod_root == lose {
            gettoken(addr_of_mut!((*hmp).io_token));
            if (*buffer).io.mod_root == lose {
                (current().mod_remove)(lose, addr_of_mut!((*buffer).io));
                (*buffer).io.mod_root = null_mut();
                kassert((*buffer).io.modified() == 0, "buffer->io.modified == 0");
            }
            reltoken(addr_of_mut!((*hmp).io_token));
        }
    }
}

/// `hammer_get_buffer`: references the buffer covering `buf_offset`
/// (zone-X), creating the structure and loading its data (read, or
/// `isnew`: a fresh zeroed buffer) as needed.
///
/// # Safety
///
/// `hmp` is a live mount; `errorp` writable.
pub unsafe fn hammer_get_buffer(
    hmp: ffi::hammer_mount_t,
    buf_offset: u64,
    bytes: c_int,
    isnew: bool,
    errorp: *mut c_int,
) -> ffi::hammer_buffer_t {
    let buf_offset = buf_offset & !BUFMASK64;
    // SAFETY: every structure reached is owned by the live mount; the
    // tree is only modified by threads holding fs_token-level exclusion,
    // as in the kernel.
    unsafe {
        let bufs = addr_of_mut!((*hmp).rb_bufs_root);
        loop {
            let mut buffer = buf_lookup(bufs, buf_offset);
            if buffer.is_null() && (*hmp).ronly != 0 && direct_zone(buf_offset) {
                let alias = (buf_offset & !ffi::HAMMER_OFF_ZONE_MASK) | ffi::HAMMER_ZONE_RAW_BUFFER;
                buffer = buf_lookup(bufs, alias);
                if !buffer.is_null() {
                    kprint(&format!("HAMMER: recovered aliased {buf_offset:016x}"));
                }
            }
            if !buffer.is_null() {
                if !lock::ref_interlock(addr_of_mut!((*buffer).io.lock)) {
                    (current().advance)(addr_of_mut!((*buffer).io));
                    kassert(!(*buffer).ondisk.is_null(), "buffer->ondisk");
                    *errorp = 0;
                    return buffer;
                }
                // 0->1 (or deferred CHECK) with the interlock held.
                HAMMER_COUNT_REFEDBUFS.fetch_add(1, Ordering::SeqCst);
                if !(*buffer).ondisk.is_null() {
                    (current().advance)(addr_of_mut!((*buffer).io));
                    lock::ref_interlock_done(addr_of_mut!((*buffer).io.lock));
                    *errorp = 0;
                    return buffer;
                }
                unlose(hmp, buffer);
                return finish_get_buffer(buffer, isnew, errorp);
            }

            let zone = off::zone_decode(buf_offset);
            let iotype = iotype_of_zone(zone);
            let zone2_offset = if zone >= ffi::HAMMER_ZONE_BTREE_INDEX {
                hammer_blockmap_lookup(hmp, buf_offset, errorp)
            } else if zone == ffi::HAMMER_ZONE_UNDO_INDEX {
                hammer_undo_lookup(hmp, buf_offset, errorp)
            } else {
                kassert(
                    zone == ffi::HAMMER_ZONE_RAW_BUFFER_INDEX,
                    "zone == HAMMER_ZONE_RAW_BUFFER_INDEX",
                );
                *errorp = 0;
                buf_offset
            };
            if *errorp != 0 {
                return null_mut();
            }
            kassert(
                zone2_offset & ffi::HAMMER_OFF_ZONE_MASK == ffi::HAMMER_ZONE_RAW_BUFFER,
                "zone2_offset is a zone-2 offset",
            );
            let volume = hammer_get_volume(hmp, off::vol_decode(zone2_offset), errorp);
            if volume.is_null() {
                return null_mut();
            }
            kassert(
                zone2_offset < (*volume).maxbuf_off,
                "zone2_offset < volume->maxbuf_off",
            );

            HAMMER_COUNT_BUFFERS.fetch_add(1, Ordering::SeqCst);
            let buffer = Box::into_raw(Box::<ffi::hammer_buffer>::new_zeroed().assume_init());
            (*buffer).zone2_offset = zone2_offset;
            (*buffer).zoneX_offset = buf_offset;
            (current().init)(addr_of_mut!((*buffer).io), volume, iotype);
            (*buffer).io.offset = (*(*volume).ondisk).vol_buf_beg
                + (zone2_offset & ffi::HAMMER_OFF_SHORT_MASK) as i64;
            (*buffer).io.bytes = bytes;
            tailq_init!(addr_of_mut!((*buffer).clist));
            lock::ref_interlock_true(addr_of_mut!((*buffer).io.lock));

            if !BufTree::insert(bufs, buffer).is_null() {
                // Lost a race with another creator: undo and retry.
                hammer_rel_volume(volume, 0);
                (*buffer).io.volume = null_mut();
                if lock::rel_interlock(addr_of_mut!((*buffer).io.lock), true) {
                    lock::rel_interlock_done(addr_of_mut!((*buffer).io.lock), true);
                }
                HAMMER_COUNT_BUFFERS.fetch_sub(1, Ordering::SeqCst);
                drop(Box::from_raw(buffer));
                continue;
            }
            HAMMER_COUNT_REFEDBUFS.fetch_add(1, Ordering::SeqCst);
            return finish_get_buffer(buffer, isnew, errorp);
        }
    }
}

/// The `found:` tail of `hammer_get_buffer`: the buffer is referenced and
/// interlocked; load it unless it already is.
///
/// # Safety
///
/// As for `hammer_get_buffer`; `buffer` is referenced and interlocked.
unsafe fn finish_get_buffer(
    buffer: ffi::hammer_buffer_t,
    isnew: bool,
    errorp: *mut c_int,
) -> ffi::hammer_buffer_t {
    // SAFETY: caller contract.
    unsafe {
        if (*buffer).ondisk.is_null() {
            *errorp = load_buffer(buffer, isnew);
            if *errorp != 0 {
                return null_mut();
            }
        } else {
            (current().advance)(addr_of_mut!((*buffer).io));
            lock::ref_interlock_done(addr_of_mut!((*buffer).io.lock));
            *errorp = 0;
        }
        buffer
    }
}

/// `hammer_load_buffer`: with a reference and the interlock, gets the
/// buffer-cache buffer through the I/O layer. Reads of non-large-data
/// zones may cluster up to the end of the big-block. Releases the
/// interlock; on error also the reference (the pointer is then stale).
///
/// # Safety
///
/// `buffer` is live, referenced and interlocked by the caller.
unsafe fn load_buffer(buffer: ffi::hammer_buffer_t, isnew: bool) -> c_int {
    // SAFETY: caller contract; the buffer's volume is referenced by it.
    unsafe {
        let imp = current();
        let volume = (*buffer).io.volume;
        let io = addr_of_mut!((*buffer).io);
        if hammer_debug_io.load(Ordering::Relaxed) & 0x0004 != 0 {
            kprint(&format!(
                "load_buffer {:016x} {:016x} isnew={} od={:p}",
                (*buffer).zoneX_offset,
                (*buffer).zone2_offset,
                isnew as i32,
                (*buffer).ondisk
            ));
        }
        let error;
        if (*buffer).ondisk.is_null() {
            error = if isnew {
                (imp.new)((*volume).devvp, io)
            } else if (*buffer).zoneX_offset & ffi::HAMMER_OFF_ZONE_MASK
                == ffi::HAMMER_ZONE_LARGE_DATA
            {
                (imp.read)((*volume).devvp, io, (*buffer).io.bytes)
            } else {
                let end = ((*buffer).zone2_offset + LARGEBLOCK_MASK64) & !LARGEBLOCK_MASK64;
                let limit = end - (*buffer).zone2_offset;
                (imp.read)((*volume).devvp, io, limit as c_int)
            };
            if error == 0 {
                (*buffer).ondisk = (*(*buffer).io.bp).b_data as *mut c_void;
            }
        } else if isnew {
            error = (imp.new)((*volume).devvp, io);
        } else {
            error = 0;
        }
        if error == 0 {
            (imp.advance)(io);
            lock::ref_interlock_done(addr_of_mut!((*buffer).io.lock));
        } else {
            hammer_rel_buffer(buffer, 1);
        }
        error
    }
}

/// `hammer_ref_buffer`: references a buffer the caller can already reach
/// (a cached pointer), loading it on the 0->1 transition.
///
/// # Safety
///
/// `buffer` is a live buffer of a live mount.
pub unsafe fn hammer_ref_buffer(buffer: ffi::hammer_buffer_t) -> c_int {
    // SAFETY: caller contract.
    unsafe {
        let locked = lock::ref_interlock(addr_of_mut!((*buffer).io.lock));
        let hmp = (*buffer).io.hmp;
        unlose_nocheck(hmp, buffer);
        if locked {
            HAMMER_COUNT_REFEDBUFS.fetch_add(1, Ordering::SeqCst);
            load_buffer(buffer, false)
        } else {
            0
        }
    }
}

/// Like [`unlose`] without the modified assertion (hammer_ref_buffer's
/// version).
///
/// # Safety
///
/// As for [`unlose`].
unsafe fn unlose_nocheck(hmp: ffi::hammer_mount_t, buffer: ffi::hammer_buffer_t) {
    // SAFETY: caller contract.
    unsafe {
        let lose = addr_of_mut!((*hmp).lose_root);
        if (*buffer).io.mod_root == lose {
            gettoken(addr_of_mut!((*hmp).io_token));
            if (*buffer).io.mod_root == lose {
                (current().mod_remove)(lose, addr_of_mut!((*buffer).io));
                (*buffer).io.mod_root = null_mut();
            }
            reltoken(addr_of_mut!((*hmp).io_token));
        }
    }
}

/// `hammer_rel_buffer`: drops a reference. On the last one the
/// buffer-cache buffer goes back to the I/O layer (`locked`: the caller
/// holds the interlock and asks for a flush, the unload/failure path),
/// and a structure left without buffer and references is destroyed.
///
/// # Safety
///
/// `buffer` is a live, referenced buffer.
/// Untraced body of the C entry point `hammer_rel_buffer` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_rel_buffer_untraced(
    buffer: ffi::hammer_buffer_t,
    locked: c_int,
) {
    // SAFETY: caller contract; the structures reached belong to the mount.
    unsafe {
        let lk = addr_of_mut!((*buffer).io.lock);
        let locked = locked != 0;
        if !lock::rel_interlock(lk, locked) {
            return;
        }
        // A set CHECK means the caller took its reference with a bare
        // hammer_ref() that was never counted.
        if locked || lock::refs_word(lk) & lock::REFS_CHECK == 0 {
            HAMMER_COUNT_REFEDBUFS.fetch_sub(1, Ordering::SeqCst);
        }
        let imp = current();
        let bp = (imp.release)(addr_of_mut!((*buffer).io), locked as c_int);

        let mut freeme = false;
        if (*buffer).io.bp.is_null() && lock::norefs(lk) {
            let hmp = (*buffer).io.hmp;
            BufTree::remove(addr_of_mut!((*hmp).rb_bufs_root), buffer);
            let volume = (*buffer).io.volume;
            (*buffer).io.volume = null_mut();
            hammer_rel_volume(volume, 0);
            (imp.clear_modlist)(addr_of_mut!((*buffer).io));
            hammer_flush_buffer_nodes(buffer);
            kassert(
                tailq_empty!(addr_of_mut!((*buffer).clist)),
                "TAILQ_EMPTY(&buffer->clist)",
            );
            freeme = true;
        }
        lock::rel_interlock_done(lk, locked);
        brelse_opt(bp);
        if freeme {
            HAMMER_COUNT_BUFFERS.fetch_sub(1, Ordering::SeqCst);
            drop(Box::from_raw(buffer));
        }
    }
}

/// Shared body of `hammer_bread*` / `hammer_bnew*`: swaps the buffer in
/// `*bufferp` for the one covering `buf_offset` (matching the cached one
/// by zone-X or zone-2 offset) and returns a pointer to the byte at
/// `buf_offset` inside it.
///
/// # Safety
///
/// `hmp` live; `errorp` writable; `*bufferp` null or a buffer the caller
/// holds a reference on.
unsafe fn get_data(
    hmp: ffi::hammer_mount_t,
    buf_offset: u64,
    bytes: c_int,
    isnew: bool,
    errorp: *mut c_int,
    bufferp: *mut ffi::hammer_buffer_t,
) -> *mut c_void {
    let xoff = (buf_offset & BUFMASK64) as usize;
    let buf_offset = buf_offset & !BUFMASK64;
    // SAFETY: caller contract.
    unsafe {
        let mut buffer = *bufferp;
        if buffer.is_null()
            || ((*buffer).zone2_offset != buf_offset && (*buffer).zoneX_offset != buf_offset)
        {
            if !buffer.is_null() {
                hammer_rel_buffer(buffer, 0);
            }
            buffer = hammer_get_buffer(hmp, buf_offset, bytes, isnew, errorp);
            *bufferp = buffer;
        } else {
            *errorp = 0;
        }
        if buffer.is_null() {
            null_mut()
        } else {
            ((*buffer).ondisk as *mut u8).add(xoff) as *mut c_void
        }
    }
}

/// `hammer_bread`: the data at `buf_offset`, reading its buffer if needed;
/// any buffer in `*bufferp` is released and replaced.
///
/// # Safety
///
/// `hmp` live; `errorp` writable; `*bufferp` null or a buffer the caller
/// holds a reference on.
/// Untraced body of the C entry point `hammer_bread` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_bread_untraced(
    hmp: *mut ffi::hammer_mount,
    buf_offset: ffi::hammer_off_t,
    errorp: *mut c_int,
    bufferp: *mut *mut ffi::hammer_buffer,
) -> *mut c_void {
    kassert(
        buf_offset & ffi::HAMMER_OFF_ZONE_MASK != 0,
        "buf_offset has a zone",
    );
    // SAFETY: forwarded contract.
    unsafe { get_data(hmp, buf_offset, ffi::HAMMER_BUFSIZE, false, errorp, bufferp) }
}

/// `hammer_bread_ext`: [`hammer_bread`] for a buffer of `bytes` (rounded
/// up to whole HAMMER buffers).
///
/// # Safety
///
/// As for [`hammer_bread`].
pub unsafe fn hammer_bread_ext(
    hmp: ffi::hammer_mount_t,
    buf_offset: u64,
    bytes: c_int,
    errorp: *mut c_int,
    bufferp: *mut ffi::hammer_buffer_t,
) -> *mut c_void {
    let bytes = (bytes + ffi::HAMMER_BUFMASK) & !ffi::HAMMER_BUFMASK;
    kassert(
        buf_offset & ffi::HAMMER_OFF_ZONE_MASK != 0,
        "buf_offset has a zone",
    );
    // SAFETY: forwarded contract.
    unsafe { get_data(hmp, buf_offset, bytes, false, errorp, bufferp) }
}

/// `hammer_bnew`: like [`hammer_bread`] but the buffer is instantiated
/// without reading (its content is whatever the cache had, zero-filled
/// where invalid) and marked modified by the I/O layer.
///
/// # Safety
///
/// As for [`hammer_bread`].
pub unsafe fn hammer_bnew(
    hmp: ffi::hammer_mount_t,
    buf_offset: u64,
    errorp: *mut c_int,
    bufferp: *mut ffi::hammer_buffer_t,
) -> *mut c_void {
    // SAFETY: forwarded contract.
    unsafe { get_data(hmp, buf_offset, ffi::HAMMER_BUFSIZE, true, errorp, bufferp) }
}

/// `hammer_bnew_ext`.
///
/// # Safety
///
/// As for [`hammer_bread`].
pub unsafe fn hammer_bnew_ext(
    hmp: ffi::hammer_mount_t,
    buf_offset: u64,
    bytes: c_int,
    errorp: *mut c_int,
    bufferp: *mut ffi::hammer_buffer_t,
) -> *mut c_void {
    let bytes = (bytes + ffi::HAMMER_BUFMASK) & !ffi::HAMMER_BUFMASK;
    // SAFETY: forwarded contract.
    unsafe { get_data(hmp, buf_offset, bytes, true, errorp, bufferp) }
}

/// `hammer_sync_buffers`: before a direct read of large-data, writes out
/// (and waits for) any HAMMER buffer aliasing the range that is modified
/// or being written.
///
/// # Safety
///
/// `hmp` is a live mount.
/// Untraced body of the C entry point `hammer_sync_buffers` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_sync_buffers_untraced(
    hmp: ffi::hammer_mount_t,
    base_offset: ffi::hammer_off_t,
    bytes: c_int,
) {
    kassert(
        base_offset & ffi::HAMMER_OFF_ZONE_MASK == ffi::HAMMER_ZONE_LARGE_DATA,
        "base_offset is in the large-data zone",
    );
    let mut base_offset = base_offset;
    let mut bytes = bytes;
    // SAFETY: buffers found in the live mount's tree are live; we hold a
    // reference while working on one.
    unsafe {
        let imp = current();
        while bytes > 0 {
            let buffer = buf_lookup(addr_of_mut!((*hmp).rb_bufs_root), base_offset);
            if !buffer.is_null() && ((*buffer).io.modified() != 0 || (*buffer).io.running() != 0) {
                let error = hammer_ref_buffer(buffer);
                if error == 0 {
                    let io = addr_of_mut!((*buffer).io);
                    (imp.wait)(io);
                    if (*buffer).io.modified() != 0 {
                        (imp.write_interlock)(io);
                        (imp.flush)(io, 0);
                        (imp.done_interlock)(io);
                        (imp.wait)(io);
                    }
                    hammer_rel_buffer(buffer, 0);
                }
            }
            base_offset += off::BUFSIZE;
            bytes -= ffi::HAMMER_BUFSIZE;
        }
    }
}

/// `hammer_del_buffers`: destroys the HAMMER buffers covering a zone-X
/// range (and, where none exists, any device buffer aliasing the zone-2
/// range, via `hammer_io_inval`). Returns EAGAIN if some buffer is
/// referenced by someone else.
///
/// # Safety
///
/// `hmp` is a live mount and `zone2_offset` names one of its volumes.
/// Untraced body of the C entry point `hammer_del_buffers` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_del_buffers_untraced(
    hmp: ffi::hammer_mount_t,
    base_offset: ffi::hammer_off_t,
    zone2_offset: ffi::hammer_off_t,
    bytes: c_int,
    report_conflicts: c_int,
) -> c_int {
    let (mut base_offset, mut zone2_offset, mut bytes) = (base_offset, zone2_offset, bytes);
    // SAFETY: as for hammer_sync_buffers.
    unsafe {
        let imp = current();
        let mut ret_error: c_int = 0;
        let volume = hammer_get_volume(hmp, off::vol_decode(zone2_offset), &mut ret_error);
        kassert(ret_error == 0, "ret_error == 0");
        while bytes > 0 {
            let buffer = buf_lookup(addr_of_mut!((*hmp).rb_bufs_root), base_offset);
            let mut error;
            if !buffer.is_null() {
                error = hammer_ref_buffer(buffer);
                if error == 0 && !lock::oneref(addr_of_mut!((*buffer).io.lock)) {
                    error = ffi::EAGAIN;
                    hammer_rel_buffer(buffer, 0);
                }
                if error == 0 {
                    kassert(
                        (*buffer).zone2_offset == zone2_offset,
                        "buffer->zone2_offset == zone2_offset",
                    );
                    (imp.clear_modify)(addr_of_mut!((*buffer).io), 1);
                    (*buffer).io.set_reclaim(1);
                    (*buffer).io.set_waitdep(1);
                    kassert((*buffer).io.volume == volume, "buffer->io.volume == volume");
                    hammer_rel_buffer(buffer, 0);
                }
            } else {
                error = (imp.inval)(volume, zone2_offset);
            }
            if error != 0 {
                ret_error = error;
                if report_conflicts != 0 {
                    kprint(&format!(
                        "hammer_del_buffers: unable to invalidate {base_offset:016x} buffer={buffer:p} rep={report_conflicts}"
                    ));
                }
            }
            base_offset += off::BUFSIZE;
            zone2_offset += off::BUFSIZE;
            bytes -= ffi::HAMMER_BUFSIZE;
        }
        hammer_rel_volume(volume, 0);
        ret_error
    }
}

/// `hammer_unload_buffer`: unmount-time teardown of one buffer: drops any
/// ioerror reference, discards modifications (the flusher should have
/// written them; if not we are failing anyway), waits for running I/O and
/// releases with flush so the buffer-cache buffer is disassociated.
///
/// # Safety
///
/// `buffer` is a live buffer without references.
pub unsafe fn hammer_unload_buffer(buffer: ffi::hammer_buffer_t) {
    // SAFETY: caller contract.
    unsafe {
        let imp = current();
        let io = addr_of_mut!((*buffer).io);
        if (*buffer).io.ioerror() != 0 {
            (imp.clear_error_noassert)(io);
            HAMMER_COUNT_REFEDBUFS.fetch_sub(1, Ordering::SeqCst);
        }
        lock::ref_interlock_true(addr_of_mut!((*buffer).io.lock));
        HAMMER_COUNT_REFEDBUFS.fetch_add(1, Ordering::SeqCst);
        (imp.clear_modify)(io, 1);
        hammer_flush_buffer_nodes(buffer);
        (*buffer).io.set_waitdep(1);
        hammer_rel_buffer(buffer, 1);
    }
}

/// Unloads every buffer of the mount (unmount order: buffers, then
/// volumes).
///
/// # Safety
///
/// `hmp` is a live mount none of whose buffers is referenced.
pub unsafe fn unload_all_buffers(hmp: ffi::hammer_mount_t) {
    // SAFETY: the scan tolerates the callback removing the visited buffer
    // (hammer_rel_buffer frees structures without a bp).
    unsafe {
        BufTree::scan_with(
            addr_of_mut!((*hmp).rb_bufs_root),
            |_| 0,
            |buffer| {
                hammer_unload_buffer(buffer);
                0
            },
        );
    }
}

/// Adds a bare reference (`hammer_ref`) to a buffer's lock, for callers
/// that reach a buffer through a mod tree, as the flusher does.
///
/// # Safety
///
/// `io` is the `io` of a live buffer.
pub unsafe fn ref_io(io: *mut ffi::hammer_io) {
    // SAFETY: caller contract.
    unsafe { lock::hammer_ref(addr_of_mut!((*io).lock)) }
}

/// Drops a bare reference (`hammer_rel`).
///
/// # Safety
///
/// `io` is live and has a reference to drop.
pub unsafe fn rel_io(io: *mut ffi::hammer_io) {
    // SAFETY: caller contract.
    unsafe { hammer_rel(addr_of_mut!((*io).lock)) }
}

/// The buffer whose `io` this is (`io` is the first member).
pub fn buffer_of(io: *mut ffi::hammer_io) -> ffi::hammer_buffer_t {
    io.cast()
}

/// The volume whose `io` this is.
pub fn volume_of(io: *mut ffi::hammer_io) -> ffi::hammer_volume_t {
    io.cast()
}

/// Compile-time proof that the exports have the C types bindgen read
/// from hammer.h.
#[allow(dead_code)]
fn exports_match_bound_prototypes() {
    use super::sig::*;
    same3(ffi::hammer_get_volume, hammer_get_volume);
    same2(ffi::hammer_rel_volume, hammer_rel_volume);
    same2(ffi::hammer_rel_buffer, hammer_rel_buffer);
    same4(ffi::hammer_bread, hammer_bread);
    same3(ffi::hammer_sync_buffers, hammer_sync_buffers);
    same5(ffi::hammer_del_buffers, hammer_del_buffers);
}
