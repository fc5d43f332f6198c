/* Numbers written into bytes between two others, for the hot path (number_bytes.py).
 *
 * `b"content-length: %d\r\n" % n` costs about 2,000 instructions on CPython 3.11 (the
 * format string is parsed and the int formatted through a writer on every call); a request
 * formats two or three such fields. These write the digits straight into the new bytes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

/* The digits of n in base (10 or 16, lowercase), at least width of them (zero-padded), written
 * backwards from the end of out (room for 32); how many. */
static int digits(unsigned long long n, unsigned base, int width, char *out_end) {
    static const char hex[] = "0123456789abcdef";
    int count = 0;
    do {
        *--out_end = hex[n % base];
        n /= base;
        count++;
    } while (n != 0);
    while (count < width && count < 32) {
        *--out_end = '0';
        count++;
    }
    return count;
}

static PyObject *between(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t expected, unsigned base, const char *usage) {
    if (nargs != expected || !PyBytes_CheckExact(args[0]) || !PyBytes_CheckExact(args[2]) ||
        !PyLong_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, usage);
        return NULL;
    }
    long long n = PyLong_AsLongLong(args[1]);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    long width = 0;
    if (nargs == 4) {
        width = PyLong_AsLong(args[3]);
        if (width == -1 && PyErr_Occurred())
            return NULL;
    }
    char buf[34];
    char *end = buf + sizeof buf;
    int count = digits(n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n, base, (int)width, end);
    if (n < 0)
        buf[sizeof buf - 1 - count++] = '-';
    Py_ssize_t before = PyBytes_GET_SIZE(args[0]), after = PyBytes_GET_SIZE(args[2]);
    PyObject *out = PyBytes_FromStringAndSize(NULL, before + count + after);
    if (out == NULL)
        return NULL;
    char *w = PyBytes_AS_STRING(out);
    memcpy(w, PyBytes_AS_STRING(args[0]), (size_t)before);
    memcpy(w + before, end - count, (size_t)count);
    memcpy(w + before + count, PyBytes_AS_STRING(args[2]), (size_t)after);
    return out;
}

/* decimal_between(before, n, after, /) -> before + b"%d" % n + after */
static PyObject *decimal_between(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    return between(args, nargs, 3, 10, "decimal_between(before: bytes, n: int, after: bytes, /)");
}

/* hex_between(before, n, after, width, /) -> before + b"%0*x" % (width, n) + after */
static PyObject *hex_between(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    return between(args, nargs, 4, 16, "hex_between(before: bytes, n: int, after: bytes, width: int, /)");
}

static PyMethodDef methods[] = {
    {"decimal_between", (PyCFunction)(void (*)(void))decimal_between, METH_FASTCALL,
     "decimal_between(before, n, after, /): before + the decimal digits of n + after."},
    {"hex_between", (PyCFunction)(void (*)(void))hex_between, METH_FASTCALL,
     "hex_between(before, n, after, width, /): before + n in lowercase hex, zero-padded to width, + after."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef number_bytes_module = {
    PyModuleDef_HEAD_INIT, "_number_bytes", "Numbers written into bytes between two others.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__number_bytes(void) { return PyModule_Create(&number_bytes_module); }
