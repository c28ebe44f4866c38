/* The compiled form of BlockReducer._line's fast path (reduce.py).
 *
 * scan() walks a block's lines (scan_bytes() a block's bytes, cutting the lines itself)
 * and takes the lines the Python fast path takes -- whole
 * open/openat/close calls, their "<unfinished ...>" / "<... resumed>" pieces, the pieces
 * of calls that touch no fd table, and whole calls that touch none -- updating the very
 * same Python objects (the block's items and pending fds, the assembler's calls in
 * flight, the folded pairs). Any other line, and any line where this code is not sure
 * to do exactly what Python would, goes whole to reducer._line before anything has been
 * changed for it, so the two loops cannot drift apart: the pure-Python reducer is the
 * oracle the tests compare this against.
 *
 * Completed calls of the other common fd syscalls (socket, accept4, dup2, pipe2,
 * connect, close_range, ...: _decode.h), whole or joined from their pieces, are
 * decoded and placed here too; the calls _decode.c is unsure of are decoded by
 * BlockReducer.complete, as before.
 */
#include "_decode.h"
#include "_signature.h"

#include <stdint.h>
#include <string.h>

/* set once by setup() */
static PyObject *LazyCreate_t, *Unfinished_t, *FdEvent_t, *close_proto, *handlers, *parse_ts_fn;
static PyObject *inert_whole, *inert_start; /* name -> the words that make the call matter */
static PyObject *s_complete, *s_first_ts, *s_last_ts;
static PyObject *s_line, *s_last_ts_text, *s_carry, *s_count_pair, *s_events, *s_default_pid;
static PyObject *one;
static PyObject *s_assembler, *s_pending, *s_lazy_pairs, *s_shape_k, *s_has_pid, *s_has_ts;
static PyObject *with_socket_end_fn, *signature_of_fn;
static PyObject *s_pairs, *s_decode_lazy, *s_free;

static const char UNFINISHED[] = " <unfinished ...>";
#define UNFINISHED_LEN (sizeof(UNFINISHED) - 1)

/* str.split()'s whitespace for an ASCII string */
static inline int
py_space(unsigned char c)
{
    return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
}

