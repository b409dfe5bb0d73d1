//! Direct I/O for file data: reads and writes of a front-end vnode's
//! buffer that go straight to the volume device (or, for indirect reads,
//! through the device's buffer cache), bypassing HAMMER's own buffers.

use core::ffi::c_int;

use crate::io::dirty;
use crate::io::flush;
use crate::kassert;
use crate::sys::bio::{self, Bio, BioDone};
use crate::sys::buf::{self, Vnode};
use crate::sys::counters::{
    hammer_stats_disk_read_add, hammer_stats_disk_write_add, hammer_verify_data,
};
use crate::sys::ffi;
use crate::sys::flags::{BioFlags, BufCmd, BufFlags, SleepFlags};
use crate::sys::hammer::{
    self as h, Inode, InodeInfo, InodeInfoRef, InodeScan, Leaf, Mount, Record,
};
use crate::sys::kern;
use crate::sys::sleep::{tsleep, wakeup, WMesg};
use crate::sys::token::TokenGuard;
use crate::sys::zone::{
    HAMMER_BUFMASK, HAMMER_BUFMASK64, HAMMER_BUFSIZE, HAMMER_OFF_SHORT_MASK, HAMMER_OFF_ZONE_MASK,
    HAMMER_VOL_DECODE, HAMMER_ZONE_BTREE, HAMMER_ZONE_DECODE, HAMMER_ZONE_LARGE_DATA,
    HAMMER_ZONE_LARGE_DATA_INDEX, HAMMER_ZONE_RAW_BUFFER,
};

/// `hammer_io_direct_read()`: read a large-data block of a file straight
/// from the device into the file buffer of `bio`, as a third bio layer.
/// Completion (and any CRC check the caller wants) happens through the
/// bio chain; `leaf` is not used here.
pub fn direct_read(hmp: Mount, bio: Bio, _leaf: Option<Leaf>) -> c_int {
    read_from_device(hmp, bio, |volume, dev_offset| {
        // Third bio layer: the raw offset on this volume's device.
        let nbio = bio::push_bio(bio);
        nbio.set_offset(dev_offset as i64);
        hammer_stats_disk_read_add(bio.buf().bufsize());
        bio::vn_strategy(volume.devvp(), nbio);
    })
}

/// `hammer_io_indirect_read()`: like [`direct_read`], but the data is read
/// through the device's buffer cache and copied into the file buffer by
/// [`IndirectCallback`], which also checks the CRC when `leaf` is given
/// and `hammer_verify_data` is on. Runs asynchronously too (used in
/// double-buffer mode).
pub fn indirect_read(hmp: Mount, bio: Bio, leaf: Option<Leaf>) -> c_int {
    read_from_device(hmp, bio, |volume, dev_offset| {
        // The expected CRC travels in the front-end bio; info2.index says
        // whether to check it.
        match leaf {
            Some(leaf) if hammer_verify_data() != 0 => {
                bio.set_caller_uvalue32(leaf.data_crc());
                bio.set_caller_index2(1);
            }
            _ => bio.set_caller_index2(0),
        }
        bio::breadcb::<IndirectCallback>(
            volume.devvp(),
            dev_offset as i64,
            bio.buf().bufsize(),
            bio,
        );
    })
}

/// What both reads share: resolve the file bio's large-data offset to a
/// volume and a raw device offset, let `issue` start the I/O, and fail the
/// file bio (with the error returned) when the offset cannot be resolved.
///
/// A HAMMER buffer may hold newer data for the same block (the reblocker
/// writes through HAMMER buffers), so such aliases are synced first.
fn read_from_device(hmp: Mount, bio: Bio, issue: impl FnOnce(h::Volume, u64)) -> c_int {
    let buf_offset = bio.offset() as u64;
    kassert!((buf_offset & HAMMER_OFF_ZONE_MASK) == HAMMER_ZONE_LARGE_DATA);

    let bp = bio.buf();
    h::hammer_sync_buffers(hmp, buf_offset, bp.bufsize());

    // The zone translation is only a matter of the top bits, but going
    // through the blockmap lets it verify the zone.
    let mut error: c_int = 0;
    let zone2_offset = h::hammer_blockmap_lookup(hmp, buf_offset, &mut error);
    if error == 0 {
        kassert!((zone2_offset & HAMMER_OFF_ZONE_MASK) == HAMMER_ZONE_RAW_BUFFER);

        let vol_no = HAMMER_VOL_DECODE(zone2_offset);
        let volume = h::hammer_get_volume(hmp, vol_no, &mut error);
        if error == 0 && zone2_offset >= crate::kassert_some!(volume).maxbuf_off() {
            error = ffi::EIO;
        }
        if error == 0 {
            let volume = crate::kassert_some!(volume);
            let dev_offset =
                (volume.vol_buf_beg() as u64).wrapping_add(zone2_offset & HAMMER_OFF_SHORT_MASK);
            issue(volume, dev_offset);
        }
        h::hammer_rel_volume(volume, 0);
    }

    if error != 0 {
        kern::kprintf_direct_read_failed(zone2_offset);
        bp.set_error(error);
        bp.set(BufFlags::B_ERROR);
        bio::biodone(bio);
    }
    error
}

