//! The UNDO FIFO (hammer_undo.c): laying down UNDO records before
//! meta-data is modified, the recent-undo history that avoids duplicates
//! within a flush group, and the reclaim decision for undo buffers.
//!
//! Records are written for real, in the media format, into undo buffers
//! obtained with `hammer_bnew` / `hammer_bread` at the FIFO's append point
//! and dirtied with `hammer_modify_buffer` of the current I/O
//! implementation, so a test can read them back from the device.

use core::ffi::{c_int, c_void};
use core::mem::{offset_of, size_of};
use core::ptr::{addr_of_mut, null_mut};
use core::sync::atomic::Ordering;

use super::globals::HAMMER_STATS_UNDO;
use super::ioimpl::current;
use super::lock::{hammer_lock_ex, hammer_unlock};
pub use super::ntrace::{hammer_generate_undo, hammer_undo_reclaim};
use super::off::{self, BUFMASK64};
use super::ondisk::{buffer_of, hammer_bnew, hammer_bread, hammer_rel_buffer};
use super::queue::{tailq_first, tailq_init, tailq_insert_tail, tailq_remove};
use super::trees::{InoRedoTree, UndTree};
use super::{kassert, kpanic};
use crate::sys::ffi;

/// `HAMMER_HEAD_SIGNATURE`
pub const HEAD_SIGNATURE: u16 = 0xC84E;
/// `HAMMER_TAIL_SIGNATURE`
pub const TAIL_SIGNATURE: u16 = 0xC74F;
/// `HAMMER_HEAD_FLAG_FREE`
pub const HEAD_FLAG_FREE: u16 = 0x8000;
/// `HAMMER_HEAD_TYPE_PAD`
pub const HEAD_TYPE_PAD: u16 = 0x0040 | HEAD_FLAG_FREE;
/// `HAMMER_HEAD_TYPE_DUMMY`
pub const HEAD_TYPE_DUMMY: u16 = 0x0041;
/// `HAMMER_HEAD_TYPE_UNDO`
pub const HEAD_TYPE_UNDO: u16 = 0x0043;
/// `HAMMER_HEAD_TYPE_REDO`
pub const HEAD_TYPE_REDO: u16 = 0x0044;
/// `HAMMER_HEAD_ALIGN_MASK`
pub const HEAD_ALIGN_MASK: i32 = 8 - 1;
/// `HAMMER_UNDO_ALIGN`: every 512-byte block of the FIFO starts with a
/// record carrying a sequence number (version 4+ layout).
pub const UNDO_ALIGN: i32 = 512;
/// `HAMMER_UNDO_MASK`
pub const UNDO_MASK: i32 = UNDO_ALIGN - 1;
/// `HAMMER_VOL_VERSION_FOUR`: first version with the REDO/seqno layout.
pub const VOL_VERSION_FOUR: c_int = 4;
/// DragonFly's `EALREADY` (the hosted errno.h does not carry it).
pub const EALREADY: c_int = 37;
/// `HAMMER_MAX_UNDOS`: size of the recent-undo history.
pub const MAX_UNDOS: c_int = 1024;

/// `struct hammer_fifo_head`: starts every FIFO record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FifoHead {
    /// `hdr_signature`
    pub hdr_signature: u16,
    /// `hdr_type`
    pub hdr_type: u16,
    /// `hdr_size`: the whole record, tail included.
    pub hdr_size: u32,
    /// `hdr_seq`
    pub hdr_seq: u32,
    /// `hdr_crc`: crc32 of the head up to this field xor crc32 of
    /// everything after the head.
    pub hdr_crc: u32,
}

/// `HAMMER_FIFO_HEAD_CRCOFF`
pub const FIFO_HEAD_CRCOFF: usize = offset_of!(FifoHead, hdr_crc);

/// `struct hammer_fifo_tail`: ends every FIFO record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FifoTail {
    /// `tail_signature`
    pub tail_signature: u16,
    /// `tail_type`
    pub tail_type: u16,
    /// `tail_size`
    pub tail_size: u32,
}