static inline int
all_digits(const char *s, Py_ssize_t n)
{
    if (n <= 0)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* a number small enough for a C long without thought; longer ones go to Python */
static inline int
small_number(const char *s, Py_ssize_t n, long *out)
{
    if (!all_digits(s, n) || n > 9)
        return 0;
    long v = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    *out = v;
    return 1;
}

static inline int
identifier(const char *s, Py_ssize_t n)
{
    if (n <= 0 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

static inline int
starts(const char *s, Py_ssize_t n, const char *prefix)
{
    size_t m = strlen(prefix);
    return (size_t)n >= m && memcmp(s, prefix, m) == 0;
}

/* s.split(None, k): where each of the first k fields starts and ends; the remainder
 * (with its leading whitespace skipped) starts at *rest. 1 when there are k + 1 parts. */
static int
split_k(const char *s, Py_ssize_t n, int k, Py_ssize_t *fa, Py_ssize_t *fb, Py_ssize_t *rest)
{
    Py_ssize_t i = 0;
    for (int f = 0; f < k; f++) {
        while (i < n && py_space((unsigned char)s[i]))
            i++;
        if (i == n)
            return 0;
        fa[f] = i;
        while (i < n && !py_space((unsigned char)s[i]))
            i++;
        fb[f] = i;
    }
    while (i < n && py_space((unsigned char)s[i]))
        i++;
    if (i == n)
        return 0;
    *rest = i;
    return 1;
}

static Py_ssize_t
find(const char *s, Py_ssize_t n, const char *needle)
{
    size_t m = strlen(needle);
    if ((size_t)n < m)
        return -1;
    const char *p = short_search(s, (size_t)n, needle, m);
    return p ? (Py_ssize_t)(p - s) : -1;
}

static Py_ssize_t
rfind(const char *s, Py_ssize_t n, const char *needle)
{
    Py_ssize_t m = (Py_ssize_t)strlen(needle);
    for (Py_ssize_t i = n - m; i >= 0; i--)
        if (s[i] == needle[0] && memcmp(s + i, needle, (size_t)m) == 0)
            return i;
    return -1;
}

static inline PyObject *
ascii(const char *s, Py_ssize_t n)
{
    return PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, s, n);
}

/* a NamedTuple instance without running its Python __new__: the items, stolen */
static PyObject *
record(PyObject *type, Py_ssize_t n, PyObject **values)
{
    PyObject *obj = ((PyTypeObject *)type)->tp_alloc((PyTypeObject *)type, n);
    if (obj == NULL) {
        for (Py_ssize_t i = 0; i < n; i++)
            Py_XDECREF(values[i]);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(obj, i, values[i]);
    return obj;
}

static PyObject *
concat3(const char *a, Py_ssize_t an, const char *b, Py_ssize_t bn, const char *c, Py_ssize_t cn)
{
    PyObject *out = PyUnicode_New(an + bn + cn, 127);
    if (out == NULL)
        return NULL;
    char *d = (char *)PyUnicode_1BYTE_DATA(out);
    memcpy(d, a, (size_t)an);
    memcpy(d + an, b, (size_t)bn);
    memcpy(d + an + bn, c, (size_t)cn);
    return out;
}

/* A set of syscall names looked up without making a str of the name: decode's
 * HANDLERS, and the names of the inert tables. */
#define NAMES_MAX 128
typedef struct {
    int count;
    Py_ssize_t len[NAMES_MAX];
    char text[NAMES_MAX][32];
    unsigned char first[32][NAMES_MAX]; /* by length: the indexes of the names that long */
    int of_len[32];
} NameSet;

static NameSet handler_names, inert_names;

/* 0, or -1 with an exception: every name must be a short ASCII str */
static int
names_add(NameSet *set, PyObject *iterable)
{
    PyObject *it = PyObject_GetIter(iterable), *name;
    if (it == NULL)
        return -1;
    while ((name = PyIter_Next(it)) != NULL) {
        int ok = PyUnicode_Check(name) && PyUnicode_IS_ASCII(name) && PyUnicode_GET_LENGTH(name) < 32
                 && set->count < NAMES_MAX;
        if (ok) {
            Py_ssize_t n = PyUnicode_GET_LENGTH(name);
            set->len[set->count] = n;
            memcpy(set->text[set->count], PyUnicode_1BYTE_DATA(name), (size_t)n);
            set->first[n][set->of_len[n]++] = (unsigned char)set->count;
            set->count++;
        }
        Py_DECREF(name);
        if (!ok) {
            Py_DECREF(it);
            PyErr_SetString(PyExc_ValueError, "_scan.setup: syscall names must be short ASCII strings");
            return -1;
        }
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

static int
names_have(const NameSet *set, const char *name, Py_ssize_t n)
{
    if (n <= 0 || n >= 32)
        return 0;
    for (int k = 0; k < set->of_len[n]; k++)
        if (memcmp(set->text[set->first[n][k]], name, (size_t)n) == 0)
            return 1;
    return 0;
}

/* reduce.py's _inert(): the call's name has words in table and none of them is in text */
static int
inert(PyObject *table, const char *name, Py_ssize_t nn, const char *text, Py_ssize_t tn)
{
    if (!names_have(&inert_names, name, nn))
        return 0; /* not in either table: no str made, no dict looked up */
    PyObject *key = ascii(name, nn);
    if (key == NULL)
        return -1;
    PyObject *words = PyDict_GetItemWithError(table, key);
    Py_DECREF(key);
    if (words == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (!PyTuple_Check(words))
        return 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(words); i++) {
        PyObject *word = PyTuple_GET_ITEM(words, i);
        if (!PyUnicode_Check(word) || !PyUnicode_IS_ASCII(word))
            return 0;
        const char *w = (const char *)PyUnicode_1BYTE_DATA(word);
        Py_ssize_t wn = PyUnicode_GET_LENGTH(word);
        if (wn == 0 || (tn >= wn && short_search(text, (size_t)tn, w, (size_t)wn) != NULL))
            return 0;
    }
    return 1;
}

static inline int
spaces(const char *s, Py_ssize_t a, Py_ssize_t b)
{
    for (Py_ssize_t i = a; i < b; i++)
        if (s[i] != ' ')
            return 0;
    return 1;
}

static inline Py_ssize_t
digits_at(const char *s, Py_ssize_t i, Py_ssize_t b)
{
    Py_ssize_t j = i;
    while (j < b && s[j] >= '0' && s[j] <= '9')
        j++;
    return j - i;
}

/* the whole of s[a:b] is a time as lines.py's prefix pattern reads it:
 * (?:\d+:\d\d:\d\d|\d+)(?:\.\d+)? */
static int
time_field(const char *s, Py_ssize_t a, Py_ssize_t b)
{
    Py_ssize_t i = a, n = digits_at(s, i, b);
    if (n == 0)
        return 0;
    i += n;
    if (i + 6 <= b && s[i] == ':' && digits_at(s, i + 1, i + 3) == 2 && s[i + 3] == ':'
        && digits_at(s, i + 4, i + 6) == 2)
        i += 6;
    if (i < b && s[i] == '.') {
        n = digits_at(s, i + 1, b);
        if (n == 0)
            return 0;
        i += 1 + n;
    }
    return i == b;
}

/* The line's prefix is one the line pattern (lines.py) reads exactly as split() did:
 * spaces only, a pid of digits, a time of its shape. Then the pattern's pid and time
 * are the split's fields, and what follows them is the call text. */
static int
plain_prefix(const char *s, int k, int has_pid, int has_ts, const Py_ssize_t *fa, const Py_ssize_t *fb,
             Py_ssize_t rest)
{
    Py_ssize_t at = 0;
    for (int f = 0; f < k; f++) {
        if (!spaces(s, at, fa[f]) || (f > 0 && fa[f] == at))
            return 0;
        at = fb[f];
    }
    if (!spaces(s, at, rest) || (k > 0 && rest == at))
        return 0;
    if (has_pid && digits_at(s, fa[0], fb[0]) != fb[0] - fa[0])
        return 0;
    if (!has_ts)
        return 1;
    if (!time_field(s, fa[k - 1], fb[k - 1]))
        return 0;
    /* with no pid field, a time of digits alone would be read as the pid */
    return has_pid || digits_at(s, fa[k - 1], fb[k - 1]) != fb[k - 1] - fa[k - 1];
}

/* a call's text that the pattern could read as holding a result: ") =" with spaces between */
static int
result_like(const char *s, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] != ')')
            continue;
        Py_ssize_t j = i + 1;
        while (j < n && s[j] == ' ')
            j++;
        if (j > i + 1 && j < n && s[j] == '=')
            return 1;
    }
    return 0;
}

typedef struct {
    PyObject *reducer, *result, *pending, *items, *calls, *lazy_pairs, *default_pid, *pairs;
    PyObject *free; /* reducer._free: fd -> the pid whose close_range freed it */
    int k, has_pid, has_ts;
    Py_ssize_t events;
    /* reducer._last_ts_text, kept here between delegations: a str, None, or a slice of
     * a line (the list or the buffer holds the line) not yet made a str */
    PyObject *last_ts;
    const char *last_ts_line;
    Py_ssize_t last_ts_a, last_ts_b;
} Ctx;

static void
set_last_ts(Ctx *c, const char *line, Py_ssize_t a, Py_ssize_t b)
{
    Py_CLEAR(c->last_ts);
    c->last_ts_line = line;
    c->last_ts_a = a;
    c->last_ts_b = b;
}

/* a time the block's result now holds as its last (read from Python, not from a line) */
static int
store_last_ts(Ctx *c, PyObject *ts)
{
    set_last_ts(c, NULL, 0, 0);
    Py_XSETREF(c->last_ts, Py_NewRef(Py_None));
    return PyObject_SetAttr(c->result, s_last_ts, ts);
}

static PyObject *
last_ts_text(Ctx *c)
{
    if (c->last_ts_line != NULL) {
        PyObject *text = ascii(c->last_ts_line + c->last_ts_a, c->last_ts_b - c->last_ts_a);
        if (text == NULL)
            return NULL;
        c->last_ts_line = NULL;
        Py_XSETREF(c->last_ts, text);
    }
    if (c->last_ts == NULL)
        c->last_ts = Py_NewRef(Py_None);
    return c->last_ts;
}

/* The whole line to Python's _line, with the state it reads handed over and back. */
static int
delegate(Ctx *c, PyObject *line, PyObject *seq)
{
    PyObject *ts = last_ts_text(c);
    if (ts == NULL || PyObject_SetAttr(c->reducer, s_last_ts_text, ts) < 0)
        return -1;
    PyObject *r = PyObject_CallMethodObjArgs(c->reducer, s_line, line, seq, c->result, c->pending, NULL);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    PyObject *back = PyObject_GetAttr(c->reducer, s_last_ts_text);
    if (back == NULL)
        return -1;
    Py_XSETREF(c->last_ts, back);
    c->last_ts_line = NULL;
    return 0;
}

/* digits with an optional fraction: what float() reads exactly as strtod does */
static int
plain_decimal(const char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == 0)
        return 0;
    if (i == n)
        return 1;
    if (s[i] != '.' || i + 1 == n)
        return 0;
    for (i++; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* digits[.digits] with fewer than 2**53 as a whole number: the quotient of two exact
 * doubles, which IEEE division rounds correctly, as float() rounds the decimal */
static int
exact_decimal(const char *s, Py_ssize_t n, double *out)
{
    static const double tens[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    unsigned long long v = 0;
    int frac = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            frac = 0;
            continue;
        }
        v = v * 10 + (unsigned long long)(s[i] - '0');
        if (v >= (1ULL << 53))
            return 0;
        if (frac >= 0)
            frac++;
    }
    if (frac > 22)
        return 0;
    *out = frac > 0 ? (double)v / tens[frac] : (double)v;
    return 1;
}

static PyObject *
parse_ts_of(const char *s, Py_ssize_t a, Py_ssize_t b, int has_ts)
{
    if (!has_ts)
        Py_RETURN_NONE; /* parse_ts(None) */
    double exact;
    if (plain_decimal(s + a, b - a) && exact_decimal(s + a, b - a, &exact))
        return PyFloat_FromDouble(exact);
    char buf[32];
    if (b - a < (Py_ssize_t)sizeof buf && plain_decimal(s + a, b - a)) {
        /* parse_ts: -ttt's "1716900000.123456" is float(text), and float() is this */
        memcpy(buf, s + a, (size_t)(b - a));
        buf[b - a] = '\0';
        double v = PyOS_string_to_double(buf, NULL, NULL);
        if (v == -1.0 && PyErr_Occurred())
            return NULL;
        return PyFloat_FromDouble(v);
    }
    PyObject *text = ascii(s + a, b - a);
    if (text == NULL)
        return NULL;
    PyObject *ts = PyObject_CallOneArg(parse_ts_fn, text);
    Py_DECREF(text);
    return ts;
}

/* what the line pattern's path does with a line's time: parse it, and let it open the
 * block's window if nothing has yet (BlockReducer._regex_line) */
static PyObject *
regex_ts(Ctx *c, const char *s, Py_ssize_t ta, Py_ssize_t tb, int wanted)
{
    PyObject *first = PyObject_GetAttr(c->result, s_first_ts);
    if (first == NULL)
        return NULL;
    int none = first == Py_None;
    Py_DECREF(first);
    if (!none && !wanted)
        return Py_NewRef(Py_None); /* parse_ts has no side effects: skip it */
    PyObject *ts = parse_ts_of(s, ta, tb, c->has_ts);
    if (ts == NULL)
        return NULL;
    if (none && PyObject_SetAttr(c->result, s_first_ts, ts) < 0) {
        Py_DECREF(ts);
        return NULL;
    }
    return ts;
}

static int
pending_pop(PyObject *pending, PyObject *fd)
{
    PyObject *index = PyDict_GetItemWithError(pending, fd);
    if (index == NULL)
        return PyErr_Occurred() ? -1 : 0;
    return PyDict_DelItem(pending, fd);
}

static int
append_event(Ctx *c, PyObject *ev)
{
    return PyList_Append(c->items, ev);
}

static PyObject *lazy_event(PyObject *item, int k, int has_pid, int has_ts);
static int fast_close(Ctx *c, PyObject *pid, long fd, PyObject *seq, const char *s, Py_ssize_t ta, Py_ssize_t tb);

static int
same_pid(PyObject *item, PyObject *pid)
{
    PyTypeObject *type = Py_TYPE(item);
    if (type != (PyTypeObject *)LazyCreate_t && type != (PyTypeObject *)FdEvent_t)
        return 0;
    return PyObject_RichCompareBool(PyTuple_GET_ITEM(item, type == (PyTypeObject *)LazyCreate_t ? 1 : 2), pid, Py_EQ);
}

static int
is_free_fd_copy(PyObject *syscall)
{
    return PyUnicode_CompareWithASCIIString(syscall, "dup") == 0
           || PyUnicode_CompareWithASCIIString(syscall, "fcntl") == 0
           || PyUnicode_CompareWithASCIIString(syscall, "fcntl64") == 0;
}

/* BlockReducer._place_dup: a copy of fd X at fd Z, folded where it is safe (see there) */
static int
place_dup(Ctx *c, PyObject *ev)
{
    PyObject *fd = PyTuple_GET_ITEM(ev, 4), *fd2 = PyTuple_GET_ITEM(ev, 5), *pid = PyTuple_GET_ITEM(ev, 2);
    /* Z freed by this pid's close_range, and nothing since mentioned it */
    PyObject *freer = PyDict_GetItemWithError(c->free, fd2);
    int freed = 0;
    if (freer != NULL) {
        freed = PyObject_RichCompareBool(freer, pid, Py_EQ);
        if (freed < 0 || PyDict_DelItem(c->free, fd2) < 0)
            return -1;
    } else if (PyErr_Occurred()) {
        return -1;
    }
    if (pending_pop(c->free, fd) < 0)
        return -1;
    PyObject *index = PyDict_GetItemWithError(c->pending, fd);
    if (index == NULL && PyErr_Occurred())
        return -1;
    PyObject *original = NULL; /* borrowed from items */
    Py_ssize_t i = -1;
    if (index != NULL) {
        i = PyLong_AsSsize_t(index);
        if (i == -1 && PyErr_Occurred())
            return -1;
        original = PyList_GET_ITEM(c->items, i);
    }
    if (original != NULL && Py_TYPE(original) == (PyTypeObject *)LazyCreate_t) {
        int same = same_pid(original, pid);
        if (same < 0)
            return -1;
        if (same) {
            PyObject *decoded = lazy_event(original, c->k, c->has_pid, c->has_ts);
            if (decoded == NULL && PyErr_Occurred())
                return -1;
            if (decoded == NULL && (decoded = PyObject_CallMethodOneArg(c->reducer, s_decode_lazy, original)) == NULL)
                return -1;
            if (decoded == Py_None) {
                Py_DECREF(decoded);
            } else if (PyList_SetItem(c->items, i, decoded) < 0) {
                return -1;
            }
            original = PyList_GET_ITEM(c->items, i);
        }
    }
    int usable = original != NULL && Py_TYPE(original) == (PyTypeObject *)FdEvent_t;
    if (usable) {
        PyObject *target = PyTuple_GET_ITEM(original, 7), *made_by = PyTuple_GET_ITEM(original, 8);
        int same = PyObject_RichCompareBool(PyTuple_GET_ITEM(original, 2), pid, Py_EQ);
        if (same < 0)
            return -1;
        /* an accept's signature depends on the call: the engine's to make */
        usable = same && PyUnicode_Check(target) && PyUnicode_GET_LENGTH(target) > 0 && PyUnicode_Check(made_by)
                 && PyUnicode_CompareWithASCIIString(made_by, "accept") != 0
                 && PyUnicode_CompareWithASCIIString(made_by, "accept4") != 0;
    }
    if (!usable) {
        if (pending_pop(c->pending, fd) < 0 || pending_pop(c->pending, fd2) < 0)
            return -1;
        return append_event(c, ev);
    }
    /* ev._replace(kind=original.kind, target=original.target) */
    PyObject *values[14];
    for (int k = 0; k < 14; k++)
        values[k] = Py_NewRef(PyTuple_GET_ITEM(ev, k));
    Py_SETREF(values[6], Py_NewRef(PyTuple_GET_ITEM(original, 6)));
    Py_SETREF(values[7], Py_NewRef(PyTuple_GET_ITEM(original, 7)));
    PyObject *copy = record(FdEvent_t, 14, values);
    if (copy == NULL)
        return -1;
    int rc = -1;
    PyObject *zindex = PyDict_GetItemWithError(c->pending, fd2);
    if (zindex == NULL && PyErr_Occurred())
        goto done;
    int replaced = 0;
    if (zindex != NULL) {
        Py_ssize_t zi = PyLong_AsSsize_t(zindex);
        if (zi == -1 && PyErr_Occurred())
            goto done;
        if ((replaced = same_pid(PyList_GET_ITEM(c->items, zi), pid)) < 0)
            goto done;
    }
    if (replaced) {
        /* dup2 onto an open fd closes it first: that create pairs now */
        long z = PyLong_AsLong(fd2);
        if ((z == -1 && PyErr_Occurred()) || fast_close(c, pid, z, PyTuple_GET_ITEM(ev, 0), "", 0, 0) < 0)
            goto done;
    } else if (zindex != NULL || !(freed || is_free_fd_copy(PyTuple_GET_ITEM(ev, 8)))) {
        rc = pending_pop(c->pending, fd2) < 0 ? -1 : append_event(c, copy);
        goto done;
    }
    PyObject *at = PyLong_FromSsize_t(PyList_GET_SIZE(c->items));
    rc = at == NULL || PyDict_SetItem(c->pending, fd2, at) < 0 ? -1 : append_event(c, copy);
    Py_XDECREF(at);
done:
    Py_DECREF(copy);
    return rc;
}

/* the keys of dict between low and high, in the dict's order (a new list) */
static PyObject *
keys_between(PyObject *dict, long low, long high)
{
    PyObject *keys = PyList_New(0), *key, *value;
    Py_ssize_t pos = 0;
    while (keys != NULL && PyDict_Next(dict, &pos, &key, &value)) {
        long k = PyLong_AsLong(key);
        if (k == -1 && PyErr_Occurred()) {
            Py_CLEAR(keys);
        } else if (k >= low && k <= high && PyList_Append(keys, key) < 0) {
            Py_CLEAR(keys);
        }
    }
    return keys;
}

#define FREED_MAX 64 /* reduce.py's _FREED_MAX */

/* BlockReducer._place_close_range: no barrier, only for the fds it names (see there) */
static int
place_close_range(Ctx *c, PyObject *ev)
{
    PyObject *pid = PyTuple_GET_ITEM(ev, 2);
    long low = PyLong_AsLong(PyTuple_GET_ITEM(ev, 4)), high = PyLong_AsLong(PyTuple_GET_ITEM(ev, 5));
    int mark_only = PyObject_IsTrue(PyTuple_GET_ITEM(ev, 9));
    if (((low == -1 || high == -1) && PyErr_Occurred()) || mark_only < 0)
        return -1;
    PyObject *named = keys_between(c->pending, low, high);
    if (named == NULL)
        return -1;
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(named); k++) {
        PyObject *fd = PyList_GET_ITEM(named, k);
        PyObject *index = PyDict_GetItemWithError(c->pending, fd);
        if (index == NULL) {
            if (PyErr_Occurred())
                goto fail;
            continue;
        }
        Py_ssize_t i = PyLong_AsSsize_t(index);
        if (i == -1 && PyErr_Occurred())
            goto fail;
        int same = mark_only ? 0 : same_pid(PyList_GET_ITEM(c->items, i), pid);
        if (same < 0)
            goto fail;
        if (same) {
            long n = PyLong_AsLong(fd);
            if ((n == -1 && PyErr_Occurred()) || fast_close(c, pid, n, PyTuple_GET_ITEM(ev, 0), "", 0, 0) < 0)
                goto fail;
        } else if (PyDict_DelItem(c->pending, fd) < 0) {
            goto fail; /* CLOSE_RANGE_CLOEXEC only marks them: they stay open */
        }
    }
    Py_DECREF(named);
    named = keys_between(c->free, low, high);
    if (named == NULL)
        return -1;
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(named); k++)
        if (PyDict_DelItem(c->free, PyList_GET_ITEM(named, k)) < 0)
            goto fail;
    Py_DECREF(named);
    if (!mark_only && high - low < FREED_MAX) {
        for (long n = low; n <= high; n++) {
            PyObject *fd = PyLong_FromLong(n);
            int rc = fd == NULL ? -1 : PyDict_SetItem(c->free, fd, pid);
            Py_XDECREF(fd);
            if (rc < 0)
                return -1;
        }
    }
    return append_event(c, ev);
fail:
    Py_DECREF(named);
    return -1;
}

