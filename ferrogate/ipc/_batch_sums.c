/*
 * A worker's batch of request records summed in C (ferrogate/ipc/usage_sums.py,
 * ferrogate/observability/record_counter.py, ferrogate/observability/otlp_metrics.py).
 *
 * Before a worker sends a batch to the control process it sums it three ways: the usage
 * rows per hour and day, the Prometheus counts per (endpoint, model, provider), and, when
 * OTLP metrics are exported, the GenAI histograms. Compiled Python spent about 10k
 * instructions a record on them (each field read boxes or unboxes an object, each
 * histogram step compares two); here the three cost about 1,700. The Python versions
 * stay: the fallback when this is not built, and the oracle the tests hold these to.
 *
 * Every function takes the batch as the worker reads it (a list of
 * msgspec.structs.astuple(record)) and ``layout``, where each field it reads sits in those
 * tuples (the Python module's indexes). Each returns None, instead of an answer, when a
 * value is one it does not sum exactly as Python would (an int beyond int64, a sum that
 * would overflow, a value of a type records do not hold, a time out of range): the caller
 * then takes the Python path for the whole batch.
 *
 * usage_rows(batch, layout) -> list of usage rows, as usage_sums.sum_usage_py.
 * series_sums(batch, layout, latency_bounds, overhead_bounds) -> (series, verdicts,
 *     saved_any, saved, error_codes, special): what RecordCounter.observe_fields_py adds,
 *     before the labels are resolved (RecordCounter.observe_fields folds it).
 * genai_sums(batch, layout, bounds) -> list of GenAI increments, as GenAiBatch.observe_fields_py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>
#include <structmember.h>

#define MAX_BOUNDS 32
#define MAX_LAYOUT 20
#define MAX_DISTINCT 256 /* statuses per series, verdicts, error codes: more and Python sums the batch */
#define HOUR 3600
#define DAY 86400
#define EXACT_INT (1LL << 53) /* ints up to it convert to double exactly */

/* Python's answer is the one these must give; a value they cannot sum the same way
   makes the whole function answer None. NOT_EXACT marks that case (no exception set). */
enum { OK = 0, NOT_EXACT = 1, FAILED = -1 };

static PyObject *s_hour, *s_day, *s_empty, *s_provider, *s_error_kind;

/* ---------------------------------------------------------------- reading fields */

static int read_layout(PyObject *layout, Py_ssize_t want, Py_ssize_t *out) {
    if (!PyTuple_Check(layout) || PyTuple_GET_SIZE(layout) != want) {
        PyErr_Format(PyExc_ValueError, "layout must be a tuple of %zd field indexes", want);
        return -1;
    }
    for (Py_ssize_t i = 0; i < want; i++) {
        Py_ssize_t v = PyLong_AsSsize_t(PyTuple_GET_ITEM(layout, i));
        if (v == -1 && PyErr_Occurred())
            return -1;
        if (v < 0) {
            PyErr_SetString(PyExc_ValueError, "a layout index is negative");
            return -1;
        }
        out[i] = v;
    }
    return 0;
}

static int read_bounds(PyObject *bounds, double *out, Py_ssize_t *n) {
    if (!PyTuple_Check(bounds) || PyTuple_GET_SIZE(bounds) > MAX_BOUNDS) {
        PyErr_Format(PyExc_ValueError, "bounds must be a tuple of at most %d numbers", MAX_BOUNDS);
        return -1;
    }
    *n = PyTuple_GET_SIZE(bounds);
    for (Py_ssize_t i = 0; i < *n; i++) {
        out[i] = PyFloat_AsDouble(PyTuple_GET_ITEM(bounds, i));
        if (out[i] == -1.0 && PyErr_Occurred())
            return -1;
    }
    return 0;
}

/* The record's fields, checked to hold every index the layout names. */
static PyObject *record_at(PyObject *batch, Py_ssize_t i, Py_ssize_t needed) {
    PyObject *f = PyList_GET_ITEM(batch, i);
    if (!PyTuple_Check(f) || PyTuple_GET_SIZE(f) < needed)
        return NULL;
    return f;
}

static Py_ssize_t needed_size(const Py_ssize_t *layout, Py_ssize_t n) {
    Py_ssize_t most = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (layout[i] + 1 > most)
            most = layout[i] + 1;
    return most;
}

/* An int field as int64 (bool included, as Python's arithmetic takes it). */
static int as_i64(PyObject *v, long long *out) {
#if PY_VERSION_HEX < 0x030C0000
    if (PyLong_CheckExact(v)) { /* one 30-bit digit or none: most counts, read without a call */
        Py_ssize_t size = Py_SIZE(v);
        if (size == 0) {
            *out = 0;
            return OK;
        }
        if (size == 1 || size == -1) {
            long long digit = (long long)((PyLongObject *)v)->ob_digit[0];
            *out = size < 0 ? -digit : digit;
            return OK;
        }
    }
#endif
    if (!PyLong_Check(v))
        return NOT_EXACT;
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred())
        return FAILED;
    if (overflow)
        return NOT_EXACT;
    *out = x;
    return OK;
}