/// `hammer_indirect_callback()`: the device buffer of an
/// [`indirect_read`] is ready. The bio is the device buffer's; its
/// `bio_caller_info1.ptr` is the original file bio.
///
/// Nobody else waits for the device buffer: this routine completes it
/// (the `bpdone` a biowait would otherwise do, if breadcb did not find it
/// cached), copies or fails the file buffer, `biodone`s the file bio and
/// gives the device buffer back with `bqrelse`.
pub struct IndirectCallback;

impl BioDone for IndirectCallback {
    fn bio_done(bio: Bio) {
        let bp = bio.buf();

        // BIO_DONE set means breadcb found the buffer valid (B_CACHE) and
        // called us directly; otherwise real I/O just finished.
        if !bio.flags().contains(BioFlags::BIO_DONE) {
            bp.bpdone(0);
        }
        bio.clear(BioFlags::BIO_DONE | BioFlags::BIO_SYNC);

        let obio = bio.caller_bio();
        let obp = obio.buf();

        if bp.has(BufFlags::B_ERROR) {
            obp.set(BufFlags::B_ERROR);
            obp.set_error(bp.error());
        } else if obio.caller_index2() != 0 && obio.caller_uvalue32() != bp.crc32_data() {
            obp.set(BufFlags::B_ERROR);
            obp.set_error(ffi::EIO);
        } else {
            // Buffer recycling could leave a device buffer of another size;
            // it must at least cover the request.
            kassert!(bp.bufsize() >= obp.bufsize());
            bp.copy_data_to(obp, obp.bufsize());
            obp.set_resid(0);
            obp.set(BufFlags::B_AGE);
        }
        bio::biodone(obio);
        bp.bqrelse();
    }
}

