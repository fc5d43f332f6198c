/*
 * The limiter's per-request work on the counter table, one call for admit and one for settle.
 *
 * In Python (governance/limiter.py) an admission locks each subject's slot, reads and
 * writes a few dozen int64 fields through a memoryview (0.08 µs each), writes the
 * reservation journal entry and formats the x-ratelimit-* lines: ~9 µs of a governed
 * request, against 10 µs for all of governance. Here it is a few hundred nanoseconds.
 *
 * The Python side (governance/limiter_native.py) passes a "plan" per subject chain:
 * int64s naming each subject's slot base, limits, and each budget's field, limit, kind
 * and current period id, rebuilt only when a period turns; so nothing here knows
 * calendars or configuration. A refusal comes back as (subject, which limit, number)
 * and the Python side raises the same 429 as its own path (refusals.py).
 *
 * Used only on tables whose slot locks are the robust process-shared mutexes of
 * ipc/_shm_mutex.c, with the same protocol: trylock, then wait with the GIL released;
 * EOWNERDEAD -> pthread_mutex_consistent (the counters are sums). Slots are locked in
 * the chain's order (key, then tenant) and released in reverse. The journal entry has
 * reservation_journal.py's layout, so a pure-Python process releases it after a crash.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "../ipc/shm_mutex_lock.h"

/* The counter table's layout (governance/counter_table.py, reservation_journal.py). */
#define HEADER_FIELDS 512
#define FIELDS_PER_SLOT 32
#define RPM_START 1
#define RPM_COUNT 2
#define TPM_START 3
#define TPM_TOKENS 4
#define BUDGETS 5
#define BUDGET_STRIDE 3
#define PERIOD 0
#define SPENT 1
#define RESERVED 2
#define KINDS 5
#define SLOT_LOCK 24
#define PER_SUBJECT (2 + KINDS)
#define MAX_SUBJECTS 2
#define ENTRY_FIELDS (3 + MAX_SUBJECTS * PER_SUBJECT)
#define ENTRY_OPEN 1
#define WINDOW_MS 60000

/* The plan (limiter_native.py): a head, then per subject its fields and its budgets'. */
#define P_SUBJECTS 0     /* how many subjects (1 or 2) */
#define P_HDR_RPM 1      /* the key's request limit for its headers, -1: no request lines */
#define P_HDR_TOKENS 2   /* token lines from: 0 none, 1 the key's TPM, 2 a token budget */
#define P_HDR_LIMIT 3    /* that TPM or budget limit */
#define P_HDR_FIELD 4    /* the budget's first field in the key's slot */
#define P_HDR_END_MS 5   /* when the budget's current period ends */
#define P_HEAD 6
#define S_BASE 0
#define S_RPM 1          /* -1: no limit */
#define S_TPM 2          /* -1: no limit */
#define S_BUDGETS 3      /* how many budgets follow */
#define S_HEAD 4
#define B_FIELD 0
#define B_LIMIT 1
#define B_COST 2         /* 1: reserves cost, 0: tokens */
#define B_PERIOD 3       /* the current period id */
#define B_SIZE 4

/* Refusals: (subject index, what, number). */
#define R_REQUESTS 0     /* number: ms until the request window reopens */
#define R_TOO_LARGE 1    /* number: 0 */
#define R_TOKENS 2       /* number: ms until the token window reopens */
#define R_BUDGET 3       /* number: the budget's index in the subject's budgets */

typedef struct {
    PyObject_HEAD
    Py_buffer view;
    int has_view;
    int busy; /* calls under way (one may wait for a mutex with the GIL released) */
} CounterOps;

typedef struct {
    int64_t base, rpm, tpm;
    int budgets;
    const int64_t *budget; /* budgets * B_SIZE int64s */
} SubjectPlan;

typedef struct {
    int subjects;
    const int64_t *head;
    SubjectPlan subject[MAX_SUBJECTS];
} Plan;

static int64_t
add_sat(int64_t a, int64_t b)
{
    int64_t out;
    if (__builtin_add_overflow(a, b, &out))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return out;
}

