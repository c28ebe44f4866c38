/* signature_quick(): model/signature.py's answers in C, for every target in printable
 * ASCII: the regex passes took a sixth of a worker's time on file names seen once (a
 * task's report file) and a sixth of the fd-table engine's. Anything else is left to
 * Python; tests/test_signature.py and tests/test_compiled_decode.py compare the two. */
#include "_signature.h"

#include <string.h>

static int
starts(const char *s, Py_ssize_t n, const char *prefix)
{
    size_t m = strlen(prefix);
    return (size_t)n >= m && memcmp(s, prefix, m) == 0;
}

/* _NUMBER.sub("*", text): every run of digits becomes one "*" */
static PyObject *
digits_starred(const char *s, Py_ssize_t n)
{
    Py_ssize_t len = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        len += !(s[i] >= '0' && s[i] <= '9' && i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9');
    PyObject *text = PyUnicode_New(len, 127);
    if (text == NULL)
        return NULL;
    char *w = (char *)PyUnicode_1BYTE_DATA(text);
    for (Py_ssize_t i = 0; i < n;) {
        if (s[i] >= '0' && s[i] <= '9') {
            while (i < n && s[i] >= '0' && s[i] <= '9')
                i++;
            *w++ = '*';
        } else {
            *w++ = s[i++];
        }
    }
    return text;
}

/* _PORT.sub(":*", text): how much of text stays before a final ":digits", which
 * becomes ":*" (*starred), or all of it */
static Py_ssize_t
port_starred(const char *s, Py_ssize_t n, int *starred)
{
    Py_ssize_t i = n;
    while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9')
        i--;
    *starred = i < n && i > 0 && s[i - 1] == ':';
    return *starred ? i - 1 : n;
}

/* _socket_signature(target, syscall) */
static PyObject *
socket_signature(const char *s, Py_ssize_t n, PyObject *target, PyObject *syscall)
{
    /* ^(?P<proto>\S+) (?P<local>[^ ]*?)(?:->(?P<peer>.*))?$ */
    Py_ssize_t sp = 0;
    while (sp < n && s[sp] != ' ')
        sp++;
    if (sp == 0 || sp == n || memchr(s, '[', (size_t)n) != NULL)
        return digits_starred(s, n); /* no match, or only an inode is known */
    const char *rest = s + sp + 1;
    Py_ssize_t rn = n - sp - 1, arrow = -1;
    for (Py_ssize_t i = 0; i < rn; i++) {
        if (rest[i] == ' ')
            return digits_starred(s, n); /* the lazy local end cannot pass a space */
        if (i + 1 < rn && rest[i] == '-' && rest[i + 1] == '>') {
            arrow = i;
            break;
        }
    }
    if (arrow < 0)
        return Py_NewRef(target); /* bound or listening: the port is the identity */
    const char *local = rest, *peer = rest + arrow + 2;
    Py_ssize_t ln = arrow, pn = rn - arrow - 2;
    int server = PyUnicode_CompareWithASCIIString(syscall, "accept") == 0
                 || PyUnicode_CompareWithASCIIString(syscall, "accept4") == 0;
    int starred;
    /* the server end keeps its port, a client keeps its peer's */
    Py_ssize_t keep = server ? port_starred(peer, pn, &starred) : port_starred(local, ln, &starred);
    Py_ssize_t total = sp + 1 + (server ? ln : keep) + 2 + (server ? keep : pn) + (starred ? 2 : 0);
    PyObject *out = PyUnicode_New(total, 127);
    if (out == NULL)
        return NULL;
    char *w = (char *)PyUnicode_1BYTE_DATA(out);
    memcpy(w, s, (size_t)sp + 1);
    w += sp + 1;
    if (server) {
        memcpy(w, local, (size_t)ln);
        w += ln;
        memcpy(w, "->", 2);
        w += 2;
        memcpy(w, peer, (size_t)keep);
        w += keep;
        if (starred)
            memcpy(w, ":*", 2);
    } else {
        memcpy(w, local, (size_t)keep);
        w += keep;
        if (starred) {
            memcpy(w, ":*", 2);
            w += 2;
        }
        memcpy(w, "->", 2);
        w += 2;
        memcpy(w, peer, (size_t)pn);
    }
    return out;
}

/* Character classes of the patterns, ASCII only as Python's re has them on ASCII text */
static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int
is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

static int
is_alpha(char c)
{
    return is_lower(c) || (c >= 'A' && c <= 'Z');
}

static int
is_alnum(char c)
{
    return is_digit(c) || is_alpha(c);
}

static int
is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int
is_word(char c) /* [a-z0-9_] */
{
    return is_lower(c) || is_digit(c) || c == '_';
}

/* One re.sub("*", ...) pass: at each position ``match`` gives the length of the match
 * there (0: none); a match becomes "*" and the scan goes on after it. */
typedef Py_ssize_t (*Matcher)(const char *s, Py_ssize_t n, Py_ssize_t i);

/* inlined into each pass, so that its matcher is too */
static inline __attribute__((always_inline)) Py_ssize_t
starred(Matcher match, const char *s, Py_ssize_t n, char *out)
{
    Py_ssize_t w = 0;
    for (Py_ssize_t i = 0; i < n;) {
        Py_ssize_t m = match(s, n, i);
        if (m > 0) {
            out[w++] = '*';
            i += m;
        } else {
            out[w++] = s[i++];
        }
    }
    return w;
}

/* _UUID: 8-4-4-4-12 hex digits */
static Py_ssize_t
uuid_at(const char *s, Py_ssize_t n, Py_ssize_t i)
{
    static const char shape[] = "hhhhhhhh-hhhh-hhhh-hhhh-hhhhhhhhhhhh";
    const Py_ssize_t len = (Py_ssize_t)sizeof shape - 1;
    if (n - i < len)
        return 0;
    for (Py_ssize_t k = 0; k < len; k++)
        if (shape[k] == '-' ? s[i + k] != '-' : !is_hex(s[i + k]))
            return 0;
    return len;
}

/* _HEX: a whole run of 6+ hex digits holding a digit, not inside a word. The greedy run
 * can only end before a non-alphanumeric: shorter ones end before a hex digit. */
static Py_ssize_t
hex_at(const char *s, Py_ssize_t n, Py_ssize_t i)
{
    if (i > 0 && is_alnum(s[i - 1]))
        return 0;
    Py_ssize_t j = i;
    int digit = 0;
    while (j < n && is_hex(s[j]))
        digit |= is_digit(s[j++]);
    if (j - i < 6 || !digit || (j < n && is_alnum(s[j])))
        return 0;
    return j - i;
}

/* (?=[a-z_]*\d) and the like: the first character from i outside ``skip`` passes ``want`` */
static int
first_other_is(const char *s, Py_ssize_t n, Py_ssize_t i, int (*skip)(char), int (*want)(char))
{
    while (i < n && skip(s[i]))
        i++;
    return i < n && want(s[i]);
}

static int
is_lower_or_underscore(char c)
{
    return is_lower(c) || c == '_';
}

static int
is_digit_or_underscore(char c)
{
    return is_digit(c) || c == '_';
}

static int
all_of(const char *s, Py_ssize_t len, int (*in)(char))
{
    for (Py_ssize_t k = 0; k < len; k++)
        if (!in(s[k]))
            return 0;
    return 1;
}

/* _TEMP's three alternatives, in order (no control characters reach here, so $ is the end) */
static Py_ssize_t
temp_at(const char *s, Py_ssize_t n, Py_ssize_t i)
{
    /* (?<=tmp)[a-z0-9_]{8}(?![a-z0-9_]) */
    if (i >= 3 && memcmp(s + i - 3, "tmp", 3) == 0 && n - i >= 8 && all_of(s + i, 8, is_word)
        && (i + 8 == n || !is_word(s[i + 8])))
        return 8;
    /* (?<=[-_])(?=[a-z_]*\d)(?=[0-9_]*[a-z])[a-z0-9_]{8}(?=/|$) */
    if (i >= 1 && (s[i - 1] == '-' || s[i - 1] == '_') && first_other_is(s, n, i, is_lower_or_underscore, is_digit)
        && first_other_is(s, n, i, is_digit_or_underscore, is_lower) && n - i >= 8 && all_of(s + i, 8, is_word)
        && (i + 8 == n || s[i + 8] == '/'))
        return 8;
    /* (?<=\.)(?=[A-Za-z]*\d)[A-Za-z0-9]{6}$ */
    if (i >= 1 && s[i - 1] == '.' && n - i == 6 && first_other_is(s, n, i, is_alpha, is_digit)
        && all_of(s + i, 6, is_alnum))
        return 6;
    return 0;
}

/* _NUMBER: a run of digits */
static Py_ssize_t
number_at(const char *s, Py_ssize_t n, Py_ssize_t i)
{
    Py_ssize_t j = i;
    while (j < n && is_digit(s[j]))
        j++;
    return j - i;
}

static int
is_separator(char c)
{
    return c == '-' || c == '_' || c == '.' || c == ':';
}

/* _STARS: \*(?:[-_.:]?\*)+ -- a separator counts only with a star after it */
static Py_ssize_t
stars_at(const char *s, Py_ssize_t n, Py_ssize_t i)
{
    if (s[i] != '*')
        return 0;
    Py_ssize_t j = i + 1;
    for (;;) {
        if (j + 1 < n && is_separator(s[j]) && s[j + 1] == '*')
            j += 2;
        else if (j < n && s[j] == '*')
            j += 1;
        else
            break;
    }
    return j > i + 1 ? j - i : 0;
}

#define PATH_MAX_QUICK 1024

/* _signature for a path: the five passes, each on the last one's output */
static PyObject *
path_signature(const char *s, Py_ssize_t n)
{
    if (n > PATH_MAX_QUICK)
        return NULL;
    char a[PATH_MAX_QUICK], b[PATH_MAX_QUICK];
    Py_ssize_t len = starred(uuid_at, s, n, a);
    len = starred(hex_at, a, len, b);
    len = starred(temp_at, b, len, a);
    len = starred(number_at, a, len, b);
    len = starred(stars_at, b, len, a);
    return PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, a, len);
}

