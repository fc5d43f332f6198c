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

static PyObject *incomplete(void) {
    PyErr_SetString(PyExc_ValueError, "the buffer does not hold a whole head at start");
    return NULL;
}

/* Where the value of the field line whose colon and CR are given lies: without its leading spaces and
 * tabs, and with trim_end (a client's) without its trailing ones. */
static inline void value_span(const char *colon, const char *eol, int trim_end, const char **v, const char **v_end) {
    const char *at = colon + 1, *stop = eol;
    while (at < stop && (*at == ' ' || *at == '\t'))
        at++;
    if (trim_end)
        while (stop > at && (stop[-1] == ' ' || stop[-1] == '\t'))
            stop--;
    *v = at;
    *v_end = stop;
}

/* value_span's bytes, as a new object. */
static PyObject *value_of(const char *colon, const char *eol, int trim_end) {
    const char *v, *v_end;
    value_span(colon, eol, trim_end, &v, &v_end);
    return PyBytes_FromStringAndSize(v, v_end - v);
}

/* The field line at *line (up to end): its colon and CR, and *line moved to the next line.
 * 1; 0 at the blank line (a line that starts with CR); -1 with an exception set when the
 * head ends first or the line has no colon. */
static inline __attribute__((always_inline)) int next_field(const char **line, const char *end, const char **colon,
                                                         const char **eol) {
    const char *p = *line;
    if (p < end && *p == '\r' && end - p >= 2)
        return 0;
    const char *cr = p < end ? memchr(p, '\r', (size_t)(end - p)) : NULL;
    const char *c = cr != NULL ? memchr(p, ':', (size_t)(cr - p)) : NULL;
    if (c == NULL || end - cr < 2) {
        incomplete();
        return -1;
    }
    *colon = c;
    *eol = cr;
    *line = cr + 2;
    return 1;
}

/* The field lines from p (the first byte after the start line's CRLF) to the blank line,
 * appended to out; 0, or -1 with an exception set. */
static int cut_fields(const char *p, const char *end, int trim_end, PyObject *out) {
    const char *line = p, *colon, *eol;
    int more;
    while ((more = next_field(&p, end, &colon, &eol)) > 0) {
        Py_ssize_t name_len = colon - line;
        PyObject *name = PyBytes_FromStringAndSize(NULL, name_len);
        if (name == NULL)
            return -1;
        lower_ascii(PyBytes_AS_STRING(name), line, name_len); /* ASCII, as bytes.lower */
        PyObject *value = value_of(colon, eol, trim_end);
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
        line = p;
    }
    return more;
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

/* The CR that ends the start line at p; NULL with an exception set when there is none. */
static const char *start_line_end(const char *p, const char *end) {
    const char *eol = memchr(p, '\r', (size_t)(end - p));
    if (eol == NULL || end - eol < 2) {
        incomplete();
        return NULL;
    }
    return eol;
}

/* The list of the fields whose lines begin at p; NULL with an exception set. */
static PyObject *fields_list(const char *p, const char *end, int trim_end) {
    PyObject *out = PyList_New(0);
    if (out != NULL && cut_fields(p, end, trim_end, out) < 0)
        Py_CLEAR(out);
    return out;
}

/* response_fields(buf, start, /) -> list[tuple[bytes, bytes]]: the fields of the response
 * head at start. */
static PyObject *response_fields(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    const char *end;
    const char *p = head_at(args, nargs, "response_fields(buf: bytes, start: int, /)", &end);
    const char *eol = p != NULL ? start_line_end(p, end) : NULL; /* the status line's end */
    return eol != NULL ? fields_list(eol + 2, end, 0) : NULL;
}

/* Whether the field name at p (len bytes, any case) is the lowercase name. */
static int name_is(const char *p, Py_ssize_t len, const char *name, Py_ssize_t name_len) {
    if (len != name_len)
        return 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        char c = p[i];
        if (((c >= 'A' && c <= 'Z') ? (char)(c + 32) : c) != name[i])
            return 0;
    }
    return 1;
}

/* A tuple of the n new references in items, which it takes over: NULL, with every one of them
 * dropped, when one is NULL (its exception set) or the tuple cannot be made. Py_BuildValue
 * parses its format string on every call: 700 instructions for a pair. */