/* A float field (an int one too: Python divides either). */
static int as_double(PyObject *v, double *out) {
    if (PyFloat_CheckExact(v)) {
        *out = PyFloat_AS_DOUBLE(v);
        return OK;
    }
    if (PyLong_Check(v)) {
        double d = PyLong_AsDouble(v);
        if (d == -1.0 && PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_OverflowError))
                return FAILED;
            PyErr_Clear();
            return NOT_EXACT;
        }
        *out = d;
        return OK;
    }
    return NOT_EXACT;
}

static int add_i64(long long *total, long long v) {
    return __builtin_add_overflow(*total, v, total) ? NOT_EXACT : OK;
}

/* Python's ``a == b`` for the str / None values records hold (identity first; two str
   compared here, as str's own == does: a model name is a new str per request). */
static int same(PyObject *a, PyObject *b) {
    if (a == b)
        return 1;
    if (PyUnicode_CheckExact(a) && PyUnicode_CheckExact(b) && PyUnicode_IS_READY(a) && PyUnicode_IS_READY(b)) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(a);
        int kind = PyUnicode_KIND(a);
        if (n != PyUnicode_GET_LENGTH(b) || kind != (int)PyUnicode_KIND(b))
            return 0;
        return memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)n * (size_t)kind) == 0;
    }
    return PyObject_RichCompareBool(a, b, Py_EQ);
}

static Py_ssize_t bucket_index(const double *bounds, Py_ssize_t n, double value) {
    Py_ssize_t i = 0;
    while (i < n && value > bounds[i])
        i++;
    return i;
}

static long long floor_mod(long long a, long long m) {
    long long r = a % m;
    return r < 0 ? r + m : r;
}

static PyObject *int_list(const long long *values, Py_ssize_t n) {
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyLong_FromLongLong(values[i]);
        if (v == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, v);
    }
    return out;
}

/* ---------------------------------------------------------------- a growing array */

typedef struct {
    char *items;
    Py_ssize_t size, capacity, width;
} Array;

static void *array_push(Array *a) {
    if (a->size == a->capacity) {
        Py_ssize_t capacity = a->capacity ? a->capacity * 2 : 8;
        char *grown = PyMem_Realloc(a->items, (size_t)(capacity * a->width));
        if (grown == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        a->items = grown;
        a->capacity = capacity;
    }
    void *slot = a->items + a->size * a->width;
    memset(slot, 0, (size_t)a->width);
    a->size++;
    return slot;
}

#define ARRAY_AT(a, type, i) ((type *)((a).items + (i) * (a).width))

/* A few distinct values counted in order of first appearance (statuses, verdicts, codes). */
typedef struct {
    PyObject *keys[MAX_DISTINCT]; /* borrowed: the batch holds them */
    long long counts[MAX_DISTINCT];
    Py_ssize_t n;
} Tally;

static int tally_add(Tally *t, PyObject *key, long long by) {
    for (Py_ssize_t i = 0; i < t->n; i++) {
        int eq = same(t->keys[i], key);
        if (eq < 0)
            return FAILED;
        if (eq)
            return add_i64(&t->counts[i], by);
    }
    if (t->n == MAX_DISTINCT)
        return NOT_EXACT;
    t->keys[t->n] = key;
    t->counts[t->n] = by;
    t->n++;
    return OK;
}

/* [(key, count), ...] in order of first appearance. */
static PyObject *tally_list(const Tally *t) {
    PyObject *out = PyList_New(t->n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < t->n; i++) {
        PyObject *pair = Py_BuildValue("(OL)", t->keys[i], t->counts[i]);
        if (pair == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, pair);
    }
    return out;
}

/* A group found by a key tuple: its index in the caller's array, or -1 after adding it
   to ``index`` as ``next``. -2: an error. */
static Py_ssize_t group_of(PyObject *index, PyObject *key, Py_ssize_t next) {
    PyObject *found = PyDict_GetItemWithError(index, key);
    if (found != NULL)
        return PyLong_AsSsize_t(found);
    if (PyErr_Occurred())
        return -2;
    PyObject *at = PyLong_FromSsize_t(next);
    if (at == NULL)
        return -2;
    int failed = PyDict_SetItem(index, key, at);
    Py_DECREF(at);
    return failed ? -2 : -1;
}

/* ---------------------------------------------------------------- usage rows */

enum { U_AT, U_STATUS, U_KEY_ID, U_TENANT, U_MODEL, U_PROVIDER, U_CACHE_HIT, U_INPUT, U_OUTPUT, U_CACHED,
       U_REASONING, U_USAGE_SOURCE, U_COST, U_SAVED, U_FIELDS };

enum { SUMS = 9 }; /* requests, errors, input, output, cached, reasoning, cost, cache hits, saved */

typedef struct {
    PyObject *key; /* (bucket, key id, tenant, model, provider), owned */
    long long bucket;
    long long sums[SUMS];
} UsageGroup;

static int usage_add(UsageGroup *g, PyObject *f, const Py_ssize_t *at) {
    long long status, v;
    int r;
    if ((r = as_i64(PyTuple_GET_ITEM(f, at[U_STATUS]), &status)) != OK)
        return r;
    g->sums[0] += 1;
    g->sums[1] += status >= 400;
    static const int fields[] = {U_INPUT, U_OUTPUT, U_CACHED, U_REASONING, U_COST};
    for (int i = 0; i < 5; i++) {
        if ((r = as_i64(PyTuple_GET_ITEM(f, at[fields[i]]), &v)) != OK)
            return r;
        if ((r = add_i64(&g->sums[2 + i], v)) != OK)
            return r;
    }
    int hit = PyObject_IsTrue(PyTuple_GET_ITEM(f, at[U_CACHE_HIT]));
    if (hit < 0)
        return FAILED;
    g->sums[7] += hit;
    if ((r = as_i64(PyTuple_GET_ITEM(f, at[U_SAVED]), &v)) != OK)
        return r;
    return add_i64(&g->sums[8], v);
}

/* Python's ``value or ""``. */
static PyObject *or_empty(PyObject *v, int *failed) {
    int truth = PyObject_IsTrue(v);
    if (truth < 0)
        *failed = 1;
    return truth > 0 ? v : s_empty;
}

static PyObject *usage_key(long long bucket, PyObject *f, const Py_ssize_t *at) {
    int failed = 0;
    PyObject *key_id = or_empty(PyTuple_GET_ITEM(f, at[U_KEY_ID]), &failed);
    PyObject *tenant = or_empty(PyTuple_GET_ITEM(f, at[U_TENANT]), &failed);
    PyObject *model = or_empty(PyTuple_GET_ITEM(f, at[U_MODEL]), &failed);
    PyObject *provider = or_empty(PyTuple_GET_ITEM(f, at[U_PROVIDER]), &failed);
    if (failed)
        return NULL;
    return Py_BuildValue("(LOOOO)", bucket, key_id, tenant, model, provider);
}

static PyObject *usage_row(PyObject *granularity, long long bucket, PyObject *key, const long long *s) {
    return Py_BuildValue("(OLOOOOLLLLLLLLL)", granularity, bucket,
                         PyTuple_GET_ITEM(key, 1), PyTuple_GET_ITEM(key, 2), PyTuple_GET_ITEM(key, 3),
                         PyTuple_GET_ITEM(key, 4), s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8]);
}

