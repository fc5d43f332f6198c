/*
 * OTLP fields written in C (ferrogate/observability/otlp_proto.py, otlp_logs.py, otlp_spans.py).
 *
 * The control process writes a log record and two spans for every request the workers
 * serve, about forty attributes in all. In Python each attribute is a handful of small
 * bytes objects joined together (~0.2 us each); here a message is sized and written in
 * place. Python keeps the same writers (the fallback when this is not built, and the
 * oracle the tests hold this to, byte for byte).
 *
 * key_values(prefix, keys, values) -> bytes: for each key with a value that is not
 * None, ``prefix`` (the repeated field's tag), the KeyValue's length, the key (its
 * field already written, from otlp_proto.key_prefix) and the value as an AnyValue:
 * str -> string_value, bool -> bool_value, int -> int_value (int64, a negative one
 * as ten bytes of two's complement), float -> double_value.
 *
 * log_record(values, index, operation, path, observed_ns) and request_spans(values, index,
 * operation, path, is_tool): a whole LogRecord, and a request's Span with its attempts'
 * Spans, from the record's fields (``values``: msgspec.structs.astuple(record); ``index``:
 * where each field the writer reads sits in it, from otlp_logs.py / otlp_spans.py). None when a value is one the Python writer
 * handles differently (a negative cost, a time out of range, an id that is not plain
 * hex): the caller then takes the Python path for that record.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

enum { ANY_STRING = 0x0a, ANY_BOOL = 0x10, ANY_INT = 0x18, ANY_DOUBLE = 0x21, KV_VALUE = 0x12 };

static Py_ssize_t varint_size(unsigned long long v) {
    Py_ssize_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static char *put_varint(char *out, unsigned long long v) {
    while (v >= 0x80) {
        *out++ = (char)((v & 0x7f) | 0x80);
        v >>= 7;
    }
    *out++ = (char)v;
    return out;
}

/* One value, as the caller needs it to size and write its AnyValue. */
typedef struct {
    int kind; /* 0: skip (None) or one of ANY_* */
    const char *text;
    Py_ssize_t text_len;
    unsigned long long number; /* an int's varint, a bool's 0/1 */
    double real;
} Value;

/* The AnyValue body's size (tag included); -1 with an exception set for a value it cannot write. */
static Py_ssize_t read_value(PyObject *obj, Value *v) {
    if (obj == Py_None) {
        v->kind = 0;
        return 0;
    }
    if (PyUnicode_Check(obj)) {
        v->kind = ANY_STRING;
        v->text = PyUnicode_AsUTF8AndSize(obj, &v->text_len);
        if (v->text == NULL)
            return -1;
        return 1 + varint_size((unsigned long long)v->text_len) + v->text_len;
    }
    if (PyBool_Check(obj)) { /* before int: a bool is an int */
        v->kind = ANY_BOOL;
        v->number = obj == Py_True;
        return 2;
    }
    if (PyLong_Check(obj)) {
        long long n = PyLong_AsLongLong(obj);
        if (n == -1 && PyErr_Occurred())
            return -1; /* OverflowError: protobuf's int64 cannot hold it */
        v->kind = ANY_INT;
        v->number = (unsigned long long)n;
        return 1 + varint_size(v->number);
    }
    if (PyFloat_Check(obj)) {
        v->kind = ANY_DOUBLE;
        v->real = PyFloat_AS_DOUBLE(obj);
        return 9;
    }
    PyErr_Format(PyExc_TypeError, "key_values() cannot write a %.100s attribute", Py_TYPE(obj)->tp_name);
    return -1;
}

static char *put_value(char *out, const Value *v, Py_ssize_t any_size) {
    *out++ = (char)KV_VALUE;
    out = put_varint(out, (unsigned long long)any_size);
    *out++ = (char)v->kind;
    switch (v->kind) {
    case ANY_STRING:
        out = put_varint(out, (unsigned long long)v->text_len);
        memcpy(out, v->text, (size_t)v->text_len);
        return out + v->text_len;
    case ANY_DOUBLE: {
        unsigned char raw[8];
        if (PyFloat_Pack8(v->real, (char *)raw, 1) < 0) /* little-endian, as protobuf's fixed64 */
            return NULL;
        memcpy(out, raw, 8);
        return out + 8;
    }
    default: /* ANY_BOOL, ANY_INT */
        return put_varint(out, v->number);
    }
}

#define MAX_ITEMS 64 /* values read on the stack; more on the heap */

static PyObject *write_fields(PyObject *prefix, PyObject *keys, PyObject *values, Py_ssize_t count, Value *read,
                              Py_ssize_t *any_sizes);