/* BlockReducer._place for the events _decode.c builds (creates, copies, cloexec
 * changes, socket ends, close_range): never a close, so nothing pairs here */
static int
place(Ctx *c, PyObject *ev)
{
    PyObject *op = PyTuple_GET_ITEM(ev, 3), *fd = PyTuple_GET_ITEM(ev, 4);
    c->events++;
    if (op == decode_types.op_create) {
        if (pending_pop(c->free, fd) < 0 || pending_pop(c->free, PyTuple_GET_ITEM(ev, 5)) < 0)
            return -1;
        long fd2 = PyLong_AsLong(PyTuple_GET_ITEM(ev, 5));
        if (fd2 == -1 && PyErr_Occurred())
            return -1;
        if (fd2 < 0) { /* accept() (fd2: the listener) waits for the engine to name its end */
            PyObject *index = PyLong_FromSsize_t(PyList_GET_SIZE(c->items));
            int rc = index == NULL ? -1 : PyDict_SetItem(c->pending, fd, index);
            Py_XDECREF(index);
            if (rc < 0)
                return -1;
        } else if (pending_pop(c->pending, fd) < 0) {
            return -1;
        }
        return append_event(c, ev);
    }
    if (op == decode_types.op_annotate) {
        if (pending_pop(c->free, fd) < 0)
            return -1;
        PyObject *index = PyDict_GetItemWithError(c->pending, fd);
        if (index == NULL && PyErr_Occurred())
            return -1;
        if (index != NULL) {
            Py_ssize_t i = PyLong_AsSsize_t(index);
            if (i == -1 && PyErr_Occurred())
                return -1;
            PyObject *created = PyList_GET_ITEM(c->items, i);
            /* a copy keeps its original's name in the engine: only a create takes the address */
            if (Py_TYPE(created) == (PyTypeObject *)FdEvent_t && PyTuple_GET_ITEM(created, 3) == decode_types.op_create) {
                int same = PyObject_RichCompareBool(PyTuple_GET_ITEM(created, 2), PyTuple_GET_ITEM(ev, 2), Py_EQ);
                if (same < 0)
                    return -1;
                if (same) {
                    /* created._replace(target=with_socket_end(created.target, syscall, address)) */
                    PyObject *target = PyObject_CallFunctionObjArgs(with_socket_end_fn, PyTuple_GET_ITEM(created, 7),
                                                                    PyTuple_GET_ITEM(ev, 8), PyTuple_GET_ITEM(ev, 7),
                                                                    NULL);
                    if (target == NULL)
                        return -1;
                    PyObject *values[14];
                    for (int k = 0; k < 14; k++)
                        values[k] = Py_NewRef(PyTuple_GET_ITEM(created, k));
                    Py_SETREF(values[7], target);
                    PyObject *named = record(FdEvent_t, 14, values);
                    if (named == NULL)
                        return -1;
                    return PyList_SetItem(c->items, i, named);
                }
            }
        }
        if (pending_pop(c->pending, fd) < 0)
            return -1;
        return append_event(c, ev);
    }
    if (op == decode_types.op_unshare) {
        PyDict_Clear(c->pending); /* a barrier: no pairing across it */
        PyDict_Clear(c->free);
        return append_event(c, ev);
    }
    if (op == decode_types.op_close_range)
        return place_close_range(c, ev);
    if (op == decode_types.op_dup)
        return place_dup(c, ev);
    /* a close-on-exec change: it mentions fd */
    if (pending_pop(c->free, fd) < 0 || pending_pop(c->pending, fd) < 0
        || pending_pop(c->pending, PyTuple_GET_ITEM(ev, 5)) < 0)
        return -1;
    return append_event(c, ev);
}

