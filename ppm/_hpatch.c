/* ppm._hpatch: apply an HDiffPatch "compressed diff" stream stored uncompressed.
 *
 * ppm's hdiff patches carry the bytes of
 *     hdiffpatch.diff(old, new, "none", validate=False, big_cache_match=True)
 * compressed as one zstd frame (ppm/delta.py). This module turns such a stream back into the
 * new file, so that applying a patch needs neither the hdiffpatch package (whose import costs
 * more than the whole patch) nor its stream machinery. Written from the format, not from
 * HDiffPatch's sources; the pure-Python reference and the parity tests are
 * ppm/delta.py and tests/test_hpatch.py.
 *
 * The stream (every integer a varint, described below):
 *
 *     "HDIFF13&" compressor-name "\0"      (the name is empty for an uncompressed stream)
 *     new size, old size, cover count
 *     cover bytes, cover bytes compressed (0: stored)
 *     rle control bytes, compressed size    (0: stored)
 *     rle code bytes, compressed size       (0: stored)
 *     new-data bytes, compressed size       (0: stored)
 *     the four sections, in that order, ending exactly at the end of the stream
 *
 * Varint: big-endian groups of 7 bits. The first byte holds `tag` flag bits at its top, then a
 * continuation bit, then the value's highest 7 - tag bits; every further byte holds a
 * continuation bit and 7 bits.
 *
 * Covers: for each, a signed old-position step (tag 1: the sign), the count of new bytes before
 * it that come from the new-data section, and its length. The cover's old position is the
 * previous cover's old end plus or minus the step; its new position follows the bytes copied.
 * A cover's bytes are old[oldPos : oldPos + length] plus (mod 256) the rle stream's bytes at the
 * same positions of the new file.
 *
 * The rle stream covers every byte of the new file (the positions filled from the new-data
 * section skip its bytes): control entries, each a varint with a 2-bit tag and value n, meaning
 * n + 1 bytes of 0 (tag 0), of 255 (tag 1), of one byte taken from the code section (tag 2), or
 * n + 1 bytes taken from the code section (tag 3).
 *
 * Everything must be consumed exactly: every section, every control entry's run, every byte of
 * the new file. Anything else is a malformed stream and raises ValueError; every count read from
 * the stream is checked against what is left of its section and of the buffers before use.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} span;

static uint64_t left(const span *s) { return (uint64_t)(s->end - s->p); }

/* Read one varint with `tag` flag bits (0..2) at the top of its first byte. 0 on error. */
static int read_uint(span *s, unsigned tag, uint64_t *out)
{
    if (s->p >= s->end)
        return 0;
    uint8_t b = *s->p++;
    const unsigned bits = 7 - tag;
    uint64_t v = b & ((1u << bits) - 1u);
    int more = (b >> bits) & 1;
    while (more) {
        if (s->p >= s->end || (v >> 57) != 0) /* truncated, or more than 64 bits */
            return 0;
        b = *s->p++;
        v = (v << 7) | (b & 0x7Fu);
        more = b >> 7;
    }
    *out = v;
    return 1;
}

/* Byte-wise dst[i] += src[i] (mod 256), eight bytes at a time without carries between them. */
static void add_bytes(uint8_t *dst, const uint8_t *src, size_t n)
{
    const uint64_t hi = 0x8080808080808080ull;
    while (n >= 8) {
        uint64_t a, b;
        memcpy(&a, dst, 8);
        memcpy(&b, src, 8);
        a = ((a & ~hi) + (b & ~hi)) ^ ((a ^ b) & hi);
        memcpy(dst, &a, 8);
        dst += 8;
        src += 8;
        n -= 8;
    }
    while (n--)
        *dst++ += *src++;
}

static void add_const(uint8_t *dst, uint8_t c, size_t n)
{
    const uint64_t hi = 0x8080808080808080ull;
    const uint64_t b = 0x0101010101010101ull * c;
    while (n >= 8) {
        uint64_t a;
        memcpy(&a, dst, 8);
        a = ((a & ~hi) + (b & ~hi)) ^ ((a ^ b) & hi);
        memcpy(dst, &a, 8);
        dst += 8;
        n -= 8;
    }
    while (n--)
        *dst++ += c;
}

typedef struct {
    span ctrl;
    span code;
    uint64_t fill_left; /* bytes left of the current run of one value */
    uint8_t fill;
    uint64_t copy_left; /* bytes left of the current run taken from the code section */
} rle_stream;