static PyObject *tuple_stealing(Py_ssize_t n, PyObject **items) {
    PyObject *tuple = NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        if (items[i] == NULL)
            goto fail;
    tuple = PyTuple_New(n);
    if (tuple == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(tuple, i, items[i]);
    return tuple;
fail:
    for (Py_ssize_t i = 0; i < n; i++)
        Py_XDECREF(items[i]);
    return NULL;
}

/* The methods and versions nearly every request has, made once: a request line's method and
 * version are then a new reference, not a new object (the module is single-phase: one
 * interpreter, made once). */
static PyObject *common_tokens[4];
static const char *const common_token_text[4] = {"GET", "POST", "HTTP/1.1", "HTTP/1.0"};

static PyObject *token_bytes(const char *p, Py_ssize_t len) {
    for (int i = 0; i < 4; i++) {
        PyObject *known = common_tokens[i];
        if (known != NULL && PyBytes_GET_SIZE(known) == len && memcmp(PyBytes_AS_STRING(known), p, (size_t)len) == 0)
            return Py_NewRef(known);
    }
    return PyBytes_FromStringAndSize(p, len);
}

/* The kind of field the server checks the name at p is (any case), or NOT_SPECIAL. */
static int line_kind(const char *p, Py_ssize_t len) {
    switch (len) {
    case 4:
        return name_is(p, len, "host", 4) ? HOST : NOT_SPECIAL;
    case 6:
        return name_is(p, len, "expect", 6) ? EXPECT : NOT_SPECIAL;
    case 14:
        return name_is(p, len, "content-length", 14) ? CONTENT_LENGTH : NOT_SPECIAL;
    case 17:
        return name_is(p, len, "transfer-encoding", 17) ? TRANSFER_ENCODING : NOT_SPECIAL;
    default:
        return NOT_SPECIAL;
    }
}

/* request_head(buf, start, /) -> (method, target, version, fields_at, specials): the request
 * head whose request line is at start. llhttp accepted the line, so its method and target hold
 * no space and the target is everything between the first space and the last; a line with one
 * space (HTTP/0.9) gives an empty version, which the server refuses. fields_at is where the
 * field lines begin (request_fields and field_value read them from there when asked); specials
 * lists the Host, Content-Length, Transfer-Encoding and Expect fields as (kind, value), in
 * order, so the server makes no object for any other field it is not asked about. */
static PyObject *request_head(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    const char *end;
    const char *p = head_at(args, nargs, "request_head(buf: bytes, start: int, /)", &end);
    if (p == NULL)
        return NULL;
    const char *buf = PyBytes_AS_STRING(args[0]);
    const char *eol = start_line_end(p, end);
    if (eol == NULL)
        return NULL;
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
    const char *fields_at = eol + 2;
    PyObject *specials = PyList_New(0);
    if (specials == NULL)
        return NULL;
    const char *line = fields_at, *next = fields_at, *colon, *line_end;
    int more;
    while ((more = next_field(&next, end, &colon, &line_end)) > 0) {
        int kind = line_kind(line, colon - line);
        if (kind != NOT_SPECIAL) {
            PyObject *pair[2] = {PyLong_FromLong(kind), value_of(colon, line_end, 1)};
            PyObject *noted = tuple_stealing(2, pair);
            if (noted == NULL || PyList_Append(specials, noted) < 0) {
                Py_XDECREF(noted);
                Py_DECREF(specials);
                return NULL;
            }
            Py_DECREF(noted);
        }
        line = next;
    }
    if (more < 0) {
        Py_DECREF(specials);
        return NULL;
    }
    PyObject *items[5] = {
        token_bytes(p, method_end - p),
        PyBytes_FromStringAndSize(target, target_end - target),
        token_bytes(version, eol - version),
        PyLong_FromSsize_t(fields_at - buf),
        specials,
    };
    return tuple_stealing(5, items);
}

/* request_fields(buf, fields_at, /) -> list[tuple[bytes, bytes]]: every field of the request
 * head whose field lines begin at fields_at, as the server keeps them (the name lowercased, the
 * value without the spaces and tabs around it). */
static PyObject *request_fields(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    const char *end;
    const char *p = head_at(args, nargs, "request_fields(buf: bytes, fields_at: int, /)", &end);
    return p != NULL ? fields_list(p, end, 1) : NULL;
}

/* field_value(buf, fields_at, name, /) -> bytes | None: the value of the first field called
 * name (given lowercase; matched in any case), as request_fields gives it. */
static PyObject *field_value(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 3 || !PyBytes_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "field_value(buf: bytes, fields_at: int, name: bytes, /)");
        return NULL;
    }
    const char *end;
    const char *line = head_at(args, 2, "field_value(buf: bytes, fields_at: int, name: bytes, /)", &end);
    if (line == NULL)
        return NULL;
    const char *name = PyBytes_AS_STRING(args[2]);
    Py_ssize_t name_len = PyBytes_GET_SIZE(args[2]);
    while (line < end && *line != '\r') {
        /* the name is the line's first name_len bytes when a colon follows them */
        if (end - line > name_len && line[name_len] == ':' && name_is(line, name_len, name, name_len)) {
            const char *line_end = memchr(line, '\r', (size_t)(end - line));
            if (line_end == NULL)
                break;
            return value_of(line + name_len, line_end, 1);
        }
        const char *line_end = memchr(line, '\r', (size_t)(end - line));
        if (line_end == NULL || end - line_end < 2)
            break;
        line = line_end + 2;
    }
    if (line >= end || *line != '\r')
        return incomplete();
    Py_RETURN_NONE;
}

