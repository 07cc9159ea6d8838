/* _sidecar_killer: the two libc calls the supervisor needs, built into the static binary.
 *
 * A static interpreter cannot dlopen, so ctypes is not there; `python -m entrypoint` uses
 * ctypes instead (entrypoint/libc.py picks one). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <link.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/prctl.h>

/* Adopt the app's orphans so that we reap them (we are PID 1 in a container, or should
 * act as if). Returns whether the kernel agreed. */
static PyObject *set_child_subreaper(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(unused))
{
    return PyBool_FromLong(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0);
}

/* Drop this executable's read-only pages (code, frozen bytecode) from our resident set. */
static int drop_read_only_segment(struct dl_phdr_info *info, size_t size, void *data)
{
    long page = sysconf(_SC_PAGESIZE);
    (void)size, (void)data;
    if (info->dlpi_name != NULL && info->dlpi_name[0] != '\0')
        return 0;  /* only the executable itself (a static binary has nothing else) */
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        /* Never written, so never dirty: dropped pages come back from the file on the
         * next touch. Writable segments (data, RELRO) must stay: they hold our state. */
        if (segment->p_type != PT_LOAD || (segment->p_flags & PF_W))
            continue;
        uintptr_t start = (info->dlpi_addr + segment->p_vaddr) & ~(uintptr_t)(page - 1);
        uintptr_t end = info->dlpi_addr + segment->p_vaddr + segment->p_memsz;
        madvise((void *)start, end - start, MADV_DONTNEED);
    }
    return 0;
}

/* Once the app has run a moment, give back what start-up alone needed: the freed heap (malloc_trim)
 * and the pages of code and bytecode touched while importing (~4 MB, docs/performance.md).
 * The supervisor loop touches a few of them again; the rest stay in the page cache. */
static PyObject *release_startup_memory(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(unused))
{
    malloc_trim(0);
    dl_iterate_phdr(drop_read_only_segment, NULL);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"set_child_subreaper", set_child_subreaper, METH_NOARGS, NULL},
    {"release_startup_memory", release_startup_memory, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_sidecar_killer", .m_size = 0, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__sidecar_killer(void)
{
    return PyModule_Create(&module);
}
