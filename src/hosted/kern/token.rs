//! LWKT serializing tokens.
//!
//! A token is exclusive and recursive. It only serialises while its holder
//! runs: whenever the holder blocks, for any reason (tsleep, a contended
//! buffer lock, a contended token, biowait, ...), every token it holds is
//! released, and the thread resumes only after getting all of them back in
//! one step. Acquiring a contended token is itself such a blocking point,
//! so it can momentarily drop the tokens already held. Release order must
//! be the reverse of acquisition order.
//!
//! The token's C fields are left alone (nothing reads them); ownership is
//! tracked here, keyed by the token's address.

use std::format;
use std::prelude::rust_2021::*;

use core::ffi::{c_char, c_long};
use core::ptr;

use crate::sys::ffi;

use super::machine::{block, lock, me, Guard, Kern, CV};
use super::misc::kpanic;
use super::trace;

/// Acquire `tok` for `me` (may block; returns the re-locked guard).
pub(crate) fn get(mut g: Guard, me: u32, tok: usize) -> Guard {
    let t = &mut g.threads[me as usize];
    if t.toks.contains(&tok) {
        t.toks.push(tok);
        return g;
    }
    match g.tokens.get(&tok) {
        None => {
            g.tokens.insert(tok, me);
            g.threads[me as usize].toks.push(tok);
            g
        }
        Some(_) => {
            g.st.token_collisions += 1;
            // The reference goes on the stack first; the switch then tries
            // to get every token of the thread, the new one included.
            g.threads[me as usize].toks.push(tok);
            block(g, me, "lwkt_gettoken", 0, false, |_| true).0
        }
    }
}

/// Release the most recent reference of `me` to `tok`.
pub(crate) fn rel(g: &mut Kern, me: u32, tok: usize) {
    let t = &mut g.threads[me as usize];
    match t.toks.last() {
        Some(&top) if top == tok => {}
        other => {
            let msg = format!(
                "lwkt_reltoken: token {tok:#x} is not the last one thread {} acquired \
                 (top of its token stack: {:?})",
                t.name,
                other.map(|x| format!("{x:#x}"))
            );
            kpanic(msg);
        }
    }
    t.toks.pop();
    if !t.toks.contains(&tok) && g.tokens.get(&tok) == Some(&me) {
        g.tokens.remove(&tok);
        CV.notify_all();
    }
}

/// Descheduling: drop every token `me` holds (its stack is kept).
pub(crate) fn release_all(g: &mut Kern, me: u32) {
    let toks = std::mem::take(&mut g.threads[me as usize].toks);
    let mut freed = false;
    for &t in &toks {
        if g.tokens.get(&t) == Some(&me) {
            g.tokens.remove(&t);
            freed = true;
        }
    }
    let rec = &mut g.threads[me as usize];
    rec.toks = toks;
    rec.toks_held = false;
    if freed {
        CV.notify_all();
    }
}

/// Whether every token on `me`'s stack is free or already its own.
pub(crate) fn can_reacquire(g: &Kern, me: u32) -> bool {
    g.threads[me as usize]
        .toks
        .iter()
        .all(|t| g.tokens.get(t).is_none_or(|&h| h == me))
}

/// Take back every token on `me`'s stack (caller checked availability).
pub(crate) fn reacquire(g: &mut Kern, me: u32) {
    let toks = std::mem::take(&mut g.threads[me as usize].toks);
    for &t in &toks {
        g.tokens.insert(t, me);
    }
    let rec = &mut g.threads[me as usize];
    rec.toks = toks;
    rec.toks_held = true;
}

/// Acquire `tok` for the calling thread.
pub(crate) fn get_current(tok: usize) {
    let mut g = lock();
    let me = me(&mut g);
    let _g = get(g, me, tok);
}

/// Release `tok` for the calling thread.
pub(crate) fn rel_current(tok: usize) {
    let mut g = lock();
    let me = me(&mut g);
    rel(&mut g, me, tok);
}

/// lwkt_gettoken(): acquire a token (recursive; may block and thereby
/// release the caller's other tokens for a while).
///
/// # Safety
/// `tok` must point to a token that stays valid while held.
#[no_mangle]
pub unsafe extern "C-unwind" fn lwkt_gettoken(tok: ffi::lwkt_token_t) {
    trace::obj_call("lwkt_gettoken", tok as usize);
    get_current(tok as usize);
}

/// lwkt_reltoken(): release the most recently acquired reference.
///
/// # Safety
/// `tok` must be the token the caller acquired last.
#[no_mangle]
pub unsafe extern "C-unwind" fn lwkt_reltoken(tok: ffi::lwkt_token_t) {
    trace::obj_call("lwkt_reltoken", tok as usize);
    rel_current(tok as usize);
}

/// lwkt_token_init(): reset a token's fields.
///
/// # Safety
/// `tok` must point to writable token memory.
#[no_mangle]
pub unsafe extern "C-unwind" fn lwkt_token_init(tok: ffi::lwkt_token_t, desc: *const c_char) {
    // SAFETY: the caller provides a writable token.
    unsafe {
        ptr::write(
            tok,
            ffi::lwkt_token {
                t_count: 0 as c_long,
                t_ref: ptr::null_mut(),
                t_collisions: 0,
                t_desc: desc,
            },
        );
    }
}

/// Which thread (id) holds the token at `tok`, if any.
pub fn holder(tok: *const ffi::lwkt_token) -> Option<u32> {
    lock().tokens.get(&(tok as usize)).copied()
}

/// How many references the calling thread has to the token at `tok`.
pub fn held_by_current(tok: *const ffi::lwkt_token) -> usize {
    let mut g = lock();
    let me = me(&mut g);
    let t = &g.threads[me as usize];
    if !t.toks_held {
        return 0;
    }
    t.toks.iter().filter(|&&x| x == tok as usize).count()
}

/// Number of token references on the calling thread's stack (all tokens).
pub fn stack_depth_current() -> usize {
    let mut g = lock();
    let me = me(&mut g);
    g.threads[me as usize].toks.len()
}
