/*
 * Process-shared, robust pthread mutexes inside a shared-memory segment.
 *
 * The counter table and the answer cache are memfd segments every worker maps.
 * Their slots were guarded by fcntl record locks: two system calls per critical
 * section, and every lock of one file goes through that inode's one lock list in
 * the kernel, so workers on different slots still queued behind each other. A
 * mutex in the segment costs an atomic instruction when nobody holds it and a
 * futex wait only when someone does. Robust (PTHREAD_MUTEX_ROBUST): when a
 * process dies holding one, the kernel marks it and the next locker gets
 * EOWNERDEAD; it makes the mutex consistent and carries on (the counters under
 * it are sums, so a half-applied update is at worst one request's amount).
 *
 * MutexArray(buffer) keeps a view of the mapping; lock/unlock/init take a byte
 * offset into it. A lock that is busy waits with the GIL released, so a thread
 * of the same process that holds it can finish.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "shm_mutex_lock.h"

typedef struct {
    PyObject_HEAD
    Py_buffer view;
    int has_view;
} MutexArray;

static pthread_mutex_t *
mutex_at(MutexArray *self, Py_ssize_t offset)
{
    if (!self->has_view) {
        PyErr_SetString(PyExc_ValueError, "the mutex array was released");
        return NULL;
    }
    if (offset < 0 || offset % 8 != 0 ||
        offset > self->view.len - (Py_ssize_t)sizeof(pthread_mutex_t)) {
        PyErr_Format(PyExc_ValueError, "no mutex fits at offset %zd", offset);
        return NULL;
    }
    return (pthread_mutex_t *)((char *)self->view.buf + offset);
}

/* The mutex a method's one argument (a byte offset) names, or NULL with an exception set. */
static pthread_mutex_t *
mutex_arg(MutexArray *self, PyObject *arg)
{
    Py_ssize_t offset = PyLong_AsSsize_t(arg);
    if (offset == -1 && PyErr_Occurred())
        return NULL;
    return mutex_at(self, offset);
}

static int
MutexArray_init(MutexArray *self, PyObject *args, PyObject *kwds)
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
    return 0;
}

static void
MutexArray_dealloc(MutexArray *self)
{
    if (self->has_view)
        PyBuffer_Release(&self->view);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
MutexArray_create(MutexArray *self, PyObject *arg)
{
    pthread_mutex_t *m = mutex_arg(self, arg);
    if (m == NULL)
        return NULL;
    pthread_mutexattr_t attr;
    int rc = pthread_mutexattr_init(&attr);
    if (rc == 0)
        rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0)
        rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (rc == 0)
        rc = pthread_mutex_init(m, &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc != 0) {
        errno = rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyObject *
MutexArray_lock(MutexArray *self, PyObject *arg)
{
    pthread_mutex_t *m = mutex_arg(self, arg);
    if (m == NULL)
        return NULL;
    int died;
    int rc = shm_mutex_acquire(m, &died);
    if (rc != 0) {
        errno = rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (died)
        Py_RETURN_TRUE; /* locked; its previous holder died holding it */
    Py_RETURN_FALSE;
}

static PyObject *
MutexArray_unlock(MutexArray *self, PyObject *arg)
{
    pthread_mutex_t *m = mutex_arg(self, arg);
    if (m == NULL)
        return NULL;
    int rc = pthread_mutex_unlock(m);
    if (rc != 0) {
        errno = rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyObject *
MutexArray_release(MutexArray *self, PyObject *Py_UNUSED(ignored))
{
    if (self->has_view) {
        PyBuffer_Release(&self->view);
        self->has_view = 0;
    }
    Py_RETURN_NONE;
}

static PyMethodDef MutexArray_methods[] = {
    {"create", (PyCFunction)MutexArray_create, METH_O,
     "create(offset): initialise a process-shared robust mutex at this byte offset."},
    {"lock", (PyCFunction)MutexArray_lock, METH_O,
     "lock(offset) -> bool: True when the previous holder died holding it."},
    {"unlock", (PyCFunction)MutexArray_unlock, METH_O, "unlock(offset)"},
    {"release", (PyCFunction)MutexArray_release, METH_NOARGS,
     "release(): drop the view of the mapping (before the mapping is closed)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject MutexArrayType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ferrogate.ipc._shm_mutex.MutexArray",
    .tp_basicsize = sizeof(MutexArray),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Robust process-shared mutexes at byte offsets of a writable buffer.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)MutexArray_init,
    .tp_dealloc = (destructor)MutexArray_dealloc,
    .tp_methods = MutexArray_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ferrogate.ipc._shm_mutex",
    .m_doc = "Process-shared robust mutexes in shared memory.",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__shm_mutex(void)
{
    if (PyType_Ready(&MutexArrayType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&MutexArrayType);
    if (PyModule_AddObject(m, "MutexArray", (PyObject *)&MutexArrayType) < 0 ||
        PyModule_AddIntConstant(m, "MUTEX_BYTES", (long)sizeof(pthread_mutex_t)) < 0) {
        Py_DECREF(&MutexArrayType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
