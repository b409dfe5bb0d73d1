//! Kernel entry points the hosted HAMMER code calls from Rust, as thin
//! wrappers (the bound declarations, which in the hosted build have the
//! unwinding `"C-unwind"` ABI of their definitions, or the hosted kernel's
//! Rust entry points), plus the device-close buffer flush unmount needs.

use core::ffi::{c_char, c_int, c_void};

use crate::sys::ffi;

// Kernel functions the I/O layer does not import, so the bindings do not
// declare them; the hosted kernel defines them with this ABI.
extern "C-unwind" {
    #[link_name = "bwrite"]
    fn k_bwrite(bp: *mut ffi::buf) -> c_int;
    #[link_name = "vref"]
    fn k_vref(vp: *mut ffi::vnode);
    #[link_name = "vrele"]
    fn k_vrele(vp: *mut ffi::vnode);
    #[link_name = "lwkt_token_init"]
    fn k_lwkt_token_init(tok: *mut ffi::lwkt_token, desc: *const c_char);
}

/// `bread`: the buffer at `loffset` of `vp`, read if not cached, locked.
///
/// # Safety
///
/// `vp` is a vnode of the hosted machine; `bpp` writable.
pub unsafe fn bread(
    vp: *mut ffi::vnode,
    loffset: i64,
    size: c_int,
    bpp: *mut *mut ffi::buf,
) -> c_int {
    // SAFETY: caller contract; no read-ahead arrays are passed.
    unsafe {
        ffi::breadnx(
            vp,
            loffset,
            size,
            core::ptr::null_mut(),
            core::ptr::null_mut(),
            0,
            bpp,
        )
    }
}

/// `brelse`.
///
/// # Safety
///
/// `bp` is a buffer the caller has locked.
pub unsafe fn brelse(bp: *mut ffi::buf) {
    // SAFETY: caller contract.
    unsafe { ffi::brelse(bp) }
}

/// `bwrite`: synchronous write, then release.
///
/// # Safety
///
/// `bp` is a buffer the caller has locked and removed from its queue.
pub unsafe fn bwrite(bp: *mut ffi::buf) -> c_int {
    // SAFETY: caller contract.
    unsafe { k_bwrite(bp) }
}

/// `bremfree`.
///
/// # Safety
///
/// `bp` is locked by the caller and on a queue.
pub unsafe fn bremfree(bp: *mut ffi::buf) {
    // SAFETY: caller contract.
    unsafe { ffi::bremfree(bp) }
}

/// `findblk`.
///
/// # Safety
///
/// `vp` is a vnode of the hosted machine.
pub unsafe fn findblk(vp: *mut ffi::vnode, loffset: i64, flags: c_int) -> *mut ffi::buf {
    // SAFETY: caller contract.
    unsafe { ffi::findblk(vp, loffset, flags) }
}

/// `lwkt_token_init`.
///
/// # Safety
///
/// `tok` is writable; `desc` a string outliving the token.
pub unsafe fn lwkt_token_init(tok: *mut ffi::lwkt_token, desc: *const c_char) {
    // SAFETY: caller contract.
    unsafe { k_lwkt_token_init(tok, desc) }
}

/// `vref`.
///
/// # Safety
///
/// `vp` is a vnode of the hosted machine.
pub unsafe fn vref(vp: *mut ffi::vnode) {
    // SAFETY: caller contract.
    unsafe { k_vref(vp) }
}

/// `vrele`.
///
/// # Safety
///
/// `vp` is a referenced vnode of the hosted machine.
pub unsafe fn vrele(vp: *mut ffi::vnode) {
    // SAFETY: caller contract.
    unsafe { k_vrele(vp) }
}

/// `lwkt_gettoken`.
pub fn gettoken(tok: *mut ffi::lwkt_token) {
    crate::hosted::kern::gettoken(tok)
}

/// `lwkt_reltoken`.
pub fn reltoken(tok: *mut ffi::lwkt_token) {
    crate::hosted::kern::reltoken(tok)
}

/// `tsleep_interlock(ident, 0)`.
pub fn tsleep_interlock(ident: *const c_void) {
    crate::hosted::kern::tsleep_interlock(ident)
}

/// `tsleep`; `wmesg` is the wait message.
pub fn tsleep(ident: *const c_void, flags: c_int, wmesg: &str, timo: c_int) -> c_int {
    crate::hosted::kern::tsleep(ident, flags, wmesg, timo)
}

/// `wakeup`.
pub fn wakeup(ident: *const c_void) {
    crate::hosted::kern::wakeup(ident)
}

/// `vinvalbuf(devvp, V_SAVE)` as a device close does it: every buffer of
/// the vnode is written if dirty, then destroyed. The HAMMER structures
/// must already have let go of them (no dependencies left).
///
/// # Safety
///
/// `vp` is a vnode of the hosted machine, no buffer of which is locked by
/// the caller.
pub unsafe fn vinvalbuf_save(vp: *mut ffi::vnode) {
    for snap in crate::hosted::kern::buffers_of(vp) {
        // SAFETY: findblk locks the buffer (leaving it queued); we own it
        // from there until bwrite/brelse hands it back.
        unsafe {
            let bp = findblk(vp, snap.loffset, 0);
            if bp.is_null() {
                continue;
            }
            super::kassert(
                (*bp).b_dep.lh_first.is_null(),
                "vinvalbuf: buffer still has dependencies",
            );
            bremfree(bp);
            if (*bp).b_flags & ffi::B_DELWRI != 0 {
                bwrite(bp);
                let bp = findblk(vp, snap.loffset, 0);
                if bp.is_null() {
                    continue;
                }
                bremfree(bp);
                (*bp).b_flags |= ffi::B_INVAL | ffi::B_NOCACHE | ffi::B_RELBUF;
                brelse(bp);
            } else {
                (*bp).b_flags |= ffi::B_INVAL | ffi::B_NOCACHE | ffi::B_RELBUF;
                brelse(bp);
            }
        }
    }
}