/* Append a group's row to ``rows``; -1 on an error. */
static int append_row(PyObject *rows, PyObject *granularity, const UsageGroup *g) {
    PyObject *row = usage_row(granularity, g->bucket, g->key, g->sums);
    if (row == NULL)
        return -1;
    int failed = PyList_Append(rows, row);
    Py_DECREF(row);
    return failed;
}

static void usage_groups_free(Array *groups) {
    for (Py_ssize_t i = 0; i < groups->size; i++)
        Py_XDECREF(ARRAY_AT(*groups, UsageGroup, i)->key);
    PyMem_Free(groups->items);
    groups->items = NULL;
    groups->size = groups->capacity = 0;
}

/* The hour groups of the batch, in order of first appearance; OK, NOT_EXACT or FAILED. */
static int usage_hours(PyObject *batch, const Py_ssize_t *at, Py_ssize_t needed, Array *hours) {
    PyObject *index = PyDict_New();
    if (index == NULL)
        return FAILED;
    int r = OK;
    PyObject *last = NULL; /* the fields of the record the current group was found for */
    Py_ssize_t current = -1;
    double hour_end = 0.0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(batch); i++) {
        PyObject *f = record_at(batch, i, needed);
        if (f == NULL) {
            r = NOT_EXACT;
            break;
        }
        if (PyTuple_GET_ITEM(f, at[U_USAGE_SOURCE]) == Py_None)
            continue;
        double when;
        if ((r = as_double(PyTuple_GET_ITEM(f, at[U_AT]), &when)) != OK)
            break;
        if (current >= 0 && when < hour_end && when >= hour_end - HOUR) {
            static const int keys[] = {U_KEY_ID, U_MODEL, U_PROVIDER, U_TENANT};
            int eq = 1;
            for (int k = 0; k < 4 && eq > 0; k++)
                eq = same(PyTuple_GET_ITEM(f, at[keys[k]]), PyTuple_GET_ITEM(last, at[keys[k]]));
            if (eq < 0) {
                r = FAILED;
                break;
            }
            if (eq) {
                if ((r = usage_add(ARRAY_AT(*hours, UsageGroup, current), f, at)) != OK)
                    break;
                continue;
            }
        }
        if (!(fabs(when) < 1e15)) { /* NaN too: int(at) would fail or lose the hour */
            r = NOT_EXACT;
            break;
        }
        long long whole = (long long)when; /* int(): toward zero */
        long long hour = whole - floor_mod(whole, HOUR);
        PyObject *key = usage_key(hour, f, at);
        if (key == NULL) {
            r = FAILED;
            break;
        }
        Py_ssize_t found = group_of(index, key, hours->size);
        if (found == -2) {
            Py_DECREF(key);
            r = FAILED;
            break;
        }
        if (found == -1) {
            UsageGroup *g = array_push(hours);
            if (g == NULL) {
                Py_DECREF(key);
                r = FAILED;
                break;
            }
            g->key = key;
            g->bucket = hour;
            found = hours->size - 1;
        } else {
            Py_DECREF(key);
        }
        current = found;
        last = f;
        hour_end = (double)(hour + HOUR);
        if ((r = usage_add(ARRAY_AT(*hours, UsageGroup, current), f, at)) != OK)
            break;
    }
    Py_DECREF(index);
    return r;
}

