/* A message head's fields, cut out of its bytes in one pass (response_head.py,
 * request_head.py).
 *
 * Both run once llhttp has accepted the head (the connections call them from
 * on_headers_complete), so its lines end in CRLF, no value holds a CR, no line is folded and
 * every field line has a colon right after a token name: the fields are the lines between
 * the start line and the blank line. Each is given as httptools' on_header callback gave it:
 * the name lowercased (ASCII, as bytes.lower), the value without its leading spaces and tabs.
 * An upstream's values keep their trailing ones (llhttp keeps them); a client's lose them, as
 * the server always stripped them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

/* ASCII lowercase of n bytes, eight at a time: in each byte of a word, the high bit of
 * (b & 0x7f) + 0x3f says b >= 'A' and that of (b & 0x7f) + 0x25 says b > 'Z'; a byte with
 * the first and not the second, and its own high bit clear, gains 0x20. */
static void lower_ascii(char *w, const char *p, Py_ssize_t n) {
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        uint64_t low7 = x & 0x7f7f7f7f7f7f7f7fULL;
        uint64_t upper = (low7 + 0x3f3f3f3f3f3f3f3fULL) & ~(low7 + 0x2525252525252525ULL) & ~x & 0x8080808080808080ULL;
        x |= upper >> 2;
        memcpy(w + i, &x, 8);
    }
    for (; i < n; i++) {
        char c = p[i];
        w[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
}

/* Which of the fields the server checks a lowercased name is (as http1.py numbers them). */
enum { NOT_SPECIAL = 0, HOST = 1, CONTENT_LENGTH = 2, TRANSFER_ENCODING = 3, EXPECT = 4 };

static int special_kind(const char *name, Py_ssize_t len) {
    switch (len) {
    case 4:
        return memcmp(name, "host", 4) == 0 ? HOST : NOT_SPECIAL;
    case 6:
        return memcmp(name, "expect", 6) == 0 ? EXPECT : NOT_SPECIAL;
    case 14:
        return memcmp(name, "content-length", 14) == 0 ? CONTENT_LENGTH : NOT_SPECIAL;
    case 17:
        return memcmp(name, "transfer-encoding", 17) == 0 ? TRANSFER_ENCODING : NOT_SPECIAL;
    default:
        return NOT_SPECIAL;
    }
}

static PyObject *incomplete(void) {
    PyErr_SetString(PyExc_ValueError, "the buffer does not hold a whole head at start");
    return NULL;
}

/* The field lines from p (the first byte after the start line's CRLF) to the blank line,
 * appended to out, and (when specials is not NULL) each one the server checks appended to
 * specials as (kind, value); 0, or -1 with an exception set. */
static int cut_fields(const char *p, const char *end, int trim_end, PyObject *out, PyObject *specials) {
    while (p < end && *p != '\r') { /* a line that starts with CR is the blank line */
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (eol == NULL || end - eol < 2) {
            incomplete();
            return -1;
        }
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL) {
            incomplete();
            return -1;
        }
        Py_ssize_t name_len = colon - p;
        PyObject *name = PyBytes_FromStringAndSize(NULL, name_len);
        if (name == NULL)
            return -1;
        char *w = PyBytes_AS_STRING(name);
        lower_ascii(w, p, name_len); /* ASCII, as bytes.lower */
        int kind = specials != NULL ? special_kind(w, name_len) : NOT_SPECIAL;
        const char *v = colon + 1;
        while (v < eol && (*v == ' ' || *v == '\t'))
            v++;
        const char *v_end = eol;
        if (trim_end)
            while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t'))
                v_end--;
        PyObject *value = PyBytes_FromStringAndSize(v, v_end - v);
        if (value == NULL) {
            Py_DECREF(name);
            return -1;
        }
        PyObject *pair = PyTuple_New(2);
        if (pair == NULL) {
            Py_DECREF(name);
            Py_DECREF(value);
            return -1;
        }
        PyTuple_SET_ITEM(pair, 0, name);
        PyTuple_SET_ITEM(pair, 1, value);
        int failed = PyList_Append(out, pair);
        Py_DECREF(pair);
        if (failed)
            return -1;
        if (kind != NOT_SPECIAL) {
            PyObject *noted = Py_BuildValue("(iO)", kind, value);
            if (noted == NULL)
                return -1;
            failed = PyList_Append(specials, noted);
            Py_DECREF(noted);
            if (failed)
                return -1;
        }
        p = eol + 2;
    }
    if (p >= end) {
        incomplete();
        return -1;
    }
    return 0;
}