/* The call in text[0:n] decoded and placed in C: 1, or 0 when Python must decode it
 * (nothing changed), or -1 on error. */
static int
decoded(Ctx *c, const char *text, Py_ssize_t n, Py_ssize_t name_len, PyObject *seq, PyObject *ts, PyObject *pid)
{
    PyObject *events[DECODE_MAX];
    int count = decode_call(text, n, name_len, seq, ts, pid, events);
    if (count == DECODE_PYTHON)
        return 0;
    if (count == DECODE_ERROR)
        return -1;
    int rc = 1;
    for (int i = 0; i < count; i++) {
        if (rc == 1 && place(c, events[i]) < 0)
            rc = -1;
        Py_DECREF(events[i]);
    }
    return rc;
}

/* a call joined from its pieces: "name(args so far" and the text after " resumed>" */
static int
decoded_joined(Ctx *c, PyObject *head, const char *tail, Py_ssize_t tn, Py_ssize_t name_len, PyObject *seq,
               PyObject *ts, PyObject *pid)
{
    static char *buf;
    static Py_ssize_t size;
    if (!PyUnicode_Check(head) || !PyUnicode_IS_ASCII(head))
        return 0;
    Py_ssize_t hn = PyUnicode_GET_LENGTH(head), n = hn + tn;
    if (n > size) {
        char *grown = PyMem_Realloc(buf, (size_t)n);
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        buf = grown;
        size = n;
    }
    memcpy(buf, PyUnicode_1BYTE_DATA(head), (size_t)hn);
    memcpy(buf + hn, tail, (size_t)tn);
    return decoded(c, buf, n, name_len, seq, ts, pid);
}

/* The line pattern's path for a "<... name resumed>" line whose call is in flight
 * (_regex_line, _resumed, then _line's window end): join, decode in Python. The text
 * after " resumed>" starts at s[after]. 1 when taken, 0 when Python must, -1 on error. */
static int
resumed_by_pattern(Ctx *c, const char *s, Py_ssize_t n, const Py_ssize_t *fa, const Py_ssize_t *fb,
                   Py_ssize_t rest, Py_ssize_t after, PyObject *pid, PyObject *started, PyObject *seq)
{
    if (!plain_prefix(s, c->k, c->has_pid, c->has_ts, fa, fb, rest) || memchr(s, '\r', (size_t)n) != NULL
        || memchr(s, '\n', (size_t)n) != NULL)
        return 0;
    int applied = PyObject_IsTrue(PyTuple_GET_ITEM(started, 4));
    if (applied < 0)
        return -1;
    /* Assembler.resume: the space after "resumed>" is strace's, unless " =>" follows */
    if (after < n && s[after] == ' ' && !(n - after >= 3 && s[after + 1] == '=' && s[after + 2] == '>'))
        after++;
    Py_ssize_t ta = c->has_ts ? fa[c->k - 1] : 0, tb = c->has_ts ? fb[c->k - 1] : 0;
    PyObject *head = Py_NewRef(PyTuple_GET_ITEM(started, 1));
    PyObject *from_tid = Py_NewRef(PyTuple_GET_ITEM(started, 3));
    PyObject *ts = regex_ts(c, s, ta, tb, 1);
    int rc = -1;
    if (ts != NULL && PyDict_DelItem(c->calls, pid) == 0) {
        PyObject *name = PyTuple_GET_ITEM(started, 0);
        if (applied) {
            rc = 1;
        } else if ((rc = decoded_joined(c, head, s + after, n - after, PyUnicode_GET_LENGTH(name), seq, ts, pid))
                   != 0) {
            /* decoded in C, or an error */
        } else {
            PyObject *tail = ascii(s + after, n - after);
            PyObject *text = tail ? PyUnicode_Concat(head, tail) : NULL;
            PyObject *r = text ? PyObject_CallMethodObjArgs(c->reducer, s_complete, text, pid, ts, seq, c->result,
                                                            c->pending, from_tid, NULL)
                               : NULL;
            rc = r == NULL ? -1 : 1;
            Py_XDECREF(r);
            Py_XDECREF(text);
            Py_XDECREF(tail);
        }
    }
    if (rc == 1 && ts != Py_None && store_last_ts(c, ts) < 0)
        rc = -1;
    Py_XDECREF(ts);
    Py_DECREF(head);
    Py_DECREF(from_tid);
    return rc;
}

static int
is_fork(const char *name, Py_ssize_t n)
{
    return (n == 5 && memcmp(name, "clone", 5) == 0) || (n == 6 && memcmp(name, "clone3", 6) == 0)
           || (n == 4 && memcmp(name, "fork", 4) == 0) || (n == 5 && memcmp(name, "vfork", 5) == 0);
}

/* BlockReducer._count_pair: a create and its close folded into the block's pairs */
static int
count_pair(Ctx *c, PyObject *created)
{
    PyObject *kind = PyTuple_GET_ITEM(created, 6), *seq = PyTuple_GET_ITEM(created, 0);
    PyObject *target = PyTuple_GET_ITEM(created, 7), *syscall = PyTuple_GET_ITEM(created, 8);
    PyObject *signature = signature_quick(kind == decode_types.kind_pipe, kind == decode_types.kind_socket, target,
                                          syscall);
    if (signature == NULL && PyErr_Occurred())
        return -1;
    if (signature == NULL)
        signature = PyObject_CallFunctionObjArgs(signature_of_fn, kind, target, syscall, NULL);
    if (signature == NULL)
        return -1;
    PyObject *key = PyTuple_Pack(3, PyTuple_GET_ITEM(created, 2), kind, signature);
    Py_DECREF(signature);
    if (key == NULL)
        return -1;
    int rc = -1;
    PyObject *counts = PyDict_GetItemWithError(c->pairs, key);
    if (counts == NULL && !PyErr_Occurred()) {
        PyObject *fresh = PyList_New(2);
        if (fresh != NULL) {
            PyList_SET_ITEM(fresh, 0, Py_NewRef(one));
            PyList_SET_ITEM(fresh, 1, Py_NewRef(seq));
            rc = PyDict_SetItem(c->pairs, key, fresh);
            Py_DECREF(fresh);
        }
    } else if (counts != NULL && PyList_Check(counts) && PyList_GET_SIZE(counts) == 2) {
        PyObject *n = PyNumber_Add(PyList_GET_ITEM(counts, 0), one);
        int lower = n == NULL ? -1 : PyObject_RichCompareBool(seq, PyList_GET_ITEM(counts, 1), Py_LT);
        if (lower >= 0) {
            PyList_SetItem(counts, 0, n);
            n = NULL;
            rc = lower ? PyList_SetItem(counts, 1, Py_NewRef(seq)) : 0;
        }
        Py_XDECREF(n);
    } else if (counts != NULL) {
        PyErr_SetString(PyExc_TypeError, "_scan: a pair's counts must be [count, first seq]");
    }
    Py_DECREF(key);
    return rc;
}