static PyObject *usage_rows(PyObject *self, PyObject *args) {
    PyObject *batch, *layout_obj;
    if (!PyArg_ParseTuple(args, "O!O:usage_rows", &PyList_Type, &batch, &layout_obj))
        return NULL;
    Py_ssize_t at[U_FIELDS];
    if (read_layout(layout_obj, U_FIELDS, at) < 0)
        return NULL;
    Array hours = {NULL, 0, 0, sizeof(UsageGroup)};
    Array days = {NULL, 0, 0, sizeof(UsageGroup)};
    PyObject *rows = NULL, *day_index = NULL;
    int r = usage_hours(batch, at, needed_size(at, U_FIELDS), &hours);
    if (r != OK)
        goto done;
    r = FAILED;
    if ((day_index = PyDict_New()) == NULL || (rows = PyList_New(0)) == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < hours.size; i++) {
        UsageGroup *g = ARRAY_AT(hours, UsageGroup, i);
        if (append_row(rows, s_hour, g) < 0)
            goto done;
        long long day = g->bucket - floor_mod(g->bucket, DAY);
        PyObject *key = Py_BuildValue("(LOOOO)", day, PyTuple_GET_ITEM(g->key, 1), PyTuple_GET_ITEM(g->key, 2),
                                      PyTuple_GET_ITEM(g->key, 3), PyTuple_GET_ITEM(g->key, 4));
        if (key == NULL)
            goto done;
        Py_ssize_t found = group_of(day_index, key, days.size);
        if (found == -2) {
            Py_DECREF(key);
            goto done;
        }
        if (found == -1) {
            UsageGroup *d = array_push(&days);
            if (d == NULL) {
                Py_DECREF(key);
                goto done;
            }
            d->key = key;
            d->bucket = day;
            memcpy(d->sums, g->sums, sizeof d->sums);
            continue;
        }
        Py_DECREF(key);
        UsageGroup *d = ARRAY_AT(days, UsageGroup, found);
        for (int k = 0; k < SUMS; k++)
            if (add_i64(&d->sums[k], g->sums[k]) != OK) {
                r = NOT_EXACT;
                goto done;
            }
    }
    for (Py_ssize_t i = 0; i < days.size; i++) {
        if (append_row(rows, s_day, ARRAY_AT(days, UsageGroup, i)) < 0)
            goto done;
    }
    r = OK;
done:
    usage_groups_free(&hours);
    usage_groups_free(&days);
    Py_XDECREF(day_index);
    if (r == OK)
        return rows;
    Py_XDECREF(rows);
    if (r == FAILED)
        return NULL;
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------- histograms */

typedef struct {
    long long counts[MAX_BOUNDS + 1];
    double total, low, high;
    int used;
} Sums;

static void sums_add(Sums *s, const double *bounds, Py_ssize_t n, double value) {
    s->counts[bucket_index(bounds, n, value)] += 1;
    s->total += value;
    if (!s->used) {
        s->low = INFINITY;
        s->high = -INFINITY;
        s->used = 1;
    }
    if (value < s->low)
        s->low = value;
    if (value > s->high)
        s->high = value;
}

/* ---------------------------------------------------------------- Prometheus counts */

enum { C_ENDPOINT, C_MODEL, C_PROVIDER, C_STATUS, C_INPUT, C_OUTPUT, C_CACHED, C_REASONING, C_COST, C_DURATION,
       C_TTFT, C_OVERHEAD, C_ATTEMPT_LOG, C_CACHE, C_SAVED, C_ERROR_CODE, C_FIELDS };

typedef struct {
    PyObject *endpoint, *model, *provider; /* borrowed from the batch */
    Py_ssize_t first;
    Tally statuses;
    long long tokens[4], cost;
    Sums duration, ttft, overhead;
} Series;

/* Where an attempt's ``provider`` and ``error_kind`` sit in its struct (msgspec keeps a
   Struct's fields as member slots): read there, not through getattr, for the attempt type
   last seen. type NULL: not resolved (or not slots), so getattr. */
typedef struct {
    PyTypeObject *type; /* borrowed: the batch's attempts hold it */
    Py_ssize_t provider, error_kind;
} AttemptSlots;

static Py_ssize_t member_offset(PyTypeObject *type, PyObject *name) {
    PyObject *found = PyObject_GetAttr((PyObject *)type, name);
    if (found == NULL) {
        PyErr_Clear();
        return -1;
    }
    Py_ssize_t offset = -1;
    if (Py_IS_TYPE(found, &PyMemberDescr_Type)) {
        PyMemberDef *member = ((PyMemberDescrObject *)found)->d_member;
        if (member->type == T_OBJECT_EX || member->type == T_OBJECT)
            offset = member->offset;
    }
    Py_DECREF(found);
    return offset;
}

static void resolve_slots(AttemptSlots *slots, PyTypeObject *type) {
    slots->type = NULL;
    slots->provider = member_offset(type, s_provider);
    slots->error_kind = member_offset(type, s_error_kind);
    if (slots->provider >= 0 && slots->error_kind >= 0)
        slots->type = type;
}

/* A new reference to an attempt's field (NULL: an error). */
static PyObject *attempt_field(PyObject *attempt, const AttemptSlots *slots, Py_ssize_t offset, PyObject *name) {
    if (Py_TYPE(attempt) == slots->type) {
        PyObject *value = *(PyObject **)((char *)attempt + offset);
        if (value != NULL) {
            Py_INCREF(value);
            return value;
        }
    }
    return PyObject_GetAttr(attempt, name);
}

/* Whether a record's attempts count anything beyond a plain single success (Python's test
   in RecordCounter.observe_fields): 1 yes, 0 no, -1 error, 2 not exact. */
static int special_attempts(PyObject *log, PyObject *provider, AttemptSlots *slots, PyTypeObject **seen) {
    if (!PyTuple_Check(log))
        return 2;
    Py_ssize_t n = PyTuple_GET_SIZE(log);
    if (n == 0)
        return 0;
    if (n > 1)
        return 1;
    PyObject *first = PyTuple_GET_ITEM(log, 0);
    if (Py_TYPE(first) != *seen) {
        *seen = Py_TYPE(first);
        resolve_slots(slots, *seen);
    }
    PyObject *kind = attempt_field(first, slots, slots->error_kind, s_error_kind);
    if (kind == NULL)
        return -1;
    int failed = kind != Py_None;
    Py_DECREF(kind);
    if (failed)
        return 1;
    PyObject *served = attempt_field(first, slots, slots->provider, s_provider);
    if (served == NULL)
        return -1;
    int eq = same(provider, served);
    Py_DECREF(served);
    return eq < 0 ? -1 : !eq;
}

static PyObject *hist_tuple(const Sums *s, Py_ssize_t buckets) {
    PyObject *counts = int_list(s->counts, buckets);
    if (counts == NULL)
        return NULL;
    return Py_BuildValue("(Nd)", counts, s->total);
}

static PyObject *series_tuple(const Series *s, Py_ssize_t latency_buckets, Py_ssize_t overhead_buckets) {
    PyObject *statuses = tally_list(&s->statuses);
    PyObject *duration = hist_tuple(&s->duration, latency_buckets);
    PyObject *ttft = hist_tuple(&s->ttft, latency_buckets);
    PyObject *overhead = hist_tuple(&s->overhead, overhead_buckets);
    if (statuses == NULL || duration == NULL || ttft == NULL || overhead == NULL) {
        Py_XDECREF(statuses);
        Py_XDECREF(duration);
        Py_XDECREF(ttft);
        Py_XDECREF(overhead);
        return NULL;
    }
    return Py_BuildValue("(nN(LLLL)LNNN)", s->first, statuses, s->tokens[0], s->tokens[1], s->tokens[2],
                         s->tokens[3], s->cost, duration, ttft, overhead);
}

typedef struct {
    double latency[MAX_BOUNDS], overhead[MAX_BOUNDS];
    Py_ssize_t n_latency, n_overhead;
    Tally verdicts, codes;
    long long saved;
    int saved_any;
    AttemptSlots slots;
    PyTypeObject *attempt_type; /* the type ``slots`` was resolved for */
} CountState;

static int count_record(PyObject *f, const Py_ssize_t *at, Series *s, CountState *st, PyObject *special,
                        Py_ssize_t i) {
    int r;
    long long v, in, out;
    if ((r = as_i64(PyTuple_GET_ITEM(f, at[C_STATUS]), &v)) != OK)
        return r;
    if ((r = tally_add(&s->statuses, PyTuple_GET_ITEM(f, at[C_STATUS]), 1)) != OK)
        return r;
    if ((r = as_i64(PyTuple_GET_ITEM(f, at[C_INPUT]), &in)) != OK ||
        (r = as_i64(PyTuple_GET_ITEM(f, at[C_OUTPUT]), &out)) != OK)
        return r;
    if (in || out) {
        long long cached, reasoning;
        if ((r = as_i64(PyTuple_GET_ITEM(f, at[C_CACHED]), &cached)) != OK ||
            (r = as_i64(PyTuple_GET_ITEM(f, at[C_REASONING]), &reasoning)) != OK)
            return r;
        if ((r = add_i64(&s->tokens[0], in)) != OK || (r = add_i64(&s->tokens[1], out)) != OK ||
            (r = add_i64(&s->tokens[2], cached)) != OK || (r = add_i64(&s->tokens[3], reasoning)) != OK)
            return r;
    }
    if ((r = as_i64(PyTuple_GET_ITEM(f, at[C_COST]), &v)) != OK || (r = add_i64(&s->cost, v)) != OK)
        return r;
    double d;
    if ((r = as_double(PyTuple_GET_ITEM(f, at[C_DURATION]), &d)) != OK)
        return r;
    sums_add(&s->duration, st->latency, st->n_latency, d / 1000.0);
    PyObject *ttft = PyTuple_GET_ITEM(f, at[C_TTFT]);
    if (ttft != Py_None) {
        if ((r = as_double(ttft, &d)) != OK)
            return r;
        sums_add(&s->ttft, st->latency, st->n_latency, d / 1000.0);
    }
    if ((r = as_double(PyTuple_GET_ITEM(f, at[C_OVERHEAD]), &d)) != OK)
        return r;
    sums_add(&s->overhead, st->overhead, st->n_overhead, d / 1000.0);
    int odd = special_attempts(PyTuple_GET_ITEM(f, at[C_ATTEMPT_LOG]), PyTuple_GET_ITEM(f, at[C_PROVIDER]), &st->slots,
                               &st->attempt_type);
    if (odd < 0)
        return FAILED;
    if (odd == 2)
        return NOT_EXACT;
    if (odd) {
        PyObject *where = PyLong_FromSsize_t(i);
        if (where == NULL || PyList_Append(special, where) < 0) {
            Py_XDECREF(where);
            return FAILED;
        }
        Py_DECREF(where);
    }
    PyObject *verdict = PyTuple_GET_ITEM(f, at[C_CACHE]);
    if (verdict != Py_None && (r = tally_add(&st->verdicts, verdict, 1)) != OK)
        return r;
    if ((r = as_i64(PyTuple_GET_ITEM(f, at[C_SAVED]), &v)) != OK)
        return r;
    if (v) {
        st->saved_any = 1;
        if ((r = add_i64(&st->saved, v)) != OK)
            return r;
    }
    PyObject *code = PyTuple_GET_ITEM(f, at[C_ERROR_CODE]);
    if (code != Py_None && (r = tally_add(&st->codes, code, 1)) != OK)
        return r;
    return OK;
}

static PyObject *series_sums(PyObject *self, PyObject *args) {
    PyObject *batch, *layout_obj, *latency_obj, *overhead_obj;
    if (!PyArg_ParseTuple(args, "O!OOO:series_sums", &PyList_Type, &batch, &layout_obj, &latency_obj, &overhead_obj))
        return NULL;
    Py_ssize_t at[C_FIELDS];
    if (read_layout(layout_obj, C_FIELDS, at) < 0)
        return NULL;
    CountState *st = PyMem_Calloc(1, sizeof(CountState));
    if (st == NULL)
        return PyErr_NoMemory();
    Array series = {NULL, 0, 0, sizeof(Series)};
    PyObject *index = NULL, *special = NULL, *out = NULL;
    int r = FAILED;
    if (read_bounds(latency_obj, st->latency, &st->n_latency) < 0 ||
        read_bounds(overhead_obj, st->overhead, &st->n_overhead) < 0)
        goto done;
    if ((index = PyDict_New()) == NULL || (special = PyList_New(0)) == NULL)
        goto done;
    Py_ssize_t needed = needed_size(at, C_FIELDS), current = -1;
    r = OK;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(batch) && r == OK; i++) {
        PyObject *f = record_at(batch, i, needed);
        if (f == NULL) {
            r = NOT_EXACT;
            break;
        }
        PyObject *endpoint = PyTuple_GET_ITEM(f, at[C_ENDPOINT]), *model = PyTuple_GET_ITEM(f, at[C_MODEL]),
                 *provider = PyTuple_GET_ITEM(f, at[C_PROVIDER]);
        int eq = 0;
        if (current >= 0) { /* a batch is mostly one series: look it up on a change */
            Series *s = ARRAY_AT(series, Series, current);
            eq = same(model, s->model);
            if (eq > 0)
                eq = same(provider, s->provider);
            if (eq > 0)
                eq = same(endpoint, s->endpoint);
            if (eq < 0) {
                r = FAILED;
                break;
            }
        }
        if (!eq) {
            PyObject *key = PyTuple_Pack(3, endpoint, model, provider);
            if (key == NULL) {
                r = FAILED;
                break;
            }
            Py_ssize_t found = group_of(index, key, series.size);
            Py_DECREF(key);
            if (found == -2) {
                r = FAILED;
                break;
            }
            if (found == -1) {
                Series *s = array_push(&series);
                if (s == NULL) {
                    r = FAILED;
                    break;
                }
                s->endpoint = endpoint;
                s->model = model;
                s->provider = provider;
                s->first = i;
                found = series.size - 1;
            }
            current = found;
        }
        r = count_record(f, at, ARRAY_AT(series, Series, current), st, special, i);
    }
    if (r != OK)
        goto done;
    r = FAILED;
    PyObject *listed = PyList_New(series.size);
    if (listed == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < series.size; i++) {
        PyObject *one = series_tuple(ARRAY_AT(series, Series, i), st->n_latency + 1, st->n_overhead + 1);
        if (one == NULL) {
            Py_DECREF(listed);
            goto done;
        }
        PyList_SET_ITEM(listed, i, one);
    }
    PyObject *verdicts = tally_list(&st->verdicts);
    PyObject *codes = tally_list(&st->codes);
    if (verdicts == NULL || codes == NULL) {
        Py_DECREF(listed);
        Py_XDECREF(verdicts);
        Py_XDECREF(codes);
        goto done;
    }
    out = Py_BuildValue("(NNOLNO)", listed, verdicts, st->saved_any ? Py_True : Py_False, st->saved, codes, special);
    if (out != NULL)
        r = OK;
done:
    Py_XDECREF(index);
    Py_XDECREF(special);
    PyMem_Free(series.items);
    PyMem_Free(st);
    if (r == OK)
        return out;
    if (r == FAILED)
        return NULL;
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------- GenAI histograms */

enum { G_ENDPOINT, G_PROVIDER, G_MODEL, G_PROVIDER_MODEL, G_ERROR_CODE, G_STATUS, G_DURATION, G_USAGE_SOURCE,
       G_INPUT, G_OUTPUT, G_STREAM, G_TTFT, G_FIELDS };
enum { KEY_FIELDS = 6, KINDS = 5, K_DURATION = 0, K_HTTP = 1, K_INPUT = 2, K_OUTPUT = 3, K_TTFT = 4 };

typedef struct {
    PyObject *key; /* owned */
    Sums kinds[KINDS];
} GenAiGroup;

typedef struct {
    double bounds[KINDS][MAX_BOUNDS];
    Py_ssize_t n[KINDS];
} GenAiBounds;

static int token_value(PyObject *v, double *out) {
    long long x;
    int r = as_i64(v, &x);
    if (r != OK)
        return r;
    if (x > EXACT_INT || x < -EXACT_INT)
        return NOT_EXACT; /* Python compares an int with a bound exactly */
    *out = (double)x;
    return OK;
}

static int genai_record(PyObject *f, const Py_ssize_t *at, GenAiGroup *g, const GenAiBounds *b) {
    double d;
    int r;
    if ((r = as_double(PyTuple_GET_ITEM(f, at[G_DURATION]), &d)) != OK)
        return r;
    double seconds = d / 1000.0;
    sums_add(&g->kinds[K_DURATION], b->bounds[K_DURATION], b->n[K_DURATION], seconds);
    sums_add(&g->kinds[K_HTTP], b->bounds[K_HTTP], b->n[K_HTTP], seconds);
    if (PyTuple_GET_ITEM(f, at[G_USAGE_SOURCE]) != Py_None) {
        double in, out;
        if ((r = token_value(PyTuple_GET_ITEM(f, at[G_INPUT]), &in)) != OK ||
            (r = token_value(PyTuple_GET_ITEM(f, at[G_OUTPUT]), &out)) != OK)
            return r;
        sums_add(&g->kinds[K_INPUT], b->bounds[K_INPUT], b->n[K_INPUT], in);
        sums_add(&g->kinds[K_OUTPUT], b->bounds[K_OUTPUT], b->n[K_OUTPUT], out);
    }
    PyObject *ttft = PyTuple_GET_ITEM(f, at[G_TTFT]);
    if (ttft != Py_None) {
        int streamed = PyObject_IsTrue(PyTuple_GET_ITEM(f, at[G_STREAM]));
        if (streamed < 0)
            return FAILED;
        if (streamed) {
            if ((r = as_double(ttft, &d)) != OK)
                return r;
            sums_add(&g->kinds[K_TTFT], b->bounds[K_TTFT], b->n[K_TTFT], d / 1000.0);
        }
    }
    return OK;
}

static PyObject *genai_increments(const Array *groups, const GenAiBounds *b) {
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < groups->size; i++) {
        GenAiGroup *g = ARRAY_AT(*groups, GenAiGroup, i);
        for (int k = 0; k < KINDS; k++) {
            const Sums *s = &g->kinds[k];
            if (!s->used)
                continue;
            PyObject *counts = int_list(s->counts, b->n[k] + 1);
            PyObject *item = counts == NULL ? NULL
                                            : Py_BuildValue("(OiNddd)", g->key, k, counts, s->total, s->low, s->high);
            if (item == NULL || PyList_Append(out, item) < 0) {
                Py_XDECREF(item);
                Py_DECREF(out);
                return NULL;
            }
            Py_DECREF(item);
        }
    }
    return out;
}

