/*
 * OTLP fields written in C (ferrogate/observability/otlp_proto.py, otlp_logs.py, otlp_spans.py,
 * otlp_batch.py).
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
 * hex, a value of a type records do not hold): the caller then takes the Python path for that record.
 *
 * batch_messages(data, layout, observed_ns, logs, spans): the same messages for every record
 * of a worker's batch, read straight from its msgpack (ipc.record_summary.RecordBlob.data)
 * with the GIL released: no Python object is made per record. The log records and the spans
 * are appended, framed as ScopeLogs / ScopeSpans items, to ``logs`` and ``spans`` (Items, a
 * buffer kept across export requests; None: not written). Returns the positions of the
 * records left to Python (nothing of theirs is written). The writers behind the three are one:
 * they read a record's values as ``Field``s, made from Python objects or from msgpack.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdlib.h>
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

static char *put_value(char *out, const Value *v, Py_ssize_t any_size) {
    *out++ = (char)KV_VALUE;
    out = put_varint(out, (unsigned long long)any_size);
    *out++ = (char)v->kind;
    switch (v->kind) {
    case ANY_STRING:
        out = put_varint(out, (unsigned long long)v->text_len);
        memcpy(out, v->text, (size_t)v->text_len);
        return out + v->text_len;
    case ANY_DOUBLE: { /* IEEE 754 bits, little-endian as protobuf's fixed64 (no Python call: the batch writer runs without the GIL) */
        unsigned long long bits;
        memcpy(&bits, &v->real, 8);
        for (int i = 0; i < 8; i++)
            out[i] = (char)(bits >> (8 * i));
        return out + 8;
    }
    default: /* ANY_BOOL, ANY_INT */
        return put_varint(out, v->number);
    }
}

/* ---------------------------------------------------------------- buffers and values */

/* A growing output buffer: most messages fit the inline space. malloc, not PyMem: the batch
 * writer runs without the GIL. A failed growth returns -1 with no exception set (the caller
 * raises MemoryError once it holds the GIL). */
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
        free(b->data);
}

static int buf_room(Buf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap)
        return 0;
    Py_ssize_t cap = b->cap * 2;
    while (cap < b->len + extra)
        cap *= 2;
    int inline_data = b->data == b->inline_space;
    char *data = inline_data ? malloc((size_t)cap) : realloc(b->data, (size_t)cap);
    if (data == NULL)
        return -1;
    if (inline_data)
        memcpy(data, b->data, (size_t)b->len);
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
static int put_attribute(Buf *b, unsigned char tag, const char *key, Py_ssize_t key_len, const Value *v) {
    if (v->kind == 0)
        return 0;
    Py_ssize_t size = any_size(v);
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
    b->len = out - b->data;
    return 0;
}

/* Results of the readers and writers below: done, the Python path's case, or a failure (an
 * exception set, or out of memory). */
enum { READ_OK = 1, READ_PYTHON = 0, READ_ERROR = -1 };

/* Bail out of a writer: a failed write (-1), or a reader's result other than READ_OK. */
#define TRY(call)                                                                                                    \
    do {                                                                                                             \
        if ((call) < 0)                                                                                              \
            return READ_ERROR;                                                                                       \
    } while (0)
#define READ(call)                                                                                                   \
    do {                                                                                                             \
        int r_ = (call);                                                                                             \
        if (r_ != READ_OK)                                                                                           \
            return r_;                                                                                               \
    } while (0)

/* One value of a record, read from a Python object or straight from msgpack: the writers
 * below take either. An int beyond int64, bytes, a map... are F_OTHER: the Python path's. */
enum { F_NONE, F_BOOL, F_INT, F_FLOAT, F_STR, F_ARRAY, F_TUPLE, F_OTHER };
typedef struct {
    int type;
    long long i;     /* F_BOOL (0 or 1), F_INT */
    double d;        /* F_FLOAT */
    const char *s;   /* F_STR: its UTF-8; F_ARRAY: its first element's msgpack */
    Py_ssize_t n;    /* F_STR: bytes; F_ARRAY: elements */
    const char *end; /* F_ARRAY: the end of the buffer it is in */
    PyObject *obj;   /* F_TUPLE: the tuple (a record's attempt log, from Python) */
} Field;

/* The field of a Python value; -1 with an exception for a str UTF-8 cannot encode. The
 * field borrows from ``o``, which must outlive it. */
static int field_of(PyObject *o, Field *f) {
    memset(f, 0, sizeof *f);
    if (o == Py_None) {
        f->type = F_NONE;
    } else if (PyUnicode_Check(o)) {
        f->type = F_STR;
        f->s = PyUnicode_AsUTF8AndSize(o, &f->n);
        if (f->s == NULL)
            return -1;
    } else if (PyBool_Check(o)) { /* before int: a bool is an int */
        f->type = F_BOOL;
        f->i = o == Py_True;
    } else if (PyLong_Check(o)) {
        int overflow = 0;
        f->i = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (f->i == -1 && PyErr_Occurred())
            return -1;
        f->type = overflow ? F_OTHER : F_INT;
    } else if (PyFloat_Check(o)) {
        f->type = F_FLOAT;
        f->d = PyFloat_AS_DOUBLE(o);
    } else if (PyTuple_Check(o)) {
        f->type = F_TUPLE;
        f->obj = o;
    } else {
        f->type = F_OTHER;
    }
    return 0;
}

/* A field as an attribute's AnyValue (kind 0: None, no attribute). */
static int value_of(const Field *f, Value *v) {
    switch (f->type) {
    case F_NONE:
        v->kind = 0;
        return READ_OK;
    case F_STR:
        v->kind = ANY_STRING;
        v->text = f->s;
        v->text_len = f->n;
        return READ_OK;
    case F_BOOL:
        v->kind = ANY_BOOL;
        v->number = (unsigned long long)f->i;
        return READ_OK;
    case F_INT:
        v->kind = ANY_INT;
        v->number = (unsigned long long)f->i;
        return READ_OK;
    case F_FLOAT:
        v->kind = ANY_DOUBLE;
        v->real = f->d;
        return READ_OK;
    default:
        return READ_PYTHON;
    }
}

/* ---------------------------------------------------------------- key_values */

/* A Python value as an AnyValue for key_values (kind 0: None); its body's size, tag included.
 * -1 with an exception for one it cannot write: an int beyond int64 (OverflowError, as
 * protobuf's int64 cannot hold it), a type records do not hold (TypeError). */
static Py_ssize_t read_value(PyObject *obj, Value *v) {
    Field f;
    if (field_of(obj, &f) < 0)
        return -1;
    if (value_of(&f, v) != READ_OK) {
        if (PyLong_Check(obj))
            PyErr_SetString(PyExc_OverflowError, "key_values(): an int beyond int64");
        else
            PyErr_Format(PyExc_TypeError, "key_values() cannot write a %.100s attribute", Py_TYPE(obj)->tp_name);
        return -1;
    }
    return v->kind ? any_size(v) : 0;
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
    }
    if (out != PyBytes_AS_STRING(result) + total) { /* cannot happen: the sizes above are the writes' */
        Py_DECREF(result);
        PyErr_SetString(PyExc_SystemError, "key_values(): size mismatch");
        return NULL;
    }
    return result;
}


/* ---------------------------------------------------------------- whole messages */

