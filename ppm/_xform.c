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

/* the k-th int64 of a buffer that may not be 8-byte aligned (a memoryview's slice) */
static inline int64_t ld64(const void *buf, Py_ssize_t k) {
    int64_t v;
    memcpy(&v, (const char *)buf + 8 * k, 8);
    return v;
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

/* What scan() records instead of rewriting: each reference's offset in the region and each data
 * reference's target. The arrays hold cap_b and cap_d entries (NULL: count only); nb and nd count
 * every reference found, recorded or not. */
typedef struct {
    int64_t *branches, *data, *targets;
    Py_ssize_t cap_b, cap_d, nb, nd;
} rec_t;

static inline void rec_branch(rec_t *r, Py_ssize_t at) {
    if (r->nb < r->cap_b) r->branches[r->nb] = at;
    r->nb++;
}

static inline void rec_data(rec_t *r, Py_ssize_t at, uint64_t target) {
    if (r->nd < r->cap_d) {
        r->data[r->nd] = at;
        r->targets[r->nd] = (int64_t)target;
    }
    r->nd++;
}

/* One code region: rewrite each reference through the maps m, or (rec not NULL) record it and
 * leave the bytes alone. Both modes take the same decisions, as they read only bytes at or after
 * the end of the last taken reference, which rewriting has not reached. */
static Py_ssize_t x86_region(uint8_t *p, Py_ssize_t n, uint64_t vaddr, const maps_t *m, rec_t *rec) {
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
            if (rec)
                rec_branch(rec, j);
            else {
                uint64_t d = le32(p + j + 1) & 0x1FFFFFF; /* rel32's top byte is 00 or FF */
                uint64_t v = branch(m, (vaddr + 5 + (uint64_t)j) & mask, d, mask);
                put32(p + j + 1, (uint32_t)(v & 0x1000000 ? v | 0xFE000000u : v));
            }
            count++;
            last = j + 5;
            j = last - 1;
        } else if (IS_REX(b)) {
            if (j > n - 7 || !rip_ops[p[j + 1]] || (p[j + 2] & 0xC7) != 0x05) continue;
            if (j > last && IS_OP(p[j - 1])) continue;
            uint64_t d = le32(p + j + 3);
            uint64_t site = (vaddr + 7 + (uint64_t)j) & m32;
            if (rec) {
                rec_data(rec, j, (site + d) & m32);
                count++;
                last = j + 7;
                j = last - 1;
                continue;
            }
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

static Py_ssize_t arm_region(uint8_t *p, Py_ssize_t size, uint64_t vaddr, const maps_t *m, rec_t *rec) {
    const uint64_t mask = (1u << 26) - 1, modulus = 1u << 26, half = 1u << 25, m33 = ((uint64_t)1 << 33) - 1;
    const Py_ssize_t words = size / 4;
    const uint64_t site0 = vaddr >> 2;
    Py_ssize_t count = 0;
    for (Py_ssize_t w = 0; w < words; w++) {
        uint8_t *q = p + 4 * w;
        uint32_t word = le32(q), top = word >> 24;
        if ((top & 0x7C) == 0x14) { /* B, BL */
            if (rec) {
                rec_branch(rec, 4 * w);
                count++;
                continue;
            }
            uint64_t v = branch(m, (site0 + (uint64_t)w) & mask, word & 0x3FFFFFF, mask);
            put32(q, (word & 0xFC000000u) | (uint32_t)v);
            count++;
        } else if ((top & 0x9F) == 0x90 && w + 1 < words) { /* ADRP, then ADD Xd, Xn, #imm12 on its register */
            uint32_t adrp = word, add = le32(q + 4);
            if (add >> 24 != 0x91 || add & 0x00C00000u || ((add >> 5) & 0x1F) != (adrp & 0x1F)) continue;
            uint64_t site = (vaddr + 4 * (uint64_t)w) & m33;
            if (rec) {
                uint64_t pages = ((uint64_t)(adrp >> 5) & 0x7FFFF) << 2 | (adrp >> 29 & 3);
                rec_data(rec, 4 * w, ((((site >> 12) + pages) & 0x1FFFFF) << 12) | ((add >> 10) & 0xFFF));
                count++;
                w++;
                continue;
            }
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

/* ------------------------------------------------------------------- scan (build_map's references) */

PyDoc_STRVAR(scan_doc,
             "scan(arch, code, vaddr) -> (branches, data, targets)\n\n"
             "The references the transform rewrites in code loaded at vaddr (0 <= vaddr < 2^64), found as"
             " transform() finds them, without changing a byte: bytes of native int64, the offsets of the branch"
             " references (x86-64 E8/E9, arm64 B/BL), of the data references (x86-64 rip-relative REX positions,"
             " arm64 ADRP + ADD pairs) and each data reference's target (exe_transform._refs_py and _targets_py"
             " give the same). Raises ValueError on an unknown arch or a vaddr out of range.");

/* One recording pass of scan() over a region (no GIL needed: it reads the code, writes only rec) */
static void record_region(int arch, uint8_t *p, Py_ssize_t n, uint64_t vaddr, rec_t *rec) {
    if (arch == ARCH_X86_64)
        x86_region(p, n, vaddr, NULL, rec);
    else
        arm_region(p, n, vaddr, NULL, rec);
}

static PyObject *xform_scan(PyObject *self, PyObject *args) {
    (void)self;
    int arch;
    Py_buffer code;
    PyObject *vaddr_o, *result = NULL, *b = NULL, *d = NULL, *t = NULL;
    if (!PyArg_ParseTuple(args, "iy*O:scan", &arch, &code, &vaddr_o)) return NULL;
    if (arch != ARCH_X86_64 && arch != ARCH_ARM64) {
        PyErr_Format(PyExc_ValueError, "scan: unknown architecture %d", arch);
        goto done;
    }
    if (!PyLong_Check(vaddr_o)) {
        PyErr_SetString(PyExc_TypeError, "scan: vaddr must be an int");
        goto done;
    }
    const unsigned long long vaddr = PyLong_AsUnsignedLongLong(vaddr_o);
    if (vaddr == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "scan: vaddr is not in [0, 2^64)");
        goto done;
    }
    uint8_t *p = (uint8_t *)code.buf; /* read only: the recording mode writes nothing */
    const Py_ssize_t n = code.len;
    /* two passes, one to count and one to record into the results' own bytes: no growing array,
     * no copy of it (the bytes objects are no one else's while they are filled) */
    rec_t count = {NULL, NULL, NULL, 0, 0, 0, 0};
    Py_BEGIN_ALLOW_THREADS
    record_region(arch, p, n, vaddr, &count);
    Py_END_ALLOW_THREADS
    b = PyBytes_FromStringAndSize(NULL, 8 * count.nb);
    d = PyBytes_FromStringAndSize(NULL, 8 * count.nd);
    t = PyBytes_FromStringAndSize(NULL, 8 * count.nd);
    if (!b || !d || !t) goto done;
    rec_t fill = {(int64_t *)PyBytes_AS_STRING(b), (int64_t *)PyBytes_AS_STRING(d), (int64_t *)PyBytes_AS_STRING(t),
                  count.nb, count.nd, 0, 0};
    Py_BEGIN_ALLOW_THREADS
    record_region(arch, p, n, vaddr, &fill);
    Py_END_ALLOW_THREADS
    if (fill.nb != count.nb || fill.nd != count.nd) { /* another thread wrote to the buffer meanwhile */
        PyErr_SetString(PyExc_RuntimeError, "scan: the code changed while it was scanned");
        goto done;
    }
    result = PyTuple_Pack(3, b, d, t);
done:
    Py_XDECREF(b);
    Py_XDECREF(d);
    Py_XDECREF(t);
    PyBuffer_Release(&code);
    return result;
}

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
            count += arch == ARCH_X86_64 ? x86_region(p, size, regions[3 * i + 2], &m, NULL)
                                         : arm_region(p, size, regions[3 * i + 2], &m, NULL);
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

/* ------------------------------------------------------------------- mask (build_map's matching) */

/* exe_transform._RIP_RELATIVE_PATTERN's two alternatives: a REX byte, an opcode of rip_ops1 and a
 * ModRM of the [rip + disp32] form; or an opcode of rip_ops2 and such a ModRM; then the disp32. */
static const uint8_t rip_ops1[256] = {
    [0x8B] = 1, [0x8D] = 1, [0x89] = 1, [0x03] = 1, [0x2B] = 1, [0x3B] = 1, [0x39] = 1, [0x85] = 1, [0x33] = 1,
    [0x0B] = 1, [0x23] = 1, [0x63] = 1, [0xC7] = 1, [0x81] = 1, [0x83] = 1, [0x8A] = 1, [0x88] = 1, [0x0F] = 1,
};
static const uint8_t rip_ops2[256] = {
    [0x8B] = 1, [0x8D] = 1, [0x89] = 1, [0xC7] = 1, [0x80] = 1, [0x81] = 1, [0x83] = 1, [0x3B] = 1, [0x39] = 1,
};

/* The pattern's matches as re.finditer finds them (leftmost, the first alternative first, each
 * search from the last match's end), their disp32 zeroed: the search never reads a byte it zeroed. */
static void x86_mask_rip(uint8_t *p, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        const uint8_t b = p[i];
        if (IS_REX(b) && i + 7 <= n && rip_ops1[p[i + 1]] && (p[i + 2] & 0xC7) == 0x05) {
            memset(p + i + 3, 0, 4);
            i += 7;
        } else if (rip_ops2[b] && i + 6 <= n && (p[i + 1] & 0xC7) == 0x05) {
            memset(p + i + 2, 0, 4);
            i += 6;
        } else
            i++;
    }
}

/* arm64: B/BL imm26, ADRP immhi:immlo, ADD (immediate, 64-bit) and LDR/STR (unsigned offset,
 * 64-bit) imm12 cleared (exe_transform._arm_mask_tables) */
static void arm_mask(uint8_t *p, Py_ssize_t size) {
    for (Py_ssize_t w = 0; w < size / 4; w++) {
        uint8_t *q = p + 4 * w;
        const uint8_t top = q[3];
        uint32_t field = (top & 0x7C) == 0x14 ? 0x03FFFFFFu
                         : (top & 0x9F) == 0x90 ? 0x60FFFFE0u
                         : (top == 0x91 || top == 0xF9) ? 0x003FFC00u
                                                         : 0;
        if (field) put32(q, le32(q) & ~field);
    }
}

PyDoc_STRVAR(mask_doc,
             "mask(arch, code, calls) -> None\n\n"
             "exe_transform._mask_py in place: zero the fields of the writable code that change when code or data"
             " moves (x86-64: the rip-relative displacements its pattern finds, and the rel32 of each call at the"
             " native int64 offsets calls, each at most len(code) - 5; arm64: branch, ADRP, ADD and LDR/STR"
             " immediates; calls unused). Raises ValueError on an unknown arch or calls outside the code, before"
             " any byte changes.");

static PyObject *xform_mask(PyObject *self, PyObject *args) {
    (void)self;
    int arch;
    Py_buffer code, calls;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "iw*y*:mask", &arch, &code, &calls)) return NULL;
    const Py_ssize_t n = code.len, ncalls = calls.len / 8;
    if (arch != ARCH_X86_64 && arch != ARCH_ARM64) {
        PyErr_Format(PyExc_ValueError, "mask: unknown architecture %d", arch);
        goto done;
    }
    if (arch == ARCH_X86_64) {
        if (calls.len % 8) {
            PyErr_SetString(PyExc_ValueError, "mask: calls are not int64");
            goto done;
        }
        for (Py_ssize_t k = 0; k < ncalls; k++) {
            const int64_t j = ld64(calls.buf, k);
            if (j < 0 || j > (int64_t)n - 5) {
                PyErr_Format(PyExc_ValueError, "mask: call %zd lies outside the code", k);
                goto done;
            }
        }
    }
    Py_BEGIN_ALLOW_THREADS
    if (arch == ARCH_X86_64) {
        x86_mask_rip(code.buf, n);
        for (Py_ssize_t k = 0; k < ncalls; k++) memset((uint8_t *)code.buf + ld64(calls.buf, k) + 1, 0, 4);
    } else
        arm_mask(code.buf, n);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&code);
    PyBuffer_Release(&calls);
    return result;
}

