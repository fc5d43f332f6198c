/* bytes.find, bytes.rfind and bytes.count as fast calls, and every place a set of needles
 * occurs, for the compiled hot path.
 *
 * On CPython 3.11 both are METH_VARARGS methods: every call packs its arguments into a tuple
 * and parses them back with a format string, about 1,100 instructions around a memchr of a
 * few dozen. The SSE relay, the request splicer and the proxy call them a dozen to twenty
 * times a request. These take the same arguments and give the same answers (start and end
 * clipped as slices are) with no tuple and no parsing; anything but two bytes objects is
 * handed to the methods themselves.
 *
 * contains_any answers whether any of a few needles occurs, in one pass.
 *
 * count and mentions scan once with one Horspool shift table: glibc's memmem sets up a table
 * on every call, which made a memmem per match dearer than the method it replaced.
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

/* The slice bounds the bytes methods use: an end past the data is its length, negative
 * bounds count from the end, and what is still negative is 0. */
static void clip(Py_ssize_t len, Py_ssize_t *start, Py_ssize_t *end) {
    if (*end > len)
        *end = len;
    else if (*end < 0) {
        *end += len;
        if (*end < 0)
            *end = 0;
    }
    if (*start < 0) {
        *start += len;
        if (*start < 0)
            *start = 0;
    }
}

static void shifts(const char *p, Py_ssize_t m, unsigned char *shift);
static Py_ssize_t next_at(const char *s, Py_ssize_t i, Py_ssize_t end, const char *p, Py_ssize_t m,
                          const unsigned char *shift);

static Py_ssize_t forward(const char *s, Py_ssize_t start, Py_ssize_t end, const char *p, Py_ssize_t m) {
    if (end - start < m)
        return -1;
    if (m == 0)
        return start;
    if (m == 1) {
        const char *hit = memchr(s + start, p[0], (size_t)(end - start));
        return hit == NULL ? -1 : hit - s;
    }
    if (m == 2 || m > 255) {
        const char *hit = memmem(s + start, (size_t)(end - start), p, (size_t)m);
        return hit == NULL ? -1 : hit - s;
    }
    /* Horspool with a 256-byte table per call: for needles of 3 bytes and more glibc's memmem
     * spent more setting up than the few hundred bytes these calls scan (its two-byte search
     * needs no table, and is kept). */
    unsigned char shift[256];
    shifts(p, m, shift);
    return next_at(s, start, end, p, m, shift);
}

static Py_ssize_t backward(const char *s, Py_ssize_t start, Py_ssize_t end, const char *p, Py_ssize_t m) {
    if (end - start < m)
        return -1;
    if (m == 0)
        return end;
    /* The last place the needle could start is end - m; look for its first byte there and before. */
    Py_ssize_t room = end - m - start + 1;
    while (room > 0) {
        const char *hit = memrchr(s + start, p[0], (size_t)room);
        if (hit == NULL)
            return -1;
        if (memcmp(hit + 1, p + 1, (size_t)(m - 1)) == 0)
            return hit - s;
        room = hit - (s + start);
    }
    return -1;
}

/* Horspool: how far the window may move when its last byte is b (needle of 2 to 255 bytes). */
static void shifts(const char *p, Py_ssize_t m, unsigned char *shift) {
    memset(shift, (int)m, 256);
    for (Py_ssize_t k = 0; k < m - 1; k++)
        shift[(unsigned char)p[k]] = (unsigned char)(m - 1 - k);
}

/* The first occurrence at or after i whose end is at most end, or -1. */
static Py_ssize_t next_at(const char *s, Py_ssize_t i, Py_ssize_t end, const char *p, Py_ssize_t m,
                          const unsigned char *shift) {
    const char last = p[m - 1];
    while (i + m <= end) {
        char c = s[i + m - 1];
        if (c == last && memcmp(s + i, p, (size_t)(m - 1)) == 0)
            return i;
        i += shift[(unsigned char)c];
    }
    return -1;
}

/* Non-overlapping occurrences, left to right. */
static Py_ssize_t occurrences(const char *s, Py_ssize_t start, Py_ssize_t end, const char *p, Py_ssize_t m) {
    if (end - start < m)
        return 0;
    if (m == 0)
        return end - start + 1;
    Py_ssize_t n = 0;
    if (m == 1 || m > 255) {
        while ((start = forward(s, start, end, p, m)) != -1) {
            n++;
            start += m;
        }
        return n;
    }
    unsigned char shift[256];
    shifts(p, m, shift);
    while ((start = next_at(s, start, end, p, m, shift)) != -1) {
        n++;
        start += m;
    }
    return n;
}

