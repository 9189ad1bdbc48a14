//! Faster `memcpy`, `memmove`, `memcmp` and `bcmp` for the static x86_64 binary.
//!
//! The x64 release is linked against musl, whose x86_64 `memcpy` is `rep movsq` with byte loops
//! around it and whose `memcmp`/`bcmp` compare one byte at a time. Rust copies and compares many
//! short strings (formatting, JSON, path matching), and there `rep movs` pays its start-up cost
//! every call: profiled with `perf` on a musl-gcc build, musl's `memcpy` was about 45% of
//! `shipgate detect`'s own CPU time on the 10,000-file benchmark (astral-sh/uv#10610 saw musl's
//! `memcpy` slow uv down too). `callgrind` missed it: it counts a `rep movsq` as one instruction.
//!
//! `fast_mem.c` holds small, portable replacements (overlapping unaligned loads for short
//! lengths, 32-byte blocks above). `build.rs` compiles it for every target under `shipgate_*`
//! names, so the tests below exercise the very code on any host, and for
//! `x86_64-unknown-linux-musl` only also defines the libc names as aliases, so the static link
//! takes ours and never pulls musl's. Other targets keep their libc's (aarch64 musl's `memcpy`
//! is already a tuned assembly routine).

#[cfg(test)]
mod tests {
    use std::ffi::{c_int, c_void};

    unsafe extern "C" {
        fn shipgate_memcpy(dst: *mut c_void, src: *const c_void, n: usize) -> *mut c_void;
        fn shipgate_memmove(dst: *mut c_void, src: *const c_void, n: usize) -> *mut c_void;
        fn shipgate_memcmp(a: *const c_void, b: *const c_void, n: usize) -> c_int;
        fn shipgate_bcmp(a: *const c_void, b: *const c_void, n: usize) -> c_int;
    }

    /// Distinct, position-dependent bytes, so a misplaced byte cannot go unnoticed.
    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    const LENGTHS: std::ops::RangeInclusive<usize> = 0..=300;

    #[test]
    fn memcpy_copies_every_length_and_alignment_and_touches_nothing_else() {
        for len in LENGTHS.chain([1000, 4096, 65_537]) {
            for (src_offset, dst_offset) in [(0, 0), (1, 0), (0, 3), (7, 5), (15, 1)] {
                let src = pattern(len + src_offset, 1);
                let mut dst = vec![0xEEu8; len + dst_offset + 8];
                let returned = unsafe {
                    shipgate_memcpy(
                        dst.as_mut_ptr().add(dst_offset).cast(),
                        src.as_ptr().add(src_offset).cast(),
                        len,
                    )
                };
                assert_eq!(returned, unsafe { dst.as_mut_ptr().add(dst_offset).cast() });
                assert_eq!(
                    &dst[dst_offset..dst_offset + len],
                    &src[src_offset..],
                    "len {len}"
                );
                assert!(dst[..dst_offset].iter().all(|&b| b == 0xEE), "len {len}");
                assert!(
                    dst[dst_offset + len..].iter().all(|&b| b == 0xEE),
                    "len {len}"
                );
            }
        }
    }

    #[test]
    fn memmove_is_correct_for_overlap_in_both_directions() {
        for len in LENGTHS.chain([1000, 4099]) {
            for (from, to) in [(0, 1), (1, 0), (0, 17), (17, 0), (3, 40), (40, 3), (5, 5)] {
                let mut buffer = pattern(len + 64, 7);
                let mut expected = buffer.clone();
                expected.copy_within(from..from + len, to);
                unsafe {
                    let base = buffer.as_mut_ptr();
                    shipgate_memmove(base.add(to).cast(), base.add(from).cast(), len);
                }
                assert_eq!(buffer, expected, "len {len}, {from} -> {to}");
            }
        }
    }

    #[test]
    fn memcmp_orders_like_slices_and_bcmp_tells_equal_from_different() {
        for len in 0..=80usize {
            let a = pattern(len, 3);
            let same =
                unsafe { shipgate_memcmp(a.as_ptr().cast(), a.clone().as_ptr().cast(), len) };
            assert_eq!(same, 0, "len {len}");
            let equal = unsafe { shipgate_bcmp(a.as_ptr().cast(), a.clone().as_ptr().cast(), len) };
            assert_eq!(equal, 0, "len {len}");
            for at in 0..len {
                for delta in [1u8, 0x80, 0xFF] {
                    let mut b = a.clone();
                    b[at] = b[at].wrapping_add(delta);
                    let order =
                        unsafe { shipgate_memcmp(a.as_ptr().cast(), b.as_ptr().cast(), len) };
                    assert_eq!(
                        order.signum(),
                        a.cmp(&b) as c_int,
                        "len {len}, differs at {at}"
                    );
                    let reverse =
                        unsafe { shipgate_memcmp(b.as_ptr().cast(), a.as_ptr().cast(), len) };
                    assert_eq!(reverse.signum(), b.cmp(&a) as c_int);
                    let differ =
                        unsafe { shipgate_bcmp(a.as_ptr().cast(), b.as_ptr().cast(), len) };
                    assert_ne!(differ, 0, "len {len}, differs at {at}");
                }
            }
        }
    }
}
