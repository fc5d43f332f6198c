/* An upstream response head's fields, cut out of its bytes in one pass (response_head.py).
 *
 * The head has been accepted by llhttp before this runs (the connection calls it from
 * on_headers_complete), so its lines end in CRLF, no value holds a bare CR, no line is
 * folded and every field line has a colon after a token name: the fields are the lines
 * between the status line and the blank line. Each is given as the on_header callback gave
 * it: the name lowercased (ASCII, as bytes.lower), the value without its leading spaces and
 * tabs (trailing ones kept, as llhttp keeps them).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

/* fields(buf, start, /) -> list[tuple[bytes, bytes]]: the fields of the head at start. */
static PyObject *fields(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 2 || !PyBytes_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "fields(buf: bytes, start: int, /)");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred())
        return NULL;
    const char *buf = PyBytes_AS_STRING(args[0]);
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
    if (start < 0 || start > size) {
        PyErr_SetString(PyExc_ValueError, "start is outside the buffer");
        return NULL;
    }
    const char *end = buf + size;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    /* past the status line */
    const char *p = memchr(buf + start, '\r', (size_t)(end - (buf + start)));
    if (p == NULL || end - p < 2)
        goto incomplete;
    p += 2;
    while (p < end && *p != '\r') { /* a line that starts with CR is the blank line */
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (eol == NULL || end - eol < 2)
            goto incomplete;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL)
            goto incomplete;
        Py_ssize_t name_len = colon - p;
        PyObject *name = PyBytes_FromStringAndSize(NULL, name_len);
        if (name != NULL) {
            char *w = PyBytes_AS_STRING(name);
            for (Py_ssize_t i = 0; i < name_len; i++) {
                char c = p[i];
                w[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c; /* ASCII, as bytes.lower */
            }
        }
        if (name == NULL)
            goto fail;
        const char *v = colon + 1;
        while (v < eol && (*v == ' ' || *v == '\t'))
            v++;
        PyObject *value = PyBytes_FromStringAndSize(v, eol - v);
        if (value == NULL) {
            Py_DECREF(name);
            goto fail;
        }
        PyObject *pair = PyTuple_New(2);
        if (pair == NULL) {
            Py_DECREF(name);
            Py_DECREF(value);
            goto fail;
        }
        PyTuple_SET_ITEM(pair, 0, name);
        PyTuple_SET_ITEM(pair, 1, value);
        int failed = PyList_Append(out, pair);
        Py_DECREF(pair);
        if (failed)
            goto fail;
        p = eol + 2;
    }
    if (p >= end)
        goto incomplete;
    return out;
incomplete:
    PyErr_SetString(PyExc_ValueError, "the buffer does not hold a whole head at start");
fail:
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef methods[] = {
    {"fields", (PyCFunction)(void (*)(void))fields, METH_FASTCALL,
     "fields(buf, start, /): the (lowercased name, value) pairs of the response head at start."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef response_head_module = {
    PyModuleDef_HEAD_INIT, "_response_head", "An upstream response head's fields, cut from its bytes.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__response_head(void) { return PyModule_Create(&response_head_module); }
