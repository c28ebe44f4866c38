/* The compiled form of model/signature.py (_signature.c), shared by the strace line
 * loop (sources/strace/_scan.c) and model/_signature_module.c. */
#ifndef FDLEAK_SIGNATURE_H
#define FDLEAK_SIGNATURE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* signature_of(kind, target, syscall) where it is plain string work; NULL with no error
 * set when Python must compute it (files, odd characters). ``is_pipe``/``is_socket``:
 * the kind is FdKind.PIPE / FdKind.SOCKET. */
PyObject *signature_quick(int is_pipe, int is_socket, PyObject *target, PyObject *syscall);

#endif
