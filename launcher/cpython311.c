/* Every CPython internal the binary touches, in one file, checked by the compiler.
 *
 * The binary replaces libpython's own frozen modules (Python/frozen.c) and built-in module
 * table (Modules/config.c) with ours, and leaves out its deep-frozen stdlib. Those are CPython
 * 3.11 internals: their declarations come from the internal headers included below, so a
 * layout that differs is a compile error here, not a crash at start. The module data comes
 * from build/freeze_modules.py (frozen_modules.h: bytecode, the module table, the built-in
 * module list); nothing else in the product depends on these internals. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_import.h>       /* struct _module_alias, _PyImport_Frozen* */
#include <internal/pycore_pylifecycle.h>  /* _Py_Deepfreeze_Init, _Py_Deepfreeze_Fini */

#if PY_MAJOR_VERSION != 3 || PY_MINOR_VERSION != 11
#error "launcher/cpython311.c replaces CPython 3.11's frozen-module and built-in tables and its deep-freeze hooks: check them against this version's Python/frozen.c, Modules/config.c and Python/deepfreeze (see docs/architecture.md)"
#endif

PyObject *sk_unpack(const unsigned char *packed, size_t packed_size, size_t size);  /* unpack.c */

#include "frozen_modules.h"  /* sk_bootstrap[], sk_modules[], SK_INITTAB: generated */

static const struct _frozen none[] = {{NULL, NULL, 0, 0, NULL}};

/* importlib's bootstrap modules as the interpreter knows them (Python/frozen.c). */
static const struct _module_alias aliases[] = {
    {"_frozen_importlib", "importlib._bootstrap"},
    {"_frozen_importlib_external", "importlib._bootstrap_external"},
    {NULL, NULL},
};

const struct _frozen *_PyImport_FrozenBootstrap = sk_bootstrap;
const struct _frozen *_PyImport_FrozenStdlib = none;
const struct _frozen *_PyImport_FrozenTest = none;
const struct _module_alias *_PyImport_FrozenAliases = aliases;
const struct _frozen *PyImport_FrozenModules = sk_modules;

/* Modules/config.c's table: the built-in C modules this binary carries. */
struct _inittab _PyImport_Inittab[] = {
    SK_INITTAB
    {NULL, NULL},
};

/* No deep-frozen stdlib (Python/deepfreeze/deepfreeze.c, 0.9 MB): our frozen modules have
 * what is needed, so there is nothing for the interpreter to set up or tear down. */
int _Py_Deepfreeze_Init(void)
{
    return 0;
}

void _Py_Deepfreeze_Fini(void)
{
}
