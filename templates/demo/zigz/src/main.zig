//! The Zig part of {{name}}: exported functions with the C calling convention.

const std = @import("std");

/// 1^2 + 2^2 + ... + n^2, wrapping on overflow (n = 10 gives 385).
export fn zigz_sum_squares(n: u32) u64 {
    var sum: u64 = 0;
    var i: u64 = 1;
    while (i <= n) : (i += 1) sum +%= i * i;
    return sum;
}

/// Whether `n` is a perfect square, the way a test in Zig would check it.
export fn zigz_is_square(n: u64) bool {
    const r = std.math.sqrt(n);
    return r * r == n;
}

test "sum of squares" {
    try std.testing.expectEqual(@as(u64, 385), zigz_sum_squares(10));
    try std.testing.expect(zigz_is_square(144));
}
