/* The compiled form of decode.py for the common fd calls: see _decode.h.
 *
 * Each reader here takes only the shapes it can read exactly as Python does (plain
 * numbers, decorations without escapes or nested "<", the usual sockaddrs) and
 * answers DECODE_PYTHON for anything else: the pure-Python decoder stays the oracle,
 * and tests/test_compiled.py compares the two on hostile lines.
 */
#include "_decode.h"

#include <string.h>

DecodeTypes decode_types;

/* one answer of a reader: a str (new reference), None (NULL), or "ask Python" */
typedef struct {
    PyObject *text;
    int python;
} Text;

static inline int
space(unsigned char c)
{
    return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
}

static inline int
has(const char *s, Py_ssize_t n, const char *word)
{
    size_t m = strlen(word);
    return m == 0 || ((size_t)n >= m && short_search(s, (size_t)n, word, m) != NULL);
}

static inline const char *
find_char(const char *s, Py_ssize_t n, char c)
{
    return n > 0 ? memchr(s, c, (size_t)n) : NULL;
}

static inline int
is_name(const char *s, Py_ssize_t n, const char *name)
{
    return (size_t)n == strlen(name) && memcmp(s, name, (size_t)n) == 0;
}

static inline int
starts(const char *s, Py_ssize_t n, const char *prefix)
{
    size_t m = strlen(prefix);
    return (size_t)n >= m && memcmp(s, prefix, m) == 0;
}