/* The attribute ``key`` of a field (none for None). */
static int put_attr(Buf *b, unsigned char tag, const char *key, Py_ssize_t key_len, const Field *f) {
    Value v;
    READ(value_of(f, &v));
    TRY(put_attribute(b, tag, key, key_len, &v));
    return READ_OK;
}

/* An attribute named ``key`` whose value is the message's field ``field``. */
typedef struct {
    const char *key;
    Py_ssize_t key_len;
    int field;
} Attribute;
#define ATTR(key, field) {key, (Py_ssize_t)sizeof(key) - 1, field}
#define LIT(key) key, (Py_ssize_t)sizeof(key) - 1 /* a literal key and its length */

/* The attributes of ``table`` (``n`` of them) in order, from the message's fields ``f``. */
static int put_attrs(Buf *b, unsigned char tag, const Attribute *table, size_t n, const Field *const *f) {
    for (size_t i = 0; i < n; i++)
        READ(put_attr(b, tag, table[i].key, table[i].key_len, f[table[i].field]));
    return READ_OK;
}

#define COUNT(table) (sizeof(table) / sizeof(table[0]))

static int put_text(Buf *b, unsigned char tag, const char *key, Py_ssize_t key_len, const char *text, Py_ssize_t n) {
    Value v = {ANY_STRING, text, n, 0, 0.0};
    return put_attribute(b, tag, key, key_len, &v);
}

static int put_double(Buf *b, unsigned char tag, const char *key, Py_ssize_t key_len, double x) {
    Value v = {ANY_DOUBLE, NULL, 0, 0, x};
    return put_attribute(b, tag, key, key_len, &v);
}

static int read_double(const Field *f, double *out) {
    if (f->type != F_FLOAT || !isfinite(f->d))
        return READ_PYTHON;
    *out = f->d;
    return READ_OK;
}

static int read_ll(const Field *f, long long *out) {
    if (f->type != F_INT)
        return READ_PYTHON;
    *out = f->i;
    return READ_OK;
}

/* Python's truth of the field's value, for the types records hold. */
static int read_truth(const Field *f, int *out) {
    switch (f->type) {
    case F_NONE:
        *out = 0;
        return READ_OK;
    case F_BOOL:
    case F_INT:
        *out = f->i != 0;
        return READ_OK;
    case F_STR:
        *out = f->n > 0;
        return READ_OK;
    default:
        return READ_PYTHON;
    }
}

/* otlp_logs.millis: a duration in ms, to the microsecond (half to even, as Python's round). */
static int millis(const Field *f, double *out) {
    double x;
    READ(read_double(f, &x));
    double scaled = nearbyint(x * 1000.0);
    if (!isfinite(scaled))
        return READ_PYTHON;
    *out = scaled / 1000.0;
    return READ_OK;
}

/* ``v``'s decimal digits (at least ``width`` of them, zero-padded) written backwards to
 * ``end``; returns where they start. */
static char *digits(char *end, unsigned long long v, int width) {
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
        width--;
    } while (v || width > 0);
    return end;
}

/* request_records.usd: pico-USD as an exact decimal string of dollars; negative ones are Python's. */
static int usd(const Field *f, char *text, Py_ssize_t *n) {
    long long pico;
    READ(read_ll(f, &pico));
    if (pico < 0)
        return READ_PYTHON;
    unsigned long long dollars = (unsigned long long)pico / 1000000000000ULL;
    unsigned long long fraction = (unsigned long long)pico % 1000000000000ULL;
    char scratch[40], *end = scratch + sizeof scratch, *start = end;
    if (fraction) {
        int width = 12;
        for (; fraction % 10 == 0; fraction /= 10)
            width--; /* "0.5", not "0.500000000000" */
        start = digits(end, fraction, width);
        *--start = '.';
    }
    start = digits(start, dollars, 1);
    *n = end - start;
    memcpy(text, start, (size_t)*n);
    return READ_OK;
}

/* Each byte's hex digit value, or -1: a table, not branches (ids are random hex, and the
 * branches of a digit-or-letter test mispredict half the time). */
static const signed char HEX[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
    ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
}; /* the value + 1: 0 is not a digit */

/* bytes.fromhex of a plain hex id (at most 32 bytes); anything else is Python's. */
static int read_id(const Field *f, unsigned char *out, Py_ssize_t *n) {
    if (f->type != F_STR || f->n % 2 || f->n > 64)
        return READ_PYTHON;
    const unsigned char *hex = (const unsigned char *)f->s;
    int bad = 0;
    for (Py_ssize_t i = 0; i < f->n; i += 2) {
        int hi = HEX[hex[i]], lo = HEX[hex[i + 1]];
        bad |= !hi | !lo;
        out[i / 2] = (unsigned char)((hi - 1) << 4 | (lo - 1));
    }
    if (bad)
        return READ_PYTHON;
    *n = f->n / 2;
    return READ_OK;
}

/* log_record's fields, in the order otlp_logs.LOG_INDEX gives them. */
enum {
    L_AT, L_DURATION, L_STATUS, L_OPERATION, L_PATH, L_ATTEMPTS, L_STREAM, L_CACHE_HIT, L_KEY_ID, L_TENANT,
    L_PROFILE_ID, L_MODEL, L_PROVIDER, L_PROVIDER_MODEL, L_ERROR_CODE, L_ERROR_SOURCE, L_CACHE, L_USAGE_SOURCE,
    L_REQUEST_ID, L_EVENT_ID, L_OVERHEAD, L_COST, L_TTFT, L_INPUT, L_OUTPUT, L_CACHED, L_REASONING, L_SAVED,
    L_TRACE_ID, L_SPAN_ID, L_SAMPLED, L_COUNT
};
#define L_EXTRAS 2 /* operation, path: not the record's fields */

/* The log's attributes taken as they are, in the order they are written. */
static const Attribute LOG_SHARED[] = {
    ATTR("gen_ai.operation.name", L_OPERATION), ATTR("url.path", L_PATH), ATTR("http.response.status_code", L_STATUS),
    ATTR("ferrogate.attempts", L_ATTEMPTS), ATTR("ferrogate.stream", L_STREAM), ATTR("ferrogate.cache_hit", L_CACHE_HIT),
    ATTR("ferrogate.key_id", L_KEY_ID), ATTR("ferrogate.tenant", L_TENANT), ATTR("ferrogate.profile_id", L_PROFILE_ID),
    ATTR("gen_ai.request.model", L_MODEL), ATTR("gen_ai.provider.name", L_PROVIDER),
    ATTR("gen_ai.response.model", L_PROVIDER_MODEL), ATTR("error.type", L_ERROR_CODE),
    ATTR("ferrogate.error_source", L_ERROR_SOURCE), ATTR("ferrogate.cache", L_CACHE), ATTR("ferrogate.usage_source", L_USAGE_SOURCE),
    ATTR("ferrogate.request_id", L_REQUEST_ID), ATTR("ferrogate.event_id", L_EVENT_ID),
};
static const Attribute LOG_TOKENS[] = {
    ATTR("gen_ai.usage.input_tokens", L_INPUT), ATTR("gen_ai.usage.output_tokens", L_OUTPUT),
    ATTR("ferrogate.usage.cached_tokens", L_CACHED), ATTR("ferrogate.usage.reasoning_tokens", L_REASONING),
};