static int read_bound(PyObject *arg, Py_ssize_t *out) {
    if (arg == Py_None)
        return 0;
    Py_ssize_t v = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
    if (v == -1 && PyErr_Occurred()) {
        /* A bound too large for a Py_ssize_t still clips like the methods': past either end. */
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return -1;
        PyErr_Clear();
        int negative = PyObject_RichCompareBool(arg, Py_False, Py_LT);
        if (negative < 0)
            return -1;
        v = negative ? PY_SSIZE_T_MIN : PY_SSIZE_T_MAX;
    }
    *out = v;
    return 0;
}

enum { FIND, RFIND, COUNT };

static PyObject *search(PyObject *const *args, Py_ssize_t nargs, const char *name, int how) {
    if (nargs < 2 || nargs > 4) {
        PyErr_Format(PyExc_TypeError, "%s() takes from 2 to 4 arguments (%zd given)", name, nargs);
        return NULL;
    }
    PyObject *data = args[0], *needle = args[1];
    if (!PyBytes_CheckExact(data) || !PyBytes_CheckExact(needle)) {
        /* Not two bytes objects: the method's own rules (an int needle, a bytearray...). */
        PyObject *method = PyUnicode_FromString(name);
        if (method == NULL)
            return NULL;
        PyObject *result = PyObject_VectorcallMethod(method, args, (size_t)nargs, NULL);
        Py_DECREF(method);
        return result;
    }
    Py_ssize_t len = PyBytes_GET_SIZE(data);
    Py_ssize_t start = 0, end = PY_SSIZE_T_MAX;
    if (nargs > 2 && read_bound(args[2], &start) < 0)
        return NULL;
    if (nargs > 3 && read_bound(args[3], &end) < 0)
        return NULL;
    clip(len, &start, &end);
    const char *s = PyBytes_AS_STRING(data), *p = PyBytes_AS_STRING(needle);
    Py_ssize_t m = PyBytes_GET_SIZE(needle);
    if (how == COUNT)
        return PyLong_FromSsize_t(occurrences(s, start, end, p, m));
    return PyLong_FromSsize_t(how == RFIND ? backward(s, start, end, p, m) : forward(s, start, end, p, m));
}

static PyObject *find(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    return search(args, nargs, "find", FIND);
}

static PyObject *rfind(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    return search(args, nargs, "rfind", RFIND);
}

static PyObject *count(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    return search(args, nargs, "count", COUNT);
}

#define MAX_NEEDLES 8

/* Append ``at`` to ``found``; on failure ``found`` is released and -1 returned. */
static int append_place(PyObject *found, Py_ssize_t at) {
    PyObject *pos = PyLong_FromSsize_t(at);
    if (pos == NULL || PyList_Append(found, pos) < 0) {
        Py_XDECREF(pos);
        Py_DECREF(found);
        return -1;
    }
    Py_DECREF(pos);
    return 0;
}

/* The needles of mentions and contains_any, checked (one to MAX_NEEDLES non-empty bytes):
 * their text and lengths into p and m; how many, or -1 with an exception set. */
static Py_ssize_t read_needles(PyObject *const *args, Py_ssize_t nargs, const char *usage, const char **p,
                               Py_ssize_t *m) {
    if (nargs != 2 || !PyBytes_CheckExact(args[0]) || !PyTuple_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, usage);
        return -1;
    }
    Py_ssize_t k = PyTuple_GET_SIZE(args[1]);
    if (k < 1 || k > MAX_NEEDLES) {
        PyErr_Format(PyExc_ValueError, "between 1 and %d needles", MAX_NEEDLES);
        return -1;
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        PyObject *needle = PyTuple_GET_ITEM(args[1], j);
        if (!PyBytes_CheckExact(needle) || PyBytes_GET_SIZE(needle) == 0) {
            PyErr_SetString(PyExc_ValueError, "needles must be non-empty bytes");
            return -1;
        }
        p[j] = PyBytes_AS_STRING(needle);
        m[j] = PyBytes_GET_SIZE(needle);
    }
    return k;
}

/* mentions(data, needles): the ascending start of every occurrence of any needle in data (a
 * place where two needles begin is listed once). Needles sharing a prefix of 2 to 255 bytes
 * (the Responses API's terminal event names share "response.") are found with one scan for
 * the prefix, each needle tried where it occurs. */
