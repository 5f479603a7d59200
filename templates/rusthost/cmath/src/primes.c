#include <stdlib.h>
#include <string.h>

#include "cmath.h"

#define CMATH_PRIMES_MAX 1000000u

uint32_t cmath_count_primes(uint32_t n) {
    if (n > CMATH_PRIMES_MAX) n = CMATH_PRIMES_MAX;
    if (n < 2) return 0;
    unsigned char *composite = calloc((size_t)n + 1, 1);
    if (composite == NULL) return 0;
    uint32_t count = 0;
    for (uint32_t i = 2; i <= n; i++) {
        if (composite[i]) continue;
        count++;
        for (uint64_t j = (uint64_t)i * i; j <= n; j += i) composite[j] = 1;
    }
    free(composite);
    return count;
}
