/* The body of a long SSE stream (OpenAI chat or Responses, Anthropic Messages), relayed from the
 * upstream socket to the client socket without Python per event.
 *
 * Python hands over once the stream's head and first events are out and the upstream's chunked
 * framing sits at a chunk boundary: two dup()ed, non-blocking sockets and the policy hooks. The
 * event loop calls readable() when the upstream socket has bytes and writable() when a blocked
 * client socket drains. Per read: decode the chunked framing, keep the unfinished SSE event,
 * write the complete events as one chunk. Only a block holding a marker Python decides on (the
 * stream's own: `[DONE]` or a `"usage": {` object for chat, the terminal event names for the
 * others) goes through `inspect(block) -> bytes` (an Exception it raises is kept as `failure`);
 * the other blocks only have a substring counted when asked (the Responses API's events, for the
 * sequence number of an error event after them). Every state change goes to `notify(code)`. While the client is blocked the upstream is not read (TCP backpressure).
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum { N_BLOCKED = 1, N_UNBLOCKED, N_DONE, N_UPSTREAM_EOF, N_UPSTREAM_ERROR, N_CLIENT_GONE,
       N_TOO_LARGE, N_BAD_FRAMING, N_INSPECT_FAILED };

enum { C_SIZE, C_SIZE_TAIL, C_EXT, C_SIZE_LF, C_DATA, C_DATA_CR, C_DATA_LF, C_TRAILER, C_TRAILER_LINE,
       C_TRAILER_LF, C_DONE };

#define READ_SIZE 65536

typedef struct {
    PyObject_HEAD
    int up_fd;
    int client_fd;
    int chunk_state;
    int size_digits;
    int finished; /* a terminal code was notified */
    unsigned long long chunk_left;
    char *pend;
    Py_ssize_t pend_len, pend_cap;
    char *out;
    Py_ssize_t out_len, out_off, out_cap;
    Py_ssize_t max_event;
    PyObject *inspect;
    PyObject *notify;
    PyObject *failure; /* what inspect raised */
    PyObject *markers; /* tuple of bytes: a block holding one goes through inspect */
    int usage_object;  /* also inspect a block with a "usage" key whose value is an object */
    PyObject *count;   /* bytes counted in the blocks written without inspect (b"" for none) */
    long long counted;
    double last_read;
    long long bytes_out;
    int error;
} Relay;

static double now_secs(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Let an emptied buffer go: a stream between events holds no buffer (most reads end with their
 * last event), so a thousand open streams do not keep a thousand of them. */
static void release(char **buf, Py_ssize_t *cap) {
    PyMem_Free(*buf);
    *buf = NULL;
    *cap = 0;
}

static int grow(char **buf, Py_ssize_t *cap, Py_ssize_t need) {
    if (need <= *cap) return 0;
    Py_ssize_t cap2 = *cap ? *cap : 256; /* most reads are one small event */
    while (cap2 < need) cap2 *= 2;
    char *p = PyMem_Realloc(*buf, (size_t)cap2);
    if (p == NULL) { PyErr_NoMemory(); return -1; }
    *buf = p;
    *cap = cap2;
    return 0;
}

/* Tell Python; returns -1 when its callback raised. */
static int tell(Relay *self, int code) {
    if (code >= N_DONE) {
        if (self->finished) return 0;
        self->finished = 1;
    }
    PyObject *arg = PyLong_FromLong(code);
    if (arg == NULL) return -1;
    PyObject *res = PyObject_CallOneArg(self->notify, arg);
    Py_DECREF(arg);
    if (res == NULL) return -1;
    Py_DECREF(res);
    return 0;
}

/* Send the held bytes; 1 when all went, 0 when the socket is full, -1 when the client is gone. */
static int flush_out(Relay *self) {
    while (self->out_off < self->out_len) {
        ssize_t n = send(self->client_fd, self->out + self->out_off, (size_t)(self->out_len - self->out_off),
                         MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            self->error = errno;
            return -1;
        }
        self->out_off += n;
    }
    self->out_len = self->out_off = 0;
    release(&self->out, &self->out_cap);
    return 1;
}

/* Write `data` as one chunk; 1 sent, 0 held (the client is blocked), -1 client gone or no memory. */
static int write_chunk(Relay *self, const char *data, Py_ssize_t len) {
    char head[24];
    int hlen = snprintf(head, sizeof head, "%zx\r\n", (size_t)len);
    self->bytes_out += len;
    Py_ssize_t total = hlen + len + 2;
    Py_ssize_t sent = 0;
    if (self->out_len == 0) {
        struct iovec iov[3] = {{head, (size_t)hlen}, {(void *)data, (size_t)len}, {"\r\n", 2}};
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        msg.msg_iov = iov;
        msg.msg_iovlen = 3;
        ssize_t n;
        do {
            n = sendmsg(self->client_fd, &msg, MSG_NOSIGNAL);
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) { self->error = errno; return -1; }
            n = 0;
        }
        sent = n;
        if (sent == total) return 1;
    }
    /* Hold what did not go: the framed bytes from `sent` on. */
    Py_ssize_t keep = total - sent;
    if (grow(&self->out, &self->out_cap, self->out_len + keep) < 0) return -1;
    char *dst = self->out + self->out_len;
    for (Py_ssize_t i = sent; i < total; i++) {
        char c;
        if (i < hlen) c = head[i];
        else if (i < hlen + len) c = data[i - hlen];
        else c = (i == hlen + len) ? '\r' : '\n';
        *dst++ = c;
    }
    self->out_len += keep;
    return 0;
}