/* The longest name forward_fields can be asked to note or drop. */
#define SPECIAL_NAME_MAX 32

/* Whether the lowercase name at p (len bytes) is one of the lowercase bytes in names (a tuple). */
static int named_in(const char *p, Py_ssize_t len, PyObject *names) {
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        const char *text = PyBytes_AS_STRING(name);
        if (PyBytes_GET_SIZE(name) == len && text[0] == p[0] && memcmp(text, p, (size_t)len) == 0)
            return 1;
    }
    return 0;
}

/* Whether names is a tuple of bytes forward_fields can match; *lengths gets bit n set for each
 * name n bytes long, so that a field whose name has none of their lengths is passed at once. */
static int names_usable(PyObject *names, uint64_t *lengths) {
    if (!PyTuple_CheckExact(names))
        return 0;
    *lengths = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if (!PyBytes_CheckExact(name) || PyBytes_GET_SIZE(name) > SPECIAL_NAME_MAX || PyBytes_GET_SIZE(name) == 0)
            return 0;
        *lengths |= (uint64_t)1 << PyBytes_GET_SIZE(name);
    }
    return 1;
}

/* forward_fields(buf, fields_at, noted, dropped, /) -> (lines, noted fields, host): the fields
 * of the head whose field lines begin at fields_at, as a proxy passes them on, read from its
 * bytes without a list of every field. noted and dropped are tuples of lowercase names: a field
 * named in noted comes back as a (name, value) pair, in order; one named in dropped is left out;
 * every other one is in lines, serialized as request_fields gives it ("name: value\r\n", the
 * name lowercased, the value without the spaces and tabs around it). host is the value of the
 * last Host field in lines, or None. A proxied SDK request carries fifteen fields the proxy only
 * copies: as pairs they cost three objects each, and a join each to write them out again. */
