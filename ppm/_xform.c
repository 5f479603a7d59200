/* ppm._xform: the executable reference transform of ppm/exe_transform.py in C.
 *
 * The Python loop in exe_transform.transform (engine="python") is the reference; this gives its
 * bytes exactly (tests/test_delta_exe.py compares them). One left-to-right pass per code region,
 * rewriting each reference in place as it is found: the scan's decisions read only bytes at or
 * after the end of the last taken reference, and the fields it rewrites are all before that, so
 * reading the buffer being rewritten decides as the Python loop does on its snapshot.
 *
 * Inputs are untrusted (the regions and maps come from a patch's descriptor): every region is
 * checked against the buffer, every map table's shape is checked, and every table index is in
 * range whatever the table holds. The hot loop runs without the GIL; the buffer is held through
 * the buffer protocol, so a bytearray cannot be resized meanwhile.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__) && defined(__GNUC__) && !defined(PPM_XFORM_SCALAR) /* -DPPM_XFORM_SCALAR: the portable loop only */
#include <emmintrin.h>
#define X86_SIMD 1
#endif

#define ARCH_X86_64 1
#define ARCH_ARM64 2
#define MAX_INDEX_BITS 16 /* buckets of the lookup index of one table: at most 2^16 (256 kB) */

/* One direction of an address map: x's shift is shifts[bisect_right(starts, x)]; shifts has one
 * entry more than starts. ``index`` narrows the bisection: index[b] is the number of starts below
 * b << ishift, for b in 0..nb. */
typedef struct {
    const int64_t *starts;
    const int64_t *shifts;
    Py_ssize_t n;
    uint32_t *index;
    uint32_t nb;
    unsigned ishift;
} table_t;

static int table_index(table_t *t, unsigned bits) {
    unsigned lg = 0;
    while (lg < MAX_INDEX_BITS && lg < bits && ((Py_ssize_t)1 << lg) < t->n) lg++;
    t->nb = (uint32_t)1 << lg;
    t->ishift = bits - lg;
    t->index = (uint32_t *)malloc(sizeof(uint32_t) * ((size_t)t->nb + 1));
    if (!t->index) return -1;
    Py_ssize_t i = 0;
    for (uint64_t b = 0; b < t->nb; b++) {
        int64_t lim = (int64_t)(b << t->ishift);
        while (i < t->n && t->starts[i] < lim) i++;
        t->index[b] = (uint32_t)i;
    }
    t->index[t->nb] = (uint32_t)t->n;
    return 0;
}

