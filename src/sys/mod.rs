//! Raw bindings and the typed layer over them.
//!
//! Everything that touches kernel or HAMMER memory through a raw pointer, or
//! calls into C, lives below this module. The I/O logic in `crate::io` works
//! with the handle types defined here:
//!
//! * A handle ([`buf::Buf`], [`bio::Bio`], [`hammer::Io`], [`hammer::Mount`],
//!   ...) is a copyable, non-null pointer to a kernel object that somebody
//!   else owns. Creating one is `unsafe`: the creator promises that the object
//!   stays alive while the handle is used, and that the usual HAMMER locking
//!   rules (buffer lock, `io_token`, `fs_token`, the io interlock) are what
//!   serialises access, exactly as in the C code. Handles are only minted at
//!   the C boundary (exported functions, kernel callbacks) or from pointers
//!   the kernel or HAMMER hands back.
//! * Field accessors read and write through the raw pointer, never through a
//!   Rust reference, so concurrent kernel threads touching other fields of
//!   the same structure do not violate Rust's aliasing rules.
//! * Kernel and HAMMER entry points are methods or free functions named after
//!   the C function they call, with one C call per Rust call, so a call trace
//!   of the port lines up one-to-one with one of the original.

pub mod ffi;

pub mod kassert;

pub mod bio;
pub mod bioops;
pub mod buf;
pub mod counters;
pub mod flags;
pub mod hammer;
pub mod kern;
pub mod sleep;
pub mod token;
pub mod zone;

