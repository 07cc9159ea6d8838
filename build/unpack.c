/* How the frozen modules of frozen.c (build/freeze_modules.py) become code objects.
 *
 * Each module is kept as zlib-compressed marshal data (1.7 MB of bytecode in 0.5 MB) and
 * unpacked when first imported: CPython's import calls the get_code function of the
 * module's struct _frozen entry, a one-liner in frozen.c that calls sk_unpack. */
#include <Python.h>
#include <marshal.h>
#include <zlib.h>

PyObject *sk_unpack(const unsigned char *packed, size_t packed_size, size_t size)
{
    unsigned char *data = PyMem_Malloc(size);
    if (data == NULL)
        return PyErr_NoMemory();
    uLongf unpacked = size;
    PyObject *code = NULL;
    if (uncompress(data, &unpacked, packed, packed_size) == Z_OK && unpacked == size)
        code = PyMarshal_ReadObjectFromString((const char *)data, (Py_ssize_t)size);
    else
        PyErr_SetString(PyExc_ImportError, "corrupt frozen module in this executable");
    PyMem_Free(data);
    return code;
}

/* frozen.c replaces libpython's own frozen stdlib (Python/frozen.c), so its deep-frozen
 * code objects (Python/deepfreeze/deepfreeze.c, 0.9 MB) are not linked in: nothing is
 * left for the interpreter to set up or tear down there. */
int _Py_Deepfreeze_Init(void)
{
    return 0;
}

void _Py_Deepfreeze_Fini(void)
{
}