/* Where a "usage" key whose value is an object starts, or NULL (`"usage":null` rides on every
 * chunk of a chat stream that asked for usage, and is not worth a look). In C, since CPython's
 * bytes.find crawls through JSON (a needle opening with `"`): 4x slower on a short stream; by
 * memchr for the key's 'u', then its quotes around it: a chunk holds a few 'u's, and memmem
 * set up its search (a shift table) on every call, about 470 instructions an event. */
static const char *usage_object_at(const char *p, Py_ssize_t len) {
    const char *end = p + len;
    const char *u = p + 1;
    while (end - u >= 6 && (u = memchr(u, 'u', (size_t)(end - u))) != NULL) {
        if (end - u < 6) break;
        if (u[-1] == '"' && memcmp(u, "usage\"", 6) == 0) {
            const char *q = u + 6;
            while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')) q++;
            if (q < end && *q == ':') {
                q++;
                while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')) q++;
                if (q < end && *q == '{') return u - 1;
            }
        }
        u++;
    }
    return NULL;
}

/* The first `needle` in p[0:len], or NULL: memchr for its first byte, then the rest compared.
 * memmem sets up its search on every call (about 470 instructions), and a relay asks two or
 * three times a read of one event. */
static const char *find_in(const char *p, Py_ssize_t len, const char *needle, Py_ssize_t nlen) {
    if (nlen <= 0) return p;
    const char *end = p + len;
    while (end - p >= nlen && (p = memchr(p, needle[0], (size_t)(end - p - nlen + 1))) != NULL) {
        if (memcmp(p + 1, needle + 1, (size_t)(nlen - 1)) == 0) return p;
        p++;
    }
    return NULL;
}

/* Does the block hold something Python decides on? */
static int has_marker(Relay *self, const char *p, Py_ssize_t len) {
    PyObject *markers = self->markers;
    Py_ssize_t n = markers == NULL ? 0 : PyTuple_GET_SIZE(markers);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *m = PyTuple_GET_ITEM(markers, i);
        if (find_in(p, len, PyBytes_AS_STRING(m), PyBytes_GET_SIZE(m)) != NULL) return 1;
    }
    return self->usage_object && usage_object_at(p, len) != NULL;
}

static long long count_in(const char *p, Py_ssize_t len, const char *what, Py_ssize_t wlen) {
    long long n = 0;
    const char *end = p + len;
    while ((p = find_in(p, end - p, what, wlen)) != NULL) {
        n++;
        p += wlen;
    }
    return n;
}

