/*
 * The answer cache key's canonical body (ferrogate/cache/key.py) in one C pass.
 *
 * Bodies that differ only in key order or whitespace share a cache entry, so the
 * key hashes the body as orjson.dumps(orjson.loads(body), option=OPT_SORT_KEYS).
 * That round trip builds a dict, lists and strs only to print them again: ~1.4 us
 * a request. canonical(body) writes the same bytes straight from the input -
 * whitespace dropped, object members sorted by key, strings escaped the way orjson
 * escapes them, numbers printed the way orjson prints them - without making any
 * Python object but the result. Whatever it cannot prove orjson prints the same
 * way (invalid JSON, floats with exponents or more than 15 significant digits,
 * integers past 18 digits, keys that need escapes, nesting deeper than 128, ...)
 * gives None, and the caller falls back to orjson: None is always safe, other
 * bytes than orjson's never are.
 *
 * The output never outgrows the input: whitespace is dropped and each token is
 * written in at most as many bytes as it was read from (an escape decodes to at
 * most its own length, a float only loses trailing zeros, a rewritten object only
 * loses duplicate members). So one buffer of len(body) bytes holds any result, it
 * never moves, and pointers into it stay valid.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 128       /* orjson.dumps itself fails from depth 255 */
#define MAX_INT_DIGITS 18   /* fits int64 with room: printed as read */
#define MAX_SIG_DIGITS 15   /* DBL_DIG: such a decimal is its own shortest repr */
#define SMALL 4096          /* bodies up to this many bytes use stack buffers */
#define SMALL_MEMBERS 64

#define DIGIT(c) ((unsigned)(c) - '0' < 10u)
#define IS_WS(c) ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')

typedef struct {
    const char *key;    /* key as written, between its quotes */
    size_t key_len;
    char *start;        /* `"key":value` as written */
    size_t len;         /* 0 once dropped as an earlier duplicate */
    size_t idx;         /* position in the input, for a stable qsort */
} Member;

typedef struct {
    char *scratch;      /* copy of an object's members while they are put in order */
    int scratch_heap;
    size_t cap_bytes;   /* len(body): bounds every span */
    Member *mem;        /* members of every open object, innermost last */
    size_t nmem, cap_mem;
    int mem_heap;
} State;

/* String bytes: 0 copied as is, 1 '"', 2 '\\', 3 control (rejected), 4 non-ASCII. */
static unsigned char CLS[256];

static void init_cls(void)
{
    for (int c = 0; c < 256; c++)
        CLS[c] = c < 0x20 ? 3 : c >= 0x80 ? 4 : 0;
    CLS['"'] = 1;
    CLS['\\'] = 2;
}

static const char HEX[] = "0123456789abcdef";

static int hex4(const unsigned char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (DIGIT(c))
            d = c - '0';
        else if ((c | 0x20u) - 'a' < 6u)
            d = (c | 0x20u) - 'a' + 10;
        else
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

/* Whether any of 8 bytes is a control, '"', '\\' or non-ASCII (exact as an "any"). */
#define B8(x) (0x0101010101010101ULL * (x))
static inline uint64_t special8(uint64_t w)
{
    uint64_t q = w ^ B8('"'), b = w ^ B8('\\');
    return (((w - B8(0x20)) & ~w) | ((q - B8(1)) & ~q) | ((b - B8(1)) & ~b) | w)
           & B8(0x80);
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t avail = (size_t)(end - p);
    if (c >= 0xC2 && c <= 0xDF)
        return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return avail >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return avail >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80
               && (p[3] & 0xC0) == 0x80 ? 4 : 0;
    }
    return 0;
}

/* Code point cp as orjson writes it: '"' and '\\' and controls escaped (\b \t \n \f \r
 * short, the rest \u00xx in lower case), everything else raw UTF-8 (0x7f included). */
