/*
 * The top level of a JSON object, walked once in C: ferrogate/ai/usage_openai.py and
 * ferrogate/pipeline/parse.py.
 *
 * Each walk skips every value by its brackets and strings (strings found with memchr) and
 * looks only at the top-level keys. It reads JSON that is already known to be well formed
 * or that is decoded again where it matters, so it checks nothing else, and it answers
 * "cannot tell" (-1) wherever a cheap answer could be wrong: the text is not an object, a
 * key holds an escape (it may spell a key written plainly elsewhere), too many keys.
 *
 * duplicate_top_level_key(body) -> 1 (a key repeats), 0 (none does), -1 (cannot tell).
 *   The gateway reads a request's decided fields (model, stream, max_tokens ...) with
 *   msgspec, which keeps the last of two equal keys; a provider's parser might keep the
 *   first, so a body naming a key twice is refused. A regex over the whole body cost more
 *   than decoding it.
 * top_level_value(body, key) -> (start, end) of the last top-level value named key; (0, 0)
 *   when no top-level key is named so; (-1, -1) when it cannot tell. A provider's answer
 *   holds its usage in a small top-level object after the choices: decoding just that
 *   object costs a fraction of decoding the answer to skip everything else.
 * usage_counts(body, start, end, names...) -> the counts of that usage object, read without
 *   making a Struct per level (whose fields a compiled module reads by generic attribute
 *   lookups): it checks what it reads, and answers None wherever msgspec could decide
 *   otherwise, so the caller decodes those.
 */
#define _GNU_SOURCE /* memrchr */
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

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* The index of the last byte at or before i that is not whitespace (-1: none). */
static Py_ssize_t rskip_ws(const char *b, Py_ssize_t i) {
    while (i >= 0 && is_ws(b[i]))
        i--;
    return i;
}

/* b[i] closes a string: the index of its opening quote (the one before it that no odd run of
 * backslashes escapes), or -1. */
static Py_ssize_t rskip_string(const char *b, Py_ssize_t i) {
    Py_ssize_t j = i;
    while (j > 0) {
        const char *q = memrchr(b, '"', (size_t)j);
        if (q == NULL)
            return -1;
        Py_ssize_t k = q - b, n = 0;
        while (k - n > 0 && b[k - n - 1] == '\\')
            n++;
        if ((n & 1) == 0)
            return k;
        j = k;
    }
    return -1;
}

/* b[i] is a value's last byte: the index of its first byte, or -1. */
static Py_ssize_t rskip_value(const char *b, Py_ssize_t i) {
    char c = b[i];
    if (c == '"')
        return rskip_string(b, i);
    if (c == '}' || c == ']') {
        Py_ssize_t depth = 0;
        while (i >= 0) {
            c = b[i];
            if (c == '"') {
                i = rskip_string(b, i);
                if (i < 0)
                    return -1;
            } else if (c == '}' || c == ']') {
                depth++;
            } else if (c == '{' || c == '[') {
                if (--depth == 0)
                    return i;
            }
            i--;
        }
        return -1;
    }
    /* a number, true, false or null: back to the colon or whitespace before it (only
     * top-level values are skipped this way; nested ones go with their container) */
    while (i > 0 && b[i - 1] != ':' && !is_ws(b[i - 1]))
        i--;
    return i;
}

/* The span of the last top-level value named key, walking back from the end (a provider's
 * answer ends with its usage, so the walk is short): 0 with the span, or (0, 0) when no
 * top-level key is named so; -1 when it cannot tell. Every key it passes is compared
 * plainly, so an escaped one makes it give up: it may spell key. */
static int value_span(const char *b, Py_ssize_t size, const char *key, Py_ssize_t key_len, Py_ssize_t *start,
                      Py_ssize_t *stop) {
    *start = *stop = 0;
    Py_ssize_t i = rskip_ws(b, size - 1);
    if (i < 0 || b[i] != '}')
        return -1;
    i = rskip_ws(b, i - 1);
    if (i < 0)
        return -1;
    if (b[i] != '{') {
        for (;;) {
            Py_ssize_t value_end = i + 1;
            Py_ssize_t value = rskip_value(b, i);
            if (value < 0)
                return -1;
            i = rskip_ws(b, value - 1);
            if (i < 0 || b[i] != ':')
                return -1;
            i = rskip_ws(b, i - 1);
            if (i < 0 || b[i] != '"')
                return -1;
            Py_ssize_t open = rskip_string(b, i);
            if (open < 0)
                return -1;
            Py_ssize_t n = i - open - 1;
            if (memchr(b + open + 1, '\\', (size_t)n) != NULL)
                return -1;
            if (n == key_len && memcmp(b + open + 1, key, (size_t)n) == 0) {
                *start = value;
                *stop = value_end;
                return 0;
            }
            i = rskip_ws(b, open - 1);
            if (i < 0)
                return -1;
            if (b[i] == '{')
                break;
            if (b[i] != ',')
                return -1;
            i = rskip_ws(b, i - 1);
            if (i < 0)
                return -1;
        }
    }
    /* at the opening brace: nothing but whitespace may come before it */
    return rskip_ws(b, i - 1) < 0 ? 0 : -1;
}