/// `struct hammer_fifo_undo`: an UNDO record, followed by the saved bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FifoUndo {
    /// `head`
    pub head: FifoHead,
    /// `undo_offset`: zone-1 or zone-2 offset the data was saved from.
    pub undo_offset: u64,
    /// `undo_data_bytes`
    pub undo_data_bytes: i32,
    /// `undo_reserved01`
    pub undo_reserved01: i32,
}

const _: () = {
    assert!(size_of::<FifoHead>() == 16);
    assert!(size_of::<FifoTail>() == 8);
    assert!(size_of::<FifoUndo>() == 32);
};

/// kernel `crc32` over raw bytes.
///
/// # Safety
///
/// `p..p+len` is readable.
unsafe fn crc(p: *const u8, len: usize) -> u32 {
    // SAFETY: caller contract.
    unsafe { ffi::crc32(p as *const c_void, len) }
}

/// `hammer_format_undo`: pre-formats a 16K undo buffer as DUMMY records,
/// one per 512-byte block, with consecutive sequence numbers from `seqno`.
///
/// # Safety
///
/// `base` points to HAMMER_BUFSIZE writable bytes.
pub unsafe fn hammer_format_undo(base: *mut c_void, mut seqno: u32) {
    let base = base as *mut u8;
    let bytes = UNDO_ALIGN as usize;
    // SAFETY: every write stays within the HAMMER_BUFSIZE bytes at base.
    unsafe {
        core::ptr::write_bytes(base, 0, ffi::HAMMER_BUFSIZE as usize);
        let mut i = 0;
        while i < ffi::HAMMER_BUFSIZE as usize {
            let head = base.add(i) as *mut FifoHead;
            let tail = base.add(i + bytes - size_of::<FifoTail>()) as *mut FifoTail;
            (*head).hdr_signature = HEAD_SIGNATURE;
            (*head).hdr_type = HEAD_TYPE_DUMMY;
            (*head).hdr_size = bytes as u32;
            (*head).hdr_seq = seqno;
            seqno = seqno.wrapping_add(1);
            (*head).hdr_crc = 0;
            (*tail).tail_signature = TAIL_SIGNATURE;
            (*tail).tail_type = HEAD_TYPE_DUMMY;
            (*tail).tail_size = bytes as u32;
            (*head).hdr_crc = crc(head as *const u8, FIFO_HEAD_CRCOFF)
                ^ crc(head.add(1) as *const u8, bytes - size_of::<FifoHead>());
            i += bytes;
        }
    }
}

/// Writes a PAD record of `bytes` at `rec` (the 8-byte minimum overlaps
/// head and tail). PADs carry neither sequence number nor CRC.
///
/// # Safety
///
/// `rec..rec+bytes` is writable and `bytes >= 8`.
unsafe fn write_pad(rec: *mut u8, bytes: i32) {
    // SAFETY: caller contract.
    unsafe {
        let tail = rec.add(bytes as usize - size_of::<FifoTail>()) as *mut FifoTail;
        if rec as *mut FifoTail != tail {
            (*tail).tail_signature = TAIL_SIGNATURE;
            (*tail).tail_type = HEAD_TYPE_PAD;
            (*tail).tail_size = bytes as u32;
        }
        let head = rec as *mut FifoHead;
        (*head).hdr_signature = HEAD_SIGNATURE;
        (*head).hdr_type = HEAD_TYPE_PAD;
        (*head).hdr_size = bytes as u32;
    }
}

