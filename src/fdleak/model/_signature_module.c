/* fdleak.model._signature: signature_of in C for model/signature.py (see _signature.c).
 * setup(pipe, socket, fallback) hands it FdKind.PIPE, FdKind.SOCKET and the Python
 * computation, which answers whatever the C code leaves (odd characters). */
#include "_signature.h"

static PyObject *pipe_kind, *socket_kind, *fallback, *empty;

static PyObject *
setup(PyObject *self, PyObject *args)
{
    PyObject *pipe, *socket, *compute;
    if (!PyArg_ParseTuple(args, "OOO", &pipe, &socket, &compute))
        return NULL;
    Py_XSETREF(pipe_kind, Py_NewRef(pipe));
    Py_XSETREF(socket_kind, Py_NewRef(socket));
    Py_XSETREF(fallback, Py_NewRef(compute));
    Py_RETURN_NONE;
}

/* signature_of(kind, target, syscall="") */
static PyObject *
signature_of(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (fallback == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_signature.setup was not called");
        return NULL;
    }
    if (nargs < 2 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "signature_of(kind, target, syscall='')");
        return NULL;
    }
    PyObject *kind = args[0], *target = args[1];
    PyObject *syscall = nargs == 3 ? args[2] : empty;
    PyObject *signature = signature_quick(kind == pipe_kind, kind == socket_kind, target, syscall);
    if (signature != NULL || PyErr_Occurred())
        return signature;
    return PyObject_CallFunctionObjArgs(fallback, kind, target, syscall, NULL);
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS, "setup(pipe, socket, fallback): the kinds and the Python computation."},
    {"signature_of", (PyCFunction)(void (*)(void))signature_of, METH_FASTCALL,
     "signature_of(kind, target, syscall=''): the group key of target."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_signature", "signature_of in C.", -1, methods};

PyMODINIT_FUNC
PyInit__signature(void)
{
    empty = PyUnicode_FromString("");
    if (empty == NULL)
        return NULL;
    return PyModule_Create(&module);
}