static PyObject *genai_sums(PyObject *self, PyObject *args) {
    PyObject *batch, *layout_obj, *bounds_obj;
    if (!PyArg_ParseTuple(args, "O!OO:genai_sums", &PyList_Type, &batch, &layout_obj, &bounds_obj))
        return NULL;
    Py_ssize_t at[G_FIELDS];
    if (read_layout(layout_obj, G_FIELDS, at) < 0)
        return NULL;
    if (!PyTuple_Check(bounds_obj) || PyTuple_GET_SIZE(bounds_obj) != KINDS) {
        PyErr_Format(PyExc_ValueError, "bounds must be a tuple of %d bound tuples", KINDS);
        return NULL;
    }
    GenAiBounds *b = PyMem_Malloc(sizeof(GenAiBounds));
    if (b == NULL)
        return PyErr_NoMemory();
    Array groups = {NULL, 0, 0, sizeof(GenAiGroup)};
    PyObject *index = NULL, *out = NULL, *last = NULL;
    int r = FAILED;
    for (int k = 0; k < KINDS; k++)
        if (read_bounds(PyTuple_GET_ITEM(bounds_obj, k), b->bounds[k], &b->n[k]) < 0)
            goto done;
    if ((index = PyDict_New()) == NULL)
        goto done;
    Py_ssize_t needed = needed_size(at, G_FIELDS), current = -1;
    r = OK;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(batch) && r == OK; i++) {
        PyObject *f = record_at(batch, i, needed);
        if (f == NULL) {
            r = NOT_EXACT;
            break;
        }
        int eq = current >= 0;
        for (int k = 0; k < KEY_FIELDS && eq > 0; k++)
            eq = same(PyTuple_GET_ITEM(f, at[k]), PyTuple_GET_ITEM(last, at[k]));
        if (eq < 0) {
            r = FAILED;
            break;
        }
        if (!eq) { /* a batch is mostly one kind of request: look it up on a change */
            PyObject *key = PyTuple_New(KEY_FIELDS);
            if (key == NULL) {
                r = FAILED;
                break;
            }
            for (int k = 0; k < KEY_FIELDS; k++) {
                PyObject *v = PyTuple_GET_ITEM(f, at[k]);
                Py_INCREF(v);
                PyTuple_SET_ITEM(key, k, v);
            }
            Py_ssize_t found = group_of(index, key, groups.size);
            if (found == -2) {
                Py_DECREF(key);
                r = FAILED;
                break;
            }
            if (found == -1) {
                GenAiGroup *g = array_push(&groups);
                if (g == NULL) {
                    Py_DECREF(key);
                    r = FAILED;
                    break;
                }
                g->key = key;
                found = groups.size - 1;
            } else {
                Py_DECREF(key);
            }
            current = found;
            last = f;
        }
        r = genai_record(f, at, ARRAY_AT(groups, GenAiGroup, current), b);
    }
    if (r == OK) {
        out = genai_increments(&groups, b);
        if (out == NULL)
            r = FAILED;
    }
