/* The compiled form of decode.py for the fd calls a busy log is full of (_decode.c).
 *
 * decode_call() reads a completed call's text, "name(args) = ret<deco>tail", exactly as
 * lines.py's CALL pattern and decode() read it, and builds the FdEvents decode() would
 * build. Where it is not sure to agree with them it says so and Python decodes.
 */
#ifndef FDLEAK_DECODE_H
#define FDLEAK_DECODE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

/* memmem for the short needles and lines of a log: memchr to each place the first
 * character is, then memcmp (glibc's memmem set up its search on every call) */
static inline const char *
short_search(const char *s, size_t n, const char *needle, size_t m)
{
    if (m == 0)
        return s;
    const char *end = s + n;
    while ((size_t)(end - s) >= m) {
        const char *p = memchr(s, needle[0], (size_t)(end - s) - m + 1);
        if (p == NULL)
            return NULL;
        if (memcmp(p + 1, needle + 1, m - 1) == 0)
            return p;
        s = p + 1;
    }
    return NULL;
}

#define DECODE_PYTHON (-1) /* not sure: Python must decode this call */
#define DECODE_ERROR (-2)  /* a Python exception is set */

/* The Python objects events are built from: FdEvent, the Op and FdKind members,
 * kind_of_link, and decode.py's table of anonymous-inode creators. */
typedef struct {
    PyObject *fd_event, *blank; /* the type, and an FdEvent holding every default */
    PyObject *op_create, *op_dup, *op_set_cloexec, *op_annotate, *op_close_range, *op_unshare;
    PyObject *kind_socket, *kind_pipe, *kind_memfd, *kind_file, *kind_device, *kind_other, *kind_directory;
    PyObject *kind_of_link; /* the Python function, for link texts not handled here */
    PyObject *anon;         /* name -> (kind, target, flag, always_cloexec) */
    PyObject *handlers;     /* frozenset of the names decode() knows */
} DecodeTypes;

extern DecodeTypes decode_types;

/* Set decode_types from setup()'s dict; 0, or -1 with an exception set. */
int decode_setup(PyObject *config);

#define DECODE_MAX 8 /* events of one call: more (a long SCM_RIGHTS list) go to Python */

/* The events of the completed call in text[0:n] (text[name_len] is its "("): up to
 * DECODE_MAX, new references in out[]. Returns how many, DECODE_PYTHON or DECODE_ERROR.
 * Nothing is changed anywhere before it returns. */
int decode_call(const char *text, Py_ssize_t n, Py_ssize_t name_len, PyObject *seq, PyObject *ts,
                PyObject *pid, PyObject **out);

/* The same for open/openat/openat2/creat, which the line loop keeps undecoded until
 * the fd outlives its block (LazyCreate): its one event, or 0, DECODE_PYTHON, DECODE_ERROR. */
int decode_open_call(const char *text, Py_ssize_t n, Py_ssize_t name_len, PyObject *seq, PyObject *ts,
                     PyObject *pid, PyObject **out);

/* 1 when decode_call may take this syscall at all (cheap: by name). */
int decode_knows(const char *name, Py_ssize_t n);

#endif