static inline void
strip(const char **s, Py_ssize_t *n)
{
    while (*n > 0 && space((unsigned char)(*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && space((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

/* ASCII digits, few enough for a long; int() would read them the same */
static int
number(const char *s, Py_ssize_t n, long *out)
{
    if (n <= 0 || n > 18)
        return 0;
    long v = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static inline PyObject *
str(const char *s, Py_ssize_t n)
{
    return PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, s, n);
}

/* fd_and_decoration()'s fast shapes, "3" and "3</x>": 1 when they apply */
static int
fd_and_decoration(const char *s, Py_ssize_t n, long *fd, const char **deco, Py_ssize_t *dn)
{
    strip(&s, &n);
    const char *lt = find_char(s, n, '<');
    Py_ssize_t nn = lt ? lt - s : n;
    if (!number(s, nn, fd))
        return 0;
    *deco = NULL;
    *dn = 0;
    if (lt == NULL)
        return 1;
    const char *rest = lt + 1;
    Py_ssize_t rn = n - nn - 1;
    if (rn < 1 || rest[rn - 1] != '>' || find_char(rest, rn, '<') || find_char(rest, rn, '\\'))
        return 0;
    *deco = rest;
    *dn = rn - 1;
    return 1;
}

/* args.socket_decoration(): -yy's "TCP:[a->b]" -> "TCP a->b"; None for an inode alone */
static Text
socket_decoration(const char *s, Py_ssize_t n)
{
    Text out = {NULL, 0};
    Py_ssize_t i = 0;
    while (i < n && ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
        i++;
    Py_ssize_t proto = i;
    if (proto == 0)
        return out;
    if (i < n && s[i] == '-') {
        Py_ssize_t j = i + 1;
        while (j < n && s[j] >= 'A' && s[j] <= 'Z')
            j++;
        if (j == i + 1)
            return out;
        i = j;
    }
    if (!(i + 1 < n && s[i] == ':' && s[i + 1] == '[') || n < i + 3 || s[n - 1] != ']')
        return out;
    const char *body = s + i + 2;
    Py_ssize_t bn = n - i - 3;
    if (is_name(s, proto, "socket"))
        return out;
    if (is_name(s, proto, "UNIX")) {
        out.python = find_char(body, bn, '"') != NULL; /* a quoted path: unquote in Python */
        return out;
    }
    Py_ssize_t d = 0;
    while (d < bn && body[d] >= '0' && body[d] <= '9')
        d++;
    if (bn > 0 && d == bn)
        return out; /* an inode number alone */
    PyObject *text = PyUnicode_New(proto + 1 + bn, 127);
    if (text == NULL) {
        out.python = -1;
        return out;
    }
    char *w = (char *)PyUnicode_1BYTE_DATA(text);
    memcpy(w, s, (size_t)proto);
    w[proto] = ' ';
    memcpy(w + proto + 1, body, (size_t)bn);
    out.text = text;
    return out;
}

/* decode.socket_proto() */
static PyObject *
socket_proto(const char *a, Py_ssize_t an)
{
    const char *c1 = find_char(a, an, ',');
    const char *fam = a;
    Py_ssize_t fn = c1 ? c1 - a : an;
    const char *type = "";
    Py_ssize_t tn = 0;
    if (c1 != NULL) {
        const char *rest = c1 + 1;
        Py_ssize_t rn = an - (rest - a);
        const char *c2 = find_char(rest, rn, ',');
        type = rest;
        tn = c2 ? c2 - rest : rn;
        strip(&type, &tn);
        const char *bar = find_char(type, tn, '|');
        if (bar != NULL)
            tn = bar - type;
    }
    strip(&fam, &fn);
    if (is_name(fam, fn, "AF_UNIX") || is_name(fam, fn, "AF_LOCAL"))
        return PyUnicode_FromString("UNIX");
    static const char *table[][3] = {
        {"AF_INET", "SOCK_STREAM", "TCP"},  {"AF_INET", "SOCK_DGRAM", "UDP"},  {"AF_INET6", "SOCK_STREAM", "TCPv6"},
        {"AF_INET6", "SOCK_DGRAM", "UDPv6"}, {"AF_INET", "SOCK_RAW", "RAW"}, {"AF_INET6", "SOCK_RAW", "RAWv6"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (is_name(fam, fn, table[i][0]) && is_name(type, tn, table[i][1]))
            return PyUnicode_FromString(table[i][2]);
    if (starts(fam, fn, "AF_"))
        return str(fam + 3, fn - 3);
    return str(fam, fn);
}

/* args.sockaddr(): "127.0.0.1:6379", "[::1]:53", a UNIX path, or None */
static Text
sockaddr(const char *a, Py_ssize_t an)
{
    Text out = {NULL, 0};
    if (has(a, an, "AF_UNIX")) {
        /* sun_path=(@?)"((?:[^"\\]|\\.)*)": the first "sun_path=" must be it */
        const char *at = short_search(a, (size_t)an, "sun_path=", 9);
        if (at == NULL) {
            out.text = PyUnicode_FromString("");
            out.python = out.text == NULL ? -1 : 0;
            return out;
        }
        const char *p = at + 9, *end = a + an;
        int abstract = p < end && *p == '@';
        p += abstract;
        if (p >= end || *p != '"') {
            out.python = 1;
            return out;
        }
        const char *q = p + 1;
        while (q < end && *q != '"' && *q != '\\')
            q++;
        if (q >= end || *q != '"') {
            out.python = 1; /* an escape (unquote in Python) or no closing quote */
            return out;
        }
        PyObject *text = PyUnicode_New(abstract + (q - p - 1), 127);
        if (text == NULL) {
            out.python = -1;
            return out;
        }
        char *w = (char *)PyUnicode_1BYTE_DATA(text);
        if (abstract)
            w[0] = '@';
        memcpy(w + abstract, p + 1, (size_t)(q - p - 1));
        out.text = text;
        return out;
    }
    /* sin6?_port=htons\((\d+)\).*?(?:inet_addr\("([^"]*)"\)|inet_pton\(AF_INET6?, "([^"]*)") */
    const char *end = a + an;
    const char *port = NULL;
    for (const char *p = a; p < end; p++) {
        if (*p != 's')
            continue;
        if (starts(p, end - p, "sin_port=htons(")) {
            port = p + 15;
            break;
        }
        if (starts(p, end - p, "sin6_port=htons(")) {
            port = p + 16;
            break;
        }
    }
    if (port == NULL) {
        /* no port at all: no match (a later, different one would need Python) */
        out.python = has(a, an, "_port=htons(");
        return out;
    }
    const char *pe = port;
    while (pe < end && *pe >= '0' && *pe <= '9')
        pe++;
    if (pe == port || pe >= end || *pe != ')') {
        out.python = 1;
        return out;
    }
    const char *addr = NULL, *ae = NULL;
    int v6 = 0;
    for (const char *p = pe + 1; p < end; p++) {
        if (*p != 'i')
            continue;
        if (starts(p, end - p, "inet_addr(\"")) {
            addr = p + 11;
        } else if (starts(p, end - p, "inet_pton(AF_INET, \"")) {
            addr = p + 20;
            v6 = 1;
        } else if (starts(p, end - p, "inet_pton(AF_INET6, \"")) {
            addr = p + 21;
            v6 = 1;
        } else {
            continue;
        }
        ae = find_char(addr, end - addr, '"');
        break;
    }
    if (addr == NULL || ae == NULL || (!v6 && !(ae + 1 < end && ae[1] == ')'))) {
        out.python = 1;
        return out;
    }
    int any_port = pe - port == 1 && port[0] == '0';
    const char *ptext = any_port ? "*" : port;
    Py_ssize_t pn = any_port ? 1 : pe - port;
    Py_ssize_t len = (ae - addr) + 1 + pn + (v6 ? 2 : 0);
    PyObject *text = PyUnicode_New(len, 127);
    if (text == NULL) {
        out.python = -1;
        return out;
    }
    char *w = (char *)PyUnicode_1BYTE_DATA(text);
    if (v6)
        *w++ = '[';
    memcpy(w, addr, (size_t)(ae - addr));
    w += ae - addr;
    if (v6)
        *w++ = ']';
    *w++ = ':';
    memcpy(w, ptext, (size_t)pn);
    out.text = text;
    return out;
}

/* kinds._is_socket_decoration(): -y's TCP:[...], UNIX-STREAM:[...], ... -- the text before
 * any ":" and "-" starts, in capitals, with a protocol, and ":[" follows. 0 (Python then
 * decides) for anything else, and for non-ASCII text, which str.upper() may change more. */
static int
socket_link(const char *s, Py_ssize_t n)
{
    static const char *const protocols[] = {"TCP",  "UDP",  "UNIX",  "NETLINK", "RAW",  "UDPLITE",
                                            "SCTP", "PACKET", "ICMP", "DCCP",   "L2TP", "MPTCP",
                                            "XDP",  "VSOCK", "TIPC", "BLUETOOTH", "AF_"};
    Py_ssize_t head = 0;
    while (head < n && s[head] != ':' && s[head] != '-')
        head++;
    if (short_search(s, (size_t)n, ":[", 2) == NULL)
        return 0;
    for (size_t i = 0; i < sizeof protocols / sizeof protocols[0]; i++) {
        Py_ssize_t m = (Py_ssize_t)strlen(protocols[i]), k = 0;
        while (k < m && k < head && (unsigned char)s[k] < 0x80
               && (s[k] >= 'a' && s[k] <= 'z' ? s[k] - 'a' + 'A' : s[k]) == protocols[i][k])
            k++;
        if (k == m)
            return 1;
    }
    return 0;
}

/* model.kinds.kind_of_link(): the usual link texts here, the rest in Python */
static PyObject *
kind_of_link(PyObject *target)
{
    const char *s = (const char *)PyUnicode_1BYTE_DATA(target);
    Py_ssize_t n = PyUnicode_GET_LENGTH(target);
    if (n > 0 && s[0] == '/') {
        if (starts(s, n, "/memfd:"))
            return Py_NewRef(decode_types.kind_memfd);
        if (starts(s, n, "/dev/") && !starts(s, n, "/dev/shm/"))
            return Py_NewRef(decode_types.kind_device);
        return Py_NewRef(decode_types.kind_file);
    }
    if (starts(s, n, "pipe:"))
        return Py_NewRef(decode_types.kind_pipe);
    if (starts(s, n, "socket:") || socket_link(s, n))
        return Py_NewRef(decode_types.kind_socket);
    return PyObject_CallOneArg(decode_types.kind_of_link, target);
}

/* FdEvent(seq, ts, pid, op, fd, fd2, kind, target, syscall, cloexec), the other fields
 * at their defaults. Steals kind and target. */
static PyObject *
event(PyObject *seq, PyObject *ts, PyObject *pid, PyObject *op, long fd, long fd2, PyObject *kind,
      PyObject *target, PyObject *syscall, int cloexec)
{
    PyObject *blank = decode_types.blank;
    PyObject *fd_obj = PyLong_FromLong(fd), *fd2_obj = PyLong_FromLong(fd2);
    PyTypeObject *type = (PyTypeObject *)decode_types.fd_event;
    PyObject *ev = fd_obj && fd2_obj && kind && target ? type->tp_alloc(type, 14) : NULL;
    if (ev == NULL) {
        Py_XDECREF(fd_obj);
        Py_XDECREF(fd2_obj);
        Py_XDECREF(kind);
        Py_XDECREF(target);
        return NULL;
    }
    PyObject *values[14] = {
        Py_NewRef(seq),   Py_NewRef(ts),      Py_NewRef(pid), Py_NewRef(op), fd_obj, fd2_obj, kind, target,
        Py_NewRef(syscall), Py_NewRef(cloexec ? Py_True : Py_False),
    };
    for (int i = 10; i < 14; i++)
        values[i] = Py_NewRef(PyTuple_GET_ITEM(blank, i));
    for (int i = 0; i < 14; i++)
        PyTuple_SET_ITEM(ev, i, values[i]);
    return ev;
}

/* what every reader needs to know about the call */
typedef struct {
    const char *a; /* the argument text */
    Py_ssize_t an;
    long ret;
    const char *deco; /* the returned fd's decoration (NULL: none) */
    Py_ssize_t dn;
    PyObject *seq, *ts, *pid, *name;
    PyObject **out;
} Call;

#define EVENT(op, fd, fd2, kind, target, cloexec)                                                                     \
    (c->out[count] = event(c->seq, c->ts, c->pid, (op), (fd), (fd2), (kind), (target), c->name, (cloexec)),         \
     c->out[count] == NULL ? DECODE_ERROR : ++count)

/* the first argument, an fd, and its -y decoration when there is one */
static int
first_fd(Call *c, long *fd, const char **deco, Py_ssize_t *dn)
{
    const char *comma = find_char(c->a, c->an, ',');
    return fd_and_decoration(c->a, comma ? comma - c->a : c->an, fd, deco, dn);
}

static int
de_socket(Call *c)
{
    int count = 0;
    PyObject *target = NULL;
    if (c->dn > 0) {
        Text t = socket_decoration(c->deco, c->dn);
        if (t.python)
            return t.python < 0 ? DECODE_ERROR : DECODE_PYTHON;
        target = t.text;
    }
    if (target == NULL && (target = socket_proto(c->a, c->an)) == NULL)
        return DECODE_ERROR;
    return EVENT(decode_types.op_create, c->ret, -1, Py_NewRef(decode_types.kind_socket), target,
                 has(c->a, c->an, "SOCK_CLOEXEC"));
}

static int
de_accept(Call *c)
{
    int count = 0;
    long listener;
    const char *ld;
    Py_ssize_t ldn;
    if (!first_fd(c, &listener, &ld, &ldn))
        return DECODE_PYTHON;
    PyObject *target = NULL;
    if (c->dn > 0) {
        Text t = socket_decoration(c->deco, c->dn);
        if (t.python)
            return t.python < 0 ? DECODE_ERROR : DECODE_PYTHON;
        target = t.text;
    }
    if (target == NULL) {
        Text peer = sockaddr(c->a, c->an);
        if (peer.python)
            return peer.python < 0 ? DECODE_ERROR : DECODE_PYTHON;
        PyObject *proto = NULL;
        if (ldn > 0) {
            Text known = socket_decoration(ld, ldn);
            if (known.python) {
                Py_XDECREF(peer.text);
                return known.python < 0 ? DECODE_ERROR : DECODE_PYTHON;
            }
            proto = known.text;
        }
        if (proto == NULL)
            proto = PyUnicode_FromString(has(c->a, c->an, "AF_UNIX")    ? "UNIX"
                                         : has(c->a, c->an, "AF_INET6") ? "TCPv6"
                                                                        : "TCP");
        if (proto == NULL) {
            Py_XDECREF(peer.text);
            return DECODE_ERROR;
        }
        if (peer.text != NULL && PyUnicode_GET_LENGTH(peer.text) > 0) {
            const char *p = (const char *)PyUnicode_1BYTE_DATA(proto);
            Py_ssize_t pn = PyUnicode_GET_LENGTH(proto);
            int spaced = find_char(p, pn, ' ') != NULL;
            if (!PyUnicode_IS_ASCII(proto)) {
                Py_DECREF(proto);
                Py_DECREF(peer.text);
                return DECODE_PYTHON;
            }
            Py_ssize_t en = PyUnicode_GET_LENGTH(peer.text);
            target = PyUnicode_New(pn + (spaced ? 2 : 3) + en, 127);
            if (target != NULL) {
                char *w = (char *)PyUnicode_1BYTE_DATA(target);
                memcpy(w, p, (size_t)pn);
                w += pn;
                memcpy(w, spaced ? "->" : " ->", spaced ? 2 : 3);
                w += spaced ? 2 : 3;
                memcpy(w, PyUnicode_1BYTE_DATA(peer.text), (size_t)en);
            }
            Py_DECREF(proto);
        } else {
            target = proto;
        }
        Py_XDECREF(peer.text);
        if (target == NULL)
            return DECODE_ERROR;
    }
    return EVENT(decode_types.op_create, c->ret, listener, Py_NewRef(decode_types.kind_socket), target,
                 has(c->a, c->an, "SOCK_CLOEXEC"));
}

/* a copy of fd old at ret: dup/dup2/dup3 and fcntl F_DUPFD */
static int
copy_event(Call *c, long old, const char *old_deco, Py_ssize_t odn, int cloexec)
{
    int count = 0;
    const char *t = c->dn > 0 ? c->deco : odn > 0 ? old_deco : "";
    Py_ssize_t tn = c->dn > 0 ? c->dn : odn > 0 ? odn : 0;
    PyObject *target = str(t, tn);
    if (target == NULL)
        return DECODE_ERROR;
    PyObject *kind = tn > 0 ? kind_of_link(target) : Py_NewRef(decode_types.kind_other);
    return EVENT(decode_types.op_dup, old, c->ret, kind, target, cloexec);
}

static int
de_dup(Call *c, int dup3)
{
    long old;
    const char *od;
    Py_ssize_t odn;
    if (!first_fd(c, &old, &od, &odn))
        return DECODE_PYTHON;
    if (old == c->ret)
        return 0; /* dup2(fd, fd) changes nothing */
    return copy_event(c, old, od, odn, dup3 && has(c->a, c->an, "O_CLOEXEC"));
}

static int
de_fcntl(Call *c)
{
    const char *c1 = find_char(c->a, c->an, ',');
    if (c1 == NULL)
        return 0;
    const char *cmd = c1 + 1;
    Py_ssize_t rest = c->an - (cmd - c->a);
    const char *c2 = find_char(cmd, rest, ',');
    Py_ssize_t cn = c2 ? c2 - cmd : rest;
    strip(&cmd, &cn);
    long fd;
    const char *od;
    Py_ssize_t odn;
    if (!fd_and_decoration(c->a, c1 - c->a, &fd, &od, &odn))
        return DECODE_PYTHON;
    if (is_name(cmd, cn, "F_DUPFD") || is_name(cmd, cn, "F_DUPFD_CLOEXEC"))
        return copy_event(c, fd, od, odn, cn == 15);
    if (is_name(cmd, cn, "F_SETFD") && c2 != NULL) {
        int count = 0;
        int cloexec = has(c2 + 1, c->an - (c2 + 1 - c->a), "FD_CLOEXEC");
        return EVENT(decode_types.op_set_cloexec, fd, -1, Py_NewRef(decode_types.kind_other),
                     PyUnicode_FromString(""), cloexec);
    }
    return 0;
}

/* \[(\d+)(<[^<>]*>)?, (\d+)(<[^<>]*>)?\] at s: its end, or NULL */
static const char *
fd_pair_at(const char *s, const char *end, const char **fd, const char **deco)
{
    const char *p = s + 1;
    for (int i = 0; i < 2; i++) {
        fd[2 * i] = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == fd[2 * i])
            return NULL;
        fd[2 * i + 1] = p;
        deco[2 * i] = deco[2 * i + 1] = NULL;
        if (p < end && *p == '<') {
            const char *q = p + 1;
            while (q < end && *q != '<' && *q != '>')
                q++;
            if (q >= end || *q != '>')
                return NULL; /* the group fails; "<" cannot start ", " either */
            deco[2 * i] = p + 1;
            deco[2 * i + 1] = q;
            p = q + 1;
        }
        const char *sep = i == 0 ? ", " : "]";
        if (!starts(p, end - p, sep))
            return NULL;
        p += strlen(sep);
    }
    return p;
}

static int
de_two_ends(Call *c, int pipe)
{
    const char *end = c->a + c->an, *fd[4], *deco[4], *match_end = NULL, *p;
    for (p = c->a; p < end; p++)
        if (*p == '[' && (match_end = fd_pair_at(p, end, fd, deco)) != NULL)
            break;
    if (match_end == NULL)
        return DECODE_PYTHON; /* -yy nesting: the second pattern, in Python */
    int cloexec = has(match_end, end - match_end, "CLOEXEC") || has(c->a, p - c->a, "SOCK_CLOEXEC");
    int count = 0;
    for (int i = 0; i < 2; i++) {
        long n;
        if (!number(fd[2 * i], fd[2 * i + 1] - fd[2 * i], &n)) {
            for (int j = 0; j < count; j++)
                Py_CLEAR(c->out[j]);
            return DECODE_PYTHON;
        }
        const char *link = deco[2 * i];
        Py_ssize_t ln = link ? deco[2 * i + 1] - link : 0;
        PyObject *target = NULL;
        if (pipe) {
            target = ln > 0 ? str(link, ln) : PyUnicode_FromString("pipe");
        } else {
            if (ln > 0) {
                Text t = socket_decoration(link, ln);
                if (t.python) {
                    for (int j = 0; j < count; j++)
                        Py_CLEAR(c->out[j]);
                    return t.python < 0 ? DECODE_ERROR : DECODE_PYTHON;
                }
                target = t.text;
            }
            if (target == NULL) {
                PyObject *proto = socket_proto(c->a, c->an);
                target = proto ? PyUnicode_FromFormat("%U socketpair", proto) : NULL;
                Py_XDECREF(proto);
            }
        }
        if (target == NULL)
            goto error;
        PyObject *kind = Py_NewRef(pipe ? decode_types.kind_pipe : decode_types.kind_socket);
        if (EVENT(decode_types.op_create, n, -1, kind, target, cloexec) < 0)
            goto error;
    }
    return count;
error:
    for (int j = 0; j < count; j++)
        Py_CLEAR(c->out[j]);
    return DECODE_ERROR;
}

static int
de_anon(Call *c, PyObject *spec)
{
    /* (kind, target, flag, always_cloexec), from decode.ANON */
    int count = 0;
    PyObject *kind = PyTuple_GET_ITEM(spec, 0), *target = PyTuple_GET_ITEM(spec, 1);
    PyObject *flag = PyTuple_GET_ITEM(spec, 2);
    int cloexec = PyObject_IsTrue(PyTuple_GET_ITEM(spec, 3));
    if (cloexec < 0)
        return DECODE_ERROR;
    if (!cloexec)
        cloexec = has(c->a, c->an, (const char *)PyUnicode_1BYTE_DATA(flag));
    PyObject *t = c->dn > 0 ? str(c->deco, c->dn) : Py_NewRef(target);
    return EVENT(decode_types.op_create, c->ret, -1, Py_NewRef(kind), t, cloexec);
}

static int
de_memfd(Call *c)
{
    int count = 0;
    if (c->dn <= 0)
        return DECODE_PYTHON; /* the label from the quoted name: Python */
    return EVENT(decode_types.op_create, c->ret, -1, Py_NewRef(decode_types.kind_memfd), str(c->deco, c->dn),
                 has(c->a, c->an, "MFD_CLOEXEC"));
}

static int
de_connect(Call *c)
{
    int count = 0;
    long fd;
    const char *d;
    Py_ssize_t dn;
    if (!first_fd(c, &fd, &d, &dn))
        return DECODE_PYTHON;
    Text address = sockaddr(c->a, c->an);
    if (address.python)
        return address.python < 0 ? DECODE_ERROR : DECODE_PYTHON;
    if (address.text == NULL)
        return 0;
    return EVENT(decode_types.op_annotate, fd, -1, Py_NewRef(decode_types.kind_socket), address.text, 0);
}

/* decode._bracketed(): from start up to the "]" that closes the "[" before it */
static Py_ssize_t
bracketed(const char *s, Py_ssize_t start, Py_ssize_t n)
{
    int depth = 0;
    for (Py_ssize_t i = start; i < n; i++) {
        if (s[i] == '[') {
            depth++;
        } else if (s[i] == ']') {
            if (depth == 0)
                return i;
            depth--;
        }
    }
    return n;
}

static int
de_recvmsg(Call *c)
{
    /* fds passed over a UNIX socket arrive as new fds in the receiver */
    static const char cmsg[] = "cmsg_type=SCM_RIGHTS, cmsg_data=[";
    const Py_ssize_t cn = sizeof cmsg - 1;
    if (!has(c->a, c->an, "SCM_RIGHTS"))
        return 0;
    int cloexec = has(c->a, c->an, "MSG_CMSG_CLOEXEC");
    int count = 0;
    Py_ssize_t at = 0;
    while (at < c->an) {
        const char *hit = short_search(c->a + at, (size_t)(c->an - at), cmsg, (size_t)cn);
        if (hit == NULL)
            break;
        Py_ssize_t start = hit - c->a + cn, end = bracketed(c->a, start, c->an);
        at = start;
        const char *list = c->a + start;
        Py_ssize_t ln = end - start;
        /* split_top() without quotes: commas outside any bracket */
        for (Py_ssize_t i = 0; i < ln; i++)
            if (list[i] == '"' || list[i] == '\\')
                goto python;
        Py_ssize_t from = 0;
        int depth = 0;
        for (Py_ssize_t i = 0; i <= ln; i++) {
            char ch = i < ln ? list[i] : ',';
            if (ch == '[' || ch == '{' || ch == '(' || ch == '<') {
                depth++;
                continue;
            }
            if (ch == ']' || ch == '}' || ch == ')' || ch == '>') {
                depth--;
                continue;
            }
            if (ch != ',' || (depth > 0 && i < ln))
                continue;
            const char *item = list + from;
            Py_ssize_t in = i - from;
            from = i + 1;
            const char *trimmed = item;
            Py_ssize_t tn = in;
            strip(&trimmed, &tn);
            if (i == ln && tn == 0 && count == 0 && item == list)
                break; /* an empty list */
            long fd;
            const char *link;
            Py_ssize_t lk;
            if (count == DECODE_MAX || !fd_and_decoration(item, in, &fd, &link, &lk))
                goto python;
            PyObject *target = lk > 0 ? str(link, lk) : PyUnicode_FromString("<SCM_RIGHTS>");
            PyObject *kind = target == NULL ? NULL
                             : lk > 0       ? kind_of_link(target)
                                            : Py_NewRef(decode_types.kind_other);
            if (EVENT(decode_types.op_create, fd, -1, kind, target, cloexec) < 0)
                goto error;
        }
    }
    return count;
python:
    for (int j = 0; j < count; j++)
        Py_CLEAR(c->out[j]);
    return DECODE_PYTHON;
error:
    for (int j = 0; j < count; j++)
        Py_CLEAR(c->out[j]);
    return DECODE_ERROR;
}

/* _int_or(): a plain decimal as int(text, 0) reads it, "~0U" and the like as the default */
static int
int_or(const char *s, Py_ssize_t n, long otherwise, long *out)
{
    strip(&s, &n);
    if (n > 0 && s[0] == '~') {
        *out = otherwise;
        return 1;
    }
    if (n > 1 && s[0] == '0')
        return 0; /* int("08", 0) refuses, int("0x8", 0) reads hex: Python */
    return number(s, n, out);
}

static int
de_close_range(Call *c)
{
    const char *end = c->a + c->an;
    for (const char *p = c->a; p < end; p++)
        if (strchr("\"[{(<]})>\\", *p) != NULL)
            return DECODE_PYTHON; /* split_top's nesting: Python */
    const char *part[3];
    Py_ssize_t pn[3];
    int parts = 0;
    const char *p = c->a;
    while (parts < 3) {
        const char *comma = find_char(p, end - p, ',');
        part[parts] = p;
        pn[parts] = comma ? comma - p : end - p;
        parts++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    if (parts < 2)
        return 0;
    long first, last;
    if (!int_or(part[0], pn[0], 0, &first) || !int_or(part[1], pn[1], 1L << 31, &last))
        return DECODE_PYTHON;
    const char *flags = parts > 2 ? part[2] : "";
    Py_ssize_t fn = parts > 2 ? pn[2] : 0;
    int count = 0;
    if (has(flags, fn, "CLOSE_RANGE_UNSHARE")
        && EVENT(decode_types.op_unshare, -1, -1, Py_NewRef(decode_types.kind_other), PyUnicode_FromString(""), 0)
               < 0)
        return DECODE_ERROR;
    if (EVENT(decode_types.op_close_range, first, last, Py_NewRef(decode_types.kind_other), PyUnicode_FromString(""),
              has(flags, fn, "CLOSE_RANGE_CLOEXEC"))
        < 0) {
        for (int j = 0; j < count; j++)
            Py_CLEAR(c->out[j]);
        return DECODE_ERROR;
    }
    return count;
}

int
decode_knows(const char *name, Py_ssize_t n)
{
    switch (n) {
    case 3:
        return is_name(name, n, "dup");
    case 4:
        return is_name(name, n, "dup2") || is_name(name, n, "dup3") || is_name(name, n, "bind")
               || is_name(name, n, "pipe");
    case 5:
        return is_name(name, n, "pipe2") || is_name(name, n, "fcntl");
    case 6:
        return is_name(name, n, "socket") || is_name(name, n, "accept");
    case 7:
        return is_name(name, n, "accept4") || is_name(name, n, "connect") || is_name(name, n, "fcntl64")
               || is_name(name, n, "eventfd") || is_name(name, n, "recvmsg");
    case 8:
        return is_name(name, n, "eventfd2") || is_name(name, n, "recvmmsg");
    case 10:
        return is_name(name, n, "socketpair") || is_name(name, n, "pidfd_open");
    case 11:
        return is_name(name, n, "close_range") || is_name(name, n, "userfaultfd");
    case 12:
        return is_name(name, n, "memfd_create") || is_name(name, n, "epoll_create")
               || is_name(name, n, "inotify_init");
    case 13:
        return is_name(name, n, "epoll_create1") || is_name(name, n, "inotify_init1")
               || is_name(name, n, "fanotify_init");
    case 14:
        return is_name(name, n, "timerfd_create") || is_name(name, n, "io_uring_setup");
    case 15:
        return is_name(name, n, "perf_event_open");
    }
    return 0;
}

/* The last ") +=" of the text, read as CALL's result part; 0 when not sure. */
typedef struct {
    Py_ssize_t close; /* where the args end */
    const char *ret;
    Py_ssize_t rn;
    const char *deco, *tail;
    Py_ssize_t dn, tn;
} Result;

static int
result_of(const char *t, Py_ssize_t n, Py_ssize_t name_len, Result *r)
{
    Py_ssize_t i = -1;
    for (Py_ssize_t j = n - 1; j > name_len; j--) {
        if (t[j] != '=')
            continue;
        Py_ssize_t k = j - 1;
        while (k > name_len && t[k] == ' ')
            k--;
        if (k < j - 1 && t[k] == ')') {
            i = k;
            break;
        }
    }
    /* the greedy args stop at the last ") +=" if what follows reads as a result there;
     * only the one-space form is read here */
    if (i < 0 || i + 4 > n || memcmp(t + i, ") = ", 4) != 0)
        return 0;
    const char *p = t + i + 4, *end = t + n;
    r->close = i;
    r->ret = p;
    if (p < end && *p == '-')
        p++;
    const char *digits = p;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    if (p == digits || p - digits > 18)
        return 0;
    r->rn = p - r->ret;
    r->deco = NULL;
    r->dn = 0;
    if (p < end && *p == '<') {
        const char *gt = find_char(p + 1, end - p - 1, '>');
        if (gt == NULL || find_char(p + 1, gt - p - 1, '<') != NULL)
            return 0;
        r->deco = p + 1;
        r->dn = gt - p - 1;
        p = gt + 1;
    }
    /* the tail: (?:[ (][^<]*)? and nothing after it (no -T duration here) */
    if (p < end && ((*p != ' ' && *p != '(') || find_char(p, end - p, '<') != NULL))
        return 0;
    r->tail = p;
    r->tn = end - p;
    return 1;
}

/* the syscall's name as a str: one object per name, made once (events share it) */
static PyObject *
name_object(const char *name, Py_ssize_t n)
{
    static struct {
        Py_ssize_t len;
        char text[32];
        PyObject *object;
    } made[64];
    static int count;
    for (int i = 0; i < count; i++)
        if (made[i].len == n && memcmp(made[i].text, name, (size_t)n) == 0)
            return Py_NewRef(made[i].object);
    PyObject *object = PyUnicode_FromStringAndSize(name, n);
    if (object == NULL)
        return NULL;
    PyUnicode_InternInPlace(&object);
    if (count < 64 && n < 32) {
        made[count].len = n;
        memcpy(made[count].text, name, (size_t)n);
        made[count].object = Py_NewRef(object);
        count++;
    }
    return object;
}

/* a call decode() knows whose failure changes nothing (ioctl, execve, openat, ...): all
 * but close, connect (see below) and the fork calls (a failed clone ends a wait) */
static int
failure_only(const char *name, Py_ssize_t n)
{
    if (is_name(name, n, "close") || is_name(name, n, "clone") || is_name(name, n, "clone3")
        || is_name(name, n, "fork") || is_name(name, n, "vfork"))
        return 0;
    PyObject *key = str(name, n);
    if (key == NULL) {
        PyErr_Clear();
        return 0;
    }
    int found = PySet_Contains(decode_types.handlers, key);
    Py_DECREF(key);
    if (found < 0)
        PyErr_Clear();
    return found > 0;
}

int
decode_call(const char *text, Py_ssize_t n, Py_ssize_t name_len, PyObject *seq, PyObject *ts, PyObject *pid,
            PyObject **out)
{
    const char *name = text;
    int knows = decode_knows(name, name_len);
    if (!knows && !failure_only(name, name_len))
        return DECODE_PYTHON;
    if (memchr(text, '\r', (size_t)n) || memchr(text, '\n', (size_t)n))
        return DECODE_PYTHON;
    Result r;
    if (!result_of(text, n, name_len, &r) || (!knows && r.ret[0] != '-'))
        return DECODE_PYTHON;
    if (r.deco != NULL && find_char(r.deco, r.dn, '\\') != NULL)
        return DECODE_PYTHON; /* unquote() */
    Call c = {text + name_len + 1, r.close - name_len - 1, 0, r.deco, r.dn, seq, ts, pid, NULL, out};
    if (r.ret[0] == '-') {
        const char *tail = r.tail;
        Py_ssize_t tn = r.tn;
        strip(&tail, &tn);
        if (starts(tail, tn, "EMFILE") || starts(tail, tn, "ENFILE"))
            return DECODE_PYTHON; /* counted as an fd error: Python */
        if (!(is_name(name, name_len, "connect") && has(r.tail, r.tn, "EINPROGRESS")))
            return 0; /* a failed call changes nothing */
        /* a non-blocking connect() says EINPROGRESS but has its peer already */
    } else {
        number(r.ret, r.rn, &c.ret);
    }
    c.name = name_object(name, name_len);
    if (c.name == NULL)
        return DECODE_ERROR;
    int rc;
    PyObject *spec;
    if (is_name(name, name_len, "socket"))
        rc = de_socket(&c);
    else if (is_name(name, name_len, "accept") || is_name(name, name_len, "accept4"))
        rc = de_accept(&c);
    else if (is_name(name, name_len, "dup") || is_name(name, name_len, "dup2") || is_name(name, name_len, "dup3"))
        rc = de_dup(&c, is_name(name, name_len, "dup3"));
    else if (is_name(name, name_len, "fcntl") || is_name(name, name_len, "fcntl64"))
        rc = de_fcntl(&c);
    else if (is_name(name, name_len, "pipe") || is_name(name, name_len, "pipe2"))
        rc = de_two_ends(&c, 1);
    else if (is_name(name, name_len, "socketpair"))
        rc = de_two_ends(&c, 0);
    else if (is_name(name, name_len, "memfd_create"))
        rc = de_memfd(&c);
    else if (is_name(name, name_len, "connect") || is_name(name, name_len, "bind"))
        rc = de_connect(&c);
    else if (is_name(name, name_len, "close_range"))
        rc = de_close_range(&c);
    else if (is_name(name, name_len, "recvmsg") || is_name(name, name_len, "recvmmsg"))
        rc = de_recvmsg(&c);
    else if ((spec = PyDict_GetItemWithError(decode_types.anon, c.name)) != NULL)
        rc = de_anon(&c, spec);
    else
        rc = PyErr_Occurred() ? DECODE_ERROR : DECODE_PYTHON;
    Py_DECREF(c.name);
    return rc;
}

static PyObject *
member(PyObject *config, const char *key)
{
    PyObject *value = PyDict_GetItemString(config, key);
    if (value == NULL) {
        PyErr_Format(PyExc_KeyError, "_scan.setup: no %s", key);
        return NULL;
    }
    return Py_NewRef(value);
}

int
decode_setup(PyObject *config)
{
    struct {
        PyObject **slot;
        const char *key;
    } keys[] = {
        {&decode_types.fd_event, "FdEvent"},
        {&decode_types.blank, "blank"},
        {&decode_types.op_create, "CREATE"},
        {&decode_types.op_dup, "DUP"},
        {&decode_types.op_set_cloexec, "SET_CLOEXEC"},
        {&decode_types.op_annotate, "ANNOTATE"},
        {&decode_types.op_close_range, "CLOSE_RANGE"},
        {&decode_types.op_unshare, "UNSHARE"},
        {&decode_types.kind_socket, "SOCKET"},
        {&decode_types.kind_pipe, "PIPE"},
        {&decode_types.kind_memfd, "MEMFD"},
        {&decode_types.kind_file, "FILE"},
        {&decode_types.kind_device, "DEVICE"},
        {&decode_types.kind_other, "OTHER"},
        {&decode_types.kind_directory, "DIRECTORY"},
        {&decode_types.kind_of_link, "kind_of_link"},
        {&decode_types.anon, "ANON"},
        {&decode_types.handlers, "HANDLERS"},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        PyObject *value = member(config, keys[i].key);
        if (value == NULL)
            return -1;
        Py_XSETREF(*keys[i].slot, value);
    }
    if (!PyTuple_Check(decode_types.blank) || PyTuple_GET_SIZE(decode_types.blank) != 14
        || !PyDict_Check(decode_types.anon)) {
        PyErr_SetString(PyExc_TypeError, "_scan.setup: blank must be an FdEvent, ANON a dict");
        return -1;
    }
    PyObject *name, *spec;
    Py_ssize_t pos = 0;
    while (PyDict_Next(decode_types.anon, &pos, &name, &spec)) {
        if (!PyUnicode_Check(name) || !PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 4
            || !PyUnicode_IS_ASCII(PyTuple_GET_ITEM(spec, 1)) || !PyUnicode_IS_ASCII(PyTuple_GET_ITEM(spec, 2))
            || !decode_knows(PyUnicode_AsUTF8(name), PyUnicode_GET_LENGTH(name))) {
            PyErr_SetString(PyExc_TypeError, "_scan.setup: ANON holds name -> (kind, target, flag, always)");
            return -1;
        }
    }
    return 0;
}

/* decode._open with strace -y's decoration of the new fd (without one, the path comes
 * from the quoted argument: Python) */
static int
de_open(Call *c)
{
    int count = 0;
    if (c->deco == NULL)
        return DECODE_PYTHON;
    PyObject *path = str(c->deco, c->dn);
    if (path == NULL)
        return DECODE_ERROR;
    int directory = has(c->a, c->an, "O_DIRECTORY");
    PyObject *kind;
    if (c->dn > 0 && c->deco[0] == '/' && directory)
        kind = Py_NewRef(decode_types.kind_directory); /* kind_of_path() */
    else
        kind = kind_of_link(path);
    if (kind == decode_types.kind_file && directory)
        Py_SETREF(kind, Py_NewRef(decode_types.kind_directory));
    /* O_CLOEXEC among the flags after the last quote: not in the path */
    const char *quote = NULL;
    for (Py_ssize_t i = c->an - 1; i >= 0; i--)
        if (c->a[i] == '"') {
            quote = c->a + i;
            break;
        }
    int cloexec = quote ? has(quote + 1, c->an - (quote + 1 - c->a), "O_CLOEXEC") : has(c->a, c->an, "O_CLOEXEC");
    return EVENT(decode_types.op_create, c->ret, -1, kind, path, cloexec);
}

int
decode_open_call(const char *text, Py_ssize_t n, Py_ssize_t name_len, PyObject *seq, PyObject *ts, PyObject *pid,
                 PyObject **out)
{
    if (!(is_name(text, name_len, "open") || is_name(text, name_len, "openat") || is_name(text, name_len, "openat2")
          || is_name(text, name_len, "creat")))
        return DECODE_PYTHON;
    if (memchr(text, '\r', (size_t)n) || memchr(text, '\n', (size_t)n))
        return DECODE_PYTHON;
    Result r;
    if (!result_of(text, n, name_len, &r) || r.ret[0] == '-')
        return DECODE_PYTHON; /* a failed open never makes a LazyCreate */
    if (r.deco != NULL && find_char(r.deco, r.dn, '\\') != NULL)
        return DECODE_PYTHON;
    Call c = {text + name_len + 1, r.close - name_len - 1, 0, r.deco, r.dn, seq, ts, pid, NULL, out};
    number(r.ret, r.rn, &c.ret);
    c.name = name_object(text, name_len);
    if (c.name == NULL)
        return DECODE_ERROR;
    int rc = de_open(&c);
    Py_DECREF(c.name);
    return rc;
}