static PyObject *mentions(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    const char *p[MAX_NEEDLES];
    Py_ssize_t m[MAX_NEEDLES], prefix = PY_SSIZE_T_MAX;
    Py_ssize_t k = read_needles(args, nargs, "mentions(data: bytes, needles: tuple[bytes, ...])", p, m);
    if (k < 0)
        return NULL;
    for (Py_ssize_t j = 0; j < k; j++) {
        Py_ssize_t same = 0;
        while (same < m[j] && same < (j ? prefix : m[j]) && (j == 0 || p[j][same] == p[0][same]))
            same++;
        prefix = same;
    }
    const char *s = PyBytes_AS_STRING(args[0]);
    Py_ssize_t len = PyBytes_GET_SIZE(args[0]);
    PyObject *found = PyList_New(0);
    if (found == NULL)
        return NULL;
    if (prefix >= 2) {
        if (prefix > 255)
            prefix = 255;
        unsigned char shift[256];
        shifts(p[0], prefix, shift);
        Py_ssize_t at = 0;
        while ((at = next_at(s, at, len, p[0], prefix, shift)) != -1) {
            for (Py_ssize_t j = 0; j < k; j++) {
                if (at + m[j] <= len && memcmp(s + at + prefix, p[j] + prefix, (size_t)(m[j] - prefix)) == 0) {
                    if (append_place(found, at) < 0)
                        return NULL;
                    break;
                }
            }
            at++;
        }
        return found;
    }
    /* No common prefix: each place any needle starts, in order. */
    for (Py_ssize_t at = 0; at < len; at++) {
        for (Py_ssize_t j = 0; j < k; j++) {
            if (s[at] == p[j][0] && at + m[j] <= len && memcmp(s + at, p[j], (size_t)m[j]) == 0) {
                if (append_place(found, at) < 0)
                    return NULL;
                break;
            }
        }
    }
    return found;
}

/* contains_any(data, needles): whether any of the needles (one to eight, none empty) occurs
 * in data; one pass that stops at the first. The path check asks it of every request for four
 * short needles: a `in` test each from compiled code (an int needle goes through the sequence
 * protocol) cost 800 instructions together. */
static PyObject *contains_any(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    const char *p[MAX_NEEDLES];
    Py_ssize_t m[MAX_NEEDLES];
    Py_ssize_t k = read_needles(args, nargs, "contains_any(data: bytes, needles: tuple[bytes, ...])", p, m);
    if (k < 0)
        return NULL;
    const char *s = PyBytes_AS_STRING(args[0]);
    Py_ssize_t len = PyBytes_GET_SIZE(args[0]);
    /* The needles' first bytes as a 256-bit set: a byte that starts none (nearly every byte
     * of a path) costs one test, not one per needle. */
    uint64_t starts[4] = {0, 0, 0, 0};
    for (Py_ssize_t j = 0; j < k; j++) {
        unsigned char c = (unsigned char)p[j][0];
        starts[c >> 6] |= (uint64_t)1 << (c & 63);
    }
    for (Py_ssize_t at = 0; at < len; at++) {
        unsigned char c = (unsigned char)s[at];
        if (!(starts[c >> 6] >> (c & 63) & 1))
            continue;
        for (Py_ssize_t j = 0; j < k; j++)
            if (s[at] == p[j][0] && at + m[j] <= len && memcmp(s + at, p[j], (size_t)m[j]) == 0)
                Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

static PyMethodDef methods[] = {
    {"find", (PyCFunction)(void (*)(void))find, METH_FASTCALL,
     "find(data, needle, start=None, end=None, /): data.find(needle, start, end)."},
    {"rfind", (PyCFunction)(void (*)(void))rfind, METH_FASTCALL,
     "rfind(data, needle, start=None, end=None, /): data.rfind(needle, start, end)."},
    {"count", (PyCFunction)(void (*)(void))count, METH_FASTCALL,
     "count(data, needle, start=None, end=None, /): data.count(needle, start, end)."},
    {"mentions", (PyCFunction)(void (*)(void))mentions, METH_FASTCALL,
     "mentions(data, needles, /): where any of the needles occurs in data, ascending."},
    {"contains_any", (PyCFunction)(void (*)(void))contains_any, METH_FASTCALL,
     "contains_any(data, needles, /): whether any of the needles occurs in data."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef bytes_search_module = {
    PyModuleDef_HEAD_INIT, "_bytes_search", "bytes.find, rfind and count as fast calls; mentions.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__bytes_search(void) { return PyModule_Create(&bytes_search_module); }