/* End of the last complete event in the pending bytes (a blank line: LF LF or CRLF CRLF), or 0. */
static Py_ssize_t last_event_end(const char *p, Py_ssize_t len) {
    for (Py_ssize_t i = len - 1; i >= 1; i--) {
        if (p[i] != '\n') continue;
        if (p[i - 1] == '\n') return i + 1;
        if (i >= 3 && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') return i + 1;
    }
    return 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode the chunked framing of `n` read bytes, appending payload to the pending event bytes.
 * Returns 0, or a notify code (framing error), or -1 (no memory). */
static int decode(Relay *self, const char *buf, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        char c = buf[i];
        switch (self->chunk_state) {
        case C_SIZE: {
            int v = hexval(c);
            if (v >= 0) {
                if (self->size_digits >= 12) return N_BAD_FRAMING;
                self->chunk_left = self->chunk_left * 16 + (unsigned)v;
                self->size_digits++;
                i++;
                break;
            }
            if (self->size_digits == 0) return N_BAD_FRAMING;
            self->chunk_state = C_SIZE_TAIL;
            break;
        }
        case C_SIZE_TAIL:
            if (c == ' ' || c == '\t') { i++; break; }
            if (c == ';') { self->chunk_state = C_EXT; i++; break; }
            if (c == '\r') { self->chunk_state = C_SIZE_LF; i++; break; }
            return N_BAD_FRAMING;
        case C_EXT:
            if (c == '\r') self->chunk_state = C_SIZE_LF;
            else if (c == '\n') return N_BAD_FRAMING;
            i++;
            break;
        case C_SIZE_LF:
            if (c != '\n') return N_BAD_FRAMING;
            i++;
            self->chunk_state = self->chunk_left ? C_DATA : C_TRAILER;
            break;
        case C_DATA: {
            Py_ssize_t take = n - i;
            if ((unsigned long long)take > self->chunk_left) take = (Py_ssize_t)self->chunk_left;
            if (grow(&self->pend, &self->pend_cap, self->pend_len + take) < 0) return -1;
            memcpy(self->pend + self->pend_len, buf + i, (size_t)take);
            self->pend_len += take;
            self->chunk_left -= (unsigned long long)take;
            i += take;
            if (self->chunk_left == 0) self->chunk_state = C_DATA_CR;
            break;
        }
        case C_DATA_CR:
            if (c != '\r') return N_BAD_FRAMING;
            self->chunk_state = C_DATA_LF;
            i++;
            break;
        case C_DATA_LF:
            if (c != '\n') return N_BAD_FRAMING;
            self->chunk_state = C_SIZE;
            self->size_digits = 0;
            i++;
            break;
        case C_TRAILER: /* after the last chunk: an empty line ends the message, else a field */
            if (c == '\r') { self->chunk_state = C_TRAILER_LF; i++; break; }
            self->chunk_state = C_TRAILER_LINE;
            break;
        case C_TRAILER_LINE:
            if (c == '\n') self->chunk_state = C_TRAILER;
            i++;
            break;
        case C_TRAILER_LF:
            if (c != '\n') return N_BAD_FRAMING;
            self->chunk_state = C_DONE;
            i++;
            break;
        case C_DONE:
            return N_BAD_FRAMING; /* bytes after the end of the message */
        }
    }
    return 0;
}

/* Write the complete events now pending. Returns 1 written, 0 held, or a notify code. */
static int relay_events(Relay *self) {
    Py_ssize_t end = last_event_end(self->pend, self->pend_len);
    int sent = 1;
    if (end > 0) {
        if (has_marker(self, self->pend, end)) {
            PyObject *block = PyBytes_FromStringAndSize(self->pend, end);
            if (block == NULL) return -1;
            PyObject *res = PyObject_CallOneArg(self->inspect, block);
            Py_DECREF(block);
            if (res == NULL) {
                /* Kept for Python to raise where it awaits the relay, not in the loop's callback. */
                if (!PyErr_ExceptionMatches(PyExc_Exception)) return -1;
                PyObject *type, *value, *tb;
                PyErr_Fetch(&type, &value, &tb);
                PyErr_NormalizeException(&type, &value, &tb);
                Py_XDECREF(type);
                Py_XDECREF(tb);
                Py_XSETREF(self->failure, value);
                return N_INSPECT_FAILED;
            }
            if (!PyBytes_Check(res)) { Py_DECREF(res); return N_INSPECT_FAILED; }
            if (PyBytes_GET_SIZE(res) > 0)
                sent = write_chunk(self, PyBytes_AS_STRING(res), PyBytes_GET_SIZE(res));
            Py_DECREF(res);
        } else {
            Py_ssize_t clen = self->count == NULL ? 0 : PyBytes_GET_SIZE(self->count);
            if (clen) self->counted += count_in(self->pend, end, PyBytes_AS_STRING(self->count), clen);
            sent = write_chunk(self, self->pend, end);
        }
        if (sent < 0) return self->error ? N_CLIENT_GONE : -1;
        memmove(self->pend, self->pend + end, (size_t)(self->pend_len - end));
        self->pend_len -= end;
        if (self->pend_len == 0) release(&self->pend, &self->pend_cap);
    }
    if (self->pend_len > self->max_event) return N_TOO_LARGE;
    return sent;
}

static PyObject *Relay_readable(Relay *self, PyObject *Py_UNUSED(ignored)) {
    if (self->finished || self->out_len) Py_RETURN_NONE;
    char buf[READ_SIZE];
    ssize_t n;
    do {
        n = recv(self->up_fd, buf, sizeof buf, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) Py_RETURN_NONE;
        self->error = errno;
        if (tell(self, N_UPSTREAM_ERROR) < 0) return NULL;
        Py_RETURN_NONE;
    }
    if (n == 0) {
        if (tell(self, self->chunk_state == C_DONE ? N_DONE : N_UPSTREAM_EOF) < 0) return NULL;
        Py_RETURN_NONE;
    }
    self->last_read = now_secs();
    int code = decode(self, buf, n);
    if (code < 0) return NULL;
    if (code == 0) {
        code = relay_events(self);
        if (code < 0) return NULL;
        if (code == 0) code = N_BLOCKED;
        else if (code == 1) code = self->chunk_state == C_DONE ? N_DONE : 0;
    }
    if (code && tell(self, code) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Relay_writable(Relay *self, PyObject *Py_UNUSED(ignored)) {
    if (self->finished) Py_RETURN_NONE;
    int done = flush_out(self);
    int code = 0;
    if (done < 0) code = N_CLIENT_GONE;
    else if (done > 0) code = self->chunk_state == C_DONE ? N_DONE : N_UNBLOCKED;
    if (code && tell(self, code) < 0) return NULL;
    Py_RETURN_NONE;
}

static void close_fds(Relay *self) {
    if (self->up_fd >= 0) { close(self->up_fd); self->up_fd = -1; }
    if (self->client_fd >= 0) { close(self->client_fd); self->client_fd = -1; }
}

static PyObject *Relay_close(Relay *self, PyObject *Py_UNUSED(ignored)) {
    self->finished = 1;
    close_fds(self);
    Py_RETURN_NONE;
}

static PyObject *Relay_pending(Relay *self, PyObject *Py_UNUSED(ignored)) {
    return PyBytes_FromStringAndSize(self->pend, self->pend_len);
}

static int Relay_init(Relay *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"up_fd", "client_fd", "max_event_bytes", "inspect", "notify", "markers",
                             "usage_object", "count", NULL};
    int up, client, usage_object = 0;
    Py_ssize_t max_event;
    PyObject *inspect, *notify, *markers, *count = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iinOOO!|$pS", kwlist, &up, &client, &max_event, &inspect,
                                     &notify, &PyTuple_Type, &markers, &usage_object, &count))
        return -1;
    if (!PyCallable_Check(inspect) || !PyCallable_Check(notify)) {
        PyErr_SetString(PyExc_TypeError, "inspect and notify must be callable");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(markers); i++) {
        PyObject *m = PyTuple_GET_ITEM(markers, i);
        if (!PyBytes_Check(m) || PyBytes_GET_SIZE(m) == 0) {
            PyErr_SetString(PyExc_TypeError, "markers must be non-empty bytes");
            return -1;
        }
    }
    if (count == NULL) count = PyBytes_FromStringAndSize(NULL, 0);
    else Py_INCREF(count);
    if (count == NULL) return -1;
    close_fds(self);
    self->up_fd = up;
    self->client_fd = client;
    self->max_event = max_event;
    self->usage_object = usage_object;
    Py_INCREF(inspect);
    Py_XSETREF(self->inspect, inspect);
    Py_INCREF(notify);
    Py_XSETREF(self->notify, notify);
    Py_INCREF(markers);
    Py_XSETREF(self->markers, markers);
    Py_XSETREF(self->count, count);
    self->last_read = now_secs();
    return 0;
}