/// `hammer_undo_used`: bytes of the FIFO between the on-media start and
/// the in-memory append point (wrapping).
///
/// # Safety
///
/// `trans` has a live mount and a loaded root volume.
pub unsafe fn hammer_undo_used(trans: ffi::hammer_transaction_t) -> i64 {
    // SAFETY: caller contract.
    unsafe {
        let hmp = (*trans).hmp;
        let cundomap = &(*hmp).blockmap[ffi::HAMMER_ZONE_UNDO_INDEX as usize];
        let dundomap =
            &(*(*(*trans).rootvol).ondisk).vol0_blockmap[ffi::HAMMER_ZONE_UNDO_INDEX as usize];
        let bytes = if dundomap.first_offset <= cundomap.next_offset {
            cundomap.next_offset - dundomap.first_offset
        } else {
            cundomap.alloc_offset - dundomap.first_offset
                + (cundomap.next_offset & ffi::HAMMER_OFF_LONG_MASK)
        } as i64;
        let max_bytes = (cundomap.alloc_offset & ffi::HAMMER_OFF_SHORT_MASK) as i64;
        kassert(bytes <= max_bytes, "bytes <= max_bytes");
        bytes
    }
}

/// `hammer_undo_space`: bytes of the FIFO still free.
///
/// # Safety
///
/// As for [`hammer_undo_used`].
pub unsafe fn hammer_undo_space(trans: ffi::hammer_transaction_t) -> i64 {
    // SAFETY: caller contract.
    unsafe {
        let rootmap = &(*(*trans).hmp).blockmap[ffi::HAMMER_ZONE_UNDO_INDEX as usize];
        (rootmap.alloc_offset & ffi::HAMMER_OFF_SHORT_MASK) as i64 - hammer_undo_used(trans)
    }
}

/// `hammer_undo_max`: size of the FIFO.
///
/// # Safety
///
/// `hmp` is a live mount.
pub unsafe fn hammer_undo_max(hmp: ffi::hammer_mount_t) -> i64 {
    // SAFETY: caller contract.
    unsafe {
        ((*hmp).blockmap[ffi::HAMMER_ZONE_UNDO_INDEX as usize].alloc_offset
            & ffi::HAMMER_OFF_SHORT_MASK) as i64
    }
}

/// `hammer_enter_undo_history`: remembers that `offset..offset+bytes` has
/// an UNDO in this flush group; EALREADY when an earlier one covers it.
/// The history is the mount's fixed array of `hammer_undo`, indexed by a
/// tree and recycled in LRU order.
///
/// # Safety
///
/// `hmp` is a live mount whose history was initialised
/// ([`hammer_clear_undo_history`]).
pub unsafe fn hammer_enter_undo_history(
    hmp: ffi::hammer_mount_t,
    offset: u64,
    bytes: c_int,
) -> c_int {
    // SAFETY: caller contract; history entries live inside the mount.
    unsafe {
        let root = addr_of_mut!((*hmp).rb_undo_root);
        let lru = addr_of_mut!((*hmp).undo_lru_list);
        let node = super::trees::und_lookup(root, offset);
        if !node.is_null() {
            tailq_remove!(lru, node, lru_entry);
            tailq_insert_tail!(lru, node, lru_entry);
            if bytes <= (*node).bytes {
                return EALREADY;
            }
            (*node).bytes = bytes;
            return 0;
        }
        let node = if (*hmp).undo_alloc != MAX_UNDOS {
            let n = addr_of_mut!((*hmp).undos[(*hmp).undo_alloc as usize]);
            (*hmp).undo_alloc += 1;
            n
        } else {
            let n = tailq_first!(lru);
            tailq_remove!(lru, n, lru_entry);
            UndTree::remove(root, n);
            n
        };
        (*node).offset = offset;
        (*node).bytes = bytes;
        tailq_insert_tail!(lru, node, lru_entry);
        let onode = UndTree::insert(root, node);
        kassert(onode.is_null(), "onode == NULL");
        0
    }
}

/// `hammer_clear_undo_history`: forgets every recent UNDO (end of a flush
/// group).
///
/// # Safety
///
/// `hmp` is a live mount.
pub unsafe fn hammer_clear_undo_history(hmp: ffi::hammer_mount_t) {
    // SAFETY: caller contract.
    unsafe {
        UndTree::init(addr_of_mut!((*hmp).rb_undo_root));
        tailq_init!(addr_of_mut!((*hmp).undo_lru_list));
        (*hmp).undo_alloc = 0;
    }
}

