//! Digest authentication building blocks (placeholder doc, completed below).

mod block;
pub mod digest;
pub mod md5;
pub mod nonce;
pub mod pwfile;
pub mod sha256;
