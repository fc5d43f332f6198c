/* Random lowercase hex digits in bulk, for request, trace and span ids.
 *
 * The workers cut their ids from a pool of hex digits drawn ahead (forwarding.IdSource,
 * trace_context.Tracer). Drawn with random.Random.randbytes and bytes.hex, a refill cost about
 * 26 instructions a digit pair, more than the rest of tracing a request; this generator writes
 * the digits straight from xoshiro256** outputs (16 digits a 64-bit step). The ids need
 * uniqueness and an even spread (the trace sampler reads a trace id's low 64 bits), not secrecy:
 * the state is seeded by the caller from the OS or the worker's own seeded generator, and
 * re-seeded in a forked child.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#define MAX_DIGITS (1 << 20)

static const char DIGITS[16] = "0123456789abcdef";
static char PAIRS[512]; /* the two digits of each byte value, filled at import */

typedef struct {
    PyObject_HEAD
    uint64_t s[4];
} HexStream;

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t next64(uint64_t *s) {
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* splitmix64: spreads any seed over the four words (xoshiro's state must not be all zeros). */
static inline uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int seed_from(HexStream *self, PyObject *seed) {
    Py_buffer view;
    if (PyObject_GetBuffer(seed, &view, PyBUF_SIMPLE) < 0) return -1;
    if (view.len < 32) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "the seed must hold at least 32 bytes");
        return -1;
    }
    uint64_t words[4];
    memcpy(words, view.buf, sizeof(words));
    PyBuffer_Release(&view);
    for (int i = 0; i < 4; i++) {
        uint64_t mix = words[i];
        self->s[i] = splitmix(&mix);
    }
    if (!(self->s[0] | self->s[1] | self->s[2] | self->s[3])) self->s[0] = 1;
    return 0;
}

static void fill(HexStream *self, char *out, Py_ssize_t n) {
    while (n >= 16) {
        uint64_t r = next64(self->s);
        for (int i = 0; i < 16; i += 2) {
            memcpy(out + i, PAIRS + 2 * (r & 255), 2);
            r >>= 8;
        }
        out += 16;
        n -= 16;
    }
    if (n > 0) {
        uint64_t r = next64(self->s);
        for (Py_ssize_t i = 0; i < n; i++) {
            out[i] = DIGITS[r & 15];
            r >>= 4;
        }
    }
}

static Py_ssize_t digit_count(PyObject *arg) {
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred()) return -1;
    if (n < 0 || n > MAX_DIGITS) {
        PyErr_Format(PyExc_ValueError, "digits must be between 0 and %d", MAX_DIGITS);
        return -1;
    }
    return n;
}

static int HexStream_init(HexStream *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"seed", NULL};
    PyObject *seed;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O", kwlist, &seed)) return -1;
    return seed_from(self, seed);
}

static PyObject *HexStream_reseed(HexStream *self, PyObject *seed) {
    if (seed_from(self, seed) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *HexStream_text(HexStream *self, PyObject *arg) {
    Py_ssize_t n = digit_count(arg);
    if (n < 0) return NULL;
    PyObject *text = PyUnicode_New(n, 127);
    if (text == NULL) return NULL;
    fill(self, (char *)PyUnicode_1BYTE_DATA(text), n);
    return text;
}

static PyObject *HexStream_ascii(HexStream *self, PyObject *arg) {
    Py_ssize_t n = digit_count(arg);
    if (n < 0) return NULL;
    PyObject *data = PyBytes_FromStringAndSize(NULL, n);
    if (data == NULL) return NULL;
    fill(self, PyBytes_AS_STRING(data), n);
    return data;
}

/* The upstream request's ``traceparent`` header line for a trace id (32 hex digits) and a span id
 * (16), with the sampled flag: what an f-string, its encode and the join of seven pieces cost
 * about 900 instructions for, written here straight into the bytes object. */
#define TP_PREFIX "traceparent: 00-"
#define TP_PREFIX_LEN 16
#define TP_LINE_LEN (TP_PREFIX_LEN + 32 + 1 + 16 + 3 + 2)

static const char *ascii_id(PyObject *id, Py_ssize_t digits, const char *what) {
    if (!PyUnicode_Check(id) || !PyUnicode_IS_COMPACT_ASCII(id) || PyUnicode_GET_LENGTH(id) != digits) {
        PyErr_Format(PyExc_ValueError, "the %s id must be a str of %zd ASCII characters", what, digits);
        return NULL;
    }
    return (const char *)PyUnicode_1BYTE_DATA(id);
}

static PyObject *traceparent_line(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "traceparent_line takes a trace id, a span id and the sampled flag");
        return NULL;
    }
    const char *trace = ascii_id(args[0], 32, "trace");
    if (trace == NULL) return NULL;
    const char *span = ascii_id(args[1], 16, "span");
    if (span == NULL) return NULL;
    int sampled = PyObject_IsTrue(args[2]);
    if (sampled < 0) return NULL;
    PyObject *line = PyBytes_FromStringAndSize(NULL, TP_LINE_LEN);
    if (line == NULL) return NULL;
    char *out = PyBytes_AS_STRING(line);
    memcpy(out, TP_PREFIX, TP_PREFIX_LEN);
    out += TP_PREFIX_LEN;
    memcpy(out, trace, 32);
    out[32] = '-';
    memcpy(out + 33, span, 16);
    memcpy(out + 49, sampled ? "-01\r\n" : "-00\r\n", 5);
    return line;
}

static PyMethodDef module_functions[] = {
    {"traceparent_line", (PyCFunction)(void (*)(void))traceparent_line, METH_FASTCALL,
     "traceparent_line(trace_id, span_id, sampled) -> b'traceparent: 00-<trace>-<span>-<flags>\\r\\n'."},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef HexStream_methods[] = {
    {"text", (PyCFunction)HexStream_text, METH_O, "n random lowercase hex digits, as str."},
    {"ascii", (PyCFunction)HexStream_ascii, METH_O, "n random lowercase hex digits, as bytes."},
    {"reseed", (PyCFunction)HexStream_reseed, METH_O, "Start again from a new seed (32 bytes or more)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject HexStreamType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ferrogate._fastpath._hex_ids.HexStream",
    .tp_basicsize = sizeof(HexStream),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A stream of random hex digits (xoshiro256**), seeded by the caller.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)HexStream_init,
    .tp_methods = HexStream_methods,
};

static struct PyModuleDef hex_ids_module = {
    PyModuleDef_HEAD_INIT, "_hex_ids", "Random hex digits in bulk for ids.", -1, module_functions, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__hex_ids(void) {
    for (int b = 0; b < 256; b++) {
        PAIRS[2 * b] = DIGITS[b >> 4];
        PAIRS[2 * b + 1] = DIGITS[b & 15];
    }
    if (PyType_Ready(&HexStreamType) < 0) return NULL;
    PyObject *module = PyModule_Create(&hex_ids_module);
    if (module == NULL) return NULL;
    Py_INCREF(&HexStreamType);
    if (PyModule_AddObject(module, "HexStream", (PyObject *)&HexStreamType) < 0) {
        Py_DECREF(&HexStreamType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
