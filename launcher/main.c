/* sidecar-killer's static entry: start an isolated interpreter and run the frozen __main__.
 *
 * Everything the product does is Python (entrypoint/); this file only starts the interpreter
 * the way a container entrypoint needs it started, as CPython's Programs/python.c does for
 * python3. Linked with Debian's libpython3.11.a, the frozen modules and built-in module table
 * (cpython311.c, with the data build/freeze_modules.py generates) and the _sidecar_killer
 * module (native.c). Nothing is read from disk:
 * no site, no module search path, every module comes from this executable's own memory. */
#include <Python.h>
#include <signal.h>
#include <unistd.h>


/* Exit code when Python fails before entrypoint.cli can choose one: EX_SOFTWARE, as
 * entrypoint/exitcodes.py names it for our own internal errors. */
#define EXIT_INTERNAL 70

/* Not Py_ExitStatusException: it exits 1, which would pass for the app's own code. */
static int fail(PyStatus status)
{
    if (PyStatus_IsExit(status))
        return status.exitcode;
    fprintf(stderr, "sidecar-killer: error: cannot start the interpreter: %s%s%s\n",
            status.func ? status.func : "", status.func ? ": " : "", status.err_msg ? status.err_msg : "");
    return EXIT_INTERNAL;
}

/* Block every signal the supervisor collects (entrypoint/signals.py: all but KILL and STOP,
 * which cannot be blocked) before the interpreter starts: a SIGTERM sent the instant the
 * container starts then waits, pending, for sigtimedwait instead of killing us with no quit
 * sent. The app gets a clean mask at spawn. */
static void block_collected_signals(void)
{
    sigset_t set;
    sigfillset(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
}

/* CPython ends a fatal error (out of memory while it starts, say) with abort(), which unblocks
 * SIGABRT: exit 70 with a line instead of dying by that signal, which a container shows as
 * 134, a code in the app's own range. Only write() and _exit() here: this runs in a handler. */
static void exit_on_abort(int signum)
{
    static const char line[] = "sidecar-killer: error: internal error: the interpreter aborted "
                               "(the lines above say why)\n";
    (void)signum;
    if (write(STDERR_FILENO, line, sizeof line - 1) < 0) {
        /* stderr is gone: the exit code still says it */
    }
    _exit(EXIT_INTERNAL);
}

int main(int argc, char **argv)
{
    block_collected_signals();
    signal(SIGABRT, exit_on_abort);
    /* What Python's own handlers would have done (install_signal_handlers = 0 below keeps
     * SIGINT's KeyboardInterrupt handler out): write errors, not deaths, on a closed pipe. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);

    /* UTF-8 whatever the locale (a scratch image has none); no environment variable read. */
    PyPreConfig preconfig;
    PyPreConfig_InitIsolatedConfig(&preconfig);
    preconfig.utf8_mode = 1;
    PyStatus status = Py_PreInitialize(&preconfig);
    if (PyStatus_Exception(status))
        return fail(status);

    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.site_import = 0;
    config.install_signal_handlers = 0;
    config.write_bytecode = 0;
    config.optimization_level = 2;     /* the frozen code is compiled at -OO */
    config.code_debug_ranges = 0;
    config.pathconfig_warnings = 0;
    config.module_search_paths_set = 1;  /* an empty sys.path: nothing on disk is imported */
    /* With home and executable given, path configuration computes prefixes from them and
     * probes no file. argv[0] may be anything (a probe's exec, a symlink). */
    status = PyConfig_SetString(&config, &config.home, L"/");
    if (!PyStatus_Exception(status))
        status = PyConfig_SetString(&config, &config.executable, L"/sidecar-killer");
    if (!PyStatus_Exception(status))
        status = PyConfig_SetBytesArgv(&config, argc, argv);
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status))
        return fail(status);

    /* No cyclic garbage collection while start-up imports: it only walks the new modules'
     * objects again and again (~1 ms). entrypoint/supervisor.py sets them aside (gc.freeze)
     * and turns the collector back on once the app has run a moment. */
    PyGC_Disable();

    /* entrypoint/__main__.py, frozen as __main__. It ends with os._exit(code); if anything raises
     * before that, print it: SystemExit exits with its code, any other error gives 70. */
    int found = PyImport_ImportFrozenModule("__main__");
    if (found < 0) {
        PyErr_Print();
        return EXIT_INTERNAL;
    }
    if (found == 0) {
        fputs("sidecar-killer: error: this build has no frozen __main__\n", stderr);
        return EXIT_INTERNAL;
    }
    return Py_FinalizeEx() < 0 ? EXIT_INTERNAL : 0;
}
