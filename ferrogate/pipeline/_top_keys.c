/*
 * Whether a request body's top-level JSON object names a key twice (ferrogate/pipeline/parse.py).
 *
 * The gateway reads a request's decided fields (model, stream, max_tokens ...) with
 * msgspec, which keeps the last of two equal keys; a provider's parser might keep
 * the first. A body naming a key twice is therefore refused. The Python check ran a
 * regex over the whole body on every request: ~1 us for a small chat body and ~10 us
 * for a 10 KB one, more than decoding it. This walks the top level once, skipping
 * each value by its brackets and strings, and compares the keys it met.
 *
 * It runs after msgspec accepted the body as JSON, so it checks nothing else.
 * duplicate_top_level_key(body) -> 1 (a key repeats), 0 (none does), or -1 (cannot
 * tell cheaply: the body is not an object, a key has an escape, more than MAX_KEYS
 * keys): the caller then takes its exact Python path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define MAX_KEYS 64

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at the opening quote; returns just past the closing quote, or NULL. */
static const char *skip_string(const char *p, const char *end) {
    p++;
    while (p < end) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (q == NULL)
            return NULL;
        /* an escaped quote has an odd number of backslashes before it */
        const char *b = q;
        while (b > p && b[-1] == '\\')
            b--;
        if (((q - b) & 1) == 0)
            return q + 1;
        p = q + 1;
    }
    return NULL;
}

/* p at a value's first byte; returns just past the value, or NULL. */
static const char *skip_value(const char *p, const char *end) {
    if (p >= end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        Py_ssize_t depth = 0;
        while (p < end) {
            char c = *p;
            if (c == '"') {
                p = skip_string(p, end);
                if (p == NULL)
                    return NULL;
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return p + 1;
            }
            p++;
        }
        return NULL;
    }
    /* a number, true, false or null: up to the next delimiter */
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\n'
           && *p != '\r')
        p++;
    return p;
}

static int verdict(const char *p, const char *end) {
    const char *key[MAX_KEYS];
    Py_ssize_t len[MAX_KEYS];
    int count = 0;
    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return -1;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        return 0;
    for (;;) {
        if (p >= end || *p != '"')
            return -1;
        const char *start = p + 1;
        const char *stop = skip_string(p, end);
        if (stop == NULL)
            return -1;
        Py_ssize_t n = stop - 1 - start;
        if (memchr(start, '\\', (size_t)n) != NULL || count == MAX_KEYS)
            return -1; /* an escaped key may equal another written plainly */
        for (int i = 0; i < count; i++)
            if (len[i] == n && memcmp(key[i], start, (size_t)n) == 0)
                return 1;
        key[count] = start;
        len[count] = n;
        count++;
        p = skip_ws(stop, end);
        if (p >= end || *p != ':')
            return -1;
        p = skip_value(skip_ws(p + 1, end), end);
        if (p == NULL)
            return -1;
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        return (p < end && *p == '}') ? 0 : -1;
    }
}

static PyObject *duplicate_top_level_key(PyObject *module, PyObject *body) {
    (void)module;
    if (!PyBytes_Check(body)) {
        PyErr_SetString(PyExc_TypeError, "duplicate_top_level_key() takes bytes");
        return NULL;
    }
    const char *p = PyBytes_AS_STRING(body);
    return PyLong_FromLong(verdict(p, p + PyBytes_GET_SIZE(body)));
}

static PyMethodDef methods[] = {
    {"duplicate_top_level_key", duplicate_top_level_key, METH_O,
     "1 when the body's top-level object names a key twice, 0 when not, -1 when it cannot tell."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_top_keys", "Top-level JSON key checks for request bodies.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__top_keys(void) { return PyModule_Create(&module_def); }