#define LOG_ATTRIBUTE 0x32 /* LogRecord.attributes (6) */
static const char EVENT[] = "ferrogate.request";

static int write_log(Buf *b, const Field *const *f, unsigned long long observed_ns) {
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
    READ(put_attrs(b, LOG_ATTRIBUTE, LOG_SHARED, COUNT(LOG_SHARED), f));
    READ(millis(f[L_DURATION], &duration));
    TRY(put_double(b, LOG_ATTRIBUTE, LIT("ferrogate.duration_ms"), duration));
    READ(millis(f[L_OVERHEAD], &overhead));
    TRY(put_double(b, LOG_ATTRIBUTE, LIT("ferrogate.overhead_ms"), overhead));
    char text[40];
    Py_ssize_t text_len;
    READ(usd(f[L_COST], text, &text_len));
    TRY(put_text(b, LOG_ATTRIBUTE, LIT("ferrogate.cost_usd"), text, text_len));
    if (f[L_TTFT]->type != F_NONE) {
        READ(millis(f[L_TTFT], &ttft));
        TRY(put_double(b, LOG_ATTRIBUTE, LIT("ferrogate.ttft_ms"), ttft));
    }
    if (f[L_USAGE_SOURCE]->type != F_NONE)
        READ(put_attrs(b, LOG_ATTRIBUTE, LOG_TOKENS, COUNT(LOG_TOKENS), f));
    int saved;
    READ(read_truth(f[L_SAVED], &saved));
    if (saved) {
        READ(usd(f[L_SAVED], text, &text_len));
        TRY(put_text(b, LOG_ATTRIBUTE, LIT("ferrogate.saved_cost_usd"), text, text_len));
    }
    if (f[L_TRACE_ID]->type != F_NONE && f[L_SPAN_ID]->type != F_NONE) {
        unsigned char trace[32], span[32];
        Py_ssize_t trace_len, span_len;
        int sampled;
        READ(read_id(f[L_TRACE_ID], trace, &trace_len));
        READ(read_id(f[L_SPAN_ID], span, &span_len));
        READ(read_truth(f[L_SAMPLED], &sampled));
        if (sampled)
            TRY(put(b, "\x45\x01\x00\x00\x00", 5)); /* flags (8, fixed32): sampled */
        TRY(put_field(b, 0x4a, (const char *)trace, trace_len));
        TRY(put_field(b, 0x52, (const char *)span, span_len));
    }
    TRY(put_fixed64(b, 0x59, observed_ns)); /* observed_time_unix_nano (11) */
    return READ_OK;
}

/* request_spans' fields, in the order otlp_spans.SPAN_INDEX gives them. */
enum {
    S_TRACE_ID, S_SPAN_ID, S_PARENT, S_AT, S_DURATION, S_OPERATION, S_PATH, S_MODEL, S_PROVIDER, S_PROVIDER_MODEL,
    S_KEY_ID, S_TENANT, S_ERROR_CODE, S_STATUS, S_ATTEMPTS, S_CACHE_HIT, S_STREAM, S_IS_TOOL, S_REQUEST_ID,
    S_USAGE_SOURCE, S_INPUT, S_OUTPUT, S_ATTEMPT_LOG, S_SAMPLED, S_COUNT
};
#define S_EXTRAS 3 /* operation, path, is_tool */

#define SPAN_ATTRIBUTE 0x4a /* Span.attributes (9) */

/* A request span's attributes after its operation and method, in the order they are written. */
static const Attribute SPAN_SHARED[] = {
    ATTR("http.response.status_code", S_STATUS), ATTR("url.path", S_PATH), ATTR("ferrogate.attempts", S_ATTEMPTS),
    ATTR("ferrogate.cache_hit", S_CACHE_HIT), ATTR("ferrogate.stream", S_STREAM), ATTR("gen_ai.request.model", S_MODEL),
    ATTR("gen_ai.provider.name", S_PROVIDER), ATTR("gen_ai.response.model", S_PROVIDER_MODEL),
    ATTR("ferrogate.key_id", S_KEY_ID), ATTR("ferrogate.tenant", S_TENANT), ATTR("error.type", S_ERROR_CODE),
};
static const Attribute SPAN_TOKENS[] = {
    ATTR("gen_ai.usage.input_tokens", S_INPUT), ATTR("gen_ai.usage.output_tokens", S_OUTPUT),
};
static const char STATUS_UNSET[] = "\x7a\x00";      /* status (15): empty */
static const char STATUS_ERROR[] = "\x7a\x02\x18\x02"; /* status (15): code (3) = ERROR */
static const char LOCAL_PARENT[] = "\x85\x01\x00\x01\x00\x00"; /* flags (16, fixed32): 0x100 */
static const char REMOTE_PARENT[] = "\x85\x01\x00\x03\x00\x00"; /* 0x300 */

/* A span's name: the operation, and a space and the model when there is one. */
static int put_name(Buf *b, const Field *operation, const Field *model) {
    if (operation->type != F_STR || (model != NULL && model->type != F_STR))
        return READ_PYTHON;
    Py_ssize_t n = operation->n + (model != NULL ? 1 + model->n : 0);
    TRY(buf_room(b, 11 + n));
    char *out = b->data + b->len;
    *out++ = 0x2a; /* name (5) */
    out = put_varint(out, (unsigned long long)n);
    memcpy(out, operation->s, (size_t)operation->n);
    out += operation->n;
    if (model != NULL) {
        *out++ = ' ';
        memcpy(out, model->s, (size_t)model->n);
        out += model->n;
    }
    b->len = out - b->data;
    return READ_OK;
}

/* ``start`` + int(millis * 1e6), as Python adds them; the Python path's case when not a
 * non-negative time. */
static int after(long long start, const Field *millis, long long *out) {
    double ms;
    READ(read_double(millis, &ms));
    double ns = ms * 1e6;
    if (!(ns > -4e18 && ns < 4e18))
        return READ_PYTHON;
    *out = start + (long long)ns;
    return *out < 0 ? READ_PYTHON : READ_OK;
}

/* start_time_unix_nano (7) and end_time_unix_nano (8): ``start`` and ``start`` + the duration. */
static int put_times(Buf *b, long long start, const Field *duration_ms) {
    long long end;
    READ(after(start, duration_ms, &end));
    TRY(put_fixed64(b, 0x39, (unsigned long long)start));
    TRY(put_fixed64(b, 0x41, (unsigned long long)end));
    return READ_OK;
}

/* ipc.request_records.AttemptRecord's fields, in its order. */
enum { A_PROVIDER, A_PROVIDER_MODEL, A_START, A_DURATION, A_STATUS, A_ERROR_KIND, A_SPAN_ID, A_COUNT };

/* An attempt's span (nothing for one without a span id), in the request's trace with the
 * request's span as its parent. */
