/*
 * Taking one of the robust process-shared mutexes that guard the node's shared-memory
 * segments (the counter table, the answer cache), the same way in every native module
 * (ipc/_shm_mutex.c, governance/_counter_ops.c, cache/_ring_ops.c): an atomic try first;
 * when another process holds it, wait with the GIL released (a thread of this process may
 * be the holder); when its holder died holding it (EOWNERDEAD), make it consistent and go
 * on: what it guards are sums and an index that readers check.
 */
#ifndef FERROGATE_SHM_MUTEX_LOCK_H
#define FERROGATE_SHM_MUTEX_LOCK_H

#include <Python.h>
#include <errno.h>
#include <pthread.h>

/* 0 when locked (*died set when its previous holder had died holding it), else an errno. */
static inline int
shm_mutex_acquire(pthread_mutex_t *m, int *died)
{
    *died = 0;
    int rc = pthread_mutex_trylock(m);
    if (rc == EBUSY) {
        Py_BEGIN_ALLOW_THREADS
        rc = pthread_mutex_lock(m);
        Py_END_ALLOW_THREADS
    }
    if (rc == EOWNERDEAD) {
        rc = pthread_mutex_consistent(m);
        *died = rc == 0;
    }
    return rc;
}

#endif