/* shifts[bisect_right(starts, x)], for 0 <= x < 2^bits */
static inline uint64_t shift_at(const table_t *t, uint64_t x) {
    uint64_t b = x >> t->ishift;
    if (b >= t->nb) b = t->nb - 1;
    Py_ssize_t lo = t->index[b], hi = t->index[b + 1];
    if (hi < lo) hi = lo; /* only when the starts are not sorted: any index in range will do */
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if ((int64_t)x < t->starts[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return (uint64_t)t->shifts[lo];
}

static inline uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* the opcodes whose ModRM may name [rip + disp32] and which end right after the disp32 */
static const uint8_t rip_ops[256] = {
    [0x8B] = 1, [0x8D] = 1, [0x89] = 1, [0x03] = 1, [0x2B] = 1, [0x3B] = 1, [0x39] = 1,
    [0x85] = 1, [0x33] = 1, [0x0B] = 1, [0x23] = 1, [0x63] = 1, [0x8A] = 1, [0x88] = 1,
};

#define IS_OP(b) (((b) & 0xFE) == 0xE8) /* E8 call, E9 jmp (rel32) */
#define IS_REX(b) (((b) & 0xF0) == 0x40)

typedef struct {
    table_t code_f, code_i, data_f, data_i;
    int encode;
} maps_t;

/* code-map rewrite of a branch displacement d at site s (units, modulo mask + 1) */
static inline uint64_t branch(const maps_t *m, uint64_t s, uint64_t d, uint64_t mask) {
    uint64_t hs = s + shift_at(&m->code_f, s);
    if (m->encode) {
        uint64_t t = (s + d) & mask;
        return (t + shift_at(&m->code_f, t) - hs) & mask;
    }
    uint64_t t = (hs + d) & mask;
    return (t + shift_at(&m->code_i, t) - s) & mask;
}

#ifdef X86_SIMD
/* A bit for each of the 16 positions from p that may be a candidate: an E8/E9 with 00 or FF 4 bytes
 * on, or a REX byte with a ModRM of the [rip + disp32] form 2 bytes on (the opcode between is
 * checked one by one). Reads p[0..20). */
static inline unsigned x86_maybe(const uint8_t *p) {
    const __m128i b = _mm_loadu_si128((const __m128i *)p), b2 = _mm_loadu_si128((const __m128i *)(p + 2)),
                  b4 = _mm_loadu_si128((const __m128i *)(p + 4));
    __m128i op = _mm_cmpeq_epi8(_mm_and_si128(b, _mm_set1_epi8((char)0xFE)), _mm_set1_epi8((char)0xE8));
    __m128i test = _mm_or_si128(_mm_cmpeq_epi8(b4, _mm_setzero_si128()), _mm_cmpeq_epi8(b4, _mm_set1_epi8((char)0xFF)));
    __m128i rex = _mm_cmpeq_epi8(_mm_and_si128(b, _mm_set1_epi8((char)0xF0)), _mm_set1_epi8(0x40));
    __m128i modrm = _mm_cmpeq_epi8(_mm_and_si128(b2, _mm_set1_epi8((char)0xC7)), _mm_set1_epi8(0x05));
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_and_si128(op, test), _mm_and_si128(rex, modrm)));
}
#endif

static Py_ssize_t x86_region(uint8_t *p, Py_ssize_t n, uint64_t vaddr, const maps_t *m) {
    const uint64_t mask = (1u << 25) - 1, modulus = 1u << 25, half = 1u << 24, m32 = 0xFFFFFFFFu;
    Py_ssize_t count = 0, last = 0;
    for (Py_ssize_t j = 0; j < n; j++) {
#ifdef X86_SIMD
        /* skip to the next position that may be a candidate: the others change nothing */
        while (j + 20 <= n) {
            unsigned maybe = x86_maybe(p + j);
            if (maybe) {
                j += __builtin_ctz(maybe);
                break;
            }
            j += 16;
        }
        if (j >= n) break;
#endif
        uint8_t b = p[j];
        if (IS_OP(b)) {
            if (j > n - 5 || (p[j + 4] != 0x00 && p[j + 4] != 0xFF)) continue;
            /* an E8/E9 not taken could have read into this operand, or a REX just before */
            Py_ssize_t lo = j - 3 > last ? j - 3 : last, k;
            for (k = lo; k < j && !IS_OP(p[k]); k++) {
            }
            if (k < j) continue;
            if (j > last && IS_REX(p[j - 1])) continue;
            uint64_t d = le32(p + j + 1) & 0x1FFFFFF; /* rel32's top byte is 00 or FF */
            uint64_t v = branch(m, (vaddr + 5 + (uint64_t)j) & mask, d, mask);
            put32(p + j + 1, (uint32_t)(v & 0x1000000 ? v | 0xFE000000u : v));
            count++;
            last = j + 5;
            j = last - 1;
        } else if (IS_REX(b)) {
            if (j > n - 7 || !rip_ops[p[j + 1]] || (p[j + 2] & 0xC7) != 0x05) continue;
            if (j > last && IS_OP(p[j - 1])) continue;
            uint64_t d = le32(p + j + 3);
            uint64_t site = (vaddr + 7 + (uint64_t)j) & m32;
            uint64_t shift = shift_at(&m->code_f, site & mask) & mask;
            uint64_t old_site = (site + shift - (shift >= half ? modulus : 0)) & m32, t, v;
            if (m->encode) {
                t = (site + d) & m32;
                v = (t + shift_at(&m->data_f, t) - old_site) & m32;
            } else {
                t = (old_site + d) & m32;
                v = (t + shift_at(&m->data_i, t) - site) & m32;
            }
            put32(p + j + 3, (uint32_t)v);
            count++;
            last = j + 7;
            j = last - 1;
        }
    }
    return count;
}