/* BlockReducer._fast_close */
static int
fast_close(Ctx *c, PyObject *pid, long fd, PyObject *seq, const char *s, Py_ssize_t ta, Py_ssize_t tb)
{
    PyObject *fd_obj = PyLong_FromLong(fd);
    if (fd_obj == NULL)
        return -1;
    PyObject *index = PyDict_GetItemWithError(c->pending, fd_obj);
    if (index == NULL && PyErr_Occurred())
        goto fail;
    if (index != NULL) {
        Py_ssize_t i = PyLong_AsSsize_t(index);
        if (PyDict_DelItem(c->pending, fd_obj) < 0)
            goto fail;
        PyObject *created = PyList_GET_ITEM(c->items, i);
        PyTypeObject *type = Py_TYPE(created);
        if (type == (PyTypeObject *)LazyCreate_t || type == (PyTypeObject *)FdEvent_t) {
            int pid_slot = type == (PyTypeObject *)LazyCreate_t ? 1 : 2;
            int same = PyObject_RichCompareBool(PyTuple_GET_ITEM(created, pid_slot), pid, Py_EQ);
            if (same < 0)
                goto fail;
            if (same) {
                Py_INCREF(created);
                PyList_SetItem(c->items, i, Py_NewRef(Py_None));
                int rc = 0;
                if (type == (PyTypeObject *)LazyCreate_t) {
                    PyObject *key = PyTuple_Pack(2, pid, PyTuple_GET_ITEM(created, 4));
                    PyObject *counts = key ? PyDict_GetItemWithError(c->lazy_pairs, key) : NULL;
                    if (key == NULL || (counts == NULL && PyErr_Occurred())) {
                        rc = -1;
                    } else if (counts == NULL) {
                        PyObject *fresh = PyList_New(2);
                        if (fresh == NULL) {
                            rc = -1;
                        } else {
                            PyList_SET_ITEM(fresh, 0, PyLong_FromLong(1));
                            PyList_SET_ITEM(fresh, 1, Py_NewRef(PyTuple_GET_ITEM(created, 0)));
                            rc = PyDict_SetItem(c->lazy_pairs, key, fresh);
                            Py_DECREF(fresh);
                        }
                    } else {
                        PyObject *n = PyNumber_Add(PyList_GET_ITEM(counts, 0), one);
                        rc = n == NULL ? -1 : PyList_SetItem(counts, 0, n);
                    }
                    Py_XDECREF(key);
                } else {
                    rc = count_pair(c, created);
                }
                Py_DECREF(created);
                Py_DECREF(fd_obj);
                return rc;
            }
        }
    }
    PyObject *ts = parse_ts_of(s, ta, tb, c->has_ts);
    if (ts == NULL)
        goto fail;
    PyObject *values[14];
    for (int i = 0; i < 14; i++)
        values[i] = Py_NewRef(PyTuple_GET_ITEM(close_proto, i));
    Py_SETREF(values[0], Py_NewRef(seq));
    Py_SETREF(values[1], ts);
    Py_SETREF(values[2], Py_NewRef(pid));
    Py_SETREF(values[4], fd_obj);
    PyObject *ev = record(FdEvent_t, 14, values);
    if (ev == NULL)
        return -1;
    int rc = PyList_Append(c->items, ev);
    Py_DECREF(ev);
    return rc;
fail:
    Py_DECREF(fd_obj);
    return -1;
}

/* a call's name, or its head "name(" when ``head``, as a str made once per name: most
 * calls in flight are the same few, and their starts hold no arguments (applied ones) */
static PyObject *
known_name(const char *name, Py_ssize_t n, int head)
{
    static struct {
        Py_ssize_t len;
        char text[32];
        PyObject *str[2];
    } made[64];
    static int count;
    if (n >= 31)
        return head ? concat3(name, n, "(", 1, "", 0) : ascii(name, n);
    for (int i = 0; i < count; i++)
        if (made[i].len == n && memcmp(made[i].text, name, (size_t)n) == 0)
            return Py_NewRef(made[i].str[head]);
    PyObject *plain = ascii(name, n), *with_paren = concat3(name, n, "(", 1, "", 0);
    if (plain == NULL || with_paren == NULL) {
        Py_XDECREF(plain);
        Py_XDECREF(with_paren);
        return NULL;
    }
    if (count < 64) {
        made[count].len = n;
        memcpy(made[count].text, name, (size_t)n);
        made[count].str[0] = Py_NewRef(plain);
        made[count].str[1] = Py_NewRef(with_paren);
        count++;
    }
    PyObject *out = Py_NewRef(head ? with_paren : plain);
    Py_DECREF(plain);
    Py_DECREF(with_paren);
    return out;
}

/* assembler.start(pid, name, head_args, seq, applied=...) */
static int
start_call(Ctx *c, PyObject *pid, const char *name, Py_ssize_t nn, const char *args, Py_ssize_t an,
           PyObject *seq, int applied)
{
    PyObject *values[5];
    values[0] = known_name(name, nn, 0);
    values[1] = an == 0 ? known_name(name, nn, 1) : concat3(name, nn, "(", 1, args, an);
    values[2] = Py_NewRef(seq);
    values[3] = PyLong_FromLong(0);
    values[4] = Py_NewRef(applied ? Py_True : Py_False);
    if (values[0] == NULL || values[1] == NULL) {
        for (int i = 0; i < 5; i++)
            Py_XDECREF(values[i]);
        return -1;
    }
    PyObject *call = record(Unfinished_t, 5, values);
    if (call == NULL)
        return -1;
    int rc = PyDict_SetItem(c->calls, pid, call);
    Py_DECREF(call);
    return rc;
}

static int
in_handlers(const char *name, Py_ssize_t n)
{
    return names_have(&handler_names, name, n);
}

/* A line the fast path leaves to the line pattern (a failed call, most often) that
 * is the "<... name resumed>" end of a call in flight: the pattern's path, in C. */
static int
failed_resumed(Ctx *c, const char *s, Py_ssize_t n, PyObject *seq)
{
    Py_ssize_t fa[2], fb[2], rest;
    long number = 0;
    if (!split_k(s, n, c->k, fa, fb, &rest))
        return 0;
    if (c->has_pid && !small_number(s + fa[0], fb[0] - fa[0], &number))
        return 0;
    const char *call = s + rest;
    Py_ssize_t cn = n - rest;
    if (!starts(call, cn, "<... "))
        return 0;
    Py_ssize_t end = find(call, cn, " resumed>");
    if (end <= 5 || !identifier(call + 5, end - 5))
        return 0;
    PyObject *pid = c->has_pid ? PyLong_FromLong(number) : Py_NewRef(c->default_pid);
    if (pid == NULL)
        return -1;
    PyObject *started = PyDict_GetItemWithError(c->calls, pid); /* borrowed */
    int rc = 0;
    if (started == NULL) {
        rc = PyErr_Occurred() ? -1 : 0;
    } else {
        PyObject *sname = PyTuple_GET_ITEM(started, 0);
        if (PyUnicode_Check(sname) && PyUnicode_IS_ASCII(sname) && PyUnicode_GET_LENGTH(sname) == end - 5
            && memcmp(PyUnicode_1BYTE_DATA(sname), call + 5, (size_t)(end - 5)) == 0)
            rc = resumed_by_pattern(c, s, n, fa, fb, rest, rest + end + 9, pid, started, seq);
    }
    Py_DECREF(pid);
    return rc;
}

/* A whole call _decode.c can read, by the line pattern's path
 * (_regex_line, _completed, then _line's window end). 1 when taken, 0 when Python must. */
static int
whole_call(Ctx *c, const char *s, Py_ssize_t n, PyObject *seq)
{
    Py_ssize_t fa[2], fb[2], rest;
    long number = 0;
    int k = c->k;
    if (!split_k(s, n, k, fa, fb, &rest) || !plain_prefix(s, k, c->has_pid, c->has_ts, fa, fb, rest))
        return 0;
    if (c->has_pid && !small_number(s + fa[0], fb[0] - fa[0], &number))
        return 0;
    const char *call = s + rest;
    Py_ssize_t cn = n - rest;
    Py_ssize_t paren = find(call, cn, "(");
    if (paren <= 0 || !identifier(call, paren))
        return 0;
    PyObject *pid = c->has_pid ? PyLong_FromLong(number) : Py_NewRef(c->default_pid);
    Py_ssize_t ta = c->has_ts ? fa[k - 1] : 0, tb = c->has_ts ? fb[k - 1] : 0;
    PyObject *ts = pid ? parse_ts_of(s, ta, tb, c->has_ts) : NULL;
    int rc = ts == NULL ? -1 : decoded(c, call, cn, paren, seq, ts, pid);
    if (rc == 1) {
        /* the window: the block's first time, if none yet, and its last */
        PyObject *first = PyObject_GetAttr(c->result, s_first_ts);
        if (first == NULL || (first == Py_None && PyObject_SetAttr(c->result, s_first_ts, ts) < 0))
            rc = -1;
        Py_XDECREF(first);
        if (rc == 1 && ts != Py_None && store_last_ts(c, ts) < 0)
            rc = -1;
    }
    Py_XDECREF(ts);
    Py_XDECREF(pid);
    return rc;
}

/* One ASCII line s[:n]: 1 taken, 0 for Python, -1 with an exception. ``line`` is its
 * str, or NULL where the line is a slice of a buffer: it is made only if kept. */