static int write_attempt(Buf *b, const Field *a, const Field *operation, const unsigned char *trace,
                         Py_ssize_t trace_len, const unsigned char *me, Py_ssize_t me_len, long long start) {
    if (a[A_SPAN_ID].type == F_NONE)
        return READ_OK;
    unsigned char id[32];
    Py_ssize_t id_len;
    long long status, begin;
    READ(read_id(&a[A_SPAN_ID], id, &id_len));
    READ(after(start, &a[A_START], &begin));
    READ(read_ll(&a[A_STATUS], &status));
    TRY(put_field(b, 0x0a, (const char *)trace, trace_len));
    TRY(put_field(b, 0x12, (const char *)id, id_len));
    TRY(put_field(b, 0x22, (const char *)me, me_len));
    READ(put_name(b, operation, &a[A_PROVIDER_MODEL]));
    TRY(put(b, "\x30\x03", 2)); /* kind (6): CLIENT */
    READ(put_attr(b, SPAN_ATTRIBUTE, LIT("gen_ai.operation.name"), operation));
    READ(put_attr(b, SPAN_ATTRIBUTE, LIT("gen_ai.provider.name"), &a[A_PROVIDER]));
    READ(put_attr(b, SPAN_ATTRIBUTE, LIT("gen_ai.request.model"), &a[A_PROVIDER_MODEL]));
    TRY(put_text(b, SPAN_ATTRIBUTE, LIT("http.request.method"), "POST", 4));
    if (status)
        READ(put_attr(b, SPAN_ATTRIBUTE, LIT("http.response.status_code"), &a[A_STATUS]));
    READ(put_attr(b, SPAN_ATTRIBUTE, LIT("error.type"), &a[A_ERROR_KIND]));
    TRY(a[A_ERROR_KIND].type == F_NONE ? put(b, STATUS_UNSET, 2) : put(b, STATUS_ERROR, 4));
    TRY(put(b, LOCAL_PARENT, 6));
    return put_times(b, begin, &a[A_DURATION]);
}

/* Interned attribute names of ipc.request_records.AttemptRecord, in its order, made at import. */
static PyObject *ATTEMPT_NAMES[A_COUNT];

/* An attempt's fields from an AttemptRecord (with the GIL). The fields borrow from the
 * attempt, which holds the values. */
static int attempt_of(PyObject *attempt, Field *a) {
    for (int k = 0; k < A_COUNT; k++) {
        PyObject *value = PyObject_GetAttr(attempt, ATTEMPT_NAMES[k]);
        if (value == NULL)
            return READ_ERROR;
        int r = field_of(value, &a[k]);
        Py_DECREF(value); /* the attempt keeps it alive */
        if (r < 0)
            return READ_ERROR;
    }
    return READ_OK;
}

#define ITEM_TAG 0x12 /* field 2, length-delimited: ScopeLogs.log_records and ScopeSpans.spans */

/* Start an item in ``out``: its tag, and room for a length of two bytes (what a record's
 * message needs); returns where its message starts, -1 when out of memory. */
static Py_ssize_t item_begin(Buf *out) {
    if (buf_room(out, 3) < 0)
        return -1;
    out->data[out->len] = (char)ITEM_TAG;
    out->len += 3;
    return out->len;
}

/* Write the length of the item whose message starts at ``body``, moving the message when
 * its length takes other than two bytes. */
static int item_end(Buf *out, Py_ssize_t body) {
    Py_ssize_t n = out->len - body, width = varint_size((unsigned long long)n);
    if (width != 2) {
        if (width > 2 && buf_room(out, width - 2) < 0)
            return -1;
        memmove(out->data + body + width - 2, out->data + body, (size_t)n);
        out->len += width - 2;
    }
    put_varint(out->data + body - 2, (unsigned long long)n);
    return 0;
}

/* Where a writer puts each span: framed items of a batch's buffer, or (``list`` set) each
 * span written alone to ``buf`` and appended to the list as bytes. */
typedef struct {
    Buf *buf;
    PyObject *list;
    Py_ssize_t count, body;
} SpanSink;

static int span_begin(SpanSink *sink) {
    if (sink->list != NULL) {
        sink->buf->len = sink->body = 0;
        return 0;
    }
    sink->body = item_begin(sink->buf);
    return sink->body < 0 ? -1 : 0;
}

/* The span begun is done; one with nothing written (an attempt without a span id) is none. */
static int span_end(SpanSink *sink) {
    Buf *b = sink->buf;
    if (b->len == sink->body) {
        if (sink->list == NULL)
            b->len -= 3; /* its tag and length */
        return READ_OK;
    }
    if (sink->list != NULL) {
        PyObject *span = PyBytes_FromStringAndSize(b->data, b->len);
        if (span == NULL)
            return READ_ERROR;
        int r = PyList_Append(sink->list, span);
        Py_DECREF(span);
        if (r < 0)
            return READ_ERROR;
    } else {
        TRY(item_end(b, sink->body));
    }
    sink->count++;
    return READ_OK;
}

typedef struct {
    const unsigned char *p, *end;
} Reader;

static int read_array_header(Reader *r, unsigned long long *n);
static int read_field(Reader *r, Field *f, int depth);

/* The request's span, then its attempts' spans, each handed to ``out`` as it is written;
 * nothing for a record without trace ids or whose trace was not sampled. */
static int write_spans(SpanSink *sink, const Field *const *f) {
    int sampled;
    if (f[S_TRACE_ID]->type == F_NONE || f[S_SPAN_ID]->type == F_NONE)
        return READ_OK;
    READ(read_truth(f[S_SAMPLED], &sampled));
    if (!sampled)
        return READ_OK;
    unsigned char trace[32], me[32], parent[32];
    Py_ssize_t trace_len, me_len, parent_len = 0;
    double at;
    long long status;
    int has_model;
    const Field *attempts = f[S_ATTEMPT_LOG];
    READ(read_id(f[S_TRACE_ID], trace, &trace_len));
    READ(read_id(f[S_SPAN_ID], me, &me_len));
    if (f[S_PARENT]->type != F_NONE)
        READ(read_id(f[S_PARENT], parent, &parent_len));
    READ(read_double(f[S_AT], &at));
    READ(read_ll(f[S_STATUS], &status));
    READ(read_truth(f[S_MODEL], &has_model));
    double start_ns = at * 1e9;
    if (!(start_ns >= 0.0 && start_ns < 9e18) || (attempts->type != F_TUPLE && attempts->type != F_ARRAY))
        return READ_PYTHON;
    long long start = (long long)start_ns;
    Buf *b = sink->buf;
    TRY(span_begin(sink));
    TRY(put_field(b, 0x0a, (const char *)trace, trace_len));
    TRY(put_field(b, 0x12, (const char *)me, me_len));
    if (f[S_PARENT]->type != F_NONE)
        TRY(put_field(b, 0x22, (const char *)parent, parent_len));
    READ(put_name(b, f[S_OPERATION], has_model ? f[S_MODEL] : NULL));
    TRY(put(b, "\x30\x02", 2)); /* kind (6): SERVER */
    READ(put_attr(b, SPAN_ATTRIBUTE, LIT("gen_ai.operation.name"), f[S_OPERATION]));
    TRY(put_text(b, SPAN_ATTRIBUTE, LIT("http.request.method"), "POST", 4));
    READ(put_attrs(b, SPAN_ATTRIBUTE, SPAN_SHARED, COUNT(SPAN_SHARED), f));
    if (f[S_IS_TOOL]->type == F_BOOL && f[S_IS_TOOL]->i && f[S_MODEL]->type != F_NONE)
        READ(put_attr(b, SPAN_ATTRIBUTE, LIT("gen_ai.tool.name"), f[S_MODEL]));
    TRY(status >= 500 || status == 0 ? put(b, STATUS_ERROR, 4) : put(b, STATUS_UNSET, 2));
    READ(put_times(b, start, f[S_DURATION]));
    READ(put_attr(b, SPAN_ATTRIBUTE, LIT("ferrogate.request_id"), f[S_REQUEST_ID]));
    if (f[S_USAGE_SOURCE]->type != F_NONE)
        READ(put_attrs(b, SPAN_ATTRIBUTE, SPAN_TOKENS, COUNT(SPAN_TOKENS), f));
    TRY(put(b, f[S_PARENT]->type == F_NONE ? LOCAL_PARENT : REMOTE_PARENT, 6));
    READ(span_end(sink));
    Py_ssize_t count = attempts->type == F_TUPLE ? PyTuple_GET_SIZE(attempts->obj) : attempts->n;
    Reader items = {(const unsigned char *)attempts->s, (const unsigned char *)attempts->end};
    for (Py_ssize_t i = 0; i < count; i++) {
        Field a[A_COUNT];
        if (attempts->type == F_TUPLE) {
            READ(attempt_of(PyTuple_GET_ITEM(attempts->obj, i), a));
        } else { /* msgpack, already read through once: only an attempt of another shape is refused */
            unsigned long long n;
            if (read_array_header(&items, &n) != 1 || n != A_COUNT)
                return READ_PYTHON;
            for (int k = 0; k < A_COUNT; k++)
                if (read_field(&items, &a[k], 3) < 0)
                    return READ_PYTHON;
        }
        TRY(span_begin(sink));
        READ(write_attempt(b, a, f[S_OPERATION], trace, trace_len, me, me_len, start));
        READ(span_end(sink));
    }
    return READ_OK;
}

