/* The C part of {{name}}: a static library with a plain C ABI, linked into the Rust host. */
#ifndef CMATH_H
#define CMATH_H

#include <stdint.h>

#define CMATH_API

/* Greatest common divisor by Euclid's algorithm; cmath_gcd(0, 0) == 0. */
CMATH_API uint64_t cmath_gcd(uint64_t a, uint64_t b);

/* Number of primes <= n (a small sieve; n is capped at 1000000). */
CMATH_API uint32_t cmath_count_primes(uint32_t n);

#endif