/* Path signatures already computed, by target: about nine in ten of the bench log's
 * files were seen among the last few thousand (the same files opened by every task),
 * and a look-up costs a few percent of the five passes. Direct-mapped by the str's
 * hash; a slot holds one target and its signature until another target takes it. */
#define MEMO_SLOTS 4096 /* a power of two */
static PyObject *memo_target[MEMO_SLOTS], *memo_signature[MEMO_SLOTS];

static PyObject *
remembered_path_signature(PyObject *target, const char *s, Py_ssize_t n)
{
    Py_hash_t hash = PyObject_Hash(target);
    if (hash == -1)
        return NULL;
    size_t slot = (size_t)hash & (MEMO_SLOTS - 1);
    PyObject *known = memo_target[slot];
    if (known != NULL
        && (known == target
            || (PyUnicode_GET_LENGTH(known) == n && memcmp(PyUnicode_1BYTE_DATA(known), s, (size_t)n) == 0)))
        return Py_NewRef(memo_signature[slot]);
    PyObject *signature = path_signature(s, n);
    if (signature == NULL)
        return NULL; /* an error, or a path too long: Python's */
    Py_XSETREF(memo_target[slot], Py_NewRef(target));
    Py_XSETREF(memo_signature[slot], Py_NewRef(signature));
    return signature;
}

PyObject *
signature_quick(int is_pipe, int is_socket, PyObject *target, PyObject *syscall)
{
    if (!PyUnicode_CheckExact(target) || !PyUnicode_IS_ASCII(target) || !PyUnicode_CheckExact(syscall))
        return NULL;
    const char *s = (const char *)PyUnicode_1BYTE_DATA(target);
    Py_ssize_t n = PyUnicode_GET_LENGTH(target);
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] == 0x7f)
            return NULL; /* \s and $ have more to say about these: Python */
    if (is_socket)
        return socket_signature(s, n, target, syscall);
    if (is_pipe || starts(s, n, "pipe:") || starts(s, n, "socket:") || starts(s, n, "anon_inode:"))
        return digits_starred(s, n); /* pipe:[12345]: every pipe has its own inode */
    return remembered_path_signature(target, s, n);
}
