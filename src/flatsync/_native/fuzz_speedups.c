/* A libFuzzer target for the C accelerator, built with AddressSanitizer by scripts/check.sh:
 *
 *     clang-14 -g -O1 -fsanitize=fuzzer,address -I<python include> fuzz_speedups.c \
 *         -L<python libdir> -lpython3.11 -o fuzz_speedups
 *     PYTHONMALLOC=malloc ASAN_OPTIONS=detect_leaks=0 ./fuzz_speedups -max_total_time=30
 *
 * It compiles _speedups.c into itself (instrumented for coverage and ASan), embeds
 * Python, imports flatsync (PYTHONPATH must reach it) and hands the accelerator the
 * same objects the package does. Each input is decoded under two sets of limits; a
 * decoded tree is encoded again, and a decoded mapping is patched into a fresh
 * read-only replica, so that the decoder, the encoder and the patch path all meet
 * hostile input under the sanitizer. Any Python error other than a decline aborts.
 */

#include "_speedups.c"

static PyObject *LIMITS[2];
static PyObject *FROM_SNAPSHOT;
static PyObject *BASE;

static PyObject *
attr(const char *module, const char *name)
{
    PyObject *mod = PyImport_ImportModule(module);
    if (mod == NULL) {
        PyErr_Print();
        abort();
    }
    PyObject *value = PyObject_GetAttrString(mod, name);
    Py_DECREF(mod);
    if (value == NULL) {
        PyErr_Print();
        abort();
    }
    return value;
}

static void
check(PyObject *result)
{
    if (result == NULL) {
        PyErr_Print();
        abort();
    }
    Py_DECREF(result);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    Py_Initialize();
    PyObject *module = PyModule_New("fuzz_speedups");
    if (module == NULL || module_exec(module) < 0) {
        PyErr_Print();
        abort();
    }
    PyObject *cbor = PyImport_ImportModule("flatsync._codecs._cbor");
    if (cbor == NULL) {
        PyErr_Print();
        abort();
    }
    Py_DECREF(cbor);
    PyObject *args = Py_BuildValue(
        "(NNNNNNN)", attr("flatsync", "DELETED"), attr("flatsync._tree._markers", "MARKERS"),
        attr("flatsync._tree._types", "value_from_tree"),
        attr("flatsync._codecs._codec", "count_key_hash"), attr("flatsync._tree._markers", "Marker"),
        attr("flatsync._codecs._cbor", "_user_pair"), attr("flatsync._tree._types", "TYPES_BY_CLASS"));
    check(configure_cbor(NULL, args));
    Py_DECREF(args);
    args = Py_BuildValue("(NNNNNNNN)", attr("flatsync", "DataHandler"), attr("flatsync", "Record"),
                         attr("flatsync", "RecordView"), attr("flatsync.protocol", "RecordDelta"),
                         attr("flatsync", "Changed"), attr("flatsync", "Added"),
                         attr("flatsync", "Removed"), attr("flatsync", "DELETED"));
    check(configure_handlers(NULL, args));
    Py_DECREF(args);
    PyObject *limits = attr("flatsync", "Limits");
    LIMITS[0] = PyObject_CallNoArgs(limits);
    PyObject *kwargs = Py_BuildValue("{s:i,s:i,s:i,s:i,s:i}", "max_depth", 5,
                                     "max_container_items", 16, "max_total_items", 40,
                                     "max_string_length", 8, "max_hash_collisions", 2);
    PyObject *empty = PyTuple_New(0);
    LIMITS[1] = PyObject_Call(limits, empty, kwargs);
    Py_DECREF(empty);
    Py_DECREF(kwargs);
    Py_DECREF(limits);
    if (LIMITS[0] == NULL || LIMITS[1] == NULL) {
        PyErr_Print();
        abort();
    }
    PyObject *handler = attr("flatsync", "DataHandler");
    FROM_SNAPSHOT = PyObject_GetAttrString(handler, "from_snapshot");
    Py_DECREF(handler);
    BASE = PyRun_String("{1: {'name': 'rat', 'hp': 3, 'pos': (1, 2)}, 'x': 1.5, 'b': {'c': {}}}",
                        Py_eval_input, PyEval_GetBuiltins(), NULL);
    if (FROM_SNAPSHOT == NULL || BASE == NULL) {
        PyErr_Print();
        abort();
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PyObject *packet = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)size);
    for (int i = 0; i < 2; i++) {
        PyObject *args = Py_BuildValue("(OO)", packet, LIMITS[i]);
        PyObject *tree = decode(NULL, args);
        Py_DECREF(args);
        if (tree == NULL) {
            PyErr_Print();
            abort(); /* decode declines; it never raises */
        }
        if (tree != DECLINED) {
            for (int checked = 0; checked < 2; checked++) {
                /* bytes, or declined: never an error */
                PyObject *eargs = checked ? PyTuple_Pack(2, tree, LIMITS[1 - i])
                                          : PyTuple_Pack(1, tree);
                PyObject *again = encode(NULL, eargs);
                if (again == NULL) {
                    PyErr_Print();
                    abort();
                }
                Py_DECREF(again);
                Py_DECREF(eargs);
            }
            if (PyDict_CheckExact(tree)) {
                PyObject *replica = PyObject_CallOneArg(FROM_SNAPSHOT, BASE);
                PyObject *path = PyTuple_New(0);
                PyObject *events = PyList_New(0);
                PyObject *pargs = Py_BuildValue("(OOOO)", replica, tree, path, events);
                PyObject *done = patch(NULL, pargs);
                if (done == NULL) {
                    PyErr_Print();
                    abort();
                }
                Py_DECREF(done);
                Py_DECREF(pargs);
                Py_DECREF(events);
                Py_DECREF(path);
                Py_DECREF(replica);
            }
        }
        Py_DECREF(tree);
    }
    Py_DECREF(packet);
    return 0;
}