/* ---------------------------------------------------------------- Python records */

static PyObject *finish(Buf *b, int r) {
    if (r == READ_ERROR && !PyErr_Occurred())
        PyErr_NoMemory();
    PyObject *out = r == READ_ERROR ? NULL : r == READ_PYTHON ? Py_NewRef(Py_None) : PyBytes_FromStringAndSize(b->data, b->len);
    buf_free(b);
    return out;
}

/* A message's fields, in the writer's order: ``index[k]`` is the position of field k in
 * ``values`` (the record as msgspec.structs.astuple gives it), or -1 for one the caller passes
 * apart (``extras``, in order). */
static int gather(PyObject *values, PyObject *index, PyObject *const *extras, Py_ssize_t n_extras,
                  Field *store, const Field **f, Py_ssize_t count) {
    if (!PyTuple_Check(values) || !PyTuple_Check(index) || PyTuple_GET_SIZE(index) != count) {
        PyErr_SetString(PyExc_TypeError, "expected (values: tuple, index: tuple of the writer's field count, ...)");
        return -1;
    }
    Py_ssize_t size = PyTuple_GET_SIZE(values), extra = 0;
    for (Py_ssize_t k = 0; k < count; k++) {
        Py_ssize_t at = PyLong_AsSsize_t(PyTuple_GET_ITEM(index, k));
        if (at == -1 && PyErr_Occurred())
            return -1;
        PyObject *value;
        if (at < 0) {
            if (extra >= n_extras)
                break;
            value = extras[extra++];
        } else if (at < size) {
            value = PyTuple_GET_ITEM(values, at);
        } else {
            break;
        }
        if (field_of(value, &store[k]) < 0)
            return -1;
        f[k] = &store[k];
        if (k == count - 1 && extra == n_extras)
            return 0;
    }
    PyErr_SetString(PyExc_ValueError, "an index out of the record's fields, or extras that do not match");
    return -1;
}

static PyObject *log_record(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    Field store[L_COUNT];
    const Field *f[L_COUNT];
    if (nargs != 5 || !PyLong_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "log_record(values, index, operation, path, observed_ns: int)");
        return NULL;
    }
    if (gather(args[0], args[1], args + 2, L_EXTRAS, store, f, L_COUNT) < 0)
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

static PyObject *request_spans(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    Field store[S_COUNT];
    const Field *f[S_COUNT];
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "request_spans(values, index, operation, path, is_tool)");
        return NULL;
    }
    if (gather(args[0], args[1], args + 2, S_EXTRAS, store, f, S_COUNT) < 0)
        return NULL;
    PyObject *spans = PyList_New(0);
    if (spans == NULL)
        return NULL;
    Buf b;
    buf_init(&b);
    SpanSink sink = {&b, spans, 0, 0};
    int r = write_spans(&sink, f);
    buf_free(&b);
    if (r == READ_OK)
        return spans;
    Py_DECREF(spans);
    if (r == READ_PYTHON)
        Py_RETURN_NONE;
    if (!PyErr_Occurred())
        PyErr_NoMemory();
    return NULL;
}

/* ---------------------------------------------------------------- msgpack batches */

/* Strict UTF-8, as Python decodes it (msgspec's decoder would refuse the batch otherwise):
 * no overlong forms, no surrogates, nothing past U+10FFFF. */