static PyObject *top_level_value(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 2 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "top_level_value(body: bytes, key: bytes, /)");
        return NULL;
    }
    Py_ssize_t start, stop;
    if (value_span(PyBytes_AS_STRING(args[0]), PyBytes_GET_SIZE(args[0]), PyBytes_AS_STRING(args[1]),
                   PyBytes_GET_SIZE(args[1]), &start, &stop) < 0)
        start = stop = -1;
    PyObject *span = PyTuple_New(2);
    if (span == NULL)
        return NULL;
    PyObject *first = PyLong_FromSsize_t(start), *last = PyLong_FromSsize_t(stop);
    if (first == NULL || last == NULL) {
        Py_XDECREF(first);
        Py_XDECREF(last);
        Py_DECREF(span);
        return NULL;
    }
    PyTuple_SET_ITEM(span, 0, first);
    PyTuple_SET_ITEM(span, 1, last);
    return span;
}

/* A JSON number at p, checked against the grammar; past it, or NULL. */
static const char *skip_number(const char *p, const char *end) {
    if (p < end && *p == '-')
        p++;
    if (p >= end || *p < '0' || *p > '9')
        return NULL;
    if (*p == '0')
        p++;
    else
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    if (p < end && *p == '.') {
        const char *digits = ++p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == digits)
            return NULL;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        const char *digits = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == digits)
            return NULL;
    }
    return p;
}

/* The string at p (at its quote) when it holds printable ASCII only (no escape, no control
 * character, nothing a decoder would check as UTF-8): past its closing quote, or NULL. */
static const char *plain_string(const char *p, const char *end) {
    for (p++; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c == '\\' || c < 0x20 || c >= 0x7f)
            return NULL;
    }
    return NULL;
}

/* A scalar member value the usage reader passes over: a number, true, false, null, or a plain
 * string; past it, or NULL for anything else (the caller then decodes the usual way, which
 * checks it). */
static const char *skip_plain_scalar(const char *p, const char *end) {
    if (p >= end)
        return NULL;
    switch (*p) {
    case '"':
        return plain_string(p, end);
    case 't':
        return end - p >= 4 && memcmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f':
        return end - p >= 5 && memcmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n':
        return end - p >= 4 && memcmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default:
        return skip_number(p, end);
    }
}

/* A count at p: null (-1) or a plain non-negative integer of at most 18 digits into *out; past
 * it, or NULL for anything else (a sign, a leading zero, a string). */
static const char *read_count(const char *p, const char *end, long long *out) {
    if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
        *out = -1;
        return p + 4;
    }
    const char *first = p;
    long long n = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (p - first == 18)
            return NULL;
        n = n * 10 + (*p - '0');
        p++;
    }
    if (p == first || (p - first > 1 && *first == '0'))
        return NULL;
    *out = n; /* a fraction or an exponent after it is refused by the member's caller */
    return p;
}

/* The key at p (at its quote) when it is a plain string: its text and length, p past it. */
static const char *plain_key(const char *p, const char *end, const char **key, Py_ssize_t *len) {
    const char *past = plain_string(p, end);
    if (past != NULL) {
        *key = p + 1;
        *len = past - p - 2;
    }
    return past;
}

static int key_is(const char *key, Py_ssize_t len, PyObject *name) {
    return PyBytes_GET_SIZE(name) == len && memcmp(PyBytes_AS_STRING(name), key, (size_t)len) == 0;
}

/* The object at p (at its '{'): a member named counts[i] is read as a count into out[i]; with
 * depth 0, a member named details[j] is null or an object whose member inner[j] is a count, into
 * out[n_counts + j]. A member named twice, a key with an escape, a count that is not a plain
 * one, an unknown member that is not a plain scalar: NULL (the caller decodes the usual way).
 * Past the object otherwise. Members not present stay as the caller set them (-1). */
