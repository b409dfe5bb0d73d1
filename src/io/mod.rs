//! The I/O layer proper: HAMMER's buffer-cache management
//! (`sys/vfs/hammer/hammer_io.c`), one concern per module.
//!
//! Every HAMMER structure backed by disk (volume headers, meta-data, undo
//! and data buffers) embeds a `hammer_io` that ties it to a buffer-cache
//! buffer. The buffer is either held by HAMMER (`released == 0`) or handed
//! back to the kernel while staying *passively* associated through its
//! `b_dep` list (`released == 1`); the kernel then consults
//! [`bioops`] before it writes or recycles the buffer.
//!
//! Locking follows the C code exactly: `hmp->io_token` guards everything
//! the bioops and bio_done callbacks can race with, the front end otherwise
//! runs under `fs_token`, and a successful `hammer_try_interlock_norefs()`
//! gives a callback exclusive use of an io. Tokens are lost while blocked
//! (see [`crate::sys::token`]), hence the re-checks after every sleep.
//!
//! The order of kernel and HAMMER calls in every path is the order of the
//! original; the conformance suite compares call traces one-to-one.

pub mod association;
pub mod bioops;
pub mod direct;
pub mod dirty;
pub mod errors;
pub mod exports;
pub mod flush;