static int64_t
max0(int64_t v)
{
    return v > 0 ? v : 0;
}

static int
slot_ok(const CounterOps *self, int64_t base)
{
    return base >= HEADER_FIELDS && (base - HEADER_FIELDS) % FIELDS_PER_SLOT == 0 &&
           base <= (int64_t)(self->view.len / 8) - FIELDS_PER_SLOT;
}

/* Reads a plan into `out`; 0, or -1 with ValueError set. */
static int
read_plan(const CounterOps *self, PyObject *packed, Plan *out)
{
    if (!PyBytes_Check(packed)) {
        PyErr_SetString(PyExc_TypeError, "a plan is bytes");
        return -1;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(packed) / 8;
    const int64_t *p = (const int64_t *)PyBytes_AS_STRING(packed);
    if (PyBytes_GET_SIZE(packed) % 8 != 0 || size < P_HEAD || p[P_SUBJECTS] < 1 ||
        p[P_SUBJECTS] > MAX_SUBJECTS)
        goto bad;
    out->subjects = (int)p[P_SUBJECTS];
    out->head = p;
    Py_ssize_t at = P_HEAD;
    for (int n = 0; n < out->subjects; n++) {
        if (at + S_HEAD > size)
            goto bad;
        SubjectPlan *s = &out->subject[n];
        s->base = p[at + S_BASE];
        s->rpm = p[at + S_RPM];
        s->tpm = p[at + S_TPM];
        int64_t budgets = p[at + S_BUDGETS];
        if (!slot_ok(self, s->base) || budgets < 0 || budgets > KINDS ||
            at + S_HEAD + budgets * B_SIZE > size)
            goto bad;
        s->budgets = (int)budgets;
        s->budget = p + at + S_HEAD;
        for (int j = 0; j < s->budgets; j++) {
            int64_t field = s->budget[j * B_SIZE + B_FIELD];
            if (field < BUDGETS || field >= BUDGETS + KINDS * BUDGET_STRIDE ||
                (field - BUDGETS) % BUDGET_STRIDE != 0)
                goto bad;
        }
        at += S_HEAD + budgets * B_SIZE;
    }
    if (at != size || (out->subjects == 2 && out->subject[0].base == out->subject[1].base))
        goto bad;
    if (p[P_HDR_TOKENS] == 2) {
        int64_t field = p[P_HDR_FIELD];
        if (field < BUDGETS || field >= BUDGETS + KINDS * BUDGET_STRIDE)
            goto bad;
    }
    return 0;
bad:
    PyErr_SetString(PyExc_ValueError, "malformed counter plan");
    return -1;
}

static int
lock_slot(int64_t *fields, int64_t base)
{
    int died; /* its holder died: the sums under it stand */
    return shm_mutex_acquire((pthread_mutex_t *)(fields + base + SLOT_LOCK), &died);
}

static void
unlock_slot(int64_t *fields, int64_t base)
{
    pthread_mutex_unlock((pthread_mutex_t *)(fields + base + SLOT_LOCK));
}

static PyObject *
lock_error(int rc)
{
    errno = rc;
    return PyErr_SetFromErrno(PyExc_OSError);
}

/* Writes v >= 0 in decimal at out; how many bytes (snprintf is ~60 ns a number). */
static size_t
put_int(char *out, int64_t v)
{
    char digits[20];
    size_t n = 0;
    uint64_t u = v > 0 ? (uint64_t)v : 0;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    return n;
}

/* `ms` as refusals.duration writes it: 850ms, 12s, 1m3s, 2h0m5s. */
static size_t
put_duration(char *out, int64_t ms)
{
    size_t n;
    if (ms < 1000) {
        n = put_int(out, ms);
        out[n++] = 'm';
        out[n++] = 's';
        return n;
    }
    int64_t secs = ms / 1000 + (ms % 1000 != 0);
    int64_t minutes = secs / 60, hours = minutes / 60;
    n = 0;
    if (minutes >= 60) {
        n += put_int(out + n, hours);
        out[n++] = 'h';
    }
    if (secs >= 60) {
        n += put_int(out + n, minutes >= 60 ? minutes % 60 : minutes);
        out[n++] = 'm';
    }
    n += put_int(out + n, secs >= 60 ? secs % 60 : secs);
    out[n++] = 's';
    return n;
}

/* The template (Subject.header_format) with its %d / %b filled from `values` in order. */
static PyObject *
format_block(PyObject *template, const int64_t *values, int count)
{
    const char *t = PyBytes_AS_STRING(template);
    const char *end = t + PyBytes_GET_SIZE(template);
    /* Each placeholder grows by at most 64 bytes (a duration of int64 ms is under 40). */
    PyObject *block = PyBytes_FromStringAndSize(NULL, PyBytes_GET_SIZE(template) + 64 * count);
    if (block == NULL)
        return NULL;
    char *out = PyBytes_AS_STRING(block);
    size_t used = 0;
    int k = 0;
    while (t < end) {
        const char *pct = memchr(t, '%', (size_t)(end - t));
        size_t run = (size_t)((pct != NULL ? pct : end) - t);
        memcpy(out + used, t, run);
        used += run;
        if (pct == NULL)
            break;
        char c = pct + 1 < end ? pct[1] : '\0';
        t = pct + 2;
        if (c == '%')
            out[used++] = '%';
        else if (c == 'd' && k < count)
            used += put_int(out + used, values[k++]);
        else if (c == 'b' && k < count)
            used += put_duration(out + used, values[k++]);
        else
            goto bad;
    }
    if (_PyBytes_Resize(&block, (Py_ssize_t)used) < 0)
        return NULL;
    return block;
bad:
    Py_DECREF(block);
    PyErr_SetString(PyExc_ValueError, "header template does not fit its values");
    return NULL;
}

static int
int64_args(PyObject *const *args, int64_t *out, int count)
{
    for (int i = 0; i < count; i++) {
        out[i] = PyLong_AsLongLong(args[i]);
        if (out[i] == -1 && PyErr_Occurred())
            return -1;
    }
    return 0;
}

static int64_t *
fields_of(CounterOps *self)
{
    if (!self->has_view) {
        PyErr_SetString(PyExc_ValueError, "the counter ops were released");
        return NULL;
    }
    return (int64_t *)self->view.buf;
}

static int
entry_ok(const CounterOps *self, int64_t at)
{
    return at == -1 || (at >= HEADER_FIELDS && at <= (int64_t)(self->view.len / 8) - ENTRY_FIELDS);
}

/* Rolls the budget at `at` into `period`, as limiter._roll_period. */
static void
roll_period(int64_t *f, int64_t at, int64_t period)
{
    if (f[at + PERIOD] != period) {
        f[at + PERIOD] = period;
        f[at + SPENT] = 0;
        f[at + RESERVED] = 0;
    }
}

/* Checks every subject, then takes from each; 0, or 1 with `refusal` filled. Locks held. */
static int
check_and_take(int64_t *f, const Plan *plan, int64_t now_ms, int64_t tokens, int64_t cost,
               int64_t *record, int64_t refusal[3])
{
    for (int n = 0; n < plan->subjects; n++) {
        const SubjectPlan *s = &plan->subject[n];
        int64_t b = s->base;
        if (now_ms - f[b + RPM_START] >= WINDOW_MS) {
            f[b + RPM_START] = now_ms;
            f[b + RPM_COUNT] = 0;
        }
        if (now_ms - f[b + TPM_START] >= WINDOW_MS) {
            f[b + TPM_START] = now_ms;
            f[b + TPM_TOKENS] = 0;
        }
        refusal[0] = n;
        if (s->rpm >= 0 && add_sat(f[b + RPM_COUNT], 1) > s->rpm) {
            refusal[1] = R_REQUESTS;
            refusal[2] = max0(f[b + RPM_START] + WINDOW_MS - now_ms);
            return 1;
        }
        if (s->tpm >= 0 && tokens > s->tpm) {
            refusal[1] = R_TOO_LARGE;
            refusal[2] = 0;
            return 1;
        }
        if (s->tpm >= 0 && add_sat(f[b + TPM_TOKENS], tokens) > s->tpm) {
            refusal[1] = R_TOKENS;
            refusal[2] = max0(f[b + TPM_START] + WINDOW_MS - now_ms);
            return 1;
        }
        for (int j = 0; j < s->budgets; j++) {
            const int64_t *bp = s->budget + j * B_SIZE;
            int64_t at = b + bp[B_FIELD];
            roll_period(f, at, bp[B_PERIOD]);
            int64_t need = bp[B_COST] ? cost : tokens;
            if (add_sat(add_sat(f[at + SPENT], f[at + RESERVED]), need) > bp[B_LIMIT]) {
                refusal[1] = R_BUDGET;
                refusal[2] = j;
                return 1;
            }
        }
    }
    record[0] = ENTRY_OPEN;
    record[1] = tokens;
    record[2] = cost;
    for (int n = 0; n < plan->subjects; n++) {
        const SubjectPlan *s = &plan->subject[n];
        int64_t b = s->base;
        int64_t *sub = record + 3 + n * PER_SUBJECT;
        f[b + RPM_COUNT] = add_sat(f[b + RPM_COUNT], 1);
        f[b + TPM_TOKENS] = add_sat(f[b + TPM_TOKENS], tokens);
        sub[0] = b;
        sub[1] = f[b + TPM_START];
        for (int k = 0; k < KINDS; k++)
            sub[2 + k] = -1;
        for (int j = 0; j < s->budgets; j++) {
            const int64_t *bp = s->budget + j * B_SIZE;
            int64_t at = b + bp[B_FIELD];
            f[at + RESERVED] = add_sat(f[at + RESERVED], bp[B_COST] ? cost : tokens);
            sub[2 + (bp[B_FIELD] - BUDGETS) / BUDGET_STRIDE] = f[at + PERIOD];
        }
    }
    return 0;
}

/* The key's remaining-limit values in its template's order; how many. */
static int
header_values(const int64_t *f, const Plan *plan, int64_t now_ms, int64_t values[4])
{
    const int64_t *h = plan->head;
    int64_t b = plan->subject[0].base;
    int count = 0;
    if (h[P_HDR_RPM] >= 0) {
        values[count++] = max0(h[P_HDR_RPM] - f[b + RPM_COUNT]);
        values[count++] = max0(f[b + RPM_START] + WINDOW_MS - now_ms);
    }
    if (h[P_HDR_TOKENS] == 1) {
        values[count++] = max0(h[P_HDR_LIMIT] - f[b + TPM_TOKENS]);
        values[count++] = max0(f[b + TPM_START] + WINDOW_MS - now_ms);
    } else if (h[P_HDR_TOKENS] == 2) {
        int64_t at = b + h[P_HDR_FIELD];
        values[count++] = max0(h[P_HDR_LIMIT] - add_sat(f[at + SPENT], f[at + RESERVED]));
        values[count++] = max0(h[P_HDR_END_MS] - now_ms);
    }
    return count;
}

static PyObject *
CounterOps_admit(CounterOps *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "admit(plan, template, now_ms, tokens, cost, entry_at)");
        return NULL;
    }
    PyObject *template = args[1];
    if (template != Py_None && !PyBytes_Check(template)) {
        PyErr_SetString(PyExc_TypeError, "a header template is bytes or None");
        return NULL;
    }
    int64_t nums[4]; /* now_ms, tokens, cost, entry_at */
    Plan plan;
    int64_t *f = fields_of(self);
    if (f == NULL || int64_args(args + 2, nums, 4) < 0 || read_plan(self, args[0], &plan) < 0)
        return NULL;
    int64_t now_ms = nums[0], entry_at = nums[3];
    if (!entry_ok(self, entry_at)) {
        PyErr_SetString(PyExc_ValueError, "no journal entry fits there");
        return NULL;
    }
    int64_t record[ENTRY_FIELDS] = {0};
    int64_t refusal[3] = {0, 0, 0};
    int64_t values[4];
    int count = 0, refused = 0, locked = 0, rc = 0;
    self->busy++;
    for (; locked < plan.subjects; locked++) {
        rc = lock_slot(f, plan.subject[locked].base);
        if (rc != 0)
            break;
    }
    if (rc == 0) {
        refused = check_and_take(f, &plan, now_ms, nums[1], nums[2], record, refusal);
        if (!refused) {
            if (template != Py_None)
                count = header_values(f, &plan, now_ms, values);
            if (entry_at >= 0) {
                /* Written before the unlock, so a worker killed after its take has journaled
                 * it; the state field last, so a half-written entry is never open. */
                memcpy(f + entry_at + 1, record + 1, (ENTRY_FIELDS - 1) * sizeof(int64_t));
                __atomic_store_n(f + entry_at, (int64_t)ENTRY_OPEN, __ATOMIC_RELEASE);
            }
        }
    }
    while (locked > 0)
        unlock_slot(f, plan.subject[--locked].base);
    self->busy--;
    if (rc != 0)
        return lock_error(rc);
    if (refused)
        return Py_BuildValue("(LLL)", (long long)refusal[0], (long long)refusal[1],
                             (long long)refusal[2]);
    PyObject *rec = PyBytes_FromStringAndSize((const char *)record, sizeof(record));
    if (rec == NULL)
        return NULL;
    PyObject *block = Py_None;
    if (template != Py_None) {
        block = format_block(template, values, count);
        if (block == NULL) {
            Py_DECREF(rec);
            return NULL;
        }
    } else {
        Py_INCREF(block);
    }
    PyObject *out = PyTuple_New(2);
    if (out == NULL) {
        Py_DECREF(rec);
        Py_DECREF(block);
        return NULL;
    }
    PyTuple_SET_ITEM(out, 0, rec);
    PyTuple_SET_ITEM(out, 1, block);
    return out;
}