static Py_ssize_t arm_region(uint8_t *p, Py_ssize_t size, uint64_t vaddr, const maps_t *m) {
    const uint64_t mask = (1u << 26) - 1, modulus = 1u << 26, half = 1u << 25, m33 = ((uint64_t)1 << 33) - 1;
    const Py_ssize_t words = size / 4;
    const uint64_t site0 = vaddr >> 2;
    Py_ssize_t count = 0;
    for (Py_ssize_t w = 0; w < words; w++) {
        uint8_t *q = p + 4 * w;
        uint32_t word = le32(q), top = word >> 24;
        if ((top & 0x7C) == 0x14) { /* B, BL */
            uint64_t v = branch(m, (site0 + (uint64_t)w) & mask, word & 0x3FFFFFF, mask);
            put32(q, (word & 0xFC000000u) | (uint32_t)v);
            count++;
        } else if ((top & 0x9F) == 0x90 && w + 1 < words) { /* ADRP, then ADD Xd, Xn, #imm12 on its register */
            uint32_t adrp = word, add = le32(q + 4);
            if (add >> 24 != 0x91 || add & 0x00C00000u || ((add >> 5) & 0x1F) != (adrp & 0x1F)) continue;
            uint64_t site = (vaddr + 4 * (uint64_t)w) & m33;
            uint64_t shift = shift_at(&m->code_f, (site0 + (uint64_t)w) & mask) & mask;
            uint64_t old_site = (site + 4 * (shift - (shift >= half ? modulus : 0))) & m33;
            uint64_t pages = ((uint64_t)(adrp >> 5) & 0x7FFFF) << 2 | (adrp >> 29 & 3), t;
            if (m->encode) {
                t = ((((site >> 12) + pages) & 0x1FFFFF) << 12) | ((add >> 10) & 0xFFF);
                t = (t + shift_at(&m->data_f, t)) & m33;
                pages = ((t >> 12) - (old_site >> 12)) & 0x1FFFFF;
            } else {
                t = ((((old_site >> 12) + pages) & 0x1FFFFF) << 12) | ((add >> 10) & 0xFFF);
                t = (t + shift_at(&m->data_i, t)) & m33;
                pages = ((t >> 12) - (site >> 12)) & 0x1FFFFF;
            }
            put32(q, (adrp & 0x9F00001Fu) | (uint32_t)(pages & 3) << 29 | (uint32_t)(pages >> 2) << 5);
            put32(q + 4, (add & 0xFFC003FFu) | (uint32_t)(t & 0xFFF) << 10);
            count++;
            w++; /* the ADD is neither a branch nor an ADRP */
        }
    }
    return count;
}

static PyObject *TransformError;

/* The Py_buffer views a call holds, released together. */
enum { B_BUF, B_REGIONS, B_TABLES, N_VIEWS = B_TABLES + 8 };

