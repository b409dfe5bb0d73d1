//! Dirtying buffers: `hammer_io_modify` / `_modify_done`, the write
//! interlock, the public `hammer_modify_volume` / `_buffer` (+ `_done`),
//! and the modified-io trees (`set_modlist`, `clear_modify`,
//! `clear_modlist`).
//!
//! Before HAMMER changes the on-disk image of a structure it calls
//! `hammer_modify_*()`, which takes the buffer back from the kernel, files
//! the io on the mount's tree for its type and, for the public entry
//! points, records undo. `modify_refs` counts modifiers in progress; the
//! flusher's write interlock sets it to -1 to keep them out while it
//! writes.

use core::ffi::c_int;

use crate::kassert;
use crate::sys::counters::hammer_count_dirtybufspace_add;
use crate::sys::ffi;
use crate::sys::flags::SleepFlags;
use crate::sys::hammer::{self as h, Buffer, DataPtr, Io, IoType, Transaction, Volume};
use crate::sys::kern;
use crate::sys::sleep::{tsleep, wakeup, WMesg};
use crate::sys::token::TokenGuard;
use crate::sys::zone::{HAMMER_BUFMASK, HAMMER_ENCODE_RAW_VOLUME};

/// `hammer_io_modify()`: mark the structure as being modified. Meta-data
/// buffers then stay with HAMMER until the flusher writes them; data
/// buffers may still be written by the kernel. The caller's ref keeps the
/// io from going away.
pub fn modify(io: Io, count: c_int) {
    // Wait out a flusher's write interlock.
    while io.modify_refs() < 0 {
        io.set_waitmod(true);
        tsleep(
            io.wait_chan(),
            SleepFlags::empty(),
            WMesg::new(c"hmrmod"),
            0,
        );
    }

    kassert!(io.lock().hammer_isactive() && io.bp().is_some());
    io.set_modify_refs(io.modify_refs() + count);
    if io.modified() && !io.released() {
        return;
    }

    // Get the buffer back before setting `modified`, otherwise checkwrite
    // could see a modified io whose buffer the kernel is writing.
    io.lock().hammer_lock_ex();
    if io.released() {
        io.bp_nonnull().regetblk();
        io.bp_nonnull().buf_kernproc();
        io.set_released(false);
    }
    if !io.modified() {
        set_modlist(io);
        io.set_modified(true);
    }
    io.lock().hammer_unlock();
}

/// `hammer_io_modify_done()`: one modifier finished; wake the flusher if
/// it waits for the last one.
pub fn modify_done(io: Io) {
    kassert!(io.modify_refs() > 0);
    io.set_modify_refs(io.modify_refs() - 1);
    if io.modify_refs() == 0 && io.waitmod() {
        io.set_waitmod(false);
        wakeup(io.wait_chan());
    }
}

/// `hammer_io_write_interlock()`: wait until no modification is in
/// progress, then keep new ones out (they sleep in [`modify`]).
///
/// The caller holds a ref; io_token is held across the update of
/// `modify_refs` so that a racing checkwrite callback sees it consistent.
pub fn write_interlock(io: Io) {
    let hmp = io.hmp();
    let _io_token = TokenGuard::acquire(hmp.io_token());
    while io.modify_refs() != 0 {
        io.set_waitmod(true);
        tsleep(
            io.wait_chan(),
            SleepFlags::empty(),
            WMesg::new(c"hmrmod"),
            0,
        );
    }
    io.set_modify_refs(-1);
}

/// `hammer_io_done_interlock()`: drop the write interlock and let waiting
/// modifiers in.
pub fn done_interlock(io: Io) {
    kassert!(io.modify_refs() == -1);
    io.set_modify_refs(0);
    if io.waitmod() {
        io.set_waitmod(false);
        wakeup(io.wait_chan());
    }
}

/// `hammer_modify_volume()`: the caller is about to change `len` bytes at
/// `base` in the volume header. Only the flusher, or a holder of the sync
/// lock (`trans->sync_lock_refs`), may do this.
pub fn modify_volume(trans: Option<Transaction>, volume: Volume, base: DataPtr, len: c_int) {
    kassert!(trans.is_none_or(|t| t.sync_lock_refs() > 0));

    modify(volume.io(), 1);
    if len != 0 {
        let rel_offset = base.addr().wrapping_sub(volume.ondisk_addr());
        kassert!((rel_offset & !(HAMMER_BUFMASK as isize)) == 0);
        h::hammer_generate_undo(
            trans,
            HAMMER_ENCODE_RAW_VOLUME(volume.vol_no(), rel_offset as i64),
            base,
            len,
        );
    }
}