static int utf8_valid(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned long long word;
        if (n - i >= 8) { /* eight ASCII bytes at a time */
            memcpy(&word, s + i, 8);
            if (!(word & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int len;
        unsigned int cp, least;
        if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, least = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, least = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, least = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (int k = 1; k < len; k++) {
            unsigned char d = s[i + k];
            if ((d & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (d & 0x3f);
        }
        if (cp < least || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

/* ``n`` bytes of the buffer, or NULL when it ends first. */
static const unsigned char *take(Reader *r, unsigned long long n) {
    if ((unsigned long long)(r->end - r->p) < n)
        return NULL;
    const unsigned char *at = r->p;
    r->p += n;
    return at;
}

static unsigned long long big_endian(const unsigned char *p, int n) {
    unsigned long long v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* 1 and the element count for an array's header, 0 (nothing read) for another value, -1 when
 * the buffer ends first. */
static int read_array_header(Reader *r, unsigned long long *n) {
    if (r->p >= r->end)
        return -1;
    unsigned char tag = *r->p;
    int size = (tag & 0xf0) == 0x90 ? 0 : tag == 0xdc ? 2 : tag == 0xdd ? 4 : -1;
    if (size < 0)
        return 0;
    const unsigned char *at = take(r, 1 + (unsigned long long)size);
    if (at == NULL)
        return -1;
    *n = size ? big_endian(at + 1, size) : (unsigned long long)(tag & 0x0f);
    return 1;
}

#define MAX_DEPTH 32

static int skip_items(Reader *r, unsigned long long n, int depth) {
    if (n > (unsigned long long)(r->end - r->p)) /* each item takes a byte at least */
        return -1;
    Field ignored;
    for (unsigned long long i = 0; i < n; i++)
        if (read_field(r, &ignored, depth + 1) < 0)
            return -1;
    return 0;
}

static int read_str(Reader *r, unsigned long long n, Field *f) {
    const unsigned char *s = take(r, n);
    if (s == NULL || !utf8_valid(s, (Py_ssize_t)n))
        return -1;
    f->type = F_STR;
    f->s = (const char *)s;
    f->n = (Py_ssize_t)n;
    return 0;
}

/* One msgpack value into ``f``; an array's elements are read through (checked, and its start
 * kept). -1 for bytes that are not msgpack, a string that is not UTF-8, or nesting deeper
 * than records go. */
static int read_field(Reader *r, Field *f, int depth) {
    if (depth > MAX_DEPTH)
        return -1;
    const unsigned char *q = take(r, 1);
    if (q == NULL)
        return -1;
    unsigned char tag = *q;
    f->type = F_OTHER;
    if (tag <= 0x7f || tag >= 0xe0) { /* positive and negative fixint */
        f->type = F_INT;
        f->i = (signed char)tag;
        if (tag <= 0x7f)
            f->i = tag;
        return 0;
    }
    if ((tag & 0xe0) == 0xa0)
        return read_str(r, tag & 0x1f, f);
    if ((tag & 0xf0) == 0x90 || tag == 0xdc || tag == 0xdd) {
        unsigned long long n;
        r->p--;
        if (read_array_header(r, &n) != 1)
            return -1;
        f->type = F_ARRAY;
        f->s = (const char *)r->p;
        f->n = (Py_ssize_t)n;
        f->end = (const char *)r->end;
        return skip_items(r, n, depth);
    }
    if ((tag & 0xf0) == 0x80)
        return skip_items(r, 2ULL * (tag & 0x0f), depth); /* fixmap */
    switch (tag) {
    case 0xc0:
        f->type = F_NONE;
        return 0;
    case 0xc2:
    case 0xc3:
        f->type = F_BOOL;
        f->i = tag == 0xc3;
        return 0;
    case 0xcc: case 0xcd: case 0xce: case 0xcf: { /* uint 8-64 */
        int n = 1 << (tag - 0xcc);
        if ((q = take(r, (unsigned long long)n)) == NULL)
            return -1;
        unsigned long long v = big_endian(q, n);
        if (v <= (unsigned long long)LLONG_MAX) {
            f->type = F_INT;
            f->i = (long long)v;
        }
        return 0;
    }
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: { /* int 8-64 */
        int n = 1 << (tag - 0xd0);
        if ((q = take(r, (unsigned long long)n)) == NULL)
            return -1;
        unsigned long long v = big_endian(q, n);
        if (n < 8) {
            unsigned long long sign = 1ULL << (8 * n - 1);
            v = (v ^ sign) - sign;
        }
        f->type = F_INT;
        f->i = (long long)v;
        return 0;
    }
    case 0xca: { /* float32 */
        if ((q = take(r, 4)) == NULL)
            return -1;
        unsigned int bits = (unsigned int)big_endian(q, 4);
        float x;
        memcpy(&x, &bits, 4);
        f->type = F_FLOAT;
        f->d = x;
        return 0;
    }
    case 0xcb: { /* float64 */
        if ((q = take(r, 8)) == NULL)
            return -1;
        unsigned long long bits = big_endian(q, 8);
        f->type = F_FLOAT;
        memcpy(&f->d, &bits, 8);
        return 0;
    }
    case 0xd9: case 0xda: case 0xdb: { /* str 8-32 */
        int n = 1 << (tag - 0xd9);
        if ((q = take(r, (unsigned long long)n)) == NULL)
            return -1;
        return read_str(r, big_endian(q, n), f);
    }
    case 0xde: case 0xdf: { /* map 16, 32 */
        int n = tag == 0xde ? 2 : 4;
        if ((q = take(r, (unsigned long long)n)) == NULL)
            return -1;
        return skip_items(r, 2 * big_endian(q, n), depth);
    }
    case 0xc4: case 0xc5: case 0xc6: { /* bin 8-32 */
        int n = 1 << (tag - 0xc4);
        if ((q = take(r, (unsigned long long)n)) == NULL)
            return -1;
        return take(r, big_endian(q, n)) == NULL ? -1 : 0;
    }
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: /* fixext 1-16: a type byte and the data */
        return take(r, 1 + (1ULL << (tag - 0xd4))) == NULL ? -1 : 0;
    case 0xc7: case 0xc8: case 0xc9: { /* ext 8-32 */
        int n = 1 << (tag - 0xc7);
        if ((q = take(r, (unsigned long long)n)) == NULL)
            return -1;
        return take(r, 1 + big_endian(q, n)) == NULL ? -1 : 0;
    }
    default: /* 0xc1: never used */
        return -1;
    }
}

/* The record layout a batch is read with (otlp_batch.LAYOUT): where each field a writer reads
 * sits in a record, and each endpoint's operation and path. Its text borrows from the
 * layout's strings, which the caller keeps alive. */
#define MAX_RECORD_FIELDS 64
#define MAX_OPERATIONS 16

typedef struct {
    const char *s;
    Py_ssize_t n;
} Text;

typedef struct {
    Py_ssize_t field_count, endpoint_at;
    Py_ssize_t log_index[L_COUNT], span_index[S_COUNT];
    Py_ssize_t n_operations;
    Text endpoint[MAX_OPERATIONS], operation[MAX_OPERATIONS], path[MAX_OPERATIONS];
    Text tool; /* the endpoint of MCP tool calls */
} Layout;

static int text_of(PyObject *o, Text *t) {
    if (!PyUnicode_Check(o)) {
        PyErr_SetString(PyExc_TypeError, "layout: text expected");
        return -1;
    }
    t->s = PyUnicode_AsUTF8AndSize(o, &t->n);
    return t->s == NULL ? -1 : 0;
}

/* ``index`` (a tuple of ``count`` positions, ``extras`` of them -1) into ``out``. */
static int index_of(PyObject *index, Py_ssize_t count, Py_ssize_t extras, Py_ssize_t field_count, Py_ssize_t *out) {
    if (!PyTuple_Check(index) || PyTuple_GET_SIZE(index) != count) {
        PyErr_SetString(PyExc_ValueError, "layout: an index of the writer's field count expected");
        return -1;
    }
    Py_ssize_t apart = 0;
    for (Py_ssize_t k = 0; k < count; k++) {
        out[k] = PyLong_AsSsize_t(PyTuple_GET_ITEM(index, k));
        if (out[k] == -1 && PyErr_Occurred())
            return -1;
        if (out[k] < -1 || out[k] >= field_count) {
            PyErr_SetString(PyExc_ValueError, "layout: an index out of the record's fields");
            return -1;
        }
        apart += out[k] == -1;
    }
    if (apart != extras) {
        PyErr_SetString(PyExc_ValueError, "layout: the index does not leave the writer's extras apart");
        return -1;
    }
    return 0;
}

/* layout = (field_count, log_index, span_index, endpoint_at, ((endpoint, operation, path), ...), tool_endpoint) */
static int layout_of(PyObject *o, Layout *lay) {
    if (!PyTuple_Check(o) || PyTuple_GET_SIZE(o) != 6) {
        PyErr_SetString(PyExc_TypeError, "layout: a tuple of 6 expected");
        return -1;
    }
    lay->field_count = PyLong_AsSsize_t(PyTuple_GET_ITEM(o, 0));
    lay->endpoint_at = PyLong_AsSsize_t(PyTuple_GET_ITEM(o, 3));
    if (PyErr_Occurred())
        return -1;
    if (lay->field_count < 1 || lay->field_count > MAX_RECORD_FIELDS || lay->endpoint_at < 0 ||
        lay->endpoint_at >= lay->field_count) {
        PyErr_SetString(PyExc_ValueError, "layout: field count or endpoint position out of range");
        return -1;
    }
    if (index_of(PyTuple_GET_ITEM(o, 1), L_COUNT, L_EXTRAS, lay->field_count, lay->log_index) < 0 ||
        index_of(PyTuple_GET_ITEM(o, 2), S_COUNT, S_EXTRAS, lay->field_count, lay->span_index) < 0)
        return -1;
    PyObject *operations = PyTuple_GET_ITEM(o, 4);
    if (!PyTuple_Check(operations) || PyTuple_GET_SIZE(operations) > MAX_OPERATIONS) {
        PyErr_SetString(PyExc_ValueError, "layout: at most 16 operations expected");
        return -1;
    }
    lay->n_operations = PyTuple_GET_SIZE(operations);
    for (Py_ssize_t i = 0; i < lay->n_operations; i++) {
        PyObject *op = PyTuple_GET_ITEM(operations, i);
        if (!PyTuple_Check(op) || PyTuple_GET_SIZE(op) != 3) {
            PyErr_SetString(PyExc_TypeError, "layout: operations are (endpoint, operation, path)");
            return -1;
        }
        if (text_of(PyTuple_GET_ITEM(op, 0), &lay->endpoint[i]) < 0 ||
            text_of(PyTuple_GET_ITEM(op, 1), &lay->operation[i]) < 0 ||
            text_of(PyTuple_GET_ITEM(op, 2), &lay->path[i]) < 0)
            return -1;
    }
    return text_of(PyTuple_GET_ITEM(o, 5), &lay->tool);
}

static int same_text(const Field *f, const Text *t) {
    return f->n == t->n && memcmp(f->s, t->s, (size_t)t->n) == 0;
}

/* What a batch writes: ScopeLogs.log_records and ScopeSpans.spans items (ITEM_TAG, each
 * framed with its length) appended to ``logs`` and ``spans`` (NULL: that signal is not
 * exported), and the records left to the Python writers. */
typedef struct {
    Buf *logs, *spans;
    Py_ssize_t n_logs, n_spans;
    Py_ssize_t *left;
    Py_ssize_t n_left, cap_left;
} Batch;

/* ``index``'s fields of a record (``extras`` in place of the -1 positions). */
static void pick(const Py_ssize_t *index, Py_ssize_t count, const Field *record, const Field *const *extras,
                 const Field **f) {
    for (Py_ssize_t k = 0, extra = 0; k < count; k++)
        f[k] = index[k] >= 0 ? &record[index[k]] : extras[extra++];
}

/* One record's log record and spans into the batch, or nothing at all when it is left to Python. */
static int write_record(const Layout *lay, const Field *record, unsigned long long observed_ns, Batch *batch) {
    const Field *endpoint = &record[lay->endpoint_at];
    if (endpoint->type != F_STR)
        return READ_PYTHON;
    Field operation = {.type = F_STR, .s = endpoint->s, .n = endpoint->n}; /* otlp_spans.OPERATIONS' default */
    Field path = {.type = F_STR, .s = "", .n = 0};
    Field is_tool = {.type = F_BOOL, .i = same_text(endpoint, &lay->tool)};
    for (Py_ssize_t i = 0; i < lay->n_operations; i++) {
        if (same_text(endpoint, &lay->endpoint[i])) {
            operation.s = lay->operation[i].s, operation.n = lay->operation[i].n;
            path.s = lay->path[i].s, path.n = lay->path[i].n;
            break;
        }
    }
    const Field *const extras[S_EXTRAS] = {&operation, &path, &is_tool};
    Buf *logs = batch->logs, *spans = batch->spans;
    Py_ssize_t logs_len = logs ? logs->len : 0, spans_len = spans ? spans->len : 0;
    int r = READ_OK;
    if (logs != NULL) {
        const Field *f[L_COUNT];
        pick(lay->log_index, L_COUNT, record, extras, f);
        Py_ssize_t body = item_begin(logs);
        r = body < 0 ? READ_ERROR : write_log(logs, f, observed_ns);
        if (r == READ_OK && item_end(logs, body) < 0)
            r = READ_ERROR;
    }
    SpanSink sink = {spans, NULL, 0, 0};
    if (r == READ_OK && spans != NULL) {
        const Field *f[S_COUNT];
        pick(lay->span_index, S_COUNT, record, extras, f);
        r = write_spans(&sink, f);
    }
    if (r != READ_OK) { /* undo this record's part */
        if (logs != NULL)
            logs->len = logs_len;
        if (spans != NULL)
            spans->len = spans_len;
        return r;
    }
    batch->n_logs += logs != NULL;
    batch->n_spans += sink.count;
    return READ_OK;
}

static int leave(Batch *batch, Py_ssize_t i) {
    if (batch->n_left == batch->cap_left) {
        Py_ssize_t cap = batch->cap_left ? batch->cap_left * 2 : 16;
        Py_ssize_t *left = realloc(batch->left, (size_t)cap * sizeof *left);
        if (left == NULL)
            return -1;
        batch->left = left;
        batch->cap_left = cap;
    }
    batch->left[batch->n_left++] = i;
    return 0;
}

enum { BATCH_OK = 0, BATCH_MEMORY = -1, BATCH_BAD = -2 };

/* Every record of a msgpack array of records (touching no Python object: run without the GIL). */
static int write_batch(const Layout *lay, const unsigned char *data, Py_ssize_t size, unsigned long long observed_ns,
                       Batch *batch) {
    Reader r = {data, data + size};
    unsigned long long count;
    if (read_array_header(&r, &count) != 1)
        return BATCH_BAD;
    int result = BATCH_OK;
    for (unsigned long long i = 0; i < count && result == BATCH_OK; i++) {
        Field record[MAX_RECORD_FIELDS];
        const unsigned char *at = r.p;
        unsigned long long n;
        int is_array = read_array_header(&r, &n), written = READ_PYTHON;
        if (is_array < 0) {
            result = BATCH_BAD;
        } else if (is_array && n == (unsigned long long)lay->field_count) {
            for (unsigned long long k = 0; k < n && result == BATCH_OK; k++)
                if (read_field(&r, &record[k], 2) < 0)
                    result = BATCH_BAD;
            if (result == BATCH_OK)
                written = write_record(lay, record, observed_ns, batch);
        } else { /* another shape (an older or newer worker's record): Python's, read past */
            Field ignored;
            r.p = at;
            if (read_field(&r, &ignored, 1) < 0)
                result = BATCH_BAD;
        }
        if (result == BATCH_OK && (written == READ_ERROR || (written == READ_PYTHON && leave(batch, (Py_ssize_t)i) < 0)))
            result = BATCH_MEMORY;
    }
    if (result == BATCH_OK && r.p != r.end)
        result = BATCH_BAD;
    return result;
}

/* ---------------------------------------------------------------- items waiting for export */

/* Framed items of one signal waiting for their export request: a buffer kept, with its
 * capacity, from one request to the next, so a busy exporter does not map and fault in
 * fresh pages for every batch. ``busy`` while a batch is written into it without the GIL. */
typedef struct {
    PyObject_HEAD
    Buf buf;
    Py_ssize_t count;
    int busy;
} Items;

static PyTypeObject ItemsType;

static PyObject *items_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    if (PyTuple_GET_SIZE(args) || (kwargs != NULL && PyDict_GET_SIZE(kwargs))) {
        PyErr_SetString(PyExc_TypeError, "Items() takes no arguments");
        return NULL;
    }
    Items *self = (Items *)type->tp_alloc(type, 0);
    if (self != NULL)
        buf_init(&self->buf);
    return (PyObject *)self;
}

static void items_dealloc(Items *self) {
    buf_free(&self->buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int items_ready(Items *self) {
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Items: a batch is being written into it");
        return -1;
    }
    return 0;
}

/* add(chunk, count): items framed elsewhere (the Python writers'). */
static PyObject *items_add(Items *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyBytes_Check(args[0]) || !PyLong_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "add(chunk: bytes, count: int)");
        return NULL;
    }
    Py_ssize_t count = PyLong_AsSsize_t(args[1]);
    if (count == -1 && PyErr_Occurred())
        return NULL;
    if (items_ready(self) < 0)
        return NULL;
    if (put(&self->buf, PyBytes_AS_STRING(args[0]), PyBytes_GET_SIZE(args[0])) < 0)
        return PyErr_NoMemory();
    self->count += count;
    Py_RETURN_NONE;
}

/* take(head, tail): head + the items + tail, as one bytes (an export request around them,
 * otlp_proto.export_envelope); the items are then gone, the capacity kept. */
static PyObject *items_take(Items *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "take(head: bytes, tail: bytes)");
        return NULL;
    }
    if (items_ready(self) < 0)
        return NULL;
    Py_ssize_t head = PyBytes_GET_SIZE(args[0]), tail = PyBytes_GET_SIZE(args[1]);
    PyObject *out = PyBytes_FromStringAndSize(NULL, head + self->buf.len + tail);
    if (out == NULL)
        return NULL;
    char *at = PyBytes_AS_STRING(out);
    memcpy(at, PyBytes_AS_STRING(args[0]), (size_t)head);
    memcpy(at + head, self->buf.data, (size_t)self->buf.len);
    memcpy(at + head + self->buf.len, PyBytes_AS_STRING(args[1]), (size_t)tail);
    self->buf.len = 0;
    self->count = 0;
    return out;
}

static PyObject *items_count(Items *self, void *closure) {
    (void)closure;
    return PyLong_FromSsize_t(self->count);
}

static PyObject *items_size(Items *self, void *closure) {
    (void)closure;
    return PyLong_FromSsize_t(self->buf.len);
}

static PyMethodDef items_methods[] = {
    {"add", (PyCFunction)(void (*)(void))items_add, METH_FASTCALL, "Append items framed elsewhere, and their count."},
    {"take", (PyCFunction)(void (*)(void))items_take, METH_FASTCALL,
     "head + the items + tail as one bytes; the items are then gone."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef items_getset[] = {
    {"count", (getter)items_count, NULL, "Items waiting.", NULL},
    {"size", (getter)items_size, NULL, "Their bytes, framed.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ItemsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ferrogate.observability._otlp_fields.Items",
    .tp_basicsize = sizeof(Items),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Framed OTLP items of one signal waiting for their export request.",
    .tp_new = items_new,
    .tp_dealloc = (destructor)items_dealloc,
    .tp_methods = items_methods,
    .tp_getset = items_getset,
};

/* The Items an argument names, or NULL for None (that signal is not written); -1 when it is neither. */
static int items_arg(PyObject *arg, Items **out) {
    if (arg == Py_None) {
        *out = NULL;
        return 0;
    }
    if (!PyObject_TypeCheck(arg, &ItemsType)) {
        PyErr_SetString(PyExc_TypeError, "batch_messages(): logs and spans are Items or None");
        return -1;
    }
    *out = (Items *)arg;
    return items_ready(*out);
}

static PyObject *left_list(const Batch *batch) {
    PyObject *left = PyList_New(batch->n_left);
    if (left == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < batch->n_left; i++) {
        PyObject *n = PyLong_FromSsize_t(batch->left[i]);
        if (n == NULL) {
            Py_DECREF(left);
            return NULL;
        }
        PyList_SET_ITEM(left, i, n);
    }
    return left;
}

static PyObject *batch_messages(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 5 || !PyBytes_Check(args[0]) || !PyLong_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "batch_messages(data: bytes, layout, observed_ns: int, logs, spans)");
        return NULL;
    }
    Layout lay;
    Items *logs, *spans;
    if (layout_of(args[1], &lay) < 0 || items_arg(args[3], &logs) < 0 || items_arg(args[4], &spans) < 0)
        return NULL;
    if (logs != NULL && logs == spans) {
        PyErr_SetString(PyExc_ValueError, "batch_messages(): logs and spans in one Items");
        return NULL;
    }
    unsigned long long observed = PyLong_AsUnsignedLongLong(args[2]);
    if (observed == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
    Batch batch;
    memset(&batch, 0, sizeof batch);
    batch.logs = logs ? &logs->buf : NULL;
    batch.spans = spans ? &spans->buf : NULL;
    Py_ssize_t logs_len = logs ? logs->buf.len : 0, spans_len = spans ? spans->buf.len : 0;
    int result;
    if (logs)
        logs->busy = 1;
    if (spans)
        spans->busy = 1;
    Py_BEGIN_ALLOW_THREADS /* the bytes object is immutable and the caller holds it and the Items */
    result = write_batch(&lay, data, size, observed, &batch);
    Py_END_ALLOW_THREADS
    if (logs)
        logs->busy = 0;
    if (spans)
        spans->busy = 0;
    PyObject *out = NULL;
    if (result == BATCH_OK)
        out = left_list(&batch);
    if (out == NULL) { /* nothing of a batch refused is kept */
        if (logs)
            logs->buf.len = logs_len;
        if (spans)
            spans->buf.len = spans_len;
        if (result == BATCH_BAD)
            PyErr_SetString(PyExc_ValueError, "batch_messages(): not a msgpack array of records");
        else if (result == BATCH_MEMORY)
            PyErr_NoMemory();
    } else {
        if (logs)
            logs->count += batch.n_logs;
        if (spans)
            spans->count += batch.n_spans;
    }
    free(batch.left);
    return out;
}

static PyMethodDef methods[] = {
    {"key_values", (PyCFunction)(void (*)(void))key_values, METH_FASTCALL,
     "The KeyValue fields of the keys whose values are not None, each tagged with prefix."},
    {"log_record", (PyCFunction)(void (*)(void))log_record, METH_FASTCALL,
     "A request's LogRecord message body, or None for the Python writer."},
    {"request_spans", (PyCFunction)(void (*)(void))request_spans, METH_FASTCALL,
     "A request's Span and its attempts' Spans, or None for the Python writer."},
    {"batch_messages", (PyCFunction)(void (*)(void))batch_messages, METH_FASTCALL,
     "Append a msgpack batch of records' log records and spans to Items; the records left to Python."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_otlp_fields", "OTLP fields and messages written in one pass.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__otlp_fields(void) {
    static const char *const names[A_COUNT] = {"provider", "provider_model", "start_ms", "duration_ms",
                                               "status", "error_kind", "span_id"};
    for (int k = 0; k < A_COUNT; k++) {
        ATTEMPT_NAMES[k] = PyUnicode_InternFromString(names[k]);
        if (ATTEMPT_NAMES[k] == NULL)
            return NULL;
    }
    if (PyType_Ready(&ItemsType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL)
        return NULL;
    if (PyModule_AddObjectRef(module, "Items", (PyObject *)&ItemsType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