static const char *read_members(const char *p, const char *end, PyObject *const *counts, int n_counts,
                                PyObject *const *details, PyObject *const *inner, int n_details, long long *out) {
    unsigned seen = 0;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        return p + 1;
    while (p < end) {
        const char *key;
        Py_ssize_t len;
        if (*p != '"' || (p = plain_key(p, end, &key, &len)) == NULL)
            return NULL;
        p = skip_ws(p, end);
        if (p >= end || *p != ':')
            return NULL;
        p = skip_ws(p + 1, end);
        int known = -1;
        for (int i = 0; i < n_counts + n_details && known < 0; i++)
            if (key_is(key, len, i < n_counts ? counts[i] : details[i - n_counts]))
                known = i;
        if (known >= 0) {
            if (seen & (1u << known))
                return NULL;
            seen |= 1u << known;
        }
        if (known < 0)
            p = skip_plain_scalar(p, end);
        else if (known < n_counts)
            p = read_count(p, end, &out[known]);
        else if (end - p >= 4 && memcmp(p, "null", 4) == 0)
            p += 4;
        else if (p < end && *p == '{')
            p = read_members(p, end, &inner[known - n_counts], 1, NULL, NULL, 0, &out[known]);
        else
            return NULL;
        if (p == NULL)
            return NULL;
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        return p < end && *p == '}' ? p + 1 : NULL;
    }
    return NULL;
}

/* usage_counts(body, start, end, c1, c2, c3, d1, i1, d2, i2, /) -> (n1, n2, n3, n4, n5) | None:
 *   the usage object at body[start:end] read without decoding it into Structs: the counts named
 *   c1-c3, and the count named i1 inside the member d1 and i2 inside d2; -1 for one absent or
 *   null. None where it cannot tell as cheaply (see read_members), and the caller decodes. */
static PyObject *usage_counts(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    int ok = nargs == 10 && PyBytes_Check(args[0]);
    for (Py_ssize_t i = 3; ok && i < nargs; i++)
        ok = PyBytes_Check(args[i]);
    if (!ok) {
        PyErr_SetString(PyExc_TypeError, "usage_counts(body: bytes, start: int, end: int, c1, c2, c3, d1, i1, d2, i2: bytes, /)");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]), stop = PyLong_AsSsize_t(args[2]);
    if ((start == -1 || stop == -1) && PyErr_Occurred())
        return NULL;
    if (start < 0 || stop > PyBytes_GET_SIZE(args[0]) || start > stop) {
        PyErr_SetString(PyExc_ValueError, "usage_counts: the span is not inside the body");
        return NULL;
    }
    const char *b = PyBytes_AS_STRING(args[0]);
    const char *end = b + stop;
    const char *p = skip_ws(b + start, end);
    long long out[5] = {-1, -1, -1, -1, -1};
    PyObject *const details[2] = {args[6], args[8]};
    PyObject *const inner[2] = {args[7], args[9]};
    if (p >= end || *p != '{')
        Py_RETURN_NONE;
    p = read_members(p, end, &args[3], 3, details, inner, 2, out);
    if (p == NULL || skip_ws(p, end) != end)
        Py_RETURN_NONE;
    PyObject *counts = PyTuple_New(5);
    if (counts == NULL)
        return NULL;
    for (int i = 0; i < 5; i++) {
        PyObject *n = PyLong_FromLongLong(out[i]);
        if (n == NULL) {
            Py_DECREF(counts);
            return NULL;
        }
        PyTuple_SET_ITEM(counts, i, n);
    }
    return counts;
}

static PyMethodDef methods[] = {
    {"duplicate_top_level_key", duplicate_top_level_key, METH_O,
     "1 when the body's top-level object names a key twice, 0 when not, -1 when it cannot tell."},
    {"top_level_value", (PyCFunction)(void (*)(void))top_level_value, METH_FASTCALL,
     "(start, end) of the last top-level value named key; (0, 0): none; (-1, -1): cannot tell."},
    {"usage_counts", (PyCFunction)(void (*)(void))usage_counts, METH_FASTCALL,
     "The counts of the usage object at body[start:end] (-1: absent or null), or None: cannot tell."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_json_top", "The top level of a JSON object, walked in C.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__json_top(void) { return PyModule_Create(&module_def); }