static int get_table(Py_buffer *s, Py_buffer *h, table_t *t) {
    if (s->len % 8 || h->len % 8 || h->len != s->len + 8) {
        PyErr_SetString(TransformError, "malformed address map table");
        return -1;
    }
    t->starts = (const int64_t *)s->buf;
    t->shifts = (const int64_t *)h->buf;
    t->n = s->len / 8;
    if (t->n >= (Py_ssize_t)UINT32_MAX) {
        PyErr_SetString(TransformError, "address map table too large");
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(transform_doc,
             "transform(buf, arch, regions, code_fs, code_fh, code_is, code_ih, data_fs, data_fh, data_is, data_ih, encode)"
             " -> count\n\n"
             "Rewrite (encode) or restore the references in buf's code regions, in place. regions: native uint64"
             " (offset, size, vaddr) triples; each table: native int64 starts and shifts (one more), forward and"
             " inverse, of the code and data maps. Raises TransformError on a region outside buf or a malformed table.");

static PyObject *xform_transform(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *objs[N_VIEWS];
    Py_buffer views[N_VIEWS];
    int arch, encode, got = 0;
    PyObject *result = NULL;
    maps_t m;
    memset(&m, 0, sizeof m);
    table_t *tables[4] = {&m.code_f, &m.code_i, &m.data_f, &m.data_i};
    if (!PyArg_ParseTuple(args, "OiOOOOOOOOOp:transform", &objs[B_BUF], &arch, &objs[B_REGIONS], &objs[B_TABLES],
                          &objs[B_TABLES + 1], &objs[B_TABLES + 2], &objs[B_TABLES + 3], &objs[B_TABLES + 4],
                          &objs[B_TABLES + 5], &objs[B_TABLES + 6], &objs[B_TABLES + 7], &encode))
        return NULL;
    m.encode = encode;
    if (arch != ARCH_X86_64 && arch != ARCH_ARM64) {
        PyErr_Format(TransformError, "unknown architecture %d", arch);
        return NULL;
    }
    if (PyObject_GetBuffer(objs[B_BUF], &views[B_BUF], PyBUF_WRITABLE) < 0) return NULL;
    for (got = 1; got < N_VIEWS; got++)
        if (PyObject_GetBuffer(objs[got], &views[got], PyBUF_SIMPLE) < 0) goto done;
    for (int i = 0; i < 4; i++)
        if (get_table(&views[B_TABLES + 2 * i], &views[B_TABLES + 2 * i + 1], tables[i]) < 0) goto done;
    const Py_buffer *rv = &views[B_REGIONS];
    if (rv->len % 24) {
        PyErr_SetString(TransformError, "malformed region table");
        goto done;
    }
    const Py_ssize_t nregions = rv->len / 24, len = views[B_BUF].len;
    uint64_t *regions = (uint64_t *)malloc(rv->len ? (size_t)rv->len : 1);
    if (!regions) {
        PyErr_NoMemory();
        goto done;
    }
    memcpy(regions, rv->buf, (size_t)rv->len);
    for (Py_ssize_t i = 0; i < nregions; i++) {
        uint64_t off = regions[3 * i], size = regions[3 * i + 1], vaddr = regions[3 * i + 2];
        if (off > (uint64_t)len || size > (uint64_t)len - off) {
            PyErr_SetString(TransformError, "code region outside the file");
            break;
        }
        if (arch == ARCH_ARM64 && size >= 4 && vaddr % 4) {
            PyErr_SetString(TransformError, "arm64 code region at an unaligned address");
            break;
        }
    }
    const unsigned code_bits = arch == ARCH_X86_64 ? 25 : 26, data_bits = arch == ARCH_X86_64 ? 32 : 33;
    const unsigned bits[4] = {code_bits, code_bits, data_bits, data_bits};
    /* only the tables this direction reads: forward code always, inverse code and data on decoding */
    const int used[4] = {1, !encode, encode, !encode};
    for (int i = 0; i < 4 && !PyErr_Occurred(); i++)
        if (used[i] && table_index(tables[i], bits[i]) < 0) PyErr_NoMemory();
    if (!PyErr_Occurred()) {
        Py_ssize_t count = 0;
        uint8_t *base = (uint8_t *)views[B_BUF].buf;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < nregions; i++) {
            uint8_t *p = base + regions[3 * i];
            Py_ssize_t size = (Py_ssize_t)regions[3 * i + 1];
            count += arch == ARCH_X86_64 ? x86_region(p, size, regions[3 * i + 2], &m)
                                         : arm_region(p, size, regions[3 * i + 2], &m);
        }
        Py_END_ALLOW_THREADS
        result = PyLong_FromSsize_t(count);
    }
    free(regions);
done:
    for (int i = 0; i < 4; i++) free(tables[i]->index);
    for (int i = 0; i < got; i++) PyBuffer_Release(&views[i]);
    return result;
}

/* ------------------------------------------------------------------------------ address map tables */

typedef struct {
    int64_t n, o, len;
} piece_t;

static int by_new(const void *a, const void *b) {
    int64_t x = ((const piece_t *)a)->n, y = ((const piece_t *)b)->n;
    return (x > y) - (x < y);
}

static int by_old(const void *a, const void *b) {
    int64_t x = ((const piece_t *)a)->o, y = ((const piece_t *)b)->o;
    return (x > y) - (x < y);
}

/* The runs of [0, m) outside ivs (sorted by the field at `off`, disjoint): (start, length) pairs. */
static Py_ssize_t gaps(const piece_t *ivs, Py_ssize_t k, int old, int64_t m, int64_t *out) {
    Py_ssize_t g = 0;
    int64_t pos = 0;
    for (Py_ssize_t i = 0; i < k; i++) {
        int64_t start = old ? ivs[i].o : ivs[i].n;
        if (start > pos) {
            out[2 * g] = pos;
            out[2 * g + 1] = start - pos;
            g++;
        }
        pos = start + ivs[i].len;
    }
    if (pos < m) {
        out[2 * g] = pos;
        out[2 * g + 1] = m - pos;
        g++;
    }
    return g;
}

/* starts and shifts (padded with a 0 in front) of pieces sorted by new (inverse=0) or old start */
static PyObject *table_pair(const piece_t *p, Py_ssize_t count, int inverse) {
    PyObject *starts = PyBytes_FromStringAndSize(NULL, 8 * count), *shifts = PyBytes_FromStringAndSize(NULL, 8 * (count + 1));
    if (!starts || !shifts) {
        Py_XDECREF(starts);
        Py_XDECREF(shifts);
        return NULL;
    }
    int64_t *s = (int64_t *)PyBytes_AS_STRING(starts), *h = (int64_t *)PyBytes_AS_STRING(shifts);
    h[0] = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        s[i] = inverse ? p[i].o : p[i].n;
        h[i + 1] = inverse ? p[i].n - p[i].o : p[i].o - p[i].n;
    }
    return Py_BuildValue("(NN)", starts, shifts);
}

