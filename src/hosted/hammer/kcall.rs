//! Kernel entry points the hosted HAMMER code calls from Rust.
//!
//! The hosted kernel defines them as `extern "C-unwind"` so a kernel panic
//! can unwind to the test; the bindgen declarations say `extern "C"`
//! (no unwinding). Calling through those would turn any panic inside
//! into an abort, so the neighbours use the kernel's Rust entry points
//! where it offers them and otherwise the declarations below.

use core::ffi::{c_char, c_int, c_void};

use crate::sys::ffi;

// The bindings declare these symbols `extern "C"`; this block gives the
// same symbols their real, unwinding ABI (that of their definitions in the
// hosted kernel). See the ENV-H report: re-exports from `hosted::kern`
// would make the block unnecessary.
#[allow(clashing_extern_declarations)]
extern "C-unwind" {
    #[link_name = "breadnx"]
    fn k_breadnx(
        vp: *mut ffi::vnode,
        loffset: ffi::off_t,
        size: c_int,
        raoffset: *mut ffi::off_t,
        rabsize: *mut c_int,
        cnt: c_int,
        bpp: *mut *mut ffi::buf,
    ) -> c_int;
    #[link_name = "brelse"]
    fn k_brelse(bp: *mut ffi::buf);
    #[link_name = "bwrite"]
    fn k_bwrite(bp: *mut ffi::buf) -> c_int;
    #[link_name = "bremfree"]
    fn k_bremfree(bp: *mut ffi::buf);
    #[link_name = "findblk"]
    fn k_findblk(vp: *mut ffi::vnode, loffset: ffi::off_t, flags: c_int) -> *mut ffi::buf;
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
pub unsafe fn bread(vp: *mut ffi::vnode, loffset: i64, size: c_int, bpp: *mut *mut ffi::buf) -> c_int {
    // SAFETY: caller contract; no read-ahead arrays are passed.
    unsafe { k_breadnx(vp, loffset, size, core::ptr::null_mut(), core::ptr::null_mut(), 0, bpp) }
}

/// `brelse`.
///
/// # Safety
///
/// `bp` is a buffer the caller has locked.
pub unsafe fn brelse(bp: *mut ffi::buf) {
    // SAFETY: caller contract.
    unsafe { k_brelse(bp) }
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
    unsafe { k_bremfree(bp) }
}

/// `findblk`.
///
/// # Safety
///
/// `vp` is a vnode of the hosted machine.
pub unsafe fn findblk(vp: *mut ffi::vnode, loffset: i64, flags: c_int) -> *mut ffi::buf {
    // SAFETY: caller contract.
    unsafe { k_findblk(vp, loffset, flags) }
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
            super::kassert((*bp).b_dep.lh_first.is_null(), "vinvalbuf: buffer still has dependencies");
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
