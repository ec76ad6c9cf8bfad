//! `unsafe fn` keeps its unsafety and is audited.
use audit_core::testing::capture;
use audit_core::{Outcome, audited};

/// # Safety
/// `ptr` must be valid for reads.
#[audited("UNSAFE_READ")]
unsafe fn read(ptr: *const u32) -> u32 {
    // SAFETY: the caller guarantees `ptr` is valid.
    unsafe { *ptr }
}

fn main() {
    let value = 5_u32;
    // SAFETY: `value` is alive for the call.
    let (read, captured) = capture(|| unsafe { read(&value) });
    assert_eq!(read, 5);
    assert_eq!(captured.single().action, "UNSAFE_READ");
    assert_eq!(captured.single().outcome, Outcome::Success);
}