static int
line_fast(Ctx *c, PyObject *line, const char *s, Py_ssize_t n, PyObject *seq)
{
    int k = c->k;
    Py_ssize_t fa[2], fb[2], rest;
    PyObject *pid = NULL;
    long number = 0;
    int rc = 0;

    if (n >= (Py_ssize_t)UNFINISHED_LEN && memcmp(s + n - UNFINISHED_LEN, UNFINISHED, UNFINISHED_LEN) == 0) {
        /* _fast_unfinished */
        if (!split_k(s, n, k, fa, fb, &rest))
            return 0;
        if (c->has_pid && !small_number(s + fa[0], fb[0] - fa[0], &number))
            return 0;
        const char *call = s + rest;
        Py_ssize_t cn = n - rest;
        Py_ssize_t paren = find(call, cn, "(");
        if (paren <= 0 || !identifier(call, paren))
            return 0;
        int known = in_handlers(call, paren);
        if (known < 0)
            return -1;
        const char *args = call + paren + 1;
        Py_ssize_t an = cn - UNFINISHED_LEN - paren - 1;
        if (an < 0)
            return 0; /* "x( <unfinished ...>" overlapping itself: Python slices differently */
        pid = c->has_pid ? PyLong_FromLong(number) : Py_NewRef(c->default_pid);
        if (pid == NULL)
            return -1;
        int quiet = known ? inert(inert_start, call, paren, args, an) : 0;
        if (quiet < 0) {
            rc = -1;
        } else if (!known) {
            rc = start_call(c, pid, call, paren, "", 0, seq, 0) < 0 ? -1 : 1;
        } else if (quiet) {
            /* the end will change nothing either: "applied" lets it just close the call */
            rc = start_call(c, pid, call, paren, "", 0, seq, 1) < 0 ? -1 : 1;
        } else if (paren == 5 && memcmp(call, "close", 5) == 0) {
            Py_ssize_t lt = find(args, an, "<");
            Py_ssize_t a = 0, b = lt < 0 ? an : lt;
            while (a < b && py_space((unsigned char)args[a]))
                a++;
            while (b > a && py_space((unsigned char)args[b - 1]))
                b--;
            if (!small_number(args + a, b - a, &number)) {
                rc = 0;
            } else if (start_call(c, pid, call, paren, args, an, seq, 1) < 0) {
                rc = -1;
            } else {
                c->events++;
                Py_ssize_t ta = c->has_ts ? fa[k - 1] : 0, tb = c->has_ts ? fb[k - 1] : 0;
                rc = fast_close(c, pid, number, seq, s, ta, tb) < 0 ? -1 : 1;
            }
        } else if ((paren == 4 && memcmp(call, "open", 4) == 0) || (paren == 6 && memcmp(call, "openat", 6) == 0)) {
            Py_ssize_t m = an > 0 && args[an - 1] == ' ' ? an - 1 : an;
            rc = start_call(c, pid, call, paren, args, m, seq, 0) < 0 ? -1 : 1;
        } else if (!is_fork(call, paren) && plain_prefix(s, k, c->has_pid, c->has_ts, fa, fb, rest)
                   && !result_like(call, cn)) {
            /* the line pattern's path: the call waits for its end, with its arguments */
            Py_ssize_t ta = c->has_ts ? fa[k - 1] : 0, tb = c->has_ts ? fb[k - 1] : 0;
            PyObject *ts = regex_ts(c, s, ta, tb, 0);
            rc = ts == NULL || start_call(c, pid, call, paren, args, an, seq, 0) < 0 ? -1 : 1;
            Py_XDECREF(ts);
        }
        Py_DECREF(pid);
        return rc;
    }

    Py_ssize_t sep = rfind(s, n, ") = ");
    Py_ssize_t res = sep + 4; /* the result text runs from here to the end of the line */
    if (sep < 0 || res >= n || s[res] == '-' || s[res] == '?') {
        rc = failed_resumed(c, s, n, seq);
        return rc == 0 ? whole_call(c, s, n, seq) : rc;
    }
    if (!split_k(s, sep, k, fa, fb, &rest))
        return 0;
    if (c->has_pid && !small_number(s + fa[0], fb[0] - fa[0], &number))
        return 0;
    const char *call = s + rest;
    Py_ssize_t cn = sep - rest;
    Py_ssize_t ta = c->has_ts ? fa[k - 1] : 0, tb = c->has_ts ? fb[k - 1] : 0;

    if (starts(call, cn, "close(")) {
        Py_ssize_t lt = find(call + 6, cn - 6, "<");
        if (!small_number(call + 6, lt < 0 ? cn - 6 : lt, &number))
            return 0;
        long fd = number;
        if (c->has_pid && !small_number(s + fa[0], fb[0] - fa[0], &number))
            return 0;
        pid = c->has_pid ? PyLong_FromLong(number) : Py_NewRef(c->default_pid);
        if (pid == NULL)
            return -1;
        c->events++;
        set_last_ts(c, c->has_ts ? s : NULL, ta, tb);
        if (!c->has_ts) {
            Py_XSETREF(c->last_ts, Py_NewRef(Py_None));
        }
        rc = fast_close(c, pid, fd, seq, s, ta, tb) < 0 ? -1 : 1;
        Py_DECREF(pid);
        return rc;
    }
    if (starts(call, cn, "<... ")) {
        /* _fast_resumed */
        Py_ssize_t end = find(call, cn, " resumed>");
        if (end <= 0)
            return 0;
        const char *name = call + 5;
        Py_ssize_t nn = end - 5;
        if (nn < 0)
            return 0;
        pid = c->has_pid ? PyLong_FromLong(number) : Py_NewRef(c->default_pid);
        if (pid == NULL)
            return -1;
        PyObject *started = PyDict_GetItemWithError(c->calls, pid); /* borrowed */
        if (started == NULL) {
            Py_DECREF(pid);
            return PyErr_Occurred() ? -1 : 0;
        }
        PyObject *sname = PyTuple_GET_ITEM(started, 0);
        if (!PyUnicode_Check(sname) || !PyUnicode_IS_ASCII(sname) || PyUnicode_GET_LENGTH(sname) != nn
            || memcmp(PyUnicode_1BYTE_DATA(sname), name, (size_t)nn) != 0) {
            Py_DECREF(pid);
            return 0;
        }
        int known = in_handlers(name, nn);
        int applied = known > 0 ? PyObject_IsTrue(PyTuple_GET_ITEM(started, 4)) : 0;
        if (known < 0 || applied < 0) {
            Py_DECREF(pid);
            return -1;
        }
        if (!known || applied) {
            rc = PyDict_DelItem(c->calls, pid) < 0 ? -1 : 1;
        } else if ((nn == 4 && memcmp(name, "open", 4) == 0) || (nn == 6 && memcmp(name, "openat", 6) == 0)) {
            /* the whole call: the start's "name(args" and what follows " resumed>" */
            PyObject *head = PyTuple_GET_ITEM(started, 1);
            Py_ssize_t after = rest + end + 9;
            if (after < n && s[after] == ' ')
                after++;
            if (!PyUnicode_Check(head) || !PyUnicode_IS_ASCII(head)) {
                Py_DECREF(pid);
                return 0;
            }
            const char *h = (const char *)PyUnicode_1BYTE_DATA(head);
            Py_ssize_t hn = PyUnicode_GET_LENGTH(head);
            /* joined = head + s[after:]; its last ") = " lies in s[after:] unless that
             * holds none: then Python decides */
            Py_ssize_t jsep = rfind(s + after, n - after, ") = ");
            if (jsep < 0) {
                Py_DECREF(pid);
                return 0;
            }
            const char *jres = s + after + jsep + 4;
            Py_ssize_t jrn = n - (after + jsep + 4);
            Py_ssize_t lt = find(jres, jrn, "<");
            Py_ssize_t fdn = lt < 0 ? jrn : lt;
            if (!small_number(jres, fdn, &number)) {
                Py_DECREF(pid);
                return 0;
            }
            Py_ssize_t at = find(s, n, "<... ");
            PyObject *values[5];
            values[0] = Py_NewRef(seq);
            values[1] = Py_NewRef(pid);
            values[2] = PyLong_FromLong(number);
            values[3] = concat3(s, at, h, hn, s + after, n - after);
            PyObject *kcall = concat3(h, hn, s + after, jsep, "", 0);
            PyObject *kres = ascii(jres + fdn, jrn - fdn);
            values[4] = (kcall && kres) ? PyTuple_Pack(2, kcall, kres) : NULL;
            Py_XDECREF(kcall);
            Py_XDECREF(kres);
            PyObject *index = PyLong_FromSsize_t(PyList_GET_SIZE(c->items));
            if (values[2] == NULL || values[3] == NULL || values[4] == NULL || index == NULL) {
                for (int i = 0; i < 5; i++)
                    Py_XDECREF(values[i]);
                Py_XDECREF(index);
                Py_DECREF(pid);
                return -1;
            }
            PyObject *fd_obj = Py_NewRef(values[2]);
            PyObject *lazy = record(LazyCreate_t, 5, values);
            rc = (lazy == NULL || PyDict_DelItem(c->calls, pid) < 0 || PyDict_SetItem(c->pending, fd_obj, index) < 0
                  || PyList_Append(c->items, lazy) < 0)
                     ? -1
                     : 1;
            c->events++;
            Py_XDECREF(lazy);
            Py_DECREF(fd_obj);
            Py_DECREF(index);
        } else {
            rc = resumed_by_pattern(c, s, n, fa, fb, rest, rest + end + 9, pid, started, seq);
            rc = rc == 1 ? 2 : rc;
        }
        Py_DECREF(pid);
        if (rc == 1) {
            set_last_ts(c, c->has_ts ? s : NULL, ta, tb);
            if (!c->has_ts)
                Py_XSETREF(c->last_ts, Py_NewRef(Py_None));
        }
        return rc == 2 ? 1 : rc;
    }
    /* name = call[:call.find("(")]: with no "(", Python's slice drops the last character */
    Py_ssize_t paren = find(call, cn, "(");
    Py_ssize_t nn = paren >= 0 ? paren : cn - 1;
    if (identifier(call, nn)) {
        int known = in_handlers(call, nn);
        if (known < 0)
            return -1;
        if (!known)
            return 1; /* a syscall that touches no fd table */
        int quiet = inert(inert_whole, call, nn, s, n);
        if (quiet != 0)
            return quiet; /* ioctl(FIONBIO), fcntl(F_GETFL), recvmsg without fds, ... */
    }
    if (starts(call, cn, "openat(") || starts(call, cn, "open(")) {
        Py_ssize_t lt = find(s + res, n - res, "<");
        Py_ssize_t fdn = lt < 0 ? n - res : lt;
        if (!small_number(s + res, fdn, &number))
            return 0;
        long fd = number;
        if (c->has_pid && !small_number(s + fa[0], fb[0] - fa[0], &number))
            return 0;
        PyObject *values[5];
        values[0] = Py_NewRef(seq);
        values[1] = c->has_pid ? PyLong_FromLong(number) : Py_NewRef(c->default_pid);
        values[2] = PyLong_FromLong(fd);
        values[3] = line != NULL ? Py_NewRef(line) : ascii(s, n);
        PyObject *kcall = ascii(call, cn);
        PyObject *kres = ascii(s + res + fdn, n - res - fdn);
        values[4] = (kcall && kres) ? PyTuple_Pack(2, kcall, kres) : NULL;
        Py_XDECREF(kcall);
        Py_XDECREF(kres);
        PyObject *index = PyLong_FromSsize_t(PyList_GET_SIZE(c->items));
        if (values[1] == NULL || values[2] == NULL || values[3] == NULL || values[4] == NULL || index == NULL) {
            for (int i = 0; i < 5; i++)
                Py_XDECREF(values[i]);
            Py_XDECREF(index);
            return -1;
        }
        PyObject *fd_obj = Py_NewRef(values[2]);
        PyObject *lazy = record(LazyCreate_t, 5, values);
        rc = (lazy == NULL || PyDict_SetItem(c->pending, fd_obj, index) < 0 || PyList_Append(c->items, lazy) < 0)
                 ? -1
                 : 1;
        c->events++;
        Py_XDECREF(lazy);
        Py_DECREF(fd_obj);
        Py_DECREF(index);
        set_last_ts(c, c->has_ts ? s : NULL, ta, tb);
        if (!c->has_ts)
            Py_XSETREF(c->last_ts, Py_NewRef(Py_None));
        return rc;
    }
    return whole_call(c, s, n, seq);
}