/* merge two runs sorted by the same key into out */
static void merge(const piece_t *a, Py_ssize_t na, const piece_t *b, Py_ssize_t nb, int old, piece_t *out) {
    Py_ssize_t i = 0, j = 0, k = 0;
    while (i < na && j < nb) {
        int take_a = old ? a[i].o < b[j].o : a[i].n < b[j].n;
        out[k++] = take_a ? a[i++] : b[j++];
    }
    while (i < na) out[k++] = a[i++];
    while (j < nb) out[k++] = b[j++];
}

PyDoc_STRVAR(map_tables_doc,
             "map_tables(modulus, intervals) -> ((fwd_starts, fwd_shifts), (inv_starts, inv_shifts))\n\n"
             "exe_transform.AddressMap's tables: intervals are native int64 (new, old, length) triples, modulus at"
             " most 2^62; each table is bytes of native int64. Raises TransformError as AddressMap does on"
             " intervals that overlap or leave the address space.");

static PyObject *xform_map_tables(PyObject *self, PyObject *args) {
    (void)self;
    long long modulus;
    Py_buffer view;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "Ly*:map_tables", &modulus, &view)) return NULL;
    const int64_t m = modulus;
    const Py_ssize_t k = view.len / 24;
    piece_t *ivn = NULL, *ivo = NULL, *gp = NULL, *fwd = NULL, *inv = NULL;
    int64_t *gn = NULL, *go = NULL;
    if (view.len % 24 || m <= 0 || m > ((int64_t)1 << 62)) {
        PyErr_SetString(PyExc_ValueError, "map_tables: malformed intervals or modulus");
        goto done;
    }
    ivn = malloc(sizeof(piece_t) * (size_t)(k + 1));
    ivo = malloc(sizeof(piece_t) * (size_t)(k + 1));
    gn = malloc(sizeof(int64_t) * 2 * (size_t)(k + 1));
    go = malloc(sizeof(int64_t) * 2 * (size_t)(k + 1));
    gp = malloc(sizeof(piece_t) * (size_t)(2 * k + 2));
    fwd = malloc(sizeof(piece_t) * (size_t)(3 * k + 2));
    inv = malloc(sizeof(piece_t) * (size_t)(3 * k + 2));
    if (!ivn || !ivo || !gn || !go || !gp || !fwd || !inv) {
        PyErr_NoMemory();
        goto done;
    }
    if (k) memcpy(ivn, view.buf, (size_t)view.len);
    qsort(ivn, (size_t)k, sizeof(piece_t), by_new);
    if (k) memcpy(ivo, ivn, sizeof(piece_t) * (size_t)k);
    qsort(ivo, (size_t)k, sizeof(piece_t), by_old);
    for (int old = 0; old < 2; old++) {
        const piece_t *ivs = old ? ivo : ivn;
        int64_t end = 0;
        for (Py_ssize_t i = 0; i < k; i++) {
            int64_t start = old ? ivs[i].o : ivs[i].n, len = ivs[i].len;
            if (len <= 0 || start < end || start > m || len > m - start) {
                PyErr_Format(TransformError, "address map intervals overlap or leave the %s address space", old ? "old" : "new");
                goto done;
            }
            end = start + len;
        }
    }
    /* the n-th unmatched new unit pairs with the n-th unmatched old unit */
    Py_ssize_t n_gn = gaps(ivn, k, 0, m, gn), n_go = gaps(ivo, k, 1, m, go), i = 0, j = 0, g = 0;
    int64_t a = 0, c = 0;
    while (i < n_gn && j < n_go) {
        int64_t take = gn[2 * i + 1] - a < go[2 * j + 1] - c ? gn[2 * i + 1] - a : go[2 * j + 1] - c;
        gp[g].n = gn[2 * i] + a;
        gp[g].o = go[2 * j] + c;
        gp[g].len = take;
        g++;
        a += take;
        c += take;
        if (a == gn[2 * i + 1]) i++, a = 0;
        if (c == go[2 * j + 1]) j++, c = 0;
    }
    /* the gap pieces come out in increasing order in both spaces: merge them with the intervals */
    merge(ivn, k, gp, g, 0, fwd);
    merge(ivo, k, gp, g, 1, inv);
    PyObject *f = table_pair(fwd, k + g, 0), *v = f ? table_pair(inv, k + g, 1) : NULL;
    if (f && v)
        result = Py_BuildValue("(NN)", f, v);
    else {
        Py_XDECREF(f);
        Py_XDECREF(v);
    }