static PyObject *forward_fields(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    const char *usage = "forward_fields(buf: bytes, fields_at: int, noted: tuple[bytes, ...], "
                        "dropped: tuple[bytes, ...], /)";
    uint64_t noted_lengths, dropped_lengths;
    if (nargs != 4 || !names_usable(args[2], &noted_lengths) || !names_usable(args[3], &dropped_lengths)) {
        PyErr_SetString(PyExc_TypeError, usage);
        return NULL;
    }
    PyObject *noted_names = args[2], *dropped_names = args[3];
    const char *end;
    const char *p = head_at(args, 2, usage, &end);
    if (p == NULL)
        return NULL;
    /* A serialized line is at most one byte longer than the line it comes from (": " for a
     * bare ":"); the exact length is set at the end. */
    const char *blank = p;
    Py_ssize_t count = 0;
    while (blank < end && *blank != '\r') {
        const char *eol = memchr(blank, '\r', (size_t)(end - blank));
        if (eol == NULL || end - eol < 2)
            return incomplete();
        blank = eol + 2;
        count++;
    }
    if (end - blank < 2)
        return incomplete();
    /* Written on the stack when the lines fit (a bytes object resized after costs more than
     * the copy), else into a bytes object resized at the end. */
    char stack[2048];
    Py_ssize_t bound = blank - p + count;
    PyObject *lines = bound > (Py_ssize_t)sizeof stack ? PyBytes_FromStringAndSize(NULL, bound) : NULL;
    PyObject *noted = PyList_New(0);
    PyObject *host = NULL;
    if ((lines == NULL && bound > (Py_ssize_t)sizeof stack) || noted == NULL)
        goto fail;
    char *const out = lines != NULL ? PyBytes_AS_STRING(lines) : stack;
    char *w = out;
    const char *line = p, *colon, *eol;
    int more;
    while ((more = next_field(&p, end, &colon, &eol)) > 0) {
        Py_ssize_t name_len = colon - line;
        char lowered[SPECIAL_NAME_MAX]; /* a longer name is neither noted nor dropped */
        if (name_len <= SPECIAL_NAME_MAX && ((noted_lengths | dropped_lengths) >> name_len & 1)) {
            lower_ascii(lowered, line, name_len);
            if ((noted_lengths >> name_len & 1) && named_in(lowered, name_len, noted_names)) {
                PyObject *pair[2] = {PyBytes_FromStringAndSize(lowered, name_len), value_of(colon, eol, 1)};
                PyObject *field = tuple_stealing(2, pair);
                if (field == NULL || PyList_Append(noted, field) < 0) {
                    Py_XDECREF(field);
                    goto fail;
                }
                Py_DECREF(field);
                line = p;
                continue;
            }
            if ((dropped_lengths >> name_len & 1) && named_in(lowered, name_len, dropped_names)) {
                line = p;
                continue;
            }
        }
        const char *v, *v_end;
        value_span(colon, eol, 1, &v, &v_end);
        lower_ascii(w, line, name_len);
        if (name_len == 4 && memcmp(w, "host", 4) == 0) {
            Py_XSETREF(host, PyBytes_FromStringAndSize(v, v_end - v));
            if (host == NULL)
                goto fail;
        }
        w += name_len;
        *w++ = ':';
        *w++ = ' ';
        memcpy(w, v, (size_t)(v_end - v));
        w += v_end - v;
        *w++ = '\r';
        *w++ = '\n';
        line = p;
    }
    if (more < 0)
        goto fail;
    if (lines == NULL)
        lines = PyBytes_FromStringAndSize(stack, w - stack);
    else if (_PyBytes_Resize(&lines, w - out) < 0)
        goto fail;
    if (lines == NULL)
        goto fail;
    PyObject *items[3] = {lines, noted, host != NULL ? host : Py_NewRef(Py_None)};
    return tuple_stealing(3, items);
fail:
    Py_XDECREF(lines);
    Py_XDECREF(noted);
    Py_XDECREF(host);
    return NULL;
}

static PyMethodDef methods[] = {
    {"response_fields", (PyCFunction)(void (*)(void))response_fields, METH_FASTCALL,
     "response_fields(buf, start, /): the (lowercased name, value) pairs of the response head at start."},
    {"request_head", (PyCFunction)(void (*)(void))request_head, METH_FASTCALL,
     "request_head(buf, start, /): (method, target, version, fields_at, specials) of the request head at start."},
    {"request_fields", (PyCFunction)(void (*)(void))request_fields, METH_FASTCALL,
     "request_fields(buf, fields_at, /): the (lowercased name, trimmed value) pairs of a request head."},
    {"field_value", (PyCFunction)(void (*)(void))field_value, METH_FASTCALL,
     "field_value(buf, fields_at, name, /): the trimmed value of the first field called name, or None."},
    {"forward_fields", (PyCFunction)(void (*)(void))forward_fields, METH_FASTCALL,
     "forward_fields(buf, fields_at, noted, dropped, /): (lines, noted fields, host) of a head, as a proxy passes them on."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef head_fields_module = {
    PyModuleDef_HEAD_INIT, "_head_fields", "A message head's fields, cut from its bytes.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__head_fields(void) {
    for (int i = 0; i < 4; i++)
        if (common_tokens[i] == NULL && (common_tokens[i] = PyBytes_FromString(common_token_text[i])) == NULL)
            return NULL;
    return PyModule_Create(&head_fields_module);
}