static PyObject *
get_attr_path(PyObject *obj, PyObject *a, PyObject *b)
{
    PyObject *mid = PyObject_GetAttr(obj, a);
    if (mid == NULL || b == NULL)
        return mid;
    PyObject *out = PyObject_GetAttr(mid, b);
    Py_DECREF(mid);
    return out;
}

static int
get_int_attr(PyObject *obj, PyObject *name, int *out)
{
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL)
        return -1;
    long x = PyLong_AsLong(v);
    Py_DECREF(v);
    if (x == -1 && PyErr_Occurred())
        return -1;
    *out = (int)x;
    return 0;
}

/* The reducer's and the result's state a block's lines update: 0, or -1 with an exception */
static int
ctx_open(Ctx *c)
{
    if (LazyCreate_t == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_scan.setup() was not called");
        return -1;
    }
    c->items = PyObject_GetAttrString(c->result, "items");
    c->calls = get_attr_path(c->reducer, s_assembler, s_pending);
    c->lazy_pairs = PyObject_GetAttr(c->reducer, s_lazy_pairs);
    c->default_pid = PyObject_GetAttr(c->reducer, s_default_pid);
    c->pairs = PyObject_GetAttr(c->result, s_pairs);
    c->free = PyObject_GetAttr(c->reducer, s_free);
    if (c->items == NULL || c->calls == NULL || c->lazy_pairs == NULL || c->default_pid == NULL || c->pairs == NULL
        || c->free == NULL)
        return -1;
    if (!PyList_Check(c->items) || !PyDict_Check(c->calls) || !PyDict_Check(c->lazy_pairs)
        || !PyDict_Check(c->pairs) || !PyDict_Check(c->free)) {
        PyErr_SetString(PyExc_TypeError, "_scan.scan: unexpected reducer state");
        return -1;
    }
    if (get_int_attr(c->reducer, s_shape_k, &c->k) < 0 || get_int_attr(c->reducer, s_has_pid, &c->has_pid) < 0
        || get_int_attr(c->reducer, s_has_ts, &c->has_ts) < 0)
        return -1;
    if (c->k < 0 || c->k > 2 || (c->has_ts && c->k < 1)) {
        PyErr_SetString(PyExc_ValueError, "_scan.scan: no fast-path shape");
        return -1;
    }
    c->last_ts = PyObject_GetAttr(c->reducer, s_last_ts_text);
    return c->last_ts == NULL ? -1 : 0;
}

/* The block's end: the state kept here handed back. 0, or -1 with an exception */
static int
ctx_finish(Ctx *c)
{
    PyObject *ts = last_ts_text(c);
    if (ts == NULL || PyObject_SetAttr(c->reducer, s_last_ts_text, ts) < 0)
        return -1;
    PyObject *events = PyObject_GetAttr(c->result, s_events);
    if (events == NULL)
        return -1;
    PyObject *added = PyLong_FromSsize_t(c->events);
    PyObject *sum = added ? PyNumber_Add(events, added) : NULL;
    Py_DECREF(events);
    Py_XDECREF(added);
    if (sum == NULL)
        return -1;
    int rc = PyObject_SetAttr(c->result, s_events, sum);
    Py_DECREF(sum);
    return rc;
}

static void
ctx_close(Ctx *c)
{
    Py_XDECREF(c->items);
    Py_XDECREF(c->calls);
    Py_XDECREF(c->lazy_pairs);
    Py_XDECREF(c->default_pid);
    Py_XDECREF(c->pairs);
    Py_XDECREF(c->free);
    Py_XDECREF(c->last_ts);
}

/* One line, numbered seq: the compiled loop's when it can, else Python's _line. ``line``
 * is its str or NULL (a slice of a buffer: made a latin-1 str for Python). *carry: a
 * line Python read may have left reducer._carry set, which only Python can join. */
static int
one_line(Ctx *c, PyObject *line, const char *s, Py_ssize_t n, int is_ascii, Py_ssize_t number, int *carry)
{
    PyObject *seq = PyLong_FromSsize_t(number);
    if (seq == NULL)
        return -1;
    int taken = 0;
    if (*carry) {
        PyObject *pending_text = PyObject_GetAttr(c->reducer, s_carry);
        *carry = pending_text == NULL ? -1 : PyObject_IsTrue(pending_text);
        Py_XDECREF(pending_text);
        if (*carry < 0) {
            Py_DECREF(seq);
            return -1;
        }
    }
    if (!*carry && is_ascii)
        taken = line_fast(c, line, s, n, seq);
    if (taken == 0) {
        PyObject *text = line != NULL ? Py_NewRef(line) : PyUnicode_DecodeLatin1(s, n, NULL);
        taken = text == NULL ? -1 : delegate(c, text, seq);
        Py_XDECREF(text);
        *carry = 1;
    }
    Py_DECREF(seq);
    return taken < 0 ? -1 : 0;
}

static PyObject *
scan(PyObject *self, PyObject *args)
{
    Ctx c;
    PyObject *lines;
    Py_ssize_t first_seq;
    memset(&c, 0, sizeof c);
    if (!PyArg_ParseTuple(args, "OO!nOO!", &c.reducer, &PyList_Type, &lines, &first_seq, &c.result,
                          &PyDict_Type, &c.pending))
        return NULL;
    PyObject *ok = NULL;
    if (ctx_open(&c) < 0)
        goto done;
    int carry = 1; /* reducer._carry may be set: only Python's lines can set it */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(lines); i++) {
        PyObject *line = PyList_GET_ITEM(lines, i);
        int plain = PyUnicode_CheckExact(line) && PyUnicode_IS_ASCII(line);
        const char *s = plain ? (const char *)PyUnicode_1BYTE_DATA(line) : NULL;
        if (one_line(&c, line, s, plain ? PyUnicode_GET_LENGTH(line) : 0, plain, first_seq + i, &carry) < 0)
            goto done;
    }
    if (ctx_finish(&c) == 0)
        ok = Py_NewRef(Py_None);
done:
    ctx_close(&c);
    return ok;
}

static int
all_ascii(const char *s, Py_ssize_t n)
{
    uint64_t any = 0, word;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) { /* eight bytes at a time: this runs on every byte of a log */
        memcpy(&word, s + i, 8);
        any |= word;
    }
    for (; i < n; i++)
        any |= (unsigned char)s[i];
    return (any & 0x8080808080808080ULL) == 0;
}

/* scan_bytes(reducer, data, first_seq, result, pending): scan() over the lines of a
 * buffer of whole lines, cut at each "\n" as reduce_range's split("\n") cut them (no
 * line after a final newline), without a str for every line. Returns the line count. */
static PyObject *
scan_bytes(PyObject *self, PyObject *args)
{
    Ctx c;
    Py_buffer data;
    Py_ssize_t first_seq;
    memset(&c, 0, sizeof c);
    if (!PyArg_ParseTuple(args, "Oy*nOO!", &c.reducer, &data, &first_seq, &c.result, &PyDict_Type, &c.pending))
        return NULL;
    PyObject *ok = NULL;
    Py_ssize_t count = 0;
    if (ctx_open(&c) < 0)
        goto done;
    const char *s = (const char *)data.buf, *end = s + data.len;
    int carry = 1;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        Py_ssize_t n = (nl != NULL ? nl : end) - s;
        if (one_line(&c, NULL, s, n, all_ascii(s, n), first_seq + count, &carry) < 0)
            goto done;
        count++;
        s += n + 1;
    }
    if (ctx_finish(&c) == 0)
        ok = PyLong_FromSsize_t(count);