/// `hammer_modify_buffer()`: as [`modify_volume`] for a buffer; undo is
/// recorded at the buffer's zone-2 offset.
pub fn modify_buffer(trans: Option<Transaction>, buffer: Buffer, base: DataPtr, len: c_int) {
    kassert!(trans.is_none_or(|t| t.sync_lock_refs() > 0));

    modify(buffer.io(), 1);
    if len != 0 {
        let rel_offset = base.addr().wrapping_sub(buffer.ondisk_addr());
        kassert!((rel_offset & !(HAMMER_BUFMASK as isize)) == 0);
        h::hammer_generate_undo(
            trans,
            buffer.zone2_offset().wrapping_add(rel_offset as u64),
            base,
            len,
        );
    }
}

/// `hammer_modify_volume_done()`.
pub fn modify_volume_done(volume: Volume) {
    modify_done(volume.io());
}

/// `hammer_modify_buffer_done()`.
pub fn modify_buffer_done(buffer: Buffer) {
    modify_done(buffer.io());
}

/// `hammer_io_clear_modify()`: the io is no longer dirty. Takes it off its
/// modified tree and finalises delayed work: the CRCs of B-Tree nodes
/// flagged HAMMER_NODE_NEEDSCRC (skipped, but still released, when `inval`
/// is set). Releasing those nodes may drop buffer refs, so the caller must
/// hold its own ref on the io.
pub fn clear_modify(io: Io, inval: c_int) {
    // Unlocked fast path, re-checked under io_token which guards mod_root.
    if !io.modified() {
        return;
    }
    let hmp = io.hmp();
    let io_token = TokenGuard::acquire(hmp.io_token());
    if !io.modified() {
        io_token.release();
        return;
    }

    let root = crate::kassert_some!(io.mod_root());
    if root == io.hmp().volu_root() || root == io.hmp().meta_root() {
        io.hmp().locked_dirty_space_add(-i64::from(io.bytes()));
        hammer_count_dirtybufspace_add(-i64::from(io.bytes()));
    }
    root.rb_remove(io);
    io.set_mod_root(None);
    io.set_modified(false);

    io_token.release();

    if !io.gencrc() {
        return;
    }
    io.set_gencrc(false);

    // Each NEEDSCRC flag holds a ref on its node (and so on this buffer);
    // clear the flag, then drop the node, then rescan from the start since
    // the list may have changed.
    if io.io_type() == IoType::HAMMER_STRUCTURE_META_BUFFER {
        let buffer = io.as_buffer();
        'restart: loop {
            let mut cursor = buffer.clist_first();
            while let Some(node) = cursor {
                if (node.flags() & ffi::HAMMER_NODE_NEEDSCRC) == 0 {
                    cursor = node.clist_next();
                    continue;
                }
                node.set_flags(node.flags() & !ffi::HAMMER_NODE_NEEDSCRC);
                kassert!(node.has_ondisk());
                if inval == 0 {
                    node.finalize_crc();
                }
                h::hammer_rel_node(node);
                continue 'restart;
            }
            break;
        }
    }
    // The caller's ref must still be there.
    kassert!(io.lock().hammer_isactive());
}

/// `hammer_io_clear_modlist()`: a clean io may still sit on the lose tree;
/// take it off before its buffer structure is destroyed.
pub fn clear_modlist(io: Io) {
    let hmp = io.hmp();

    kassert!(!io.modified());
    if io.mod_root().is_some() {
        let _io_token = TokenGuard::acquire(hmp.io_token());
        if let Some(root) = io.mod_root() {
            kassert!(root == io.hmp().lose_root());
            root.rb_remove(io);
            io.set_mod_root(None);
        }
    }
}

/// `hammer_io_set_modlist()`: file a newly modified io on the mount's tree
/// for its type; volume and meta-data space is accounted as locked dirty
/// space (the kernel cannot write it).
pub fn set_modlist(io: Io) {
    let hmp = io.hmp();

    let _io_token = TokenGuard::acquire(hmp.io_token());
    kassert!(io.mod_root().is_none());

    match io.io_type() {
        IoType::HAMMER_STRUCTURE_VOLUME => {
            io.set_mod_root(Some(hmp.volu_root()));
            hmp.locked_dirty_space_add(io.bytes().into());
            hammer_count_dirtybufspace_add(io.bytes().into());
        }
        IoType::HAMMER_STRUCTURE_META_BUFFER => {
            io.set_mod_root(Some(hmp.meta_root()));
            hmp.locked_dirty_space_add(io.bytes().into());
            hammer_count_dirtybufspace_add(io.bytes().into());
        }
        IoType::HAMMER_STRUCTURE_UNDO_BUFFER => io.set_mod_root(Some(hmp.undo_root())),
        IoType::HAMMER_STRUCTURE_DATA_BUFFER => io.set_mod_root(Some(hmp.data_root())),
        IoType::HAMMER_STRUCTURE_DUMMY => kern::kpanic(c"hammer_io_set_modlist: bad io type"),
        _ => {}
    }
    // Only an unknown type leaves mod_root unset; C would fault on it.
    let root = crate::kassert_some!(io.mod_root());
    if root.rb_insert(io).is_some() {
        kern::kpanic(c"hammer_io_set_modlist: duplicate entry");
    }
}