static PyObject *
CounterOps_settle(CounterOps *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "settle(plan, record, tokens, cost, entry_at)");
        return NULL;
    }
    int64_t nums[3]; /* tokens, cost, entry_at */
    Plan plan;
    int64_t *f = fields_of(self);
    if (f == NULL || int64_args(args + 2, nums, 3) < 0 || read_plan(self, args[0], &plan) < 0)
        return NULL;
    PyObject *rec = args[1];
    if (!PyBytes_Check(rec) || PyBytes_GET_SIZE(rec) != ENTRY_FIELDS * 8 || !entry_ok(self, nums[2])) {
        PyErr_SetString(PyExc_ValueError, "not a reservation of this table");
        return NULL;
    }
    const int64_t *record = (const int64_t *)PyBytes_AS_STRING(rec);
    int64_t tokens = nums[0], cost = nums[1], took_tokens = record[1], took_cost = record[2];
    for (int n = 0; n < plan.subjects; n++) {
        if (!slot_ok(self, record[3 + n * PER_SUBJECT])) {
            PyErr_SetString(PyExc_ValueError, "not a reservation of this table");
            return NULL;
        }
    }
    self->busy++;
    for (int n = 0; n < plan.subjects; n++) {
        const SubjectPlan *s = &plan.subject[n];
        const int64_t *sub = record + 3 + n * PER_SUBJECT;
        int64_t b = sub[0];
        int rc = lock_slot(f, b);
        if (rc != 0) {
            self->busy--;
            return lock_error(rc);
        }
        if (f[b + TPM_START] == sub[1])
            f[b + TPM_TOKENS] = max0(add_sat(add_sat(f[b + TPM_TOKENS], tokens), -took_tokens));
        for (int j = 0; j < s->budgets; j++) {
            const int64_t *bp = s->budget + j * B_SIZE;
            int64_t at = b + bp[B_FIELD];
            if (f[at + PERIOD] == sub[2 + (bp[B_FIELD] - BUDGETS) / BUDGET_STRIDE])
                f[at + RESERVED] = max0(f[at + RESERVED] - (bp[B_COST] ? took_cost : took_tokens));
            roll_period(f, at, bp[B_PERIOD]);
            f[at + SPENT] = add_sat(f[at + SPENT], bp[B_COST] ? cost : tokens);
        }
        unlock_slot(f, b);
    }
    if (nums[2] >= 0)
        __atomic_store_n(f + nums[2], (int64_t)0, __ATOMIC_RELEASE);
    self->busy--;
    Py_RETURN_NONE;
}