/* The buffer and start of a (buf, start) call; NULL with an exception set. */
static const char *head_at(PyObject *const *args, Py_ssize_t nargs, const char *usage, const char **end) {
    if (nargs != 2 || !PyBytes_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, usage);
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
    if (start < 0 || start > size) {
        PyErr_SetString(PyExc_ValueError, "start is outside the buffer");
        return NULL;
    }
    const char *buf = PyBytes_AS_STRING(args[0]);
    *end = buf + size;
    return buf + start;
}

/* response_fields(buf, start, /) -> list[tuple[bytes, bytes]]: the fields of the response
 * head at start. */
static PyObject *response_fields(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    const char *end;
    const char *p = head_at(args, nargs, "response_fields(buf: bytes, start: int, /)", &end);
    if (p == NULL)
        return NULL;
    const char *eol = memchr(p, '\r', (size_t)(end - p)); /* the status line's end */
    if (eol == NULL || end - eol < 2)
        return incomplete();
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    if (cut_fields(eol + 2, end, 0, out, NULL) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

/* request_head(buf, start, /) -> (method, target, version, fields, specials): the request
 * head whose request line is at start. llhttp accepted the line, so its method and target hold
 * no space and the target is everything between the first space and the last; a line with one
 * space (HTTP/0.9) gives an empty version, which the server refuses. specials lists the Host,
 * Content-Length, Transfer-Encoding and Expect fields as (kind, value), in order, so the
 * server looks at no other name. */
static PyObject *request_head(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    const char *end;
    const char *p = head_at(args, nargs, "request_head(buf: bytes, start: int, /)", &end);
    if (p == NULL)
        return NULL;
    const char *eol = memchr(p, '\r', (size_t)(end - p));
    if (eol == NULL || end - eol < 2)
        return incomplete();
    const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
    const char *sp2 = NULL;
    if (sp1 != NULL)
        for (const char *q = eol - 1; q > sp1; q--)
            if (*q == ' ') {
                sp2 = q;
                break;
            }
    const char *method_end = sp1 != NULL ? sp1 : eol;
    const char *target = sp1 != NULL ? sp1 + 1 : eol;
    const char *target_end = sp2 != NULL ? sp2 : eol;
    const char *version = sp2 != NULL ? sp2 + 1 : eol;
    PyObject *fields = PyList_New(0);
    PyObject *specials = PyList_New(0);
    if (fields == NULL || specials == NULL || cut_fields(eol + 2, end, 1, fields, specials) < 0) {
        Py_XDECREF(fields);
        Py_XDECREF(specials);
        return NULL;
    }
    return Py_BuildValue("(y#y#y#NN)", p, (Py_ssize_t)(method_end - p), target, (Py_ssize_t)(target_end - target),
                         version, (Py_ssize_t)(eol - version), fields, specials); /* N: stolen, also on failure */
}

static PyMethodDef methods[] = {
    {"response_fields", (PyCFunction)(void (*)(void))response_fields, METH_FASTCALL,
     "response_fields(buf, start, /): the (lowercased name, value) pairs of the response head at start."},
    {"request_head", (PyCFunction)(void (*)(void))request_head, METH_FASTCALL,
     "request_head(buf, start, /): (method, target, version, fields, specials) of the request head at start."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef head_fields_module = {
    PyModuleDef_HEAD_INIT, "_head_fields", "A message head's fields, cut from its bytes.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__head_fields(void) { return PyModule_Create(&head_fields_module); }