/// `hammer_generate_redo_sync`: lays down a REDO SYNC record naming the
/// earliest FIFO offset any inode still has REDO records at. The hosted
/// model never generates REDO records (no fsync fast path), so the
/// mount's redo tree is always empty, the earliest offset is 0, and, as
/// in the kernel in that state, nothing is written.
///
/// # Safety
///
/// `trans` has a live mount.
pub unsafe fn hammer_generate_redo_sync(trans: ffi::hammer_transaction_t) {
    // SAFETY: caller contract.
    unsafe {
        let hmp = (*trans).hmp;
        let ip = InoRedoTree::min(addr_of_mut!((*hmp).rb_redo_root));
        if !ip.is_null() && (*ip).redo_fifo_start != 0 {
            kpanic("hammer_generate_redo_sync: REDO records are not modelled by the hosted environment");
        }
    }
}

/// `hammer_generate_undo`: saves the current content of `base..base+len`
/// (located at zone-1/zone-2 offset `zone_off`) as UNDO record(s) in the
/// FIFO, unless the undo history says this flush group already has it.
///
/// # Safety
///
/// `trans` is a live transaction holding the sync lock, whose `rootvol`
/// is referenced; `base..base+len` is readable.
/// Untraced body of the C entry point `hammer_generate_undo` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_generate_undo_untraced(
    trans: ffi::hammer_transaction_t,
    zone_off: ffi::hammer_off_t,
    base: *mut c_void,
    len: c_int,
) -> c_int {
    // SAFETY: caller contract; the undo buffers written are referenced
    // through `buffer` while we write, and all offsets computed stay within
    // one HAMMER buffer (records never cross a 512-byte boundary).
    unsafe {
        let hmp = (*trans).hmp;
        let imp = current();
        let (mut zone_off, mut base, mut len) = (zone_off, base as *const u8, len);

        if (*hmp).flags & ffi::HAMMER_MOUNT_REDO_SYNC == 0 && (*hmp).version >= VOL_VERSION_FOUR {
            hammer_generate_redo_sync(trans);
        }
        if hammer_enter_undo_history(hmp, zone_off, len) == EALREADY {
            return 0;
        }

        let root_volume = (*trans).rootvol;
        let undomap = addr_of_mut!((*hmp).blockmap[ffi::HAMMER_ZONE_UNDO_INDEX as usize]);
        let mut buffer: ffi::hammer_buffer_t = null_mut();
        let mut error: c_int = 0;

        // Dirty the root volume first, without an UNDO of its own.
        (imp.modify_volume)(null_mut(), root_volume, null_mut(), 0);
        hammer_lock_ex(addr_of_mut!((*hmp).undo_lock));

        if hammer_undo_space(trans) < (len + ffi::HAMMER_BUFSIZE * 3) as i64 {
            kpanic("hammer: insufficient undo FIFO space!");
        }

        while len > 0 {
            if (*undomap).next_offset == (*undomap).alloc_offset {
                (*undomap).next_offset = off::zone_encode(ffi::HAMMER_ZONE_UNDO_INDEX, 0);
            }
            let next_offset = (*undomap).next_offset;

            // A tail-chasing FIFO: a buffer we start at its beginning does
            // not need to be read.
            let rec = if next_offset & BUFMASK64 == 0 {
                let p = hammer_bnew(hmp, next_offset, &mut error, &mut buffer);
                if error == 0 {
                    hammer_format_undo(p, (*hmp).undo_seqno ^ 0x4000_0000);
                }
                p
            } else {
                hammer_bread(hmp, next_offset, &mut error, &mut buffer)
            } as *mut u8;
            if error != 0 {
                break;
            }
            (imp.modify_buffer)(null_mut(), buffer, null_mut(), 0);

            let mut bytes = UNDO_ALIGN - (next_offset as i32 & UNDO_MASK);
            let mut n = bytes - size_of::<FifoUndo>() as i32 - size_of::<FifoTail>() as i32;

            if n <= 0 {
                // No room for a payload before the next 512-byte block.
                kassert(
                    bytes >= size_of::<FifoTail>() as i32,
                    "bytes >= sizeof(tail)",
                );
                kassert(
                    next_offset as i32 & UNDO_MASK != 0,
                    "PAD not on a block boundary",
                );
                write_pad(rec, bytes);
                (*undomap).next_offset += bytes as u64;
                (imp.modify_buffer_done)(buffer);
                HAMMER_STATS_UNDO.fetch_add(bytes as i64, Ordering::Relaxed);
                continue;
            }

            if n > len {
                n = len;
                bytes = ((n + HEAD_ALIGN_MASK) & !HEAD_ALIGN_MASK)
                    + size_of::<FifoUndo>() as i32
                    + size_of::<FifoTail>() as i32;
            }

            let undo = rec as *mut FifoUndo;
            (*undo).head.hdr_signature = HEAD_SIGNATURE;
            (*undo).head.hdr_type = HEAD_TYPE_UNDO;
            (*undo).head.hdr_size = bytes as u32;
            (*undo).head.hdr_seq = (*hmp).undo_seqno;
            (*hmp).undo_seqno = (*hmp).undo_seqno.wrapping_add(1);
            (*undo).head.hdr_crc = 0;
            (*undo).undo_offset = zone_off;
            (*undo).undo_data_bytes = n;
            core::ptr::copy(base, undo.add(1) as *mut u8, n as usize);

            let tail = rec.add(bytes as usize - size_of::<FifoTail>()) as *mut FifoTail;
            (*tail).tail_signature = TAIL_SIGNATURE;
            (*tail).tail_type = HEAD_TYPE_UNDO;
            (*tail).tail_size = bytes as u32;

            (*undo).head.hdr_crc = crc(undo as *const u8, FIFO_HEAD_CRCOFF)
                ^ crc(
                    (undo as *const u8).add(size_of::<FifoHead>()),
                    bytes as usize - size_of::<FifoHead>(),
                );
            (*undomap).next_offset += bytes as u64;
            HAMMER_STATS_UNDO.fetch_add(bytes as i64, Ordering::Relaxed);

            // Keep the FIFO scannable without the volume header: fill up to
            // the next 512-byte boundary with a PAD the next record will
            // overwrite (next_offset does not move past it).
            let pad = UNDO_ALIGN - ((*undomap).next_offset as i32 & UNDO_MASK);
            if pad != UNDO_ALIGN {
                kassert(pad >= size_of::<FifoTail>() as i32, "pad >= sizeof(tail)");
                write_pad((tail as *mut u8).add(size_of::<FifoTail>()), pad);
            }
            (imp.modify_buffer_done)(buffer);

            len -= n;
            base = base.add(n as usize);
            zone_off += n as u64;
        }
        (imp.modify_volume_done)(root_volume);
        hammer_unlock(addr_of_mut!((*hmp).undo_lock));

        if !buffer.is_null() {
            hammer_rel_buffer(buffer, 0);
        }
        error
    }
}

/// `hammer_undo_reclaim`: whether an undo buffer should be thrown out of
/// the cache once written. Only the buffer holding the FIFO's append
/// point is worth keeping.
///
/// # Safety
///
/// `io` is the `io` of a live undo buffer of a live mount.
/// Untraced body of the C entry point `hammer_undo_reclaim` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_undo_reclaim_untraced(io: ffi::hammer_io_t) -> c_int {
    // SAFETY: caller contract.
    unsafe {
        let undomap = &(*(*io).hmp).blockmap[ffi::HAMMER_ZONE_UNDO_INDEX as usize];
        let next_offset = undomap.next_offset & !BUFMASK64;
        c_int::from((*buffer_of(io)).zoneX_offset != next_offset)
    }
}

/// Compile-time proof that the exports have the C types bindgen read
/// from hammer.h.
#[allow(dead_code)]
fn exports_match_bound_prototypes() {
    use super::sig::*;
    same4(ffi::hammer_generate_undo, hammer_generate_undo);
    same1(ffi::hammer_undo_reclaim, hammer_undo_reclaim);
}
