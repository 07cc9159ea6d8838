/* Every CPython internal the binary touches, in one file, checked by the compiler.
 *
 * The binary replaces libpython's own frozen modules (Python/frozen.c) and built-in module
 * table (Modules/config.c) with ours, and leaves out its deep-frozen stdlib and its compiler.
 * Those are CPython 3.11 internals: their declarations come from the internal headers included
 * below, so a layout that differs is a compile error here, not a crash at start; and a symbol
 * defined here that libpython's objects would still bring in is a link error ("multiple
 * definition"). The module data comes from build/freeze_modules.py (frozen_modules.h:
 * bytecode, the module table, the built-in module list); nothing else in the product depends
 * on these internals. */
#define Py_BUILD_CORE 1
#define NEED_OPCODE_TABLES                /* pycore_opcode.h: define _PyOpcode_Caches, _Deopt */
#include <Python.h>
#include <internal/pycore_ast.h>          /* mod_ty, PyAST_*, _PyAST_Validate */
#include <internal/pycore_compile.h>      /* _PyAST_Compile, _PyAST_Optimize, _PyFuture_FromAST, _Py_Mangle */
#include <internal/pycore_import.h>       /* struct _module_alias, _PyImport_Frozen* */
#include <internal/pycore_opcode.h>       /* the opcode tables compile.o would define */
#include <internal/pycore_parser.h>       /* _PyParser_ASTFromString, _PyParser_ASTFromFile */
#include <internal/pycore_pylifecycle.h>  /* _Py_Deepfreeze_*, _PyAST_Fini */

#if PY_MAJOR_VERSION != 3 || PY_MINOR_VERSION != 11
#error "launcher/cpython311.c replaces CPython 3.11's frozen-module and built-in tables and its deep-freeze hooks: check them against this version's Python/frozen.c, Modules/config.c and Python/deepfreeze (see docs/architecture.md)"
#endif

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


/* No compiler: Python source is never compiled here (every module is frozen bytecode, and
 * entrypoint/ runs no exec, eval or compile, nor imports a module that does, such as
 * collections or dataclasses: tests/test_import_cuts.py checks), so libpython's
 * parser, AST and compiler (Parser/, Python/compile.c, Python-ast.c: 0.7 MB) are left out by
 * defining what the rest of libpython calls of them. Each entry point raises SystemError; what
 * the interpreter itself needs of those objects is here: the opcode tables (from CPython's own
 * header, above), name mangling for classes (_Py_Mangle, Python/compile.c's rule), the
 * traceback's column arithmetic (Parser/pegen.c's). */
static void *no_compiler(void)
{
    PyErr_SetString(PyExc_SystemError, "sidecar-killer's interpreter has no compiler: Python source cannot run here");
    return NULL;
}

struct _mod *_PyParser_ASTFromString(const char *str, PyObject *filename, int mode, PyCompilerFlags *flags,
                                     PyArena *arena)
{
    (void)str, (void)filename, (void)mode, (void)flags, (void)arena;
    return no_compiler();
}

struct _mod *_PyParser_ASTFromFile(FILE *fp, PyObject *filename, const char *enc, int mode, const char *ps1,
                                   const char *ps2, PyCompilerFlags *flags, int *errcode, PyArena *arena)
{
    (void)fp, (void)filename, (void)enc, (void)mode, (void)ps1, (void)ps2, (void)flags, (void)errcode, (void)arena;
    return no_compiler();
}

PyCodeObject *_PyAST_Compile(struct _mod *mod, PyObject *filename, PyCompilerFlags *flags, int optimize,
                             struct _arena *arena)
{
    (void)mod, (void)filename, (void)flags, (void)optimize, (void)arena;
    return no_compiler();
}

int _PyAST_Optimize(struct _mod *mod, struct _arena *arena, _PyASTOptimizeState *state)
{
    (void)mod, (void)arena, (void)state;
    no_compiler();
    return 0;
}

PyFutureFeatures *_PyFuture_FromAST(struct _mod *mod, PyObject *filename)
{
    (void)mod, (void)filename;
    return no_compiler();
}

int _PyAST_Validate(mod_ty mod)
{
    (void)mod;
    no_compiler();
    return 0;
}

PyObject *PyAST_mod2obj(mod_ty mod)
{
    (void)mod;
    return no_compiler();
}

mod_ty PyAST_obj2mod(PyObject *ast, PyArena *arena, int mode)
{
    (void)ast, (void)arena, (void)mode;
    return no_compiler();
}

int PyAST_Check(PyObject *obj)  /* compile() asks whether its argument is an AST: never */
{
    (void)obj;
    return 0;
}

void _PyAST_Fini(PyInterpreterState *interp)  /* the AST types' state: never made */
{
    (void)interp;
}

/* Only the frame's f_lineno setter (a debugger's jump, from a trace function: none runs here)
 * asks it, to check the stack of the jump's target. 0, not PY_INVALID_STACK_EFFECT: the
 * setter's loop would push that many values. */
int PyCompile_OpcodeStackEffect(int opcode, int oparg)
{
    (void)opcode, (void)oparg;
    return 0;
}

/* A class's private names in __slots__: __spam in class _Ham is _Ham__spam; dunder names, dotted
 * names and classes named only with underscores are left alone (Python/compile.c). */
PyObject *_Py_Mangle(PyObject *privateobj, PyObject *ident)
{
    Py_ssize_t length = PyUnicode_GET_LENGTH(ident);
    Py_ssize_t start = 0, end = privateobj != NULL && PyUnicode_Check(privateobj) ? PyUnicode_GET_LENGTH(privateobj) : 0;
    while (start < end && PyUnicode_READ_CHAR(privateobj, start) == '_')
        start++;
    if (start == end || length < 2 || PyUnicode_READ_CHAR(ident, 0) != '_' || PyUnicode_READ_CHAR(ident, 1) != '_'
            || (PyUnicode_READ_CHAR(ident, length - 1) == '_' && PyUnicode_READ_CHAR(ident, length - 2) == '_')
            || PyUnicode_FindChar(ident, '.', 0, length, 1) != -1) {
        Py_INCREF(ident);
        return ident;
    }
    PyObject *name = PyUnicode_Substring(privateobj, start, end);
    if (name == NULL)
        return NULL;
    PyObject *mangled = PyUnicode_FromFormat("_%U%U", name, ident);
    Py_DECREF(name);
    return mangled;
}

/* Python/traceback.c's use of the tokenizer and the parser (no internal header declares them):
 * a source line's encoding (NULL: UTF-8, as without a coding cookie) and a byte offset in a
 * line as a character offset (its UTF-8 prefix decoded, as Parser/pegen.c does). */
char *_PyTokenizer_FindEncodingFilename(int fd, PyObject *filename);
Py_ssize_t _PyPegen_byte_offset_to_character_offset(PyObject *line, Py_ssize_t col_offset);

char *_PyTokenizer_FindEncodingFilename(int fd, PyObject *filename)
{
    (void)fd, (void)filename;
    return NULL;
}

Py_ssize_t _PyPegen_byte_offset_to_character_offset(PyObject *line, Py_ssize_t col_offset)
{
    const char *text = PyUnicode_AsUTF8(line);
    if (text == NULL)
        return -1;
    Py_ssize_t length = (Py_ssize_t)strlen(text);
    if (col_offset > length + 1)
        col_offset = length + 1;
    PyObject *prefix = PyUnicode_DecodeUTF8(text, col_offset, "replace");
    if (prefix == NULL)
        return -1;
    Py_ssize_t characters = PyUnicode_GET_LENGTH(prefix);
    Py_DECREF(prefix);
    return characters;
}