done:
    free(ivn);
    free(ivo);
    free(gn);
    free(go);
    free(gp);
    free(fwd);
    free(inv);
    PyBuffer_Release(&view);
    return result;
}

/* ---------------------------------------------------------------- anchors (build_map's planning) */

#define ANCHOR 32

typedef struct {
    uint64_t h;
    int64_t pos;
} keyed_t;

static int by_hash(const void *a, const void *b) {
    const keyed_t *x = a, *y = b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int by_pos(const void *a, const void *b) {
    const int64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

static uint64_t le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--) v = v << 8 | p[k];
    return v;
}

/* The keys of masked[pos:pos+ANCHOR] (the numpy engine's hash, exe_transform._unique_anchors) that
 * occur once among refs, sorted by hash; returns how many, or -1 without memory. */
static Py_ssize_t unique_keys(const unsigned char *m, Py_ssize_t len, const int64_t *refs, Py_ssize_t n, keyed_t **out) {
    keyed_t *k = malloc(sizeof(keyed_t) * (size_t)(n ? n : 1));
    if (!k) return -1;
    Py_ssize_t c = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t p = refs[i];
        if (p < 0 || p > (int64_t)len - ANCHOR) continue;
        uint64_t h = le64(m + p);
        for (int w = 8; w < ANCHOR; w += 8) {
            h *= 0x9E3779B97F4A7C15ULL;
            h ^= h >> 29;
            h ^= le64(m + p + w);
        }
        k[c].h = h;
        k[c].pos = p;
        c++;
    }
    qsort(k, (size_t)c, sizeof(keyed_t), by_hash);
    Py_ssize_t u = 0;
    for (Py_ssize_t i = 0; i < c; i++) {
        if ((i > 0 && k[i - 1].h == k[i].h) || (i + 1 < c && k[i + 1].h == k[i].h)) continue;
        k[u++] = k[i];
    }
    *out = k;
    return u;
}