static char *put_cp(char *o, unsigned cp, int *escaped)
{
    if (cp < 0x20 || cp == '"' || cp == '\\') {
        *escaped = 1;
        *o++ = '\\';
        switch (cp) {
        case '"': case '\\': *o++ = (char)cp; break;
        case '\b': *o++ = 'b'; break;
        case '\t': *o++ = 't'; break;
        case '\n': *o++ = 'n'; break;
        case '\f': *o++ = 'f'; break;
        case '\r': *o++ = 'r'; break;
        default:
            memcpy(o, "u00", 3);
            o[3] = HEX[cp >> 4];
            o[4] = HEX[cp & 15];
            o += 5;
        }
    } else if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | cp >> 12);
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | cp >> 18);
        *o++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* A string, *pp just past its opening quote. Sets *escaped if the output holds a
 * backslash. Returns -1 for anything orjson rejects. */
static inline int string(const unsigned char **pp, const unsigned char *end, char **oo,
                         int *escaped)
{
    const unsigned char *p = *pp;
    char *o = *oo;
    *o++ = '"';
    for (;;) {
        while (end - p >= 8) {          /* 8 bytes at a time; o <= p, so there is room */
            uint64_t w, special;
            memcpy(&w, p, 8);
            memcpy(o, &w, 8);
            if ((special = special8(w))) {
                unsigned plain = (unsigned)__builtin_ctzll(special) >> 3;
                p += plain;
                o += plain;
                goto stop;
            }
            o += 8;
            p += 8;
        }
        while (p < end && CLS[*p] == 0)
            *o++ = (char)*p++;
        if (p >= end)
            return -1;
    stop:
        switch (CLS[*p]) {
        case 1:
            *o++ = '"';
            *pp = p + 1;
            *oo = o;
            return 0;
        case 3:
            return -1;
        case 4: {
            size_t n = utf8_len(p, end);
            if (!n)
                return -1;
            while (n--)
                *o++ = (char)*p++;
            continue;
        }
        }
        if (end - p < 2)
            return -1;
        unsigned c = p[1];
        p += 2;
        switch (c) {
        case '"': case '\\': case 'b': case 'f': case 'n': case 'r': case 't':
            *escaped = 1;
            *o++ = '\\';
            *o++ = (char)c;
            break;
        case '/':
            *o++ = '/';
            break;
        case 'u': {
            unsigned cp, lo;
            if (end - p < 4 || hex4(p, &cp))
                return -1;
            p += 4;
            if (cp >= 0xD800 && cp < 0xE000) {  /* a high surrogate, then its low one */
                if (cp >= 0xDC00 || end - p < 6 || p[0] != '\\' || p[1] != 'u'
                    || hex4(p + 2, &lo) || lo < 0xDC00 || lo >= 0xE000)
                    return -1;
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            o = put_cp(o, cp, escaped);
            break;
        }
        default:
            return -1;
        }
    }
}

/* A number, *pp at its first byte. Integers: printed as read when canonical and at
 * most 18 digits. Floats: only -?(0|[1-9]\d*)\.\d+ with at most 15 significant digits
 * and 1e-5 <= |x| < 1e16 (or zero): orjson prints those in plain notation with the
 * same digits, trailing fractional zeros dropped but one digit kept. */
static inline int number(const unsigned char **pp, const unsigned char *end, char **oo)
{
    const unsigned char *p = *pp, *ip;
    char *o = *oo, *fo;             /* digits are copied as they are read */
    size_t ilen, flen, keep, sig;
    int neg = *p == '-';
    if (neg)
        *o++ = (char)*p++;
    ip = p;
    if (p < end && *p == '0')
        *o++ = (char)*p++;
    else if (p < end && DIGIT(*p))
        while (p < end && DIGIT(*p))
            *o++ = (char)*p++;
    else
        return -1;
    ilen = (size_t)(p - ip);
    if (p < end && (*p == 'e' || *p == 'E'))
        return -1;
    if (p >= end || *p != '.') {
        if (ilen > MAX_INT_DIGITS || (neg && *ip == '0'))  /* orjson prints -0 as 0 */
            return -1;
        *oo = o;
        *pp = p;
        return 0;
    }
    *o++ = (char)*p++;
    fo = o;
    while (p < end && DIGIT(*p))
        *o++ = (char)*p++;
    flen = (size_t)(o - fo);
    if (!flen || (p < end && (*p == 'e' || *p == 'E')))
        return -1;
    for (keep = flen; keep && fo[keep - 1] == '0'; keep--)
        ;
    if (*ip != '0') {
        if (ilen > 16)                  /* >= 1e16: exponent notation */
            return -1;
        if (keep) {
            sig = ilen + keep;
        } else {
            for (sig = ilen; ip[sig - 1] == '0'; sig--)
                ;
        }
    } else if (keep) {
        size_t zeros = 0;
        while (fo[zeros] == '0')
            zeros++;
        if (zeros > 4)                  /* < 1e-5: exponent notation */
            return -1;
        sig = keep - zeros;
    } else {
        sig = 0;                        /* 0.0 and -0.0 */
    }
    if (sig > MAX_SIG_DIGITS)
        return -1;
    *oo = fo + (keep ? keep : 1);       /* trailing zeros dropped, one digit kept */
    *pp = p;
    return 0;
}

static int key_cmp(const Member *a, const Member *b)
{
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    const unsigned char *x = (const unsigned char *)a->key, *y = (const unsigned char *)b->key;
    for (size_t i = 0; i < n; i++)     /* keys are short: no memcmp call */
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

static int member_cmp(const void *x, const void *y)
{
    const Member *a = x, *b = y;
    int c = key_cmp(a, b);
    return c ? c : (a->idx > b->idx) - (a->idx < b->idx);
}

/* The members of the object just closed, from mem[base] on, written in key order
 * (UTF-8 bytes compare in code point order, as orjson sorts); of equal keys the
 * last one stays, as in a dict. Returns the new end of output, NULL if out of memory. */
static char *sort_object(State *s, size_t base, char *end)
{
    Member *m = s->mem + base;
    size_t n = s->nmem - base, i, j;
    s->nmem = base;
    for (i = 1; i < n && key_cmp(&m[i - 1], &m[i]) < 0; i++)
        ;
    if (i >= n)
        return end;                     /* already in order, no duplicates */
    char *first = m[0].start;
    size_t span = (size_t)(end - first);
    if (n <= 16) {                      /* stable insertion sort */
        for (i = 1; i < n; i++) {
            Member t = m[i];
            for (j = i; j > 0 && key_cmp(&m[j - 1], &t) > 0; j--)
                m[j] = m[j - 1];
            m[j] = t;
        }
    } else {
        for (i = 0; i < n; i++)
            m[i].idx = i;
        qsort(m, n, sizeof *m, member_cmp);
    }
    for (i = 0; i + 1 < n; i++)
        if (key_cmp(&m[i], &m[i + 1]) == 0)
            m[i].len = 0;
    if (!s->scratch) {
        s->scratch = malloc(s->cap_bytes);
        if (!s->scratch)
            return NULL;
        s->scratch_heap = 1;
    }
    memcpy(s->scratch, first, span);
    char *o = first;
    for (i = 0; i < n; i++) {
        if (!m[i].len)
            continue;
        if (o != first)
            *o++ = ',';
        memcpy(o, s->scratch + (m[i].start - first), m[i].len);
        o += m[i].len;
    }
    return o;
}

static Member *push_member(State *s)
{
    if (s->nmem == s->cap_mem) {
        size_t cap = s->cap_mem * 2;
        Member *m;
        if (s->mem_heap) {
            m = realloc(s->mem, cap * sizeof *m);
        } else {
            m = malloc(cap * sizeof *m);
            if (m)
                memcpy(m, s->mem, s->nmem * sizeof *m);
        }
        if (!m)
            return NULL;
        s->mem = m;
        s->cap_mem = cap;
        s->mem_heap = 1;
    }
    return &s->mem[s->nmem++];
}

#define SKIP_WS() while (p < end && IS_WS(*p)) p++

/* The whole document [p, end) written at o. Returns the end of output, or NULL to bail. */
static char *convert(State *s, const unsigned char *p, const unsigned char *end, char *o)
{
    unsigned char kind[MAX_DEPTH];
    size_t base[MAX_DEPTH];
    int depth = 0, escaped;
    Member *m;

value:
    SKIP_WS();
    if (p >= end)
        return NULL;
    switch (*p) {
    case '{':
        if (depth == MAX_DEPTH)
            return NULL;
        kind[depth] = '{';
        base[depth++] = s->nmem;
        *o++ = '{';
        p++;
        SKIP_WS();
        if (p < end && *p == '}') {
            p++;
            depth--;
            *o++ = '}';
            goto after;
        }
        goto key;
    case '[':
        if (depth == MAX_DEPTH)
            return NULL;
        kind[depth++] = '[';
        *o++ = '[';
        p++;
        SKIP_WS();
        if (p < end && *p == ']') {
            p++;
            depth--;
            *o++ = ']';
            goto after;
        }
        goto value;
    case '"':
        p++;
        if (string(&p, end, &o, &escaped))
            return NULL;
        goto after;
#define LITERAL(s) do { \
        if ((size_t)(end - p) < sizeof s - 1 || memcmp(p, s, sizeof s - 1)) \
            return NULL; \
        memcpy(o, s, sizeof s - 1); \
        o += sizeof s - 1; \
        p += sizeof s - 1; \
        goto after; \
    } while (0)
    case 't': LITERAL("true");
    case 'f': LITERAL("false");
    case 'n': LITERAL("null");
    default:
        if (*p != '-' && !DIGIT(*p))
            return NULL;
        if (number(&p, end, &o))
            return NULL;
        goto after;
    }

key:
    if (p >= end || *p != '"' || !(m = push_member(s)))
        return NULL;
    m->start = o;
    p++;
    escaped = 0;
    if (string(&p, end, &o, &escaped) || escaped)  /* escaped keys would sort apart */
        return NULL;
    m->key = m->start + 1;
    m->key_len = (size_t)(o - m->start) - 2;
    SKIP_WS();
    if (p >= end || *p != ':')
        return NULL;
    p++;
    *o++ = ':';
    goto value;

after:
    SKIP_WS();
    if (depth == 0)
        return p == end ? o : NULL;
    if (p >= end)
        return NULL;
    if (kind[depth - 1] == '{') {
        m = &s->mem[s->nmem - 1];
        m->len = (size_t)(o - m->start);
        if (*p == ',') {
            p++;
            *o++ = ',';
            SKIP_WS();
            goto key;
        }
        if (*p != '}' || !(o = sort_object(s, base[depth - 1], o)))
            return NULL;
        p++;
        depth--;
        *o++ = '}';
        goto after;
    }
    if (*p == ',') {
        p++;
        *o++ = ',';
        goto value;
    }
    if (*p != ']')
        return NULL;
    p++;
    depth--;
    *o++ = ']';
    goto after;
}

static PyObject *canonical(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyBytes_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "canonical() expects bytes, not %.100s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    const unsigned char *in = (const unsigned char *)PyBytes_AS_STRING(arg);
    size_t len = (size_t)PyBytes_GET_SIZE(arg);
    char obuf[SMALL], sbuf[SMALL];
    Member mbuf[SMALL_MEMBERS];
    State s = {len <= SMALL ? sbuf : NULL, 0, len, mbuf, 0, SMALL_MEMBERS, 0};
    char *out = len <= SMALL ? obuf : malloc(len);
    char *end = out && len ? convert(&s, in, in + len, out) : NULL;
    PyObject *result;

    if (!end) {
        result = Py_NewRef(Py_None);
    } else if ((size_t)(end - out) == len && PyBytes_CheckExact(arg)
               && memcmp(out, in, len) == 0) {
        result = Py_NewRef(arg);        /* already canonical */
    } else {
        result = PyBytes_FromStringAndSize(out, end - out);
    }
    if (out != obuf)
        free(out);
    if (s.scratch_heap)
        free(s.scratch);
    if (s.mem_heap)
        free(s.mem);
    return result;
}

static PyMethodDef methods[] = {
    {"canonical", canonical, METH_O,
     "canonical(body: bytes) -> bytes | None\n--\n\n"
     "orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS), or None where\n"
     "that cannot be proven without orjson (then use orjson)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "ferrogate.cache._canonical_json",
    "The answer cache key's canonical JSON body, in C.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__canonical_json(void)
{
    init_cls();
    return PyModule_Create(&module);
}