static PyObject *Relay_new(PyTypeObject *type, PyObject *Py_UNUSED(args), PyObject *Py_UNUSED(kwds)) {
    Relay *self = (Relay *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->up_fd = self->client_fd = -1;
        self->chunk_state = C_SIZE;
    }
    return (PyObject *)self;
}

static int Relay_traverse(Relay *self, visitproc visit, void *arg) {
    Py_VISIT(self->inspect);
    Py_VISIT(self->notify);
    Py_VISIT(self->failure);
    Py_VISIT(self->markers);
    Py_VISIT(self->count);
    return 0;
}

static int Relay_clear(Relay *self) {
    Py_CLEAR(self->inspect);
    Py_CLEAR(self->notify);
    Py_CLEAR(self->failure);
    Py_CLEAR(self->markers);
    Py_CLEAR(self->count);
    return 0;
}

static void Relay_dealloc(Relay *self) {
    PyObject_GC_UnTrack(self);
    close_fds(self);
    Relay_clear(self);
    PyMem_Free(self->pend);
    PyMem_Free(self->out);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Relay_methods[] = {
    {"readable", (PyCFunction)Relay_readable, METH_NOARGS, "The upstream socket has bytes."},
    {"writable", (PyCFunction)Relay_writable, METH_NOARGS, "The blocked client socket can take more."},
    {"close", (PyCFunction)Relay_close, METH_NOARGS, "Stop; close both sockets' duplicates."},
    {"pending", (PyCFunction)Relay_pending, METH_NOARGS, "Bytes of an event not yet ended."},
    {NULL}};

static PyMemberDef Relay_members[] = {
    {"last_read", T_DOUBLE, offsetof(Relay, last_read), READONLY, "CLOCK_MONOTONIC seconds of the last upstream read."},
    {"bytes_out", T_LONGLONG, offsetof(Relay, bytes_out), READONLY, "Body bytes written to the client."},
    {"error", T_INT, offsetof(Relay, error), READONLY, "errno of a failed socket call."},
    {"failure", T_OBJECT, offsetof(Relay, failure), READONLY, "What inspect raised (INSPECT_FAILED), or None."},
    {"counted", T_LONGLONG, offsetof(Relay, counted), READONLY, "Times `count` was found in blocks not inspected."},
    {NULL}};

static PyTypeObject RelayType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ferrogate._fastpath._sse_relay.SseRelay",
    .tp_basicsize = sizeof(Relay),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "An SSE stream's body relayed between two sockets.",
    .tp_new = Relay_new,
    .tp_init = (initproc)Relay_init,
    .tp_dealloc = (destructor)Relay_dealloc,
    .tp_traverse = (traverseproc)Relay_traverse,
    .tp_clear = (inquiry)Relay_clear,
    .tp_methods = Relay_methods,
    .tp_members = Relay_members,
};