/// `hammer_io_direct_write()`: write a file buffer for `record`.
///
/// A write covering whole, aligned HAMMER buffers goes straight to the
/// device with two pushed bio layers (zone-2, then raw), flagging the
/// record HAMMER_RECG_DIRECT_IO until [`DirectWriteComplete`] runs. A
/// smaller write fits inside one HAMMER buffer and is copied there; its
/// readers all go through HAMMER buffers. Either way the new in-memory
/// record replaces the old one before the I/O completes, so a re-read
/// cannot pick up the old media data.
pub fn direct_write(hmp: Mount, bio: Bio, record: Record) -> c_int {
    let leaf = record.leaf();
    let buf_offset = leaf.data_offset();

    kassert!(buf_offset > HAMMER_ZONE_BTREE);
    kassert!(bio.buf().cmd() == BufCmd::BUF_CMD_WRITE);

    let mut error: c_int = 0;
    if (buf_offset & HAMMER_BUFMASK64) == 0 && leaf.data_len() >= HAMMER_BUFSIZE {
        // Writing the vnode's bio directly: a HAMMER buffer at the same
        // zone-X offset would now be stale.
        let zone2_offset = h::hammer_blockmap_lookup(hmp, buf_offset, &mut error);
        let vol_no = HAMMER_VOL_DECODE(zone2_offset);
        let volume = h::hammer_get_volume(hmp, vol_no, &mut error);

        if error == 0 && zone2_offset >= crate::kassert_some!(volume).maxbuf_off() {
            error = ffi::EIO;
        }
        if error == 0 {
            let volume = crate::kassert_some!(volume);
            let bp = bio.buf();
            kassert!((bp.bufsize() & HAMMER_BUFMASK) == 0);

            // Second layer: the cached zone-2 offset, carrying the
            // completion routine and the record.
            let nbio = bio::push_bio(bio);
            nbio.set_offset(zone2_offset as i64);
            nbio.set_done::<DirectWriteComplete>();
            nbio.set_caller_record(record);
            record.set_zone2_offset(zone2_offset);
            record.set_gflags(
                record.gflags() | ffi::HAMMER_RECG_DIRECT_IO | ffi::HAMMER_RECG_DIRECT_INVAL,
            );

            // Third layer: the raw offset on this volume's device.
            let short_offset = zone2_offset & HAMMER_OFF_SHORT_MASK;
            let nbio = bio::push_bio(nbio);
            nbio.set_offset((volume.vol_buf_beg() as u64).wrapping_add(short_offset) as i64);
            hammer_stats_disk_write_add(bp.bufsize());
            h::hammer_ip_replace_bulk(hmp, record);
            bio::vn_strategy(volume.devvp(), nbio);
            flush::flush_mark(volume);
        }
        h::hammer_rel_volume(volume, 0);
    } else {
        // Must not cross a HAMMER buffer boundary.
        let last = buf_offset
            .wrapping_add(leaf.data_len() as u64)
            .wrapping_sub(1);
        kassert!(((buf_offset ^ last) & !HAMMER_BUFMASK64) == 0);
        let mut buffer = None;
        let ptr = h::hammer_bread(hmp, buf_offset, &mut error, &mut buffer);
        if error == 0 {
            let buffer = crate::kassert_some!(buffer);
            let bp = bio.buf();
            bp.set(BufFlags::B_AGE);
            dirty::modify(buffer.io(), 1);
            bp.copy_data_to_ptr(ptr, leaf.data_len());
            dirty::modify_done(buffer.io());
            h::hammer_rel_buffer(Some(buffer), 0);
            bp.set_resid(0);
            h::hammer_ip_replace_bulk(hmp, record);
            bio::biodone(bio);
        }
    }

    if error != 0 {
        // The record never made it into the tree, so the backend has
        // nothing to undo; fail the I/O and drop the record.
        kern::kprintf_direct_write_failed(leaf.data_offset());
        let bp = bio.buf();
        bp.set_resid(0);
        bp.set_error(ffi::EIO);
        bp.set(BufFlags::B_ERROR);
        bio::biodone(bio);
        record.set_flags(record.flags() | ffi::HAMMER_RECF_DELETED_FE);
        h::hammer_rel_mem_record(record);
    }
    error
}

/// `hammer_io_direct_write_complete()`: completion of a full-buffer direct
/// write, installed on the second bio layer. Detaches the record (which
/// may go away as soon as HAMMER_RECG_DIRECT_IO is cleared) and chains to
/// the layer above.
///
/// A write error makes the mount read-only; the data buffer is not pinned
/// like meta-data, so it is invalidated to stop the kernel retrying it.
pub struct DirectWriteComplete;

impl BioDone for DirectWriteComplete {
    fn bio_done(nbio: Bio) {
        let record = crate::kassert_some!(nbio.caller_record());
        let hmp = record.ip().hmp();

        let io_token = TokenGuard::acquire(hmp.io_token());

        let bp = nbio.buf();
        let obio = bio::pop_bio(nbio);
        if bp.has(BufFlags::B_ERROR) {
            {
                let _fs_token = TokenGuard::acquire(hmp.fs_token());
                h::hammer_critical_error(
                    hmp,
                    Some(record.ip()),
                    bp.error(),
                    c"while writing bulk data",
                );
            }
            bp.set(BufFlags::B_INVAL);
        }
        bio::biodone(obio);

        kassert!((record.gflags() & ffi::HAMMER_RECG_DIRECT_IO) != 0);
        if (record.gflags() & ffi::HAMMER_RECG_DIRECT_WAIT) != 0 {
            record.set_gflags(
                record.gflags() & !(ffi::HAMMER_RECG_DIRECT_IO | ffi::HAMMER_RECG_DIRECT_WAIT),
            );
            // Past this point the record may be freed.
            wakeup(record.flags_chan());
        } else {
            record.set_gflags(record.gflags() & !ffi::HAMMER_RECG_DIRECT_IO);
            // Past this point the record may be freed.
        }
        io_token.release();
    }
}

