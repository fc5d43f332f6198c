/*
 * OTLP ``KeyValue`` attribute fields in one C pass (ferrogate/observability/otlp_proto.py).
 *
 * The control process writes about thirty attributes a request into its spans and log
 * record. In Python each one is a handful of small bytes objects joined together
 * (~0.2 us an attribute, more than half of a log record's cost); here a record's
 * attributes are sized, allocated once and written in place.
 *
 * key_values(prefix, keys, values) -> bytes: for each key with a value that is not
 * None, ``prefix`` (the repeated field's tag), the KeyValue's length, the key (its
 * field already written, from otlp_proto.key_prefix) and the value as an AnyValue:
 * str -> string_value, bool -> bool_value, int -> int_value (int64, a negative one
 * as ten bytes of two's complement), float -> double_value. The same bytes as
 * otlp_proto.key_values_py, which the tests hold it to.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
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

static PyMethodDef methods[] = {
    {"key_values", (PyCFunction)(void (*)(void))key_values, METH_FASTCALL,
     "The KeyValue fields of the keys whose values are not None, each tagged with prefix."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_otlp_fields", "OTLP attribute fields written in one pass.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__otlp_fields(void) { return PyModule_Create(&module_def); }
