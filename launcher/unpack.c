/* How the frozen modules (build/freeze_modules.py's frozen_modules.h) become code objects.
 *
 * Each module is kept as deflated marshal data (1.7 MB of bytecode in 0.5 MB) and
 * unpacked when first imported: CPython's import calls the get_code function of the
 * module's struct _frozen entry, a one-liner in frozen_modules.h that calls sk_unpack. */
#include <Python.h>
#include <marshal.h>
#include <zlib.h>

/* Inflate raw deflate data (no zlib header, no checksum: build/freeze_modules.py). */
static int inflate_raw(unsigned char *out, size_t size, const unsigned char *in, size_t in_size)
{
    z_stream stream = {.next_in = (Bytef *)in, .avail_in = (uInt)in_size,
                       .next_out = out, .avail_out = (uInt)size};
    if (inflateInit2(&stream, -MAX_WBITS) != Z_OK)
        return 0;
    int done = inflate(&stream, Z_FINISH) == Z_STREAM_END && stream.total_out == size;
    inflateEnd(&stream);
    return done;
}

/* Every packed module starts with the marker 'Z' (build/freeze_modules.py): CPython 3.11
 * takes frozen data that starts with a NUL byte for a missing module, and raw deflate may. */
PyObject *sk_unpack(const unsigned char *packed, size_t packed_size, size_t size)
{
    unsigned char *data = PyMem_Malloc(size);
    if (data == NULL)
        return PyErr_NoMemory();
    PyObject *code = NULL;
    if (packed_size > 1 && packed[0] == 'Z' && inflate_raw(data, size, packed + 1, packed_size - 1))
        code = PyMarshal_ReadObjectFromString((const char *)data, (Py_ssize_t)size);
    else
        PyErr_SetString(PyExc_ImportError, "corrupt frozen module in this executable");
    PyMem_Free(data);
    return code;
}