static PyObject *find_usage_object(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t start;
    if (nargs != 2 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "find_usage_object(block: bytes, start: int)");
        return NULL;
    }
    start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) return NULL;
    const char *p = PyBytes_AS_STRING(args[0]);
    Py_ssize_t len = PyBytes_GET_SIZE(args[0]);
    if (start < 0) start = 0;
    if (start >= len) return PyLong_FromLong(-1);
    const char *at = usage_object_at(p + start, len - start);
    return PyLong_FromSsize_t(at == NULL ? -1 : at - p);
}

static PyMethodDef module_methods[] = {
    {"find_usage_object", (PyCFunction)(void (*)(void))find_usage_object, METH_FASTCALL,
     "Index of the first \"usage\" key at or after start whose value is an object, or -1."},
    {NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sse_relay", NULL, -1, module_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__sse_relay(void) {
    if (PyType_Ready(&RelayType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&RelayType);
    if (PyModule_AddObject(m, "SseRelay", (PyObject *)&RelayType) < 0) {
        Py_DECREF(&RelayType);
        Py_DECREF(m);
        return NULL;
    }
    static const struct { const char *name; int value; } codes[] = {
        {"BLOCKED", N_BLOCKED}, {"UNBLOCKED", N_UNBLOCKED}, {"DONE", N_DONE},
        {"UPSTREAM_EOF", N_UPSTREAM_EOF}, {"UPSTREAM_ERROR", N_UPSTREAM_ERROR},
        {"CLIENT_GONE", N_CLIENT_GONE}, {"TOO_LARGE", N_TOO_LARGE},
        {"BAD_FRAMING", N_BAD_FRAMING}, {"INSPECT_FAILED", N_INSPECT_FAILED}};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (PyModule_AddIntConstant(m, codes[i].name, codes[i].value) < 0) { Py_DECREF(m); return NULL; }
    return m;
}
