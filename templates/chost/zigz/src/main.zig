//! The Zig part of {{name}}: a static library with a C ABI, linked into the C host.

/// 1² + 2² + … + n², wrapping on overflow.
export fn zigz_sum_squares(n: u32) u64 {
    var total: u64 = 0;
    var i: u64 = 1;
    while (i <= n) : (i += 1) total +%= i * i;
    return total;
}
