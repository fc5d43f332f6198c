/*
 * The answer cache's get and put (ferrogate/cache/shm_store.py) in C.
 *
 * Every cacheable request runs a get, and on a miss a put once it is answered.
 * In Python each unpacks a bucket of 8 ways with struct, loops over them, slices
 * the mmap and calls the lock twice through a method: 1-3 us apiece, a large
 * share of the 10 us a governed request may spend (issue 11). Here each is one
 * call. The segment layout, the locks (the robust process-shared mutexes of
 * ferrogate/ipc/_shm_mutex.c) and every rule are the Python code's, so a process
 * running this and one running the Python code share a segment; only segments
 * made with the MUTEX lock kind are served here.
 *
 * RingOps(buffer) keeps a view of the writable mapping and this process's
 * stretch of the ring. A busy mutex is waited for with the GIL released; the
 * stretch is updated only with the GIL held, so threads of one process do not
 * tear it. The ring cursor is read without a lock: a writer moves it before it
 * writes (a release fence), a reader re-reads it after its copy (an acquire
 * fence), like a seqlock.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>

#include "../ipc/shm_mutex_lock.h"

/* The layout of shm_store.py; LAYOUT hands these to it to compare with its own. */
#define MAGIC 0x4647434100000002LL /* "FGCA", layout 2 */
#define HEADER_BYTES 4096
#define LOCK_BYTES 64
#define WAYS 8
#define ENTRY_FIELDS 8
#define HEADER_LOCK 64 /* byte offset of the lock that hands out stretches of the ring */
#define CHUNK (256 * 1024)
#define KIND_MUTEX 2
enum { H_MAGIC, H_BUCKETS, H_ARENA, H_CURSOR, H_LOCK_KIND };     /* header fields */
enum { E_D0, E_D1, E_POS, E_LEN, E_EXPIRES, E_USED, E_CRC };    /* entry fields */

typedef struct {
    PyObject_HEAD
    Py_buffer view;
    int has_view;
    char *base;
    int64_t *fields;        /* the header's int64 fields */
    int64_t buckets, arena, largest;
    Py_ssize_t index_at;    /* byte offset of bucket 0's ways */
    Py_ssize_t arena_at;    /* byte offset of the ring */
    int64_t chunk_pos, chunk_end; /* this process's stretch of the ring */
} RingOps;

static inline int64_t
cursor_now(RingOps *self)
{
    return __atomic_load_n(&self->fields[H_CURSOR], __ATOMIC_RELAXED);
}

static inline int64_t
floor_mod(int64_t a, int64_t b)
{
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}