/* ---------------------------------------------------------------- anchors (build_map's planning) */

#define ANCHOR 32

typedef struct {
    uint64_t h;
    int64_t pos;
} keyed_t;

static inline int kless(const keyed_t *a, const keyed_t *b) { return a->h < b->h || (a->h == b->h && a->pos < b->pos); }

static inline void kswap(keyed_t *a, keyed_t *b) {
    keyed_t t = *a;
    *a = *b;
    *b = t;
}

static void ksift(keyed_t *v, Py_ssize_t root, Py_ssize_t n) {
    keyed_t x = v[root];
    for (;;) {
        Py_ssize_t c = 2 * root + 1;
        if (c >= n) break;
        if (c + 1 < n && kless(&v[c], &v[c + 1])) c++;
        if (!kless(&x, &v[c])) break;
        v[root] = v[c];
        root = c;
    }
    v[root] = x;
}

/* Sort by (h, pos): introsort (quicksort with the comparison inlined, heapsort past a depth that
 * only adversarial keys reach, insertion sort on short runs). qsort's call per comparison made
 * sorting most of anchor_pairs' time. */
static void ksort(keyed_t *v, Py_ssize_t n) {
    int depth = 0;
    for (Py_ssize_t k = n; k > 1; k >>= 1) depth += 2;
    while (n > 16) {
        if (depth-- == 0) { /* heapsort */
            for (Py_ssize_t i = n / 2; i-- > 0;) ksift(v, i, n);
            for (Py_ssize_t i = n - 1; i > 0; i--) {
                kswap(&v[0], &v[i]);
                ksift(v, 0, i);
            }
            return;
        }
        const Py_ssize_t m = (n - 1) / 2;
        if (kless(&v[m], &v[0])) kswap(&v[m], &v[0]);
        if (kless(&v[n - 1], &v[m])) {
            kswap(&v[n - 1], &v[m]);
            if (kless(&v[m], &v[0])) kswap(&v[m], &v[0]);
        }
        const keyed_t pivot = v[m];
        Py_ssize_t i = -1, j = n; /* Hoare's partition: v[0..j] <= pivot <= v[j+1..n) with 0 <= j < n - 1 */
        for (;;) {
            do i++;
            while (kless(&v[i], &pivot));
            do j--;
            while (kless(&pivot, &v[j]));
            if (i >= j) break;
            kswap(&v[i], &v[j]);
        }
        /* the shorter side recursively (depth at most log2 n), the longer one in this loop */
        if (j + 1 < n - j - 1) {
            ksort(v, j + 1);
            v += j + 1;
            n -= j + 1;
        } else {
            ksort(v + j + 1, n - j - 1);
            n = j + 1;
        }
    }
    for (Py_ssize_t i = 1; i < n; i++) {
        keyed_t x = v[i];
        Py_ssize_t j = i;
        for (; j > 0 && kless(&x, &v[j - 1]); j--) v[j] = v[j - 1];
        v[j] = x;
    }
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
    ksort(k, c);
    Py_ssize_t u = 0;
    for (Py_ssize_t i = 0; i < c; i++) {
        if ((i > 0 && k[i - 1].h == k[i].h) || (i + 1 < c && k[i + 1].h == k[i].h)) continue;
        k[u++] = k[i];
    }
    if (u < c || c < n) { /* give back the slots of the dropped keys */
        keyed_t *shrunk = realloc(k, sizeof(keyed_t) * (size_t)(u ? u : 1));
        if (shrunk) k = shrunk;
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
    Py_ssize_t uo = -1, un = -1, np_ = 0;
    if (orf.len % 8 || nrf.len % 8) {
        PyErr_SetString(PyExc_ValueError, "anchor_pairs: references are not int64");
        goto done;
    }
    /* Memory: the old side's unique keys, then the new side's; the pairs are written over the new
     * side's keys (a pair's slot is never ahead of the key being read) and the old side's are
     * freed before the pairs are sorted: about 16 bytes a reference of both sides at most. */
    Py_BEGIN_ALLOW_THREADS
    uo = unique_keys(om.buf, om.len, orf.buf, orf.len / 8, &ko);
    if (uo >= 0) un = unique_keys(nm.buf, nm.len, nrf.buf, nrf.len / 8, &kn);
    if (un >= 0) {
        Py_ssize_t i = 0, j = 0;
        while (i < un && j < uo) {
            if (kn[i].h < ko[j].h) i++;
            else if (kn[i].h > ko[j].h) j++;
            else {
                const int64_t at_new = kn[i].pos, at_old = ko[j].pos;
                if (!memcmp((const char *)nm.buf + at_new, (const char *)om.buf + at_old, ANCHOR)) {
                    kn[np_].h = (uint64_t)at_new; /* (new, old): both offsets are at least 0 */
                    kn[np_].pos = at_old;
                    np_++;
                }
                i++, j++;
            }
        }
        free(ko);
        ko = NULL;
        ksort(kn, np_); /* by new offset: each occurs once */
    }
    Py_END_ALLOW_THREADS
    if (un < 0)
        PyErr_NoMemory();
    else /* keyed_t is two 8-byte fields: the array is the pairs as int64 */
        result = PyBytes_FromStringAndSize((const char *)kn, (Py_ssize_t)(sizeof(keyed_t) * np_));
done:
    free(ko);
    free(kn);
    PyBuffer_Release(&om);
    PyBuffer_Release(&orf);
    PyBuffer_Release(&nm);
    PyBuffer_Release(&nrf);
    return result;
}

/* ---------------------------------------------------- extend_runs (build_map's runs of matched code) */

PyDoc_STRVAR(extend_runs_doc,
             "extend_runs(new_masked, old_masked, pairs, shift, align) -> bytes\n\n"
             "exe_transform._build_map_tail's first loop: each anchor pair (native int64 (new, old) offsets, in"
             " order) not inside the last run and at an aligned shift ((shift + new - old) % align == 0, align a"
             " power of two; shift: the new region's address minus the old one's) is extended back at most to the"
             " last run's end and forward while the masked bytes agree. Returns the runs as native int64 (new"
             " offset, old offset, length) triples. Raises ValueError on pairs that are not int64 pairs or lie"
             " outside the codes, or a bad align.");

/* Growing int64 output of extend_runs (the runs are few: a fraction of the pairs). */
typedef struct {
    int64_t *v;
    size_t n, cap;
} vec_t;

static int vec_push3(vec_t *o, int64_t a, int64_t b, int64_t c) {
    if (o->n + 3 > o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 3 * 256;
        int64_t *v = realloc(o->v, sizeof(int64_t) * cap);
        if (!v) return -1;
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n++] = a;
    o->v[o->n++] = b;
    o->v[o->n++] = c;
    return 0;
}

static PyObject *xform_extend_runs(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer nmv, omv, pv;
    long long shift, align;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*y*LL:extend_runs", &nmv, &omv, &pv, &shift, &align)) return NULL;
    vec_t out = {NULL, 0, 0};
    const Py_ssize_t npairs = pv.len / 16, nlen = nmv.len, olen = omv.len;
    const void *pairs = pv.buf;
    const uint8_t *a = (const uint8_t *)nmv.buf, *b = (const uint8_t *)omv.buf;
    int failed = 0;
    if (pv.len % 16) {
        PyErr_SetString(PyExc_ValueError, "extend_runs: pairs are not int64 pairs");
        goto done;
    }
    if (align < 1 || align > ((long long)1 << 32) || (align & (align - 1))) {
        PyErr_SetString(PyExc_ValueError, "extend_runs: align is not a power of two up to 2^32");
        goto done;
    }
    for (Py_ssize_t k = 0; k < npairs; k++) {
        const int64_t i = ld64(pairs, 2 * k), j = ld64(pairs, 2 * k + 1);
        if (i < 0 || i > nlen || j < 0 || j > olen) {
            PyErr_Format(PyExc_ValueError, "extend_runs: pair %zd lies outside the codes", k);
            goto done;
        }
    }
    const uint64_t amask = (uint64_t)align - 1;
    Py_BEGIN_ALLOW_THREADS
    int64_t end = 0;
    for (Py_ssize_t k = 0; k < npairs; k++) {
        const int64_t i = ld64(pairs, 2 * k), j = ld64(pairs, 2 * k + 1);
        /* (shift + i - j) % align, modulo 2^64: exact for a power of two */
        if (i < end || (((uint64_t)shift + (uint64_t)i - (uint64_t)j) & amask)) continue;
        int64_t lim = i - end < j ? i - end : j, back = 0, fwd = 0;
        while (back < lim && a[i - 1 - back] == b[j - 1 - back]) back++;
        lim = nlen - i < olen - j ? nlen - i : olen - j;
        while (fwd < lim && a[i + fwd] == b[j + fwd]) fwd++;
        if (vec_push3(&out, i - back, j - back, back + fwd) < 0) {
            failed = 1;
            break;
        }
        end = i + fwd;
    }
    Py_END_ALLOW_THREADS
    if (failed)
        PyErr_NoMemory();
    else
        result = PyBytes_FromStringAndSize((const char *)out.v, (Py_ssize_t)(sizeof(int64_t) * out.n));
done:
    free(out.v);
    PyBuffer_Release(&nmv);
    PyBuffer_Release(&omv);
    PyBuffer_Release(&pv);
    return result;
}

/* ------------------------------------------------------------ data_votes (build_map's data map) */

typedef struct {
    int64_t tn, to, k;
} vote_t;

static int by_vote(const void *a, const void *b) {
    const vote_t *x = a, *y = b;
    if (x->tn != y->tn) return x->tn < y->tn ? -1 : 1;
    if (x->to != y->to) return x->to < y->to ? -1 : 1;
    return (x->k > y->k) - (x->k < y->k);
}

PyDoc_STRVAR(data_votes_doc,
             "data_votes(arch, code_starts, code_shifts, old_vaddr, old_refs, old_targets, new_vaddr, new_refs,"
             " new_targets) -> bytes\n\n"
             "exe_transform._data_map_py's voting: each data reference of the new code whose site sat, by the code"
             " map (its forward table: native int64 starts and shifts, one more), where one of the old code's sits"
             " (the last of equal sites) votes for (its target, that one's target); each new target keeps the old"
             " target with the most votes, the first seen on a tie. refs and targets: native int64, one target a"
             " reference; vaddrs in [0, 2^64). Returns native int64 (new target, old target) pairs sorted by new"
             " target. Raises ValueError or TransformError on malformed buffers.");

static PyObject *xform_data_votes(PyObject *self, PyObject *args) {
    (void)self;
    int arch;
    Py_buffer v[6]; /* code_starts, code_shifts, old_refs, old_targets, new_refs, new_targets */
    PyObject *objs[6], *ov, *nv, *result = NULL;
    int got = 0;
    table_t code;
    memset(&code, 0, sizeof code);
    keyed_t *old = NULL;
    vote_t *votes = NULL;
    int64_t *out = NULL;
    Py_ssize_t nout = 0;
    if (!PyArg_ParseTuple(args, "iOOOOOOOO:data_votes", &arch, &objs[0], &objs[1], &ov, &objs[2], &objs[3], &nv, &objs[4],
                          &objs[5]))
        return NULL;
    if (arch != ARCH_X86_64 && arch != ARCH_ARM64) {
        PyErr_Format(PyExc_ValueError, "data_votes: unknown architecture %d", arch);
        return NULL;
    }
    if (!PyLong_Check(ov) || !PyLong_Check(nv)) {
        PyErr_SetString(PyExc_TypeError, "data_votes: the addresses must be ints");
        return NULL;
    }
    const unsigned long long old_vaddr = PyLong_AsUnsignedLongLong(ov);
    const unsigned long long new_vaddr = PyErr_Occurred() ? 0 : PyLong_AsUnsignedLongLong(nv);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "data_votes: an address is not in [0, 2^64)");
        return NULL;
    }
    for (got = 0; got < 6; got++)
        if (PyObject_GetBuffer(objs[got], &v[got], PyBUF_SIMPLE) < 0) goto done;
    if (get_table(&v[0], &v[1], &code) < 0) goto done;
    if (v[2].len % 8 || v[3].len != v[2].len || v[4].len % 8 || v[5].len != v[4].len) {
        PyErr_SetString(PyExc_ValueError, "data_votes: references and targets are not int64 of one length");
        goto done;
    }
    const unsigned bits = arch == ARCH_X86_64 ? 25 : 26;
    const uint64_t m = (uint64_t)1 << bits, unit = arch == ARCH_X86_64 ? 1 : 4;
    const uint64_t dmask = arch == ARCH_X86_64 ? 0xFFFFFFFFu : ((uint64_t)1 << 33) - 1;
    const uint64_t next = arch == ARCH_X86_64 ? 7 : 0; /* rip-relative: from the next instruction */
    const Py_ssize_t n_old = v[2].len / 8, n_new = v[4].len / 8;
    if (table_index(&code, bits) < 0 || !(old = malloc(sizeof(keyed_t) * (size_t)(n_old ? n_old : 1))) ||
        !(votes = malloc(sizeof(vote_t) * (size_t)(n_new ? n_new : 1))) ||
        !(out = malloc(2 * sizeof(int64_t) * (size_t)(n_new ? n_new : 1)))) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    /* the old references by site; of equal sites the last (a dict's assignment) is found */
    for (Py_ssize_t i = 0; i < n_old; i++) {
        old[i].h = (old_vaddr + (uint64_t)ld64(v[2].buf, i) + next) & dmask;
        old[i].pos = i;
    }
    ksort(old, n_old);
    Py_ssize_t nv_ = 0;
    for (Py_ssize_t k = 0; k < n_new; k++) {
        const uint64_t site = (new_vaddr + (uint64_t)ld64(v[4].buf, k) + next) & dmask, low = (site / unit) & (m - 1);
        uint64_t shift = shift_at(&code, low) & (m - 1);
        const uint64_t then = (site + (shift >= m / 2 ? shift - m : shift) * unit) & dmask; /* modulo 2^64 */
        Py_ssize_t lo = 0, hi = n_old; /* the first old site above `then` */
        while (lo < hi) {
            Py_ssize_t mid = lo + (hi - lo) / 2;
            if (old[mid].h <= then)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == 0 || old[lo - 1].h != then) continue;
        votes[nv_].tn = ld64(v[5].buf, k);
        votes[nv_].to = ld64(v[3].buf, old[lo - 1].pos);
        votes[nv_].k = k;
        nv_++;
    }
    free(old);
    old = NULL;
    /* by (new target, old target, order seen): a group per pair, its first entry the first seen */
    qsort(votes, (size_t)nv_, sizeof(vote_t), by_vote);
    Py_ssize_t best_count = 0, best_first = 0;
    for (Py_ssize_t a = 0; a < nv_;) {
        Py_ssize_t b = a + 1;
        while (b < nv_ && votes[b].tn == votes[a].tn && votes[b].to == votes[a].to) b++;
        const int new_target = nout == 0 || out[2 * (nout - 1)] != votes[a].tn;
        if (new_target || b - a > best_count || (b - a == best_count && votes[a].k < best_first)) {
            if (new_target) nout++;
            out[2 * (nout - 1)] = votes[a].tn;
            out[2 * (nout - 1) + 1] = votes[a].to;
            best_count = b - a;
            best_first = votes[a].k;
        }
        a = b;
    }
    Py_END_ALLOW_THREADS
    result = PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)(2 * sizeof(int64_t) * nout));
done:
    free(code.index);
    free(old);
    free(votes);
    free(out);
    for (int i = 0; i < got; i++) PyBuffer_Release(&v[i]);
    return result;
}

static PyMethodDef xform_methods[] = {
    {"transform", xform_transform, METH_VARARGS, transform_doc},
    {"map_tables", xform_map_tables, METH_VARARGS, map_tables_doc},
    {"anchor_pairs", xform_anchor_pairs, METH_VARARGS, anchor_pairs_doc},
    {"scan", xform_scan, METH_VARARGS, scan_doc},
    {"extend_runs", xform_extend_runs, METH_VARARGS, extend_runs_doc},
    {"mask", xform_mask, METH_VARARGS, mask_doc},
    {"data_votes", xform_data_votes, METH_VARARGS, data_votes_doc},
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