/// `hammer_io_direct_wait()`: before a record is committed to the B-Tree
/// or destroyed, wait for its direct write and drop any device-buffer
/// aliases of its data, so that non-direct readers (mirroring,
/// reblocking) cannot see stale contents.
pub fn direct_wait(record: Record) {
    let hmp = record.ip().hmp();

    if (record.gflags() & ffi::HAMMER_RECG_DIRECT_IO) != 0 {
        let _io_token = TokenGuard::acquire(hmp.io_token());
        while (record.gflags() & ffi::HAMMER_RECG_DIRECT_IO) != 0 {
            record.set_gflags(record.gflags() | ffi::HAMMER_RECG_DIRECT_WAIT);
            tsleep(
                record.flags_chan(),
                SleepFlags::empty(),
                WMesg::new(c"hmdiow"),
                0,
            );
        }
    }

    // The file data lives in buffers of the file vnode, not the device
    // vnode, so the device side may hold aliases. (Reservations probably
    // make this impossible nowadays; it is kept as in the original.)
    if (record.gflags() & ffi::HAMMER_RECG_DIRECT_INVAL) != 0 {
        kassert!(record.leaf().data_offset() != 0);
        h::hammer_del_buffers(
            hmp,
            record.leaf().data_offset(),
            record.zone2_offset(),
            record.leaf().data_len(),
            1,
        );
        record.set_gflags(record.gflags() & !ffi::HAMMER_RECG_DIRECT_INVAL);
    }
}

/// `hammer_io_direct_uncache()`: data of `leaf` moved on disk (reblocker),
/// so file buffers that cached its old zone-2 offset in their second bio
/// layer must forget it. Only large-data records are direct-I/O capable.
pub fn direct_uncache(hmp: Mount, leaf: Leaf) {
    if leaf.rec_type() != ffi::HAMMER_RECTYPE_DATA {
        return;
    }
    let zone = HAMMER_ZONE_DECODE(leaf.data_offset());
    if zone != HAMMER_ZONE_LARGE_DATA_INDEX {
        return;
    }
    let mut iinfo = InodeInfo::default();
    iinfo.set_obj_id(leaf.obj_id());
    iinfo.set_obj_asof(0); // not used by the scan
    iinfo.set_obj_localization(leaf.localization() & ffi::HAMMER_LOCALIZE_PSEUDOFS_MASK);
    iinfo.set_leaf(leaf);
    h::hammer_scan_inode_snapshots::<UncacheCallback>(hmp, &mut iinfo, leaf);
}

/// `hammer_io_direct_uncache_callback()`: for each in-memory inode of the
/// object (any snapshot), drop the cached translation of the affected file
/// block, if a buffer for it exists.
pub struct UncacheCallback;

impl InodeScan for UncacheCallback {
    fn scan(ip: Inode, iinfo: InodeInfoRef) -> c_int {
        if ip.vp().is_none() {
            return 0;
        }
        let leaf = iinfo.leaf();
        let file_offset = leaf.key().wrapping_sub(i64::from(leaf.data_len()));
        let blksize = leaf.data_len();
        kassert!((blksize & HAMMER_BUFMASK) == 0);

        // FINDBLK_TEST gives an unlocked, unstable buffer; peeking at its
        // cached offset is enough to decide whether to getblk it.
        ip.lock().hammer_ref();
        let mut vp: Option<Vnode> = None;
        if h::hammer_get_vnode(ip, &mut vp) == 0 {
            let ipvp = crate::kassert_some!(ip.vp());
            if let Some(bp) = buf::findblk(ipvp, file_offset, ffi::FINDBLK_TEST) {
                if bp.bio2().offset() != ffi::NOOFFSET {
                    let bp = buf::getblk(crate::kassert_some!(ip.vp()), file_offset, blksize, 0, 0);
                    bp.bio2().set_offset(ffi::NOOFFSET);
                    bp.brelse();
                }
            }
            buf::vput(crate::kassert_some!(vp));
        }
        h::hammer_rel_inode(ip, 0);
        0
    }
}
