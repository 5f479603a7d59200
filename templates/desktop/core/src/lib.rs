//! The Rust part of {{name}}: plain functions behind a C ABI, so any language can call them.

/// The n-th Fibonacci number (fib(0) = 0, fib(1) = 1), saturating instead of overflowing.
#[no_mangle]
pub extern "C" fn core_fibonacci(n: u32) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        let next = a.saturating_add(b);
        a = b;
        b = next;
    }
    a
}

/// Writes a NUL-terminated greeting into `buf` (at most `len` bytes, NUL included) and returns
/// the number of bytes written before the NUL, so the caller owns every allocation.
#[no_mangle]
pub extern "C" fn core_version(buf: *mut u8, len: usize) -> usize {
    let text = concat!("core-rs ", env!("CARGO_PKG_VERSION")).as_bytes();
    if buf.is_null() || len == 0 {
        return 0;
    }
    let n = text.len().min(len - 1);
    // SAFETY: the caller promises `buf` points to `len` writable bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf, n);
        *buf.add(n) = 0;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fibonacci() {
        assert_eq!(core_fibonacci(0), 0);
        assert_eq!(core_fibonacci(1), 1);
        assert_eq!(core_fibonacci(20), 6765);
        assert_eq!(core_fibonacci(200), u64::MAX);
    }
}
