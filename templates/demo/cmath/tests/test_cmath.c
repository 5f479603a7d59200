/* A C test of {{name}}'s cmath: a program linked against the library's objects; it passes
 * when it exits 0. `ppm test cmath` builds and runs every file in cmath/tests/. */
#include <stdio.h>

#include "cmath.h"

static int failures = 0;

static void expect(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "FAIL: %s\n", what);
        failures++;
    }
}

int main(void) {
    expect(cmath_gcd(1071, 462) == 21, "cmath_gcd(1071, 462) == 21");
    expect(cmath_gcd(7, 0) == 7, "cmath_gcd(7, 0) == 7");
    expect(cmath_count_primes(100) == 25, "cmath_count_primes(100) == 25");
    expect(cmath_count_primes(1) == 0, "cmath_count_primes(1) == 0");
    if (failures == 0) printf("ok: cmath\n");
    return failures != 0;
}
