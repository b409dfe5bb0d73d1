//! Clearing a recorded write error (`io->ioerror`), which holds a ref on
//! the io (taken by the completion path).

use crate::kassert;
use crate::sys::hammer::Io;
use crate::sys::token::TokenGuard;

/// `hammer_io_clear_error()`: drop the error and its ref. The caller holds
/// its own ref, which must survive.
pub fn clear_error(io: Io) {
    let hmp = io.hmp();

    let _io_token = TokenGuard::acquire(hmp.io_token());
    if io.ioerror() {
        io.set_ioerror(false);
        io.lock().hammer_rel();
        kassert!(io.lock().hammer_isactive());
    }
}

/// `hammer_io_clear_error_noassert()`: as [`clear_error`] for callers that
/// may hold no ref of their own.
pub fn clear_error_noassert(io: Io) {
    let hmp = io.hmp();

    let _io_token = TokenGuard::acquire(hmp.io_token());
    if io.ioerror() {
        io.set_ioerror(false);
        io.lock().hammer_rel();
    }
}