/* Advance the rle stream over n bytes of the new file; with dst, add its bytes there. 0 on error. */
static int rle_take(rle_stream *r, uint8_t *dst, uint64_t n)
{
    while (n > 0) {
        if (r->fill_left > 0) {
            uint64_t k = r->fill_left < n ? r->fill_left : n;
            if (dst != NULL) {
                if (r->fill != 0)
                    add_const(dst, r->fill, (size_t)k);
                dst += k;
            }
            r->fill_left -= k;
            n -= k;
        } else if (r->copy_left > 0) {
            uint64_t k = r->copy_left < n ? r->copy_left : n;
            if (k > left(&r->code))
                return 0;
            if (dst != NULL) {
                add_bytes(dst, r->code.p, (size_t)k);
                dst += k;
            }
            r->code.p += k;
            r->copy_left -= k;
            n -= k;
        } else {
            if (r->ctrl.p >= r->ctrl.end)
                return 0; /* the runs end before the new file does */
            unsigned kind = *r->ctrl.p >> 6;
            uint64_t len;
            if (!read_uint(&r->ctrl, 2, &len) || len == UINT64_MAX)
                return 0;
            len += 1;
            switch (kind) {
            case 0:
                r->fill = 0;
                r->fill_left = len;
                break;
            case 1:
                r->fill = 255;
                r->fill_left = len;
                break;
            case 2:
                if (r->code.p >= r->code.end)
                    return 0;
                r->fill = *r->code.p++;
                r->fill_left = len;
                break;
            default:
                r->copy_left = len;
                break;
            }
        }
    }
    return 1;
}

/* Error codes of decode(), turned into messages with the GIL held. */
enum {
    OK = 0,
    E_COVER,
    E_COVER_OLD,
    E_COVER_NEW,
    E_NEWDATA,
    E_RLE,
    E_TRAILING,
};

typedef struct {
    uint64_t covers;
    span cover;
    span newdata;
    rle_stream rle;
} stream_t;

/* n bytes of the new-data section copied to dst (the bytes between covers, and after the last),
 * with the run-length section's adds for them consumed. */
static int take_new(stream_t *st, uint8_t *dst, uint64_t n)
{
    if (n > left(&st->newdata))
        return E_NEWDATA;
    memcpy(dst, st->newdata.p, (size_t)n);
    st->newdata.p += n;
    return rle_take(&st->rle, NULL, n) ? OK : E_RLE;
}

/* The hot loop; touches no Python object, runs without the GIL. */
static int decode(stream_t *st, const uint8_t *old, uint64_t old_size, uint8_t *out, uint64_t new_size, uint64_t *where)
{
    uint64_t old_back = 0, new_back = 0;
    for (uint64_t i = 0; i < st->covers; i++) {
        uint64_t step, copy, len, old_pos;
        *where = i;
        if (st->cover.p >= st->cover.end)
            return E_COVER;
        int minus = *st->cover.p >> 7;
        if (!read_uint(&st->cover, 1, &step) || !read_uint(&st->cover, 0, &copy) || !read_uint(&st->cover, 0, &len))
            return E_COVER;
        if (minus) {
            if (step > old_back)
                return E_COVER_OLD;
            old_pos = old_back - step;
        } else {
            if (step > old_size - old_back)
                return E_COVER_OLD;
            old_pos = old_back + step;
        }
        if (len > old_size - old_pos)
            return E_COVER_OLD;
        if (copy > new_size - new_back || len > new_size - new_back - copy)
            return E_COVER_NEW;
        if (copy > 0) {
            int e = take_new(st, out + new_back, copy);
            if (e != OK)
                return e;
            new_back += copy;
        }
        memcpy(out + new_back, old + old_pos, (size_t)len);
        if (!rle_take(&st->rle, out + new_back, len))
            return E_RLE;
        new_back += len;
        old_back = old_pos + len;
    }
    *where = st->covers;
    int e = take_new(st, out + new_back, new_size - new_back);
    if (e != OK)
        return e;
    if (st->cover.p != st->cover.end || st->newdata.p != st->newdata.end || st->rle.ctrl.p != st->rle.ctrl.end ||
        st->rle.code.p != st->rle.code.end || st->rle.fill_left != 0 || st->rle.copy_left != 0)
        return E_TRAILING;
    return OK;
}

static PyObject *bad(const char *what)
{
    PyErr_Format(PyExc_ValueError, "malformed HDiffPatch stream: %s", what);
    return NULL;
}

static const char VERSION[] = "HDIFF13&";

