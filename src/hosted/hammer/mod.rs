//! The HAMMER side of the hosted environment: every HAMMER symbol the I/O
//! layer imports (io-imports.txt), implemented with the semantics of the
//! real HAMMER files, plus the tools tests drive the I/O layer with.
//! (Being filled in; see the ENV-H report.)

pub mod globals;
