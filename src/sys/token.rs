//! LWKT tokens with a scope guard.
//!
//! A DragonFly token is not a mutex. It serialises its holders only while
//! they run: whenever the holding thread blocks (tsleep, a contended buffer
//! lock, waiting for another token, biowait ...) the scheduler takes away
//! all of its tokens and gives them back before the thread resumes. Holding
//! a [`TokenGuard`] across such a call therefore does NOT make the code
//! around it atomic; state read before the call must be re-checked after
//! it, which is why the HAMMER loops re-test their condition after every
//! sleep. Tokens are recursive: the same thread may acquire one again.

use core::marker::PhantomData;
use core::ptr::NonNull;

use super::ffi;

/// A handle to a `struct lwkt_token` embedded in a kernel structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token(NonNull<ffi::lwkt_token>);

impl Token {
    /// # Safety
    ///
    /// `tok` points to an initialised token that outlives every use of the
    /// handle.
    pub(crate) unsafe fn from_raw(tok: *mut ffi::lwkt_token) -> Self {
        match NonNull::new(tok) {
            Some(t) => Self(t),
            None => crate::sys::kern::null_handle(crate::cstr!("lwkt_token")),
        }
    }
}

/// Holds a token from `lwkt_gettoken()` until dropped (`lwkt_reltoken()`).
///
/// Guards must be dropped in the reverse order of acquisition, which Rust's
/// scoping does naturally; [`TokenGuard::release`] makes an early release
/// explicit. The guard stays on the thread that took it.
#[must_use = "the token is released as soon as the guard is dropped"]
pub struct TokenGuard {
    tok: Token,
    _thread_bound: PhantomData<*mut ()>,
}

impl TokenGuard {
    /// `lwkt_gettoken(tok)`. May block, and blocking gives up every other
    /// token of this thread until it is resumed.
    pub fn acquire(tok: Token) -> Self {
        // SAFETY: `Token` guarantees a live token.
        unsafe { ffi::lwkt_gettoken(tok.0.as_ptr()) };
        Self {
            tok,
            _thread_bound: PhantomData,
        }
    }

    /// `lwkt_reltoken(tok)` now rather than at the end of the scope.
    pub fn release(self) {
        drop(self);
    }
}

impl Drop for TokenGuard {
    fn drop(&mut self) {
        // SAFETY: this thread acquired the token in `acquire`.
        unsafe { ffi::lwkt_reltoken(self.tok.0.as_ptr()) }
    }
}