/* Lock the mutex at a byte offset of the segment; -1 with an exception set. */
static int
lock_at(RingOps *self, Py_ssize_t offset)
{
    int died;
    int rc = shm_mutex_acquire((pthread_mutex_t *)(self->base + offset), &died);
    if (rc != 0) {
        errno = rc;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

static int
unlock_at(RingOps *self, Py_ssize_t offset)
{
    int rc = pthread_mutex_unlock((pthread_mutex_t *)(self->base + offset));
    if (rc != 0) {
        errno = rc;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

/* The digest's two little-endian int64 halves (as struct "<qq" reads them); -1 if it is not 16 bytes. */
static int
digest_halves(PyObject *digest, int64_t *d0, int64_t *d1)
{
    if (!PyBytes_Check(digest) || PyBytes_GET_SIZE(digest) != 16) {
        PyErr_SetString(PyExc_ValueError, "a cache digest is 16 bytes");
        return -1;
    }
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(digest);
    uint64_t lo = 0, hi = 0;
    for (int i = 7; i >= 0; i--) {
        lo = (lo << 8) | p[i];
        hi = (hi << 8) | p[8 + i];
    }
    *d0 = (int64_t)lo;
    *d1 = (int64_t)hi;
    return 0;
}

static int
int64_arg(PyObject *arg, int64_t *out)
{
    long long v = PyLong_AsLongLong(arg);
    if (v == -1 && PyErr_Occurred())
        return -1;
    *out = (int64_t)v;
    return 0;
}

static int
ready(RingOps *self)
{
    if (!self->has_view) {
        PyErr_SetString(PyExc_ValueError, "the ring ops were released");
        return 0;
    }
    return 1;
}

static int
RingOps_init(RingOps *self, PyObject *args, PyObject *kwds)
{
    PyObject *buffer;
    static char *kwlist[] = {"buffer", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O", kwlist, &buffer))
        return -1;
    if (self->has_view) {
        PyBuffer_Release(&self->view);
        self->has_view = 0;
    }
    if (PyObject_GetBuffer(buffer, &self->view, PyBUF_WRITABLE) < 0)
        return -1;
    self->has_view = 1;
    self->base = (char *)self->view.buf;
    self->fields = (int64_t *)self->view.buf;
    const char *wrong = NULL;
    if (self->view.len < HEADER_BYTES || ((uintptr_t)self->base & 7) != 0)
        wrong = "too short or misaligned for a cache segment";
    else if (self->fields[H_MAGIC] != MAGIC)
        wrong = "not a FerroGate cache segment (or an older layout)";
    else if (self->fields[H_LOCK_KIND] != KIND_MUTEX)
        wrong = "the segment's locks are not mutexes";
    else {
        int64_t buckets = self->fields[H_BUCKETS], arena = self->fields[H_ARENA];
        int64_t room = (self->view.len - HEADER_BYTES) / (LOCK_BYTES + WAYS * ENTRY_FIELDS * 8);
        if (buckets < 1 || arena < 1 || buckets > room ||
            arena > self->view.len - HEADER_BYTES - buckets * (LOCK_BYTES + WAYS * ENTRY_FIELDS * 8))
            wrong = "the segment's sizes do not fit its length";
        else {
            self->buckets = buckets;
            self->arena = arena;
            self->largest = arena / 8;
            self->index_at = HEADER_BYTES + (Py_ssize_t)buckets * LOCK_BYTES;
            self->arena_at = self->index_at + (Py_ssize_t)buckets * WAYS * ENTRY_FIELDS * 8;
        }
    }
    if (wrong != NULL) {
        PyBuffer_Release(&self->view);
        self->has_view = 0;
        PyErr_SetString(PyExc_ValueError, wrong);
        return -1;
    }
    self->chunk_pos = self->chunk_end = 0;
    return 0;
}

static void
RingOps_dealloc(RingOps *self)
{
    if (self->has_view)
        PyBuffer_Release(&self->view);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* get(digest, now_ms) -> bytes | None */
static PyObject *
RingOps_get(RingOps *self, PyObject *const *args, Py_ssize_t nargs)
{
    int64_t d0, d1, now;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "get(digest, now_ms)");
        return NULL;
    }
    if (!ready(self) || digest_halves(args[0], &d0, &d1) < 0 || int64_arg(args[1], &now) < 0)
        return NULL;
    int64_t bucket = floor_mod(d0, self->buckets);
    Py_ssize_t lock = HEADER_BYTES + (Py_ssize_t)bucket * LOCK_BYTES;
    int64_t *ways = (int64_t *)(self->base + self->index_at) + bucket * WAYS * ENTRY_FIELDS;
    if (lock_at(self, lock) < 0)
        return NULL;
    PyObject *result = Py_None;
    for (int way = 0; way < WAYS; way++) {
        int64_t *e = ways + way * ENTRY_FIELDS;
        if (e[E_D0] != d0 || e[E_D1] != d1)
            continue;
        int64_t pos = e[E_POS];
        if (e[E_EXPIRES] <= now || cursor_now(self) > pos + self->arena) {
            e[E_D0] = e[E_D1] = 0; /* expired or run over: free the way */
            break;
        }
        /* As the mmap slice would: clamped to the mapping. */
        Py_ssize_t start = self->arena_at + (Py_ssize_t)floor_mod(pos, self->arena);
        Py_ssize_t length = e[E_LEN] < 0 ? 0 : (Py_ssize_t)e[E_LEN];
        if (length > self->view.len - start)
            length = self->view.len - start;
        PyObject *data = PyBytes_FromStringAndSize(NULL, length);
        if (data == NULL) {
            result = NULL;
            break;
        }
        memcpy(PyBytes_AS_STRING(data), self->base + start, (size_t)length);
        __atomic_thread_fence(__ATOMIC_ACQUIRE); /* the copy is read before the cursor is again */
        /* A writer ran over it while we copied; or one that was held up past its stretch's
           turn wrote over it (the cursor cannot tell): its checksum then differs. */
        if (cursor_now(self) > pos + self->arena ||
            (int64_t)crc32(0L, (const Bytef *)PyBytes_AS_STRING(data), (uInt)length) != e[E_CRC]) {
            Py_DECREF(data);
            e[E_D0] = e[E_D1] = 0;
            break;
        }
        e[E_USED] = now;
        result = data;
        break;
    }
    if (unlock_at(self, lock) < 0) {
        if (result != Py_None)
            Py_XDECREF(result);
        return NULL;
    }
    if (result == Py_None)
        Py_RETURN_NONE;
    return result;
}

/* Take a new stretch of the ring for this process (at least length bytes) and set *start to
   its start; -1 with an exception set. */
static int
take_chunk(RingOps *self, int64_t length, int64_t *start)
{
    int64_t size = CHUNK < self->largest ? CHUNK : self->largest;
    if (length > size)
        size = length;
    if (lock_at(self, HEADER_LOCK) < 0)
        return -1;
    int64_t cursor = self->fields[H_CURSOR];
    int64_t offset = floor_mod(cursor, self->arena);
    if (offset + size > self->arena) /* never split a stretch over the ring's end */
        cursor += self->arena - offset;
    __atomic_store_n(&self->fields[H_CURSOR], cursor + size, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE); /* the cursor moves before the stretch is written */
    if (unlock_at(self, HEADER_LOCK) < 0)
        return -1;
    self->chunk_end = cursor + size;
    *start = cursor;
    return 0;
}

/* put(digest, value, now_ms, ttl_ms) -> bool */
static PyObject *
RingOps_put(RingOps *self, PyObject *const *args, Py_ssize_t nargs)
{
    int64_t d0, d1, now, ttl, expires;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "put(digest, value, now_ms, ttl_ms)");
        return NULL;
    }
    if (!ready(self) || digest_halves(args[0], &d0, &d1) < 0 || int64_arg(args[2], &now) < 0 ||
        int64_arg(args[3], &ttl) < 0)
        return NULL;
    if (__builtin_add_overflow(now, ttl, &expires)) {
        PyErr_SetString(PyExc_OverflowError, "now_ms + ttl_ms does not fit 64 bits");
        return NULL;
    }
    Py_buffer value;
    if (PyObject_GetBuffer(args[1], &value, PyBUF_SIMPLE) < 0)
        return NULL;
    int64_t length = value.len;
    if (length > self->largest || length == 0) {
        PyBuffer_Release(&value);
        Py_RETURN_FALSE;
    }
    int64_t pos = self->chunk_pos;
    /* A stretch the others have since taken half the ring beyond is given up: its bytes
       will soon be theirs again. */
    if (pos + length > self->chunk_end || cursor_now(self) > self->chunk_end + self->arena / 2) {
        if (take_chunk(self, length, &pos) < 0) {
            PyBuffer_Release(&value);
            return NULL;
        }
    }
    self->chunk_pos = pos + length;
    memcpy(self->base + self->arena_at + floor_mod(pos, self->arena), value.buf, (size_t)length);
    int64_t crc = (int64_t)crc32(0L, (const Bytef *)value.buf, (uInt)length);
    PyBuffer_Release(&value);

    int64_t bucket = floor_mod(d0, self->buckets);
    Py_ssize_t lock = HEADER_BYTES + (Py_ssize_t)bucket * LOCK_BYTES;
    int64_t *ways = (int64_t *)(self->base + self->index_at) + bucket * WAYS * ENTRY_FIELDS;
    if (lock_at(self, lock) < 0)
        return NULL;
    int64_t run_over = cursor_now(self) - self->arena; /* a way whose bytes start before this is dead */
    int victim = 0, have_oldest = 0;
    int64_t oldest = 0;
    for (int way = 0; way < WAYS; way++) {
        int64_t *e = ways + way * ENTRY_FIELDS;
        if (e[E_D0] == d0 && e[E_D1] == d1) {
            victim = way;
            break;
        }
        int dead = (e[E_D0] == 0 && e[E_D1] == 0) || e[E_EXPIRES] <= now || e[E_POS] < run_over;
        int64_t used = dead ? -1 : e[E_USED];
        if (!have_oldest || used < oldest) {
            have_oldest = 1;
            oldest = used;
            victim = way;
        }
    }
    int64_t *e = ways + victim * ENTRY_FIELDS;
    e[E_D0] = d0;
    e[E_D1] = d1;
    e[E_POS] = pos;
    e[E_LEN] = length;
    e[E_EXPIRES] = expires;
    e[E_USED] = now;
    e[E_CRC] = crc;
    if (unlock_at(self, lock) < 0)
        return NULL;
    Py_RETURN_TRUE;
}

static PyObject *
RingOps_release(RingOps *self, PyObject *Py_UNUSED(ignored))
{
    if (self->has_view) {
        PyBuffer_Release(&self->view);
        self->has_view = 0;
    }
    Py_RETURN_NONE;
}

static PyMethodDef RingOps_methods[] = {
    {"get", (PyCFunction)(void (*)(void))RingOps_get, METH_FASTCALL,
     "get(digest, now_ms) -> bytes | None: the live answer stored under digest."},
    {"put", (PyCFunction)(void (*)(void))RingOps_put, METH_FASTCALL,
     "put(digest, value, now_ms, ttl_ms) -> bool: False when value is empty or over an eighth of the ring."},
    {"release", (PyCFunction)RingOps_release, METH_NOARGS,
     "release(): drop the view of the mapping (before the mapping is closed)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RingOpsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ferrogate.cache._ring_ops.RingOps",
    .tp_basicsize = sizeof(RingOps),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The answer cache's get and put on a mapped segment whose locks are mutexes.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)RingOps_init,
    .tp_dealloc = (destructor)RingOps_dealloc,
    .tp_methods = RingOps_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ferrogate.cache._ring_ops",
    .m_doc = "The answer cache's get and put in C.",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__ring_ops(void)
{
    if (PyType_Ready(&RingOpsType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    PyObject *layout = Py_BuildValue("(Liiiiii)", (long long)MAGIC, HEADER_BYTES, LOCK_BYTES, WAYS, ENTRY_FIELDS,
                                     HEADER_LOCK, CHUNK);
    Py_INCREF(&RingOpsType);
    if (layout == NULL || PyModule_AddObject(m, "LAYOUT", layout) < 0) {
        Py_XDECREF(layout);
        Py_DECREF(&RingOpsType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddObject(m, "RingOps", (PyObject *)&RingOpsType) < 0) {
        Py_DECREF(&RingOpsType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
