/* signature_quick(): model/signature.py's answers for pipes, anonymous inodes and
 * sockets, whose targets differ in every pair (an inode, a port) and so always miss
 * signature_of's memo. Anything else, or any character outside printable ASCII, is
 * left to Python; tests/test_compiled_decode.py compares the two. */
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
    return NULL;
}