PyDoc_STRVAR(anchor_pairs_doc,
             "anchor_pairs(old_masked, old_refs, new_masked, new_refs) -> bytes\n\n"
             "build_map's anchors: the 32-byte keys of masked code at the references (native int64 offsets) that"
             " occur once on each side, present on both with the same bytes, as native int64 (new offset, old"
             " offset) pairs sorted by new offset (exe_transform._anchor_pairs_py keeps the same ones).");

static PyObject *xform_anchor_pairs(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer om, orf, nm, nrf;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*y*y*:anchor_pairs", &om, &orf, &nm, &nrf)) return NULL;
    keyed_t *ko = NULL, *kn = NULL;
    int64_t *pairs = NULL;
    Py_ssize_t uo = -1, un = -1, np_ = 0;
    if (orf.len % 8 || nrf.len % 8) {
        PyErr_SetString(PyExc_ValueError, "anchor_pairs: references are not int64");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    uo = unique_keys(om.buf, om.len, orf.buf, orf.len / 8, &ko);
    if (uo >= 0) un = unique_keys(nm.buf, nm.len, nrf.buf, nrf.len / 8, &kn);
    if (un >= 0) pairs = malloc(sizeof(int64_t) * 2 * (size_t)(un ? un : 1));
    if (pairs) {
        Py_ssize_t i = 0, j = 0;
        while (i < un && j < uo) {
            if (kn[i].h < ko[j].h) i++;
            else if (kn[i].h > ko[j].h) j++;
            else {
                if (!memcmp((const char *)nm.buf + kn[i].pos, (const char *)om.buf + ko[j].pos, ANCHOR)) {
                    pairs[2 * np_] = kn[i].pos;
                    pairs[2 * np_ + 1] = ko[j].pos;
                    np_++;
                }
                i++, j++;
            }
        }
        qsort(pairs, (size_t)np_, 2 * sizeof(int64_t), by_pos);
    }
    Py_END_ALLOW_THREADS
    if (!pairs)
        PyErr_NoMemory();
    else
        result = PyBytes_FromStringAndSize((const char *)pairs, (Py_ssize_t)(16 * np_));
done:
    free(ko);
    free(kn);
    free(pairs);
    PyBuffer_Release(&om);
    PyBuffer_Release(&orf);
    PyBuffer_Release(&nm);
    PyBuffer_Release(&nrf);
    return result;
}

static PyMethodDef xform_methods[] = {
    {"transform", xform_transform, METH_VARARGS, transform_doc},
    {"map_tables", xform_map_tables, METH_VARARGS, map_tables_doc},
    {"anchor_pairs", xform_anchor_pairs, METH_VARARGS, anchor_pairs_doc},
    {NULL, NULL, 0, NULL},
};

static int xform_exec(PyObject *module) {
    PyObject *xt = PyImport_ImportModule("ppm.exe_transform");
    if (!xt) return -1;
    TransformError = PyObject_GetAttrString(xt, "TransformError");
    Py_DECREF(xt);
    if (!TransformError) return -1;
    return PyModule_AddObjectRef(module, "TransformError", TransformError);
}

static PyModuleDef_Slot xform_slots[] = {
    {Py_mod_exec, (void *)xform_exec},
    {0, NULL},
};

static struct PyModuleDef xform_module = {
    PyModuleDef_HEAD_INIT, "ppm._xform", "The executable reference transform (ppm/exe_transform.py) in C.", 0,
    xform_methods, xform_slots, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__xform(void) { return PyModuleDef_Init(&xform_module); }
