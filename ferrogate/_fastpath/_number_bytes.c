/* Numbers written into bytes between others, for the hot path (number_bytes.py).
 *
 * `b"content-length: %d\r\n" % n` costs about 2,000 instructions on CPython 3.11 (the
 * format string is parsed and the int formatted through a writer on every call); a request
 * formats two or three such fields and one header template. These write the text straight
 * into the new bytes.
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

/* n's digits as digits() writes them, after a '-' when n is negative (room for 33); how many. */
static int signed_digits(long long n, unsigned base, int width, char *out_end) {
    int count = digits(n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n, base, width, out_end);
    if (n < 0)
        out_end[-1 - count++] = '-';
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
    int count = signed_digits(n, base, (int)width, end);
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

/* The most slots a template has (a header template has five). */
#define MAX_SLOTS 16

/* fill_template(pieces, kinds, *values, /) -> pieces[0] + values[0] + pieces[1] + ... +
 * pieces[n], each value written as its kind says: b bytes as they are, d an int as b"%d", f a
 * float (or int) as b"%.3f". A header template's lines with their values in one new bytes:
 * the bytes format parsed its format and ran a writer per value (2,800 instructions for the
 * gateway's five). */
static PyObject *fill_template(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs < 2 || !PyTuple_CheckExact(args[0]) || !PyBytes_CheckExact(args[1]) ||
        PyBytes_GET_SIZE(args[1]) != nargs - 2 || PyTuple_GET_SIZE(args[0]) != nargs - 1 || nargs - 2 > MAX_SLOTS) {
        PyErr_SetString(PyExc_TypeError,
                        "fill_template(pieces: tuple[bytes, ...], kinds: bytes, *values, /): one more piece than "
                        "kinds, one value per kind, at most 16");
        return NULL;
    }
    PyObject *pieces = args[0];
    const char *kinds = PyBytes_AS_STRING(args[1]);
    Py_ssize_t slots = nargs - 2, total = 0;
    /* a number's text: digits in a stack buffer, a float's from PyOS_double_to_string */
    char ints[MAX_SLOTS][24];
    const char *text[MAX_SLOTS];
    Py_ssize_t text_len[MAX_SLOTS];
    char *owned[MAX_SLOTS] = {NULL};
    PyObject *out = NULL;
    for (Py_ssize_t i = 0; i <= slots; i++) {
        PyObject *piece = PyTuple_GET_ITEM(pieces, i);
        if (!PyBytes_CheckExact(piece)) {
            PyErr_SetString(PyExc_TypeError, "fill_template: a piece is not bytes");
            goto done;
        }
        total += PyBytes_GET_SIZE(piece);
    }
    for (Py_ssize_t i = 0; i < slots; i++) {
        PyObject *v = args[i + 2];
        switch (kinds[i]) {
        case 'b':
            if (!PyBytes_CheckExact(v)) {
                PyErr_SetString(PyExc_TypeError, "fill_template: a b value is not bytes");
                goto done;
            }
            text[i] = PyBytes_AS_STRING(v);
            text_len[i] = PyBytes_GET_SIZE(v);
            break;
        case 'd': {
            if (!PyLong_CheckExact(v)) {
                PyErr_SetString(PyExc_TypeError, "fill_template: a d value is not an int");
                goto done;
            }
            long long n = PyLong_AsLongLong(v);
            if (n == -1 && PyErr_Occurred())
                goto done;
            char *end = ints[i] + sizeof ints[i];
            int count = signed_digits(n, 10, 0, end);
            text[i] = end - count;
            text_len[i] = count;
            break;
        }
        case 'f': {
            double d = PyFloat_AsDouble(v); /* an int too, as the bytes format takes one */
            if (d == -1.0 && PyErr_Occurred())
                goto done;
            owned[i] = PyOS_double_to_string(d, 'f', 3, 0, NULL);
            if (owned[i] == NULL)
                goto done;
            text[i] = owned[i];
            text_len[i] = (Py_ssize_t)strlen(owned[i]);
            break;
        }
        default:
            PyErr_SetString(PyExc_ValueError, "fill_template: a kind is not b, d or f");
            goto done;
        }
        total += text_len[i];
    }
    out = PyBytes_FromStringAndSize(NULL, total);
    if (out != NULL) {
        char *w = PyBytes_AS_STRING(out);
        for (Py_ssize_t i = 0;; i++) {
            PyObject *piece = PyTuple_GET_ITEM(pieces, i);
            memcpy(w, PyBytes_AS_STRING(piece), (size_t)PyBytes_GET_SIZE(piece));
            w += PyBytes_GET_SIZE(piece);
            if (i == slots)
                break;
            memcpy(w, text[i], (size_t)text_len[i]);
            w += text_len[i];
        }
    }
done:
    for (Py_ssize_t i = 0; i < slots; i++)
        PyMem_Free(owned[i]);
    return out;
}

static PyMethodDef methods[] = {
    {"decimal_between", (PyCFunction)(void (*)(void))decimal_between, METH_FASTCALL,
     "decimal_between(before, n, after, /): before + the decimal digits of n + after."},
    {"hex_between", (PyCFunction)(void (*)(void))hex_between, METH_FASTCALL,
     "hex_between(before, n, after, width, /): before + n in lowercase hex, zero-padded to width, + after."},
    {"fill_template", (PyCFunction)(void (*)(void))fill_template, METH_FASTCALL,
     "fill_template(pieces, kinds, *values, /): the pieces with each value between two, written as its kind."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef number_bytes_module = {
    PyModuleDef_HEAD_INIT, "_number_bytes", "Numbers written into bytes between two others.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__number_bytes(void) { return PyModule_Create(&number_bytes_module); }
