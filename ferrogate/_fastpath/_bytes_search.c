/* bytes.find and bytes.rfind as fast calls, for the compiled hot path.
 *
 * On CPython 3.11 both are METH_VARARGS methods: every call packs its arguments into a tuple
 * and parses them back with a format string, about 1,100 instructions around a memchr of a
 * few dozen. The SSE relay, the request splicer and the proxy call them a dozen to twenty
 * times a request. These take the same arguments and give the same answers (start and end
 * clipped as slices are) with no tuple and no parsing; anything but two bytes objects is
 * handed to the methods themselves.
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>

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

static Py_ssize_t forward(const char *s, Py_ssize_t start, Py_ssize_t end, const char *p, Py_ssize_t m) {
    if (end - start < m)
        return -1;
    if (m == 0)
        return start;
    const char *hit = m == 1 ? memchr(s + start, p[0], (size_t)(end - start))
                             : memmem(s + start, (size_t)(end - start), p, (size_t)m);
    return hit == NULL ? -1 : hit - s;
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

static PyObject *search(PyObject *const *args, Py_ssize_t nargs, const char *name, int reverse) {
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
    return PyLong_FromSsize_t(reverse ? backward(s, start, end, p, m) : forward(s, start, end, p, m));
}

static PyObject *find(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    return search(args, nargs, "find", 0);
}

static PyObject *rfind(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    return search(args, nargs, "rfind", 1);
}

static PyMethodDef methods[] = {
    {"find", (PyCFunction)(void (*)(void))find, METH_FASTCALL,
     "find(data, needle, start=None, end=None, /): data.find(needle, start, end)."},
    {"rfind", (PyCFunction)(void (*)(void))rfind, METH_FASTCALL,
     "rfind(data, needle, start=None, end=None, /): data.rfind(needle, start, end)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef bytes_search_module = {
    PyModuleDef_HEAD_INIT, "_bytes_search", "bytes.find and bytes.rfind as fast calls.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__bytes_search(void) { return PyModule_Create(&bytes_search_module); }