static PyObject *key_values(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 3 || !PyBytes_Check(args[0]) || !PyTuple_Check(args[1]) || !PyTuple_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "key_values(prefix: bytes, keys: tuple, values: tuple)");
        return NULL;
    }
    PyObject *keys = args[1], *values = args[2];
    Py_ssize_t count = PyTuple_GET_SIZE(keys);
    if (PyTuple_GET_SIZE(values) != count) {
        PyErr_SetString(PyExc_ValueError, "key_values(): as many values as keys");
        return NULL;
    }
    Value on_stack[MAX_ITEMS];
    Py_ssize_t sizes_on_stack[MAX_ITEMS];
    Value *read = on_stack;
    Py_ssize_t *any_sizes = sizes_on_stack;
    if (count > MAX_ITEMS) { /* the exporter's calls never are; anyone else's may be */
        read = PyMem_New(Value, (size_t)count);
        any_sizes = PyMem_New(Py_ssize_t, (size_t)count);
        if (read == NULL || any_sizes == NULL) {
            PyMem_Free(read);
            PyMem_Free(any_sizes);
            return PyErr_NoMemory();
        }
    }
    PyObject *result = write_fields(args[0], keys, values, count, read, any_sizes);
    if (read != on_stack) {
        PyMem_Free(read);
        PyMem_Free(any_sizes);
    }
    return result;
}

static PyObject *write_fields(PyObject *prefix, PyObject *keys, PyObject *values, Py_ssize_t count, Value *read,
                              Py_ssize_t *any_sizes) {
    Py_ssize_t prefix_len = PyBytes_GET_SIZE(prefix);
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *key = PyTuple_GET_ITEM(keys, i);
        if (!PyBytes_Check(key)) {
            PyErr_SetString(PyExc_TypeError, "key_values(): keys are bytes (otlp_proto.key_prefix)");
            return NULL;
        }
        Py_ssize_t any_size = read_value(PyTuple_GET_ITEM(values, i), &read[i]);
        if (any_size < 0)
            return NULL;
        any_sizes[i] = any_size;
        if (read[i].kind == 0)
            continue;
        Py_ssize_t kv = PyBytes_GET_SIZE(key) + 1 + varint_size((unsigned long long)any_size) + any_size;
        total += prefix_len + varint_size((unsigned long long)kv) + kv;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, total);
    if (result == NULL)
        return NULL;
    char *out = PyBytes_AS_STRING(result);
    const char *tag = PyBytes_AS_STRING(prefix);
    for (Py_ssize_t i = 0; i < count; i++) {
        if (read[i].kind == 0)
            continue;
        PyObject *key = PyTuple_GET_ITEM(keys, i);
        Py_ssize_t key_len = PyBytes_GET_SIZE(key), any_size = any_sizes[i];
        Py_ssize_t kv = key_len + 1 + varint_size((unsigned long long)any_size) + any_size;
        memcpy(out, tag, (size_t)prefix_len);
        out = put_varint(out + prefix_len, (unsigned long long)kv);
        memcpy(out, PyBytes_AS_STRING(key), (size_t)key_len);
        out = put_value(out + key_len, &read[i], any_size);
        if (out == NULL) {
            Py_DECREF(result);
            return NULL;
        }
    }
    if (out != PyBytes_AS_STRING(result) + total) { /* cannot happen: the sizes above are the writes' */
        Py_DECREF(result);
        PyErr_SetString(PyExc_SystemError, "key_values(): size mismatch");
        return NULL;
    }
    return result;
}


/* ---------------------------------------------------------------- whole messages */

/* A growing output buffer: most messages fit the inline space. */
typedef struct {
    char *data;
    Py_ssize_t len, cap;
    char inline_space[2048];
} Buf;

static void buf_init(Buf *b) {
    b->data = b->inline_space;
    b->len = 0;
    b->cap = (Py_ssize_t)sizeof b->inline_space;
}

static void buf_free(Buf *b) {
    if (b->data != b->inline_space)
        PyMem_Free(b->data);
}

static int buf_room(Buf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap)
        return 0;
    Py_ssize_t cap = b->cap * 2;
    while (cap < b->len + extra)
        cap *= 2;
    char *data = PyMem_Malloc((size_t)cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(data, b->data, (size_t)b->len);
    buf_free(b);
    b->data = data;
    b->cap = cap;
    return 0;
}