done:
    for (Py_ssize_t i = 0; i < groups.size; i++)
        Py_XDECREF(ARRAY_AT(groups, GenAiGroup, i)->key);
    PyMem_Free(groups.items);
    PyMem_Free(b);
    Py_XDECREF(index);
    if (r == OK)
        return out;
    if (r == FAILED)
        return NULL;
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------- module */

static PyMethodDef methods[] = {
    {"usage_rows", usage_rows, METH_VARARGS, "A batch's usage rows per hour and day (None: sum it in Python)."},
    {"series_sums", series_sums, METH_VARARGS, "A batch's Prometheus sums per series (None: sum it in Python)."},
    {"genai_sums", genai_sums, METH_VARARGS, "A batch's GenAI histogram increments (None: sum it in Python)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_batch_sums", "A worker's batch of request records summed in C.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__batch_sums(void) {
    if (s_hour == NULL) {
        s_hour = PyUnicode_InternFromString("hour");
        s_day = PyUnicode_InternFromString("day");
        s_empty = PyUnicode_InternFromString("");
        s_provider = PyUnicode_InternFromString("provider");
        s_error_kind = PyUnicode_InternFromString("error_kind");
        if (s_hour == NULL || s_day == NULL || s_empty == NULL || s_provider == NULL || s_error_kind == NULL)
            return NULL;
    }
    return PyModule_Create(&module_def);
}