done:
    ctx_close(&c);
    PyBuffer_Release(&data);
    return ok;
}

/* The event of a LazyCreate's line (BlockReducer._decode_lazy), or NULL with no error
 * when Python must decode it. */
static PyObject *
lazy_event(PyObject *item, int k, int has_pid, int has_ts)
{
    PyObject *line = PyTuple_GET_ITEM(item, 3);
    if (!PyUnicode_CheckExact(line) || !PyUnicode_IS_ASCII(line))
        return NULL;
    const char *s = (const char *)PyUnicode_1BYTE_DATA(line);
    Py_ssize_t n = PyUnicode_GET_LENGTH(line), fa[2], fb[2], rest;
    if (!split_k(s, n, k, fa, fb, &rest) || !plain_prefix(s, k, has_pid, has_ts, fa, fb, rest))
        return NULL;
    const char *call = s + rest;
    Py_ssize_t cn = n - rest, paren = find(call, cn, "(");
    if (paren <= 0 || !identifier(call, paren))
        return NULL;
    PyObject *ts = parse_ts_of(s, has_ts ? fa[k - 1] : 0, has_ts ? fb[k - 1] : 0, has_ts);
    if (ts == NULL)
        return NULL;
    PyObject *out[DECODE_MAX];
    int got = decode_open_call(call, cn, paren, PyTuple_GET_ITEM(item, 0), ts, PyTuple_GET_ITEM(item, 1), out);
    Py_DECREF(ts);
    if (got == 1)
        return out[0];
    for (int i = 0; i < got; i++)
        Py_DECREF(out[i]);
    if (got == 0 || got == DECODE_PYTHON)
        PyErr_Clear();
    return NULL;
}

/* settle(reducer, items): each LazyCreate, an open that outlived its block, becomes its
 * FdEvent (BlockReducer._settle's first half) */
static PyObject *
settle(PyObject *self, PyObject *args)
{
    PyObject *reducer, *items;
    if (!PyArg_ParseTuple(args, "OO!", &reducer, &PyList_Type, &items))
        return NULL;
    int k, has_pid, has_ts;
    if (get_int_attr(reducer, s_shape_k, &k) < 0 || get_int_attr(reducer, s_has_pid, &has_pid) < 0
        || get_int_attr(reducer, s_has_ts, &has_ts) < 0)
        return NULL;
    int shaped = k >= 0 && k <= 2 && (!has_ts || k >= 1);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        if (Py_TYPE(item) != (PyTypeObject *)LazyCreate_t)
            continue;
        PyObject *ev = shaped ? lazy_event(item, k, has_pid, has_ts) : NULL;
        if (ev == NULL && PyErr_Occurred())
            return NULL;
        if (ev == NULL && (ev = PyObject_CallMethodOneArg(reducer, s_decode_lazy, item)) == NULL)
            return NULL;
        if (PyList_SetItem(items, i, ev) < 0)
            return NULL;
    }
    Py_RETURN_NONE;
}

/* sign_open(call, rest): (kind, target, syscall) of a folded open's key as
 * BlockReducer._sign decodes it, or False when Python must */
static PyObject *
sign_open(PyObject *self, PyObject *args)
{
    PyObject *call, *rest;
    if (!PyArg_ParseTuple(args, "UU", &call, &rest))
        return NULL;
    if (!PyUnicode_IS_ASCII(call) || !PyUnicode_IS_ASCII(rest))
        Py_RETURN_FALSE;
    const char *cs = (const char *)PyUnicode_1BYTE_DATA(call);
    Py_ssize_t cn = PyUnicode_GET_LENGTH(call), paren = find(cs, cn, "(");
    if (paren <= 0 || !identifier(cs, paren))
        Py_RETURN_FALSE;
    PyObject *text = concat3(cs, cn, ") = 3", 5, (const char *)PyUnicode_1BYTE_DATA(rest), PyUnicode_GET_LENGTH(rest));
    PyObject *zero = PyLong_FromLong(0);
    if (text == NULL || zero == NULL) {
        Py_XDECREF(text);
        Py_XDECREF(zero);
        return NULL;
    }
    PyObject *out[DECODE_MAX];
    int got = decode_open_call((const char *)PyUnicode_1BYTE_DATA(text), PyUnicode_GET_LENGTH(text), paren, zero,
                               Py_None, zero, out);
    Py_DECREF(text);
    Py_DECREF(zero);
    if (got == DECODE_ERROR)
        return NULL;
    if (got != 1) {
        for (int i = 0; i < got; i++)
            Py_DECREF(out[i]);
        Py_RETURN_FALSE;
    }
    PyObject *ev = out[0];
    PyObject *signed_ = PyTuple_Pack(3, PyTuple_GET_ITEM(ev, 6), PyTuple_GET_ITEM(ev, 7), PyTuple_GET_ITEM(ev, 8));
    Py_DECREF(ev);
    return signed_;
}

static PyObject *
setup(PyObject *self, PyObject *args)
{
    PyObject *lazy, *unfinished, *event, *close, *names, *parse, *whole, *start, *config;
    if (!PyArg_ParseTuple(args, "O!O!O!OO!OO!O!O!", &PyType_Type, &lazy, &PyType_Type, &unfinished, &PyType_Type,
                          &event, &close, &PyFrozenSet_Type, &names, &parse, &PyDict_Type, &whole, &PyDict_Type,
                          &start, &PyDict_Type, &config))
        return NULL;
    if (decode_setup(config) < 0)
        return NULL;
    /* the names of both inert tables, and decode's */
    memset(&inert_names, 0, sizeof inert_names);
    memset(&handler_names, 0, sizeof handler_names);
    if (names_add(&inert_names, whole) < 0 || names_add(&inert_names, start) < 0
        || names_add(&handler_names, names) < 0)
        return NULL;
    PyObject *ends = PyDict_GetItemString(config, "with_socket_end");
    if (ends == NULL) {
        PyErr_SetString(PyExc_KeyError, "_scan.setup: no with_socket_end");
        return NULL;
    }
    Py_XSETREF(with_socket_end_fn, Py_NewRef(ends));
    PyObject *sign = PyDict_GetItemString(config, "signature_of");
    if (sign == NULL) {
        PyErr_SetString(PyExc_KeyError, "_scan.setup: no signature_of");
        return NULL;
    }
    Py_XSETREF(signature_of_fn, Py_NewRef(sign));
    if (!PyTuple_Check(close) || PyTuple_GET_SIZE(close) != 14 || Py_TYPE(close) != (PyTypeObject *)event) {
        PyErr_SetString(PyExc_TypeError, "setup: close must be an FdEvent of 14 fields");
        return NULL;
    }
    Py_XSETREF(LazyCreate_t, Py_NewRef(lazy));
    Py_XSETREF(Unfinished_t, Py_NewRef(unfinished));
    Py_XSETREF(FdEvent_t, Py_NewRef(event));
    Py_XSETREF(close_proto, Py_NewRef(close));
    Py_XSETREF(handlers, Py_NewRef(names));
    Py_XSETREF(parse_ts_fn, Py_NewRef(parse));
    Py_XSETREF(inert_whole, Py_NewRef(whole));
    Py_XSETREF(inert_start, Py_NewRef(start));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS, "Hand over the record types and the syscall names decode knows."},
    {"scan", scan, METH_VARARGS, "scan(reducer, lines, first_seq, result, pending): one block's lines."},
    {"scan_bytes", scan_bytes, METH_VARARGS,
     "scan_bytes(reducer, data, first_seq, result, pending): one block's lines as bytes; their count."},
    {"settle", settle, METH_VARARGS, "settle(reducer, items): the opens that outlived the block, decoded."},
    {"sign_open", sign_open, METH_VARARGS, "sign_open(call, rest): a folded open's (kind, target, syscall)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan", "The compiled strace line loop.", -1, methods};

PyMODINIT_FUNC
PyInit__scan(void)
{
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&s_line, "_line"},           {&s_last_ts_text, "_last_ts_text"}, {&s_carry, "_carry"},
        {&s_count_pair, "_count_pair"}, {&s_events, "events"},             {&s_default_pid, "default_pid"},
        {&s_assembler, "assembler"},   {&s_pending, "pending"},           {&s_lazy_pairs, "_lazy_pairs"},
        {&s_shape_k, "_k"},            {&s_has_pid, "_has_pid"},          {&s_has_ts, "_has_ts"},
        {&s_complete, "complete"},     {&s_first_ts, "first_ts"},         {&s_last_ts, "last_ts"},
        {&s_pairs, "pairs"},           {&s_decode_lazy, "_decode_lazy"},    {&s_free, "_free"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        *names[i].slot = PyUnicode_InternFromString(names[i].text);
        if (*names[i].slot == NULL)
            return NULL;
    }
    one = PyLong_FromLong(1);
    if (one == NULL)
        return NULL;
    return PyModule_Create(&module);
}