static int
CounterOps_init(CounterOps *self, PyObject *args, PyObject *kwds)
{
    PyObject *buffer;
    static char *kwlist[] = {"buffer", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O", kwlist, &buffer))
        return -1;
    if (self->busy) {
        PyErr_SetString(PyExc_BufferError, "the counter ops are in use");
        return -1;
    }
    if (self->has_view) {
        PyBuffer_Release(&self->view);
        self->has_view = 0;
    }
    if (PyObject_GetBuffer(buffer, &self->view, PyBUF_WRITABLE) < 0)
        return -1;
    if (((uintptr_t)self->view.buf % 8) != 0 ||
        self->view.len < (Py_ssize_t)(HEADER_FIELDS + FIELDS_PER_SLOT) * 8) {
        PyBuffer_Release(&self->view);
        PyErr_SetString(PyExc_ValueError, "not a counter table's mapping");
        return -1;
    }
    self->has_view = 1;
    return 0;
}

static void
CounterOps_dealloc(CounterOps *self)
{
    if (self->has_view)
        PyBuffer_Release(&self->view);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
CounterOps_release(CounterOps *self, PyObject *Py_UNUSED(ignored))
{
    if (self->busy) {
        PyErr_SetString(PyExc_BufferError, "the counter ops are in use");
        return NULL;
    }
    if (self->has_view) {
        PyBuffer_Release(&self->view);
        self->has_view = 0;
    }
    Py_RETURN_NONE;
}

static PyMethodDef CounterOps_methods[] = {
    {"admit", (PyCFunction)(void (*)(void))CounterOps_admit, METH_FASTCALL,
     "admit(plan, template, now_ms, tokens, cost, entry_at) -> (record, block) or "
     "(subject, what, number) when refused."},
    {"settle", (PyCFunction)(void (*)(void))CounterOps_settle, METH_FASTCALL,
     "settle(plan, record, tokens, cost, entry_at): release the reservation, spend the usage."},
    {"release", (PyCFunction)CounterOps_release, METH_NOARGS,
     "release(): drop the view of the mapping (before the mapping is closed)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CounterOpsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ferrogate.governance._counter_ops.CounterOps",
    .tp_basicsize = sizeof(CounterOps),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The limiter's admit and settle on a counter table's writable mapping.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)CounterOps_init,
    .tp_dealloc = (destructor)CounterOps_dealloc,
    .tp_methods = CounterOps_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ferrogate.governance._counter_ops",
    .m_doc = "The limiter's admit and settle on the shared counter table.",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__counter_ops(void)
{
    if (PyType_Ready(&CounterOpsType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    /* What this build assumes, for the Python side to compare with its own constants. */
    PyObject *layout = Py_BuildValue(
        "(iiiiiiiiiiiii)", HEADER_FIELDS, FIELDS_PER_SLOT, RPM_START, RPM_COUNT, TPM_START,
        TPM_TOKENS, BUDGETS, BUDGET_STRIDE, KINDS, SLOT_LOCK, ENTRY_FIELDS, WINDOW_MS, P_HEAD);
    int failed = layout == NULL || PyModule_AddObjectRef(m, "LAYOUT", layout) < 0 ||
                 PyModule_AddObjectRef(m, "CounterOps", (PyObject *)&CounterOpsType) < 0;
    Py_XDECREF(layout);
    if (failed) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