static int put(Buf *b, const void *bytes, Py_ssize_t n) {
    if (buf_room(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, bytes, (size_t)n);
    b->len += n;
    return 0;
}

/* A field of a length-delimited type (tag below 128): tag, length, bytes. */
static int put_field(Buf *b, unsigned char tag, const char *bytes, Py_ssize_t n) {
    if (buf_room(b, 11 + n) < 0)
        return -1;
    char *out = b->data + b->len;
    *out++ = (char)tag;
    out = put_varint(out, (unsigned long long)n);
    memcpy(out, bytes, (size_t)n);
    b->len = (out + n) - b->data;
    return 0;
}

/* A fixed64 field (tag below 128). */
static int put_fixed64(Buf *b, unsigned char tag, unsigned long long v) {
    unsigned char raw[9];
    raw[0] = tag;
    for (int i = 0; i < 8; i++)
        raw[1 + i] = (unsigned char)(v >> (8 * i));
    return put(b, raw, 9);
}

static Py_ssize_t any_size(const Value *v) {
    switch (v->kind) {
    case ANY_STRING:
        return 1 + varint_size((unsigned long long)v->text_len) + v->text_len;
    case ANY_DOUBLE:
        return 9;
    default:
        return 1 + varint_size(v->number);
    }
}

/* A KeyValue field tagged ``tag``; nothing for a value of kind 0 (None). */
static int put_attribute(Buf *b, unsigned char tag, const char *key, const Value *v) {
    if (v->kind == 0)
        return 0;
    Py_ssize_t key_len = (Py_ssize_t)strlen(key), size = any_size(v);
    Py_ssize_t kv = 1 + varint_size((unsigned long long)key_len) + key_len + 1 + varint_size((unsigned long long)size) + size;
    if (buf_room(b, 11 + kv) < 0)
        return -1;
    char *out = b->data + b->len;
    *out++ = (char)tag;
    out = put_varint(out, (unsigned long long)kv);
    *out++ = 0x0a; /* KeyValue.key */
    out = put_varint(out, (unsigned long long)key_len);
    memcpy(out, key, (size_t)key_len);
    out = put_value(out + key_len, v, size);
    if (out == NULL)
        return -1;
    b->len = out - b->data;
    return 0;
}

/* The attribute of a Python value (None: none); -1 with an exception for one it cannot write. */
static int put_object(Buf *b, unsigned char tag, const char *key, PyObject *obj) {
    Value v;
    if (read_value(obj, &v) < 0)
        return -1;
    return put_attribute(b, tag, key, &v);
}

/* An attribute named ``key`` whose value is the message's field ``field``. */
typedef struct {
    const char *key;
    int field;
} Attribute;

/* The attributes of ``table`` (``n`` of them) in order, from the message's fields ``f``. */
static int put_objects(Buf *b, unsigned char tag, const Attribute *table, size_t n, PyObject **f) {
    for (size_t i = 0; i < n; i++)
        if (put_object(b, tag, table[i].key, f[table[i].field]) < 0)
            return -1;
    return 0;
}

#define COUNT(table) (sizeof(table) / sizeof(table[0]))

static int put_text(Buf *b, unsigned char tag, const char *key, const char *text, Py_ssize_t n) {
    Value v = {ANY_STRING, text, n, 0, 0.0};
    return put_attribute(b, tag, key, &v);
}

static int put_double(Buf *b, unsigned char tag, const char *key, double x) {
    Value v = {ANY_DOUBLE, NULL, 0, 0, x};
    return put_attribute(b, tag, key, &v);
}

/* Results of the readers below: the value, the Python path's case, or an exception. */
enum { READ_OK = 1, READ_PYTHON = 0, READ_ERROR = -1 };

static int read_double(PyObject *obj, double *out) {
    if (!PyFloat_Check(obj))
        return READ_PYTHON;
    *out = PyFloat_AS_DOUBLE(obj);
    return isfinite(*out) ? READ_OK : READ_PYTHON;
}

static int read_ll(PyObject *obj, long long *out) {
    if (!PyLong_Check(obj) || PyBool_Check(obj))
        return READ_PYTHON;
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (*out == -1 && PyErr_Occurred())
        return READ_ERROR;
    return overflow ? READ_PYTHON : READ_OK;
}

/* otlp_logs.millis: a duration in ms, to the microsecond (half to even, as Python's round). */
static int millis(PyObject *obj, double *out) {
    double x;
    int r = read_double(obj, &x);
    if (r != READ_OK)
        return r;
    double scaled = nearbyint(x * 1000.0);
    if (!isfinite(scaled))
        return READ_PYTHON;
    *out = scaled / 1000.0;
    return READ_OK;
}

/* request_records.usd: pico-USD as an exact decimal string of dollars; negative ones are Python's. */
static int usd(PyObject *obj, char *text, Py_ssize_t *n) {
    long long pico;
    int r = read_ll(obj, &pico);
    if (r != READ_OK)
        return r;
    if (pico < 0)
        return READ_PYTHON;
    long long dollars = pico / 1000000000000LL, fraction = pico % 1000000000000LL;
    int len = fraction ? snprintf(text, 40, "%lld.%012lld", dollars, fraction) : snprintf(text, 40, "%lld", dollars);
    while (fraction && text[len - 1] == '0')
        len--;
    *n = len;
    return READ_OK;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* bytes.fromhex of a plain hex id (at most 32 bytes); anything else is Python's. */
static int read_id(PyObject *obj, unsigned char *out, Py_ssize_t *n) {
    if (!PyUnicode_Check(obj))
        return READ_PYTHON;
    Py_ssize_t len;
    const char *hex = PyUnicode_AsUTF8AndSize(obj, &len);
    if (hex == NULL)
        return READ_ERROR;
    if (len % 2 || len > 64)
        return READ_PYTHON;
    for (Py_ssize_t i = 0; i < len; i += 2) {
        int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
        if (hi < 0 || lo < 0)
            return READ_PYTHON;
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    *n = len / 2;
    return READ_OK;
}

static PyObject *finish(Buf *b, int r) {
    PyObject *out = r < 0 ? NULL : r == READ_PYTHON ? Py_NewRef(Py_None) : PyBytes_FromStringAndSize(b->data, b->len);
    buf_free(b);
    return out;
}

/* Bail out of a writer: an exception (-1) or the Python path's case (0). */
#define TRY(call)                                                                                                    \
    do {                                                                                                             \
        int r_ = (call);                                                                                             \
        if (r_ < 0)                                                                                                  \
            return READ_ERROR;                                                                                       \
    } while (0)
#define READ(call)                                                                                                   \
    do {                                                                                                             \
        int r_ = (call);                                                                                             \
        if (r_ != READ_OK)                                                                                           \
            return r_;                                                                                               \
    } while (0)

/* A message's fields, in the writer's order: ``index[k]`` is the position of field k in
 * ``values`` (the record as msgspec.structs.astuple gives it), or -1 for one the caller passes
 * apart (``extras``, in order). */
static int gather(PyObject *values, PyObject *index, PyObject *const *extras, Py_ssize_t n_extras,
                  PyObject **f, Py_ssize_t count) {
    if (!PyTuple_Check(values) || !PyTuple_Check(index) || PyTuple_GET_SIZE(index) != count) {
        PyErr_SetString(PyExc_TypeError, "expected (values: tuple, index: tuple of the writer's field count, ...)");
        return -1;
    }
    Py_ssize_t size = PyTuple_GET_SIZE(values), extra = 0;
    for (Py_ssize_t k = 0; k < count; k++) {
        Py_ssize_t at = PyLong_AsSsize_t(PyTuple_GET_ITEM(index, k));
        if (at == -1 && PyErr_Occurred())
            return -1;
        if (at < 0) {
            if (extra >= n_extras)
                break;
            f[k] = extras[extra++];
        } else if (at < size) {
            f[k] = PyTuple_GET_ITEM(values, at);
        } else {
            break;
        }
        if (k == count - 1 && extra == n_extras)
            return 0;
    }
    PyErr_SetString(PyExc_ValueError, "an index out of the record's fields, or extras that do not match");
    return -1;
}

/* log_record's fields, in the order otlp_logs.log_message passes them. */
enum {
    L_AT, L_DURATION, L_STATUS, L_OPERATION, L_PATH, L_ATTEMPTS, L_STREAM, L_CACHE_HIT, L_KEY_ID, L_TENANT,
    L_PROFILE_ID, L_MODEL, L_PROVIDER, L_PROVIDER_MODEL, L_ERROR_CODE, L_ERROR_SOURCE, L_CACHE, L_USAGE_SOURCE,
    L_REQUEST_ID, L_EVENT_ID, L_OVERHEAD, L_COST, L_TTFT, L_INPUT, L_OUTPUT, L_CACHED, L_REASONING, L_SAVED,
    L_TRACE_ID, L_SPAN_ID, L_SAMPLED, L_COUNT
};

/* The log's attributes taken as they are, in the order they are written. */
static const Attribute LOG_SHARED[] = {
    {"gen_ai.operation.name", L_OPERATION}, {"url.path", L_PATH}, {"http.response.status_code", L_STATUS},
    {"ferrogate.attempts", L_ATTEMPTS}, {"ferrogate.stream", L_STREAM}, {"ferrogate.cache_hit", L_CACHE_HIT},
    {"ferrogate.key_id", L_KEY_ID}, {"ferrogate.tenant", L_TENANT}, {"ferrogate.profile_id", L_PROFILE_ID},
    {"gen_ai.request.model", L_MODEL}, {"gen_ai.provider.name", L_PROVIDER},
    {"gen_ai.response.model", L_PROVIDER_MODEL}, {"error.type", L_ERROR_CODE},
    {"ferrogate.error_source", L_ERROR_SOURCE}, {"ferrogate.cache", L_CACHE}, {"ferrogate.usage_source", L_USAGE_SOURCE},
    {"ferrogate.request_id", L_REQUEST_ID}, {"ferrogate.event_id", L_EVENT_ID},
};
static const Attribute LOG_TOKENS[] = {
    {"gen_ai.usage.input_tokens", L_INPUT}, {"gen_ai.usage.output_tokens", L_OUTPUT},
    {"ferrogate.usage.cached_tokens", L_CACHED}, {"ferrogate.usage.reasoning_tokens", L_REASONING},
};

#define LOG_ATTRIBUTE 0x32 /* LogRecord.attributes (6) */
static const char EVENT[] = "ferrogate.request";

static int write_log(Buf *b, PyObject **f, unsigned long long observed_ns) {
    double at, duration, overhead, ttft = 0.0;
    long long status;
    READ(read_double(f[L_AT], &at));
    READ(read_double(f[L_DURATION], &duration));
    READ(read_ll(f[L_STATUS], &status));
    double end_ns = (at + duration / 1000.0) * 1e9;
    if (!(end_ns >= 0.0 && end_ns < 18446744073709551616.0))
        return READ_PYTHON;
    TRY(put_fixed64(b, 0x09, (unsigned long long)end_ns)); /* time_unix_nano (1) */
    /* severity_number (2), severity_text (3), body (5: an AnyValue string), event_name (12) */
    const char *severity = status >= 500 || status == 0 ? "\x10\x11\x1a\x05" "ERROR"
                           : status >= 400             ? "\x10\x0d\x1a\x04" "WARN"
                                                       : "\x10\x09\x1a\x04" "INFO";
    TRY(put(b, severity, (Py_ssize_t)strlen(severity)));
    unsigned char body[2 + sizeof EVENT];
    body[0] = 0x0a;
    body[1] = (unsigned char)(sizeof EVENT - 1);
    memcpy(body + 2, EVENT, sizeof EVENT - 1);
    TRY(put_field(b, 0x2a, (const char *)body, (Py_ssize_t)sizeof EVENT + 1));
    TRY(put_field(b, 0x62, EVENT, (Py_ssize_t)sizeof EVENT - 1));
    TRY(put_objects(b, LOG_ATTRIBUTE, LOG_SHARED, COUNT(LOG_SHARED), f));
    READ(millis(f[L_DURATION], &duration));
    TRY(put_double(b, LOG_ATTRIBUTE, "ferrogate.duration_ms", duration));
    READ(millis(f[L_OVERHEAD], &overhead));
    TRY(put_double(b, LOG_ATTRIBUTE, "ferrogate.overhead_ms", overhead));
    char text[40];
    Py_ssize_t text_len;
    READ(usd(f[L_COST], text, &text_len));
    TRY(put_text(b, LOG_ATTRIBUTE, "ferrogate.cost_usd", text, text_len));
    if (f[L_TTFT] != Py_None) {
        READ(millis(f[L_TTFT], &ttft));
        TRY(put_double(b, LOG_ATTRIBUTE, "ferrogate.ttft_ms", ttft));
    }
    if (f[L_USAGE_SOURCE] != Py_None)
        TRY(put_objects(b, LOG_ATTRIBUTE, LOG_TOKENS, COUNT(LOG_TOKENS), f));
    int saved = PyObject_IsTrue(f[L_SAVED]);
    if (saved < 0)
        return READ_ERROR;
    if (saved) {
        READ(usd(f[L_SAVED], text, &text_len));
        TRY(put_text(b, LOG_ATTRIBUTE, "ferrogate.saved_cost_usd", text, text_len));
    }
    if (f[L_TRACE_ID] != Py_None && f[L_SPAN_ID] != Py_None) {
        unsigned char trace[32], span[32];
        Py_ssize_t trace_len, span_len;
        READ(read_id(f[L_TRACE_ID], trace, &trace_len));
        READ(read_id(f[L_SPAN_ID], span, &span_len));
        int sampled = PyObject_IsTrue(f[L_SAMPLED]);
        if (sampled < 0)
            return READ_ERROR;
        if (sampled)
            TRY(put(b, "\x45\x01\x00\x00\x00", 5)); /* flags (8, fixed32): sampled */
        TRY(put_field(b, 0x4a, (const char *)trace, trace_len));
        TRY(put_field(b, 0x52, (const char *)span, span_len));
    }
    TRY(put_fixed64(b, 0x59, observed_ns)); /* observed_time_unix_nano (11) */
    return READ_OK;
}

static PyObject *log_record(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    PyObject *f[L_COUNT];
    if (nargs != 5 || !PyLong_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "log_record(values, index, operation, path, observed_ns: int)");
        return NULL;
    }
    if (gather(args[0], args[1], args + 2, 2, f, L_COUNT) < 0)
        return NULL;
    unsigned long long observed = PyLong_AsUnsignedLongLong(args[4]);
    if (observed == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    Buf b;
    buf_init(&b);
    return finish(&b, write_log(&b, f, observed));
}

/* request_spans' fields, in the order otlp_spans.span_messages passes them. */
enum {
    S_TRACE_ID, S_SPAN_ID, S_PARENT, S_AT, S_DURATION, S_OPERATION, S_PATH, S_MODEL, S_PROVIDER, S_PROVIDER_MODEL,
    S_KEY_ID, S_TENANT, S_ERROR_CODE, S_STATUS, S_ATTEMPTS, S_CACHE_HIT, S_STREAM, S_IS_TOOL, S_REQUEST_ID,
    S_USAGE_SOURCE, S_INPUT, S_OUTPUT, S_ATTEMPT_LOG, S_COUNT
};

#define SPAN_ATTRIBUTE 0x4a /* Span.attributes (9) */

/* A request span's attributes after its operation and method, in the order they are written. */
static const Attribute SPAN_SHARED[] = {
    {"http.response.status_code", S_STATUS}, {"url.path", S_PATH}, {"ferrogate.attempts", S_ATTEMPTS},
    {"ferrogate.cache_hit", S_CACHE_HIT}, {"ferrogate.stream", S_STREAM}, {"gen_ai.request.model", S_MODEL},
    {"gen_ai.provider.name", S_PROVIDER}, {"gen_ai.response.model", S_PROVIDER_MODEL},
    {"ferrogate.key_id", S_KEY_ID}, {"ferrogate.tenant", S_TENANT}, {"error.type", S_ERROR_CODE},
};
static const Attribute SPAN_TOKENS[] = {
    {"gen_ai.usage.input_tokens", S_INPUT}, {"gen_ai.usage.output_tokens", S_OUTPUT},
};
static const char STATUS_UNSET[] = "\x7a\x00";      /* status (15): empty */
static const char STATUS_ERROR[] = "\x7a\x02\x18\x02"; /* status (15): code (3) = ERROR */
static const char LOCAL_PARENT[] = "\x85\x01\x00\x01\x00\x00"; /* flags (16, fixed32): 0x100 */
static const char REMOTE_PARENT[] = "\x85\x01\x00\x03\x00\x00"; /* 0x300 */

/* Interned attribute names of ipc.request_records.AttemptRecord, made at import. */
static PyObject *A_PROVIDER, *A_PROVIDER_MODEL, *A_START, *A_DURATION, *A_STATUS, *A_ERROR_KIND, *A_SPAN_ID;

/* A span's name: the operation, and a space and the model when there is one. */
static int put_name(Buf *b, PyObject *operation, PyObject *model) {
    Py_ssize_t op_len, model_len = 0;
    const char *op = PyUnicode_AsUTF8AndSize(operation, &op_len), *name = NULL;
    if (op == NULL)
        return -1;
    if (model != NULL) {
        name = PyUnicode_AsUTF8AndSize(model, &model_len);
        if (name == NULL)
            return -1;
    }
    Py_ssize_t n = op_len + (model != NULL ? 1 + model_len : 0);
    if (buf_room(b, 11 + n) < 0)
        return -1;
    char *out = b->data + b->len;
    *out++ = 0x2a; /* name (5) */
    out = put_varint(out, (unsigned long long)n);
    memcpy(out, op, (size_t)op_len);
    out += op_len;
    if (model != NULL) {
        *out++ = ' ';
        memcpy(out, name, (size_t)model_len);
        out += model_len;
    }
    b->len = out - b->data;
    return 0;
}

/* ``start`` + int(millis * 1e6), as Python adds them; the Python path's case when not a
 * non-negative time. */
static int after(long long start, PyObject *millis, long long *out) {
    double ms;
    READ(read_double(millis, &ms));
    double ns = ms * 1e6;
    if (!(ns > -4e18 && ns < 4e18))
        return READ_PYTHON;
    *out = start + (long long)ns;
    return *out < 0 ? READ_PYTHON : READ_OK;
}

/* start_time_unix_nano (7) and end_time_unix_nano (8): ``start`` and ``start`` + the duration. */
static int put_times(Buf *b, long long start, PyObject *duration_ms) {
    long long end;
    READ(after(start, duration_ms, &end));
    TRY(put_fixed64(b, 0x39, (unsigned long long)start));
    TRY(put_fixed64(b, 0x41, (unsigned long long)end));
    return READ_OK;
}

/* An attempt's span from its fields (provider, provider_model, start_ms, duration_ms, status,
 * error_kind, span_id), in the request's trace with the request's span as its parent. */
static int write_attempt_fields(Buf *b, PyObject *const *a, PyObject *operation, const unsigned char *trace,
                                Py_ssize_t trace_len, const unsigned char *me, Py_ssize_t me_len, long long start) {
    unsigned char id[32];
    Py_ssize_t id_len;
    long long status, begin;
    READ(read_id(a[6], id, &id_len));
    READ(after(start, a[2], &begin));
    READ(read_ll(a[4], &status));
    TRY(put_field(b, 0x0a, (const char *)trace, trace_len));
    TRY(put_field(b, 0x12, (const char *)id, id_len));
    TRY(put_field(b, 0x22, (const char *)me, me_len));
    TRY(put_name(b, operation, a[1]));
    TRY(put(b, "\x30\x03", 2)); /* kind (6): CLIENT */
    TRY(put_object(b, SPAN_ATTRIBUTE, "gen_ai.operation.name", operation));
    TRY(put_object(b, SPAN_ATTRIBUTE, "gen_ai.provider.name", a[0]));
    TRY(put_object(b, SPAN_ATTRIBUTE, "gen_ai.request.model", a[1]));
    TRY(put_text(b, SPAN_ATTRIBUTE, "http.request.method", "POST", 4));
    if (status)
        TRY(put_object(b, SPAN_ATTRIBUTE, "http.response.status_code", a[4]));
    TRY(put_object(b, SPAN_ATTRIBUTE, "error.type", a[5]));
    TRY(a[5] == Py_None ? put(b, STATUS_UNSET, 2) : put(b, STATUS_ERROR, 4));
    TRY(put(b, LOCAL_PARENT, 6));
    return put_times(b, begin, a[3]);
}

static int write_attempt(Buf *b, PyObject *attempt, PyObject *const *f, const unsigned char *trace,
                         Py_ssize_t trace_len, const unsigned char *me, Py_ssize_t me_len, long long start) {
    PyObject *values[7] = {NULL};
    PyObject *const names[7] = {A_PROVIDER, A_PROVIDER_MODEL, A_START, A_DURATION, A_STATUS, A_ERROR_KIND, A_SPAN_ID};
    int r = READ_OK;
    for (int i = 0; i < 7 && r == READ_OK; i++) {
        values[i] = PyObject_GetAttr(attempt, names[i]);
        if (values[i] == NULL)
            r = READ_ERROR;
    }
    if (r == READ_OK && values[6] != Py_None)
        r = write_attempt_fields(b, values, f[S_OPERATION], trace, trace_len, me, me_len, start);
    for (int i = 0; i < 7; i++)
        Py_XDECREF(values[i]);
    return r;
}

/* The request's span into ``b``; its attempts' spans appended to ``spans`` as bytes. */
static int write_spans(Buf *b, PyObject **f, PyObject *spans) {
    unsigned char trace[32], me[32], parent[32];
    Py_ssize_t trace_len, me_len, parent_len = 0;
    double at;
    long long status;
    READ(read_id(f[S_TRACE_ID], trace, &trace_len));
    READ(read_id(f[S_SPAN_ID], me, &me_len));
    if (f[S_PARENT] != Py_None)
        READ(read_id(f[S_PARENT], parent, &parent_len));
    READ(read_double(f[S_AT], &at));
    READ(read_ll(f[S_STATUS], &status));
    double start_ns = at * 1e9;
    if (!(start_ns >= 0.0 && start_ns < 9e18) || !PyTuple_Check(f[S_ATTEMPT_LOG]))
        return READ_PYTHON;
    long long start = (long long)start_ns;
    int has_model = PyObject_IsTrue(f[S_MODEL]);
    if (has_model < 0)
        return READ_ERROR;
    TRY(put_field(b, 0x0a, (const char *)trace, trace_len));
    TRY(put_field(b, 0x12, (const char *)me, me_len));
    if (f[S_PARENT] != Py_None)
        TRY(put_field(b, 0x22, (const char *)parent, parent_len));
    TRY(put_name(b, f[S_OPERATION], has_model ? f[S_MODEL] : NULL));
    TRY(put(b, "\x30\x02", 2)); /* kind (6): SERVER */
    TRY(put_object(b, SPAN_ATTRIBUTE, "gen_ai.operation.name", f[S_OPERATION]));
    TRY(put_text(b, SPAN_ATTRIBUTE, "http.request.method", "POST", 4));
    TRY(put_objects(b, SPAN_ATTRIBUTE, SPAN_SHARED, COUNT(SPAN_SHARED), f));
    if (f[S_IS_TOOL] == Py_True && f[S_MODEL] != Py_None)
        TRY(put_object(b, SPAN_ATTRIBUTE, "gen_ai.tool.name", f[S_MODEL]));
    TRY(status >= 500 || status == 0 ? put(b, STATUS_ERROR, 4) : put(b, STATUS_UNSET, 2));
    READ(put_times(b, start, f[S_DURATION]));
    TRY(put_object(b, SPAN_ATTRIBUTE, "ferrogate.request_id", f[S_REQUEST_ID]));
    if (f[S_USAGE_SOURCE] != Py_None)
        TRY(put_objects(b, SPAN_ATTRIBUTE, SPAN_TOKENS, COUNT(SPAN_TOKENS), f));
    TRY(put(b, f[S_PARENT] == Py_None ? LOCAL_PARENT : REMOTE_PARENT, 6));
    PyObject *attempts = f[S_ATTEMPT_LOG];
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(attempts); i++) {
        Buf a;
        buf_init(&a);
        int r = write_attempt(&a, PyTuple_GET_ITEM(attempts, i), f, trace, trace_len, me, me_len, start);
        PyObject *span = r == READ_OK && a.len ? PyBytes_FromStringAndSize(a.data, a.len) : NULL;
        buf_free(&a);
        if (r != READ_OK)
            return r;
        if (span == NULL) {
            if (PyErr_Occurred())
                return READ_ERROR;
            continue; /* an attempt without a span id has no span */
        }
        int added = PyList_Append(spans, span);
        Py_DECREF(span);
        if (added < 0)
            return READ_ERROR;
    }
    return READ_OK;
}

static PyObject *request_spans(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    PyObject *f[S_COUNT];
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "request_spans(values, index, operation, path, is_tool)");
        return NULL;
    }
    if (gather(args[0], args[1], args + 2, 3, f, S_COUNT) < 0)
        return NULL;
    PyObject *attempts = PyList_New(0);
    if (attempts == NULL)
        return NULL;
    Buf b;
    buf_init(&b);
    int r = write_spans(&b, f, attempts);
    PyObject *request = finish(&b, r);
    if (request == NULL || request == Py_None) {
        Py_DECREF(attempts);
        return request;
    }
    if (PyList_Insert(attempts, 0, request) < 0) {
        Py_DECREF(request);
        Py_DECREF(attempts);
        return NULL;
    }
    Py_DECREF(request);
    return attempts;
}