/* Parse the head into st; NULL with ValueError set on error, else Py_None (borrowed). */
static PyObject *parse_head(const uint8_t *p, size_t n, uint64_t old_size, uint64_t new_size, stream_t *st)
{
    span s = {p, p + n};
    const size_t vlen = sizeof VERSION - 1;
    if (n < vlen || memcmp(p, VERSION, vlen) != 0) {
        if (n >= 5 && memcmp(p, "HDIFF", 5) == 0) {
            char name[17];
            size_t k = 0;
            while (k < n && k < 16 && p[k] >= 0x21 && p[k] < 0x7F && p[k] != '&') {
                name[k] = (char)p[k];
                k++;
            }
            name[k] = 0;
            PyErr_Format(PyExc_ValueError, "unsupported HDiffPatch format %s: this decoder reads HDIFF13 streams only",
                         name);
            return NULL;
        }
        return bad("no HDIFF13 header");
    }
    s.p += vlen;
    char name[65]; /* the compressor's name, printable ASCII or '?' */
    size_t k = 0;
    while (s.p < s.end && *s.p != 0 && k < 64) {
        name[k++] = (*s.p >= 0x20 && *s.p < 0x7F) ? (char)*s.p : '?';
        s.p++;
    }
    name[k] = 0;
    if (s.p >= s.end || *s.p != 0)
        return bad("truncated or overlong compressor name");
    if (k != 0) {
        PyErr_Format(PyExc_ValueError,
                     "HDiffPatch stream compressed with %s: only uncompressed streams (compressor \"none\") are read",
                     name);
        return NULL;
    }
    s.p++;
    uint64_t h[11];
    for (int i = 0; i < 11; i++)
        if (!read_uint(&s, 0, &h[i]))
            return bad("truncated head");
    if (h[0] != new_size) {
        PyErr_Format(PyExc_ValueError, "malformed HDiffPatch stream: it makes %llu bytes, %llu expected",
                     (unsigned long long)h[0], (unsigned long long)new_size);
        return NULL;
    }
    if (h[1] != old_size) {
        PyErr_Format(PyExc_ValueError, "HDiffPatch stream is for an old file of %llu bytes, this one has %llu",
                     (unsigned long long)h[1], (unsigned long long)old_size);
        return NULL;
    }
    st->covers = h[2];
    /* h[3..10]: (size, compressed size) of the cover, rle control, rle code and new-data sections */
    for (int i = 4; i <= 10; i += 2)
        if (h[i] != 0) {
            PyErr_SetString(PyExc_ValueError,
                            "HDiffPatch stream has compressed sections: only uncompressed streams are read");
            return NULL;
        }
    span *sections[4] = {&st->cover, &st->rle.ctrl, &st->rle.code, &st->newdata};
    for (int i = 0; i < 4; i++) {
        uint64_t size = h[3 + 2 * i];
        if (size > left(&s))
            return bad("a section runs past the end of the stream");
        sections[i]->p = s.p;
        sections[i]->end = s.p + size;
        s.p += size;
    }
    if (s.p != s.end)
        return bad("trailing bytes after the last section");
    /* every cover takes at least three bytes */
    if (st->covers > left(&st->cover) / 3)
        return bad("more covers than the cover section holds");
    st->rle.fill_left = st->rle.copy_left = 0;
    st->rle.fill = 0;
    return Py_None;
}

PyDoc_STRVAR(apply_doc,
"apply(old, diff, new_size, /)\n--\n\n"
"Apply an uncompressed HDiffPatch stream (hdiffpatch.diff(old, new, \"none\")) to old.\n\n"
"Returns the new file as a bytearray of new_size bytes (mutable, so that the executable\n"
"transform can be undone in place). Raises ValueError when the stream is compressed,\n"
"of another format version, malformed or truncated, or made for another old size or new size.");

static PyObject *hpatch_apply(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer old, diff;
    PyObject *size_arg;
    if (!PyArg_ParseTuple(args, "y*y*O!:apply", &old, &diff, &PyLong_Type, &size_arg))
        return NULL;
    PyObject *out = NULL;
    stream_t st;
    memset(&st, 0, sizeof st);
    /* new_size comes from a patch header: any int, refused with ValueError when out of range */
    unsigned long long new_size = PyLong_AsUnsignedLongLong(size_arg);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "new_size must be a size of 0 to 2**64 - 1 bytes");
        goto done;
    }
    if (parse_head(diff.buf, (size_t)diff.len, (uint64_t)old.len, (uint64_t)new_size, &st) == NULL)
        goto done;
    if (new_size > (unsigned long long)PY_SSIZE_T_MAX) { /* unreachable: the stream's own size fits its buffer */
        PyErr_NoMemory();
        goto done;
    }
    out = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)new_size);
    if (out == NULL)
        goto done;
    uint64_t where = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = decode(&st, old.buf, (uint64_t)old.len, (uint8_t *)PyByteArray_AS_STRING(out), (uint64_t)new_size, &where);
    Py_END_ALLOW_THREADS
    if (rc != OK) {
        Py_CLEAR(out);
        const char *what = "?";
        switch (rc) {
        case E_COVER: what = "truncated cover"; break;
        case E_COVER_OLD: what = "cover outside the old file"; break;
        case E_COVER_NEW: what = "cover outside the new file"; break;
        case E_NEWDATA: what = "new-data section too short"; break;
        case E_RLE: what = "rle section too short or corrupt"; break;
        default: what = "sections not consumed exactly"; break;
        }
        PyErr_Format(PyExc_ValueError, "malformed HDiffPatch stream: %s (cover %llu of %llu)", what,
                     (unsigned long long)where, (unsigned long long)st.covers);
    }
done:
    PyBuffer_Release(&old);
    PyBuffer_Release(&diff);
    return out;
}

static PyMethodDef methods[] = {
    {"apply", hpatch_apply, METH_VARARGS, apply_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef_Slot slots[] = {
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_GIL_DISABLED
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ppm._hpatch",
    .m_doc = "Apply uncompressed HDiffPatch (HDIFF13) streams; see ppm/delta.py.",
    .m_size = 0,
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC PyInit__hpatch(void) { return PyModuleDef_Init(&module); }