static PyMethodDef methods[] = {
    {"key_values", (PyCFunction)(void (*)(void))key_values, METH_FASTCALL,
     "The KeyValue fields of the keys whose values are not None, each tagged with prefix."},
    {"log_record", (PyCFunction)(void (*)(void))log_record, METH_FASTCALL,
     "A request's LogRecord message body, or None for the Python writer."},
    {"request_spans", (PyCFunction)(void (*)(void))request_spans, METH_FASTCALL,
     "A request's Span and its attempts' Spans, or None for the Python writer."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_otlp_fields", "OTLP fields and messages written in one pass.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__otlp_fields(void) {
    A_PROVIDER = PyUnicode_InternFromString("provider");
    A_PROVIDER_MODEL = PyUnicode_InternFromString("provider_model");
    A_START = PyUnicode_InternFromString("start_ms");
    A_DURATION = PyUnicode_InternFromString("duration_ms");
    A_STATUS = PyUnicode_InternFromString("status");
    A_ERROR_KIND = PyUnicode_InternFromString("error_kind");
    A_SPAN_ID = PyUnicode_InternFromString("span_id");
    if (!A_PROVIDER || !A_PROVIDER_MODEL || !A_START || !A_DURATION || !A_STATUS || !A_ERROR_KIND || !A_SPAN_ID)
        return NULL;
    return PyModule_Create(&module_def);
}
