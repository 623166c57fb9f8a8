/* flatsync's optional C accelerator: the hot paths of the CBOR codec and of patch.
 *
 * The pure-Python code is complete without this module and is its oracle. Every
 * function here either gives exactly what the Python path gives, or declines to
 * it, having changed nothing:
 *
 *   decode(data, limits)   -> the protocol tree, or DECLINED. It accepts exactly
 *       what flatsync._codecs._cbor._Parser accepts and builds the same tree, with
 *       the same checks in the same pass: every declared length against the
 *       limits and the bytes left before anything is allocated, depth, items,
 *       string lengths, duplicate keys, and the hash-flood guard (the Python
 *       count_key_hash itself) before a key goes into a dict. On any problem it
 *       declines: the Python parser then runs and raises its own error.
 *   encode(tree, limits)   -> CBOR bytes (the bytes the cbor2 path writes), or
 *       DECLINED (the tree holds something it leaves to cbor2). With limits it
 *       does check_tree's work in the same pass for the trees it knows (and
 *       declines on the rest, or on any refusal); without, the caller has run
 *       check_tree first, as for cbor2.
 *   patch(handler, delta, path, events) -> True (applied) or False (declined,
 *       nothing changed): read-only DataHandlers and records, deltas of scalars
 *       and nested mapping and record deltas. A whole check pass runs before
 *       the apply pass, as in Python.
 *   TrackedDict            -> DataHandler's base: its store runs the write hot path
 *       of DataHandler.__setitem__ (a scalar over a scalar of its type) and calls
 *       the Python methods for everything else.
 *
 * The objects these need (DELETED, the marker registry, ...) are handed in by
 * the Python modules that use them (configure_*), so this module imports
 * nothing of flatsync's.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

/* Keys nest through C recursion; deeper than this, the Python path decides. */
#define MAX_C_DEPTH 1000
/* CPython hashes numbers modulo this prime (flatsync._codecs._codec.HASH_MODULUS). */
#define HASH_MODULUS ((((int64_t)1) << 61) - 1)

#define TAG_LIST 8
#define TAG_VALUE 27

/* -- what the Python modules hand in ------------------------------------------------------ */

static PyObject *DECLINED;          /* the sentinel a declined call returns */
static PyObject *DELETED;           /* flatsync's DELETED marker */
static PyObject *MARKERS;           /* the live registry: tag -> marker class */
static PyObject *VALUE_FROM_TREE;   /* _tree._types.value_from_tree */
static PyObject *COUNT_KEY_HASH;    /* _codecs._codec.count_key_hash */
static PyObject *MARKER_BASE;       /* _tree._markers.Marker */
static PyObject *USER_ENCODE;       /* (value) -> (name, tree) for a registered value type */
static PyObject *TYPES_BY_CLASS;    /* the live registry: class -> value type */
static PyObject *DATA_HANDLER;      /* _handlers._data.DataHandler */
static PyObject *RECORD_BASE;       /* _handlers._record.Record */
static PyObject *RECORD_VIEW;       /* _handlers._record_view.RecordView (declined) */
static PyObject *RECORD_DELTA;      /* _tree._records.RecordDelta */
static PyObject *CHANGED, *ADDED, *REMOVED; /* the event classes */

static PyObject *s_max_depth, *s_max_container_items, *s_max_string_length,
    *s_max_total_items, *s_max_hash_collisions, *s_from_content, *s_from_bytes, *s_big,
    *s_readonly, *s_changes, *s_flatsync_record, *s_fields, *s_marker_id, *s_content;

static int
set_ref(PyObject **slot, PyObject *value)
{
    Py_XINCREF(value);
    Py_XSETREF(*slot, value);
    return 0;
}

static PyObject *
configure_cbor(PyObject *self, PyObject *args)
{
    PyObject *deleted, *markers, *value_from_tree, *count_key_hash, *marker_base, *user_encode,
        *types_by_class;
    if (!PyArg_ParseTuple(args, "OO!OOOOO!", &deleted, &PyDict_Type, &markers, &value_from_tree,
                          &count_key_hash, &marker_base, &user_encode, &PyDict_Type,
                          &types_by_class))
        return NULL;
    set_ref(&DELETED, deleted);
    set_ref(&MARKERS, markers);
    set_ref(&VALUE_FROM_TREE, value_from_tree);
    set_ref(&COUNT_KEY_HASH, count_key_hash);
    set_ref(&MARKER_BASE, marker_base);
    set_ref(&USER_ENCODE, user_encode);
    set_ref(&TYPES_BY_CLASS, types_by_class);
    Py_RETURN_NONE;
}

static PyObject *
configure_handlers(PyObject *self, PyObject *args)
{
    PyObject *data_handler, *record, *record_view, *record_delta, *changed, *added, *removed,
        *deleted;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!O!O", &PyType_Type, &data_handler, &PyType_Type,
                          &record, &PyType_Type, &record_view, &PyType_Type, &record_delta,
                          &PyType_Type, &changed, &PyType_Type, &added, &PyType_Type, &removed,
                          &deleted))
        return NULL;
    set_ref(&DATA_HANDLER, data_handler);
    set_ref(&RECORD_BASE, record);
    set_ref(&RECORD_VIEW, record_view);
    set_ref(&RECORD_DELTA, record_delta);
    set_ref(&CHANGED, changed);
    set_ref(&ADDED, added);
    set_ref(&REMOVED, removed);
    set_ref(&DELETED, deleted);
    Py_RETURN_NONE;
}

/* -- decoding --------------------------------------------------------------------------- */

enum { CTX_V, CTX_T, CTX_R }; /* a value; inside a tuple; inside a marker's content */

typedef struct {
    const unsigned char *data;
    Py_ssize_t size;
    Py_ssize_t pos;
    long long max_depth;
    long long max_items;
    long long max_string;
    long long total_left;
    PyObject *max_collisions;
} Parser;

/* Reads the head at p->pos: major type and argument. 0, or -1 (truncated, reserved,
 * indefinite). */
static int
read_head(Parser *p, int *major, uint64_t *arg)
{
    if (p->pos >= p->size)
        return -1;
    unsigned char b = p->data[p->pos];
    int ai = b & 31;
    *major = b >> 5;
    if (ai < 24) {
        *arg = (uint64_t)ai;
        p->pos += 1;
        return 0;
    }
    if (ai <= 27) {
        Py_ssize_t n = (Py_ssize_t)1 << (ai - 24);
        if (n > p->size - p->pos - 1)
            return -1;
        uint64_t value = 0;
        for (Py_ssize_t i = 0; i < n; i++)
            value = (value << 8) | p->data[p->pos + 1 + i];
        *arg = value;
        p->pos += 1 + n;
        return 0;
    }
    return -1;
}

/* _Parser.container: the bytes left, depth, items, total items. */
static int
check_container(Parser *p, uint64_t size, long long depth, int per_item)
{
    uint64_t left = (uint64_t)(p->size - p->pos);
    if (size > left / (uint64_t)per_item)
        return -1;
    if (depth >= p->max_depth)
        return -1;
    if (size > (uint64_t)p->max_items)
        return -1;
    p->total_left -= (long long)size;
    if (p->total_left < 0)
        return -1;
    return 0;
}

/* _Parser.string: the bytes left, then the length limit. */
static int
check_string(Parser *p, uint64_t length)
{
    if (length > (uint64_t)(p->size - p->pos))
        return -1;
    if (length > (uint64_t)p->max_string)
        return -1;
    return 0;
}

static PyObject *
negative_int(uint64_t arg) /* -1 - arg */
{
    if (arg <= (uint64_t)INT64_MAX)
        return PyLong_FromLongLong(-1 - (long long)arg);
    PyObject *value = PyLong_FromUnsignedLongLong(arg);
    if (value == NULL)
        return NULL;
    PyObject *result = PyNumber_Invert(value); /* ~x == -1 - x */
    Py_DECREF(value);
    return result;
}

static PyObject *
text(Parser *p, Py_ssize_t length)
{
    PyObject *value = PyUnicode_DecodeUTF8((const char *)p->data + p->pos, length, NULL);
    p->pos += length;
    return value;
}

/* A bignum's content (tag 2 or 3 already read). */
static PyObject *
bignum(Parser *p, uint64_t tag)
{
    int major;
    uint64_t length;
    if (read_head(p, &major, &length) < 0 || major != 2 || check_string(p, length) < 0)
        return NULL;
    PyObject *raw = PyBytes_FromStringAndSize((const char *)p->data + p->pos, (Py_ssize_t)length);
    if (raw == NULL)
        return NULL;
    p->pos += (Py_ssize_t)length;
    PyObject *value = PyObject_CallMethodObjArgs((PyObject *)&PyLong_Type, s_from_bytes, raw,
                                                 s_big, NULL);
    Py_DECREF(raw);
    if (value == NULL || tag == 2)
        return value;
    PyObject *result = PyNumber_Invert(value);
    Py_DECREF(value);
    return result;
}

static PyObject *
read_float(Parser *p, unsigned char b)
{
    Py_ssize_t n = b == 0xF9 ? 2 : b == 0xFA ? 4 : 8;
    if (n > p->size - p->pos - 1)
        return NULL;
    const unsigned char *at = p->data + p->pos + 1;
    double value = n == 2 ? PyFloat_Unpack2((const char *)at, 0)
                 : n == 4 ? PyFloat_Unpack4((const char *)at, 0)
                          : PyFloat_Unpack8((const char *)at, 0);
    if (value == -1.0 && PyErr_Occurred())
        return NULL;
    p->pos += 1 + n;
    return PyFloat_FromDouble(value);
}

/* The scalar majors, 0 to 3 (an unsigned or negative integer, a byte or text
   string), once read_head has read the head: the value, or NULL when a length
   is past the bytes left or the limit. One arm for keys (build_key) and values
   (read_item) alike. */
static inline PyObject *
read_scalar(Parser *p, int major, uint64_t arg)
{
    switch (major) {
    case 0:
        return PyLong_FromUnsignedLongLong(arg);
    case 1:
        return negative_int(arg);
    case 2:
        if (check_string(p, arg) < 0)
            return NULL;
        p->pos += (Py_ssize_t)arg;
        return PyBytes_FromStringAndSize((const char *)p->data + p->pos - (Py_ssize_t)arg,
                                         (Py_ssize_t)arg);
    default: /* 3 */
        if (check_string(p, arg) < 0)
            return NULL;
        return text(p, (Py_ssize_t)arg);
    }
}

/* _Parser.build_key: a key that is not a short text or small integer. */
static PyObject *
build_key(Parser *p, long long depth)
{
    if (p->pos >= p->size || depth > MAX_C_DEPTH)
        return NULL;
    unsigned char b = p->data[p->pos];
    int major;
    uint64_t arg;
    if (read_head(p, &major, &arg) < 0)
        return NULL;
    switch (major) {
    case 0:
    case 1:
    case 2:
    case 3:
        return read_scalar(p, major, arg);
    case 4: {
        if (check_container(p, arg, depth, 1) < 0)
            return NULL;
        PyObject *items = PyTuple_New((Py_ssize_t)arg);
        if (items == NULL)
            return NULL;
        for (Py_ssize_t i = 0; i < (Py_ssize_t)arg; i++) {
            PyObject *item = build_key(p, depth + 1);
            if (item == NULL) {
                Py_DECREF(items);
                return NULL;
            }
            PyTuple_SET_ITEM(items, i, item);
        }
        return items;
    }
    case 6:
        if (arg == 2 || arg == 3)
            return bignum(p, arg);
        return NULL;
    default:
        break;
    }
    if (b == 0xF4 || b == 0xF5)
        return PyBool_FromLong(b == 0xF5);
    if (b == 0xF6)
        Py_RETURN_NONE;
    if (b >= 0xF9 && b <= 0xFB) {
        p->pos -= b == 0xF9 ? 3 : b == 0xFA ? 5 : 9; /* read_head skipped the float's bytes */
        PyObject *value = read_float(p, b);
        if (value != NULL && Py_IS_NAN(PyFloat_AS_DOUBLE(value))) {
            Py_DECREF(value);
            return NULL;
        }
        return value;
    }
    return NULL;
}

/* A map key, with the hash-flood guard before it goes into the map. */
static PyObject *
read_key(Parser *p, long long depth, PyObject **hashes)
{
    if (p->pos >= p->size)
        return NULL;
    unsigned char b = p->data[p->pos];
    if (b >= 0x60 && b < 0x78) { /* a short text key */
        Py_ssize_t length = b - 0x60;
        if (length > p->size - p->pos - 1 || length > p->max_string)
            return NULL;
        p->pos += 1;
        return text(p, length);
    }
    if (b < 0x18) {
        p->pos += 1;
        return PyLong_FromLong(b);
    }
    PyObject *key = build_key(p, depth);
    if (key == NULL)
        return NULL;
    PyTypeObject *t = Py_TYPE(key);
    if (t == &PyUnicode_Type || t == &PyBytes_Type)
        return key;
    if (t == &PyLong_Type) {
        int overflow;
        long long value = PyLong_AsLongLongAndOverflow(key, &overflow);
        if (!overflow && value > -HASH_MODULUS && value < HASH_MODULUS)
            return key;
    }
    /* Any other key: the one home of the rule counts it (it raises past the limit). */
    PyObject *counted = PyObject_CallFunctionObjArgs(
        COUNT_KEY_HASH, key, *hashes == NULL ? Py_None : *hashes, p->max_collisions, Py_None,
        NULL);
    if (counted == NULL) {
        Py_DECREF(key);
        return NULL;
    }
    if (counted == Py_None)
        Py_DECREF(counted);
    else
        Py_XSETREF(*hashes, counted);
    return key;
}

static PyObject *read_item(Parser *p, int ctx, long long depth);

static PyObject *
read_map(Parser *p, uint64_t size, long long depth)
{
    PyObject *map = PyDict_New();
    PyObject *hashes = NULL;
    if (map == NULL)
        return NULL;
    for (uint64_t i = 0; i < size; i++) {
        PyObject *key = read_key(p, depth, &hashes);
        if (key == NULL)
            goto fail;
        PyObject *value = read_item(p, CTX_V, depth);
        if (value == NULL) {
            Py_DECREF(key);
            goto fail;
        }
        Py_ssize_t before = PyDict_GET_SIZE(map);
        int status = PyDict_SetItem(map, key, value);
        Py_DECREF(key);
        Py_DECREF(value);
        if (status < 0 || PyDict_GET_SIZE(map) == before) /* a duplicate key */
            goto fail;
    }
    Py_XDECREF(hashes);
    return map;
fail:
    Py_XDECREF(hashes);
    Py_DECREF(map);
    return NULL;
}

/* One item at p->pos, in context ctx, at depth (the containers around it). */
static PyObject *
read_item(Parser *p, int ctx, long long depth)
{
    if (p->pos >= p->size)
        return NULL;
    unsigned char b = p->data[p->pos];
    if (b < 0x18) {
        p->pos += 1;
        return PyLong_FromLong(b);
    }
    if (b >= 0x60 && b < 0x78) {
        Py_ssize_t length = b - 0x60;
        if (length > p->size - p->pos - 1 || length > p->max_string)
            return NULL;
        p->pos += 1;
        return text(p, length);
    }
    if (b >= 0xF9 && b <= 0xFB)
        return read_float(p, b);
    if (b == 0xF7) {
        if (ctx == CTX_T)
            return NULL;
        p->pos += 1;
        return Py_NewRef(DELETED);
    }
    if (b >= 0xF4 && b <= 0xF6) {
        p->pos += 1;
        if (b == 0xF6)
            Py_RETURN_NONE;
        return PyBool_FromLong(b == 0xF5);
    }
    int major;
    uint64_t arg;
    if (read_head(p, &major, &arg) < 0)
        return NULL;
    switch (major) {
    case 0:
    case 1:
    case 2:
    case 3:
        return read_scalar(p, major, arg);
    case 4: {
        if (check_container(p, arg, depth, 1) < 0)
            return NULL;
        int inner = ctx == CTX_R ? CTX_R : CTX_T;
        PyObject *items = PyTuple_New((Py_ssize_t)arg);
        if (items == NULL)
            return NULL;
        for (Py_ssize_t i = 0; i < (Py_ssize_t)arg; i++) {
            PyObject *item = read_item(p, inner, depth + 1);
            if (item == NULL) {
                Py_DECREF(items);
                return NULL;
            }
            PyTuple_SET_ITEM(items, i, item);
        }
        return items;
    }
    case 5:
        if (ctx == CTX_T || check_container(p, arg, depth, 2) < 0)
            return NULL;
        return read_map(p, arg, depth + 1);
    case 6:
        break;
    default: /* major 7: a simple value outside the protocol */
        return NULL;
    }
    /* A tag. */
    if (arg == 2 || arg == 3)
        return bignum(p, arg);
    if (ctx == CTX_T && arg != TAG_VALUE)
        return NULL;
    if (depth >= p->max_depth)
        return NULL;
    if (arg == TAG_LIST) {
        uint64_t size;
        if (read_head(p, &major, &size) < 0 || major != 4)
            return NULL;
        if (check_container(p, size, depth, 1) < 0)
            return NULL;
        PyObject *list = PyList_New((Py_ssize_t)size);
        if (list == NULL)
            return NULL;
        for (Py_ssize_t i = 0; i < (Py_ssize_t)size; i++) {
            PyObject *item = read_item(p, CTX_V, depth + 1);
            if (item == NULL) {
                Py_DECREF(list);
                return NULL;
            }
            PyList_SET_ITEM(list, i, item);
        }
        return list;
    }
    if (arg <= (uint64_t)INT64_MAX) {
        PyObject *tag = PyLong_FromUnsignedLongLong(arg);
        if (tag == NULL)
            return NULL;
        PyObject *cls = PyDict_GetItemWithError(MARKERS, tag); /* borrowed */
        Py_DECREF(tag);
        if (cls == NULL && PyErr_Occurred())
            return NULL;
        if (cls != NULL) {
            Py_INCREF(cls); /* from_content may run any code */
            PyObject *content = read_item(p, CTX_R, depth + 1);
            if (content == NULL) {
                Py_DECREF(cls);
                return NULL;
            }
            PyObject *marker = PyObject_CallMethodOneArg(cls, s_from_content, content);
            Py_DECREF(cls);
            Py_DECREF(content);
            return marker;
        }
    }
    if (arg != TAG_VALUE)
        return NULL;
    if (p->pos >= p->size || p->data[p->pos] != 0x82)
        return NULL;
    p->pos += 1;
    uint64_t length;
    if (read_head(p, &major, &length) < 0 || major != 3 || check_string(p, length) < 0)
        return NULL;
    PyObject *name = text(p, (Py_ssize_t)length);
    if (name == NULL)
        return NULL;
    PyObject *tree = read_item(p, CTX_V, depth + 1);
    if (tree == NULL) {
        Py_DECREF(name);
        return NULL;
    }
    PyObject *value = PyObject_CallFunctionObjArgs(VALUE_FROM_TREE, name, tree, NULL);
    Py_DECREF(name);
    Py_DECREF(tree);
    return value;
}

static int
limit_attr(PyObject *limits, PyObject *name, long long *out)
{
    PyObject *value = PyObject_GetAttr(limits, name);
    if (value == NULL)
        return -1;
    int overflow;
    *out = PyLong_AsLongLongAndOverflow(value, &overflow);
    Py_DECREF(value);
    if (overflow > 0)
        *out = LLONG_MAX / 4;
    if ((*out == -1 && PyErr_Occurred()) || overflow < 0)
        return -1;
    return 0;
}

static PyObject *
decode(PyObject *self, PyObject *args)
{
    PyObject *limits;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*O", &view, &limits))
        return NULL;
    if (MARKERS == NULL) {
        PyBuffer_Release(&view);
        return Py_NewRef(DECLINED);
    }
    Parser p = {.data = view.buf, .size = view.len, .pos = 0};
    PyObject *result = NULL;
    long long recursion_cap = Py_GetRecursionLimit() / 2;
    if (limit_attr(limits, s_max_depth, &p.max_depth) < 0 ||
        limit_attr(limits, s_max_container_items, &p.max_items) < 0 ||
        limit_attr(limits, s_max_string_length, &p.max_string) < 0 ||
        limit_attr(limits, s_max_total_items, &p.total_left) < 0)
        goto done;
    if (p.max_depth > recursion_cap)
        p.max_depth = recursion_cap; /* depth_cap */
    if (p.max_depth > MAX_C_DEPTH)
        goto done; /* the Python parser, which does not recurse for values */
    p.max_collisions = PyObject_GetAttr(limits, s_max_hash_collisions);
    if (p.max_collisions == NULL)
        goto done;
    result = read_item(&p, CTX_V, 0);
    Py_DECREF(p.max_collisions);
    if (result != NULL && p.pos != p.size)
        Py_CLEAR(result); /* trailing bytes */
done:
    PyBuffer_Release(&view);
    if (result == NULL) {
        PyErr_Clear(); /* the Python parser says what is wrong, in its own words */
        return Py_NewRef(DECLINED);
    }
    return result;
}

/* -- encoding --------------------------------------------------------------------------- */

typedef struct {
    char *buf;
    Py_ssize_t len;
    Py_ssize_t cap;
    int depth;
    /* With checking on, the writer also does check_tree's work, for the trees it
     * knows (mappings with str, bytes and small int keys, tuples, lists, scalars,
     * DELETED) and declines on anything else, or on any refusal: one pass. */
    int checking;
    long long max_depth;
    long long max_items;
    long long total_left;
} Writer;

/* check_tree's count of a container's items. */
static int
count_items(Writer *w, Py_ssize_t size)
{
    if (!w->checking)
        return 0;
    if (size > w->max_items)
        return -1;
    w->total_left -= size;
    return w->total_left < 0 ? -1 : 0;
}

/* A key that check_tree lets through without a call: str, bytes, an int below HASH_MODULUS. */
static int
simple_key(PyObject *key)
{
    PyTypeObject *t = Py_TYPE(key);
    if (t == &PyUnicode_Type || t == &PyBytes_Type)
        return 1;
    if (t != &PyLong_Type)
        return 0;
    int overflow;
    long long value = PyLong_AsLongLongAndOverflow(key, &overflow);
    return !overflow && value > -HASH_MODULUS && value < HASH_MODULUS;
}

/* A tuple's items, as check_tree wants them: scalars and tuples (value types: declined). */
static int
tuple_items_ok(PyObject *tuple)
{
    Py_ssize_t n = PyTuple_GET_SIZE(tuple);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        PyTypeObject *t = Py_TYPE(item);
        if (!(t == &PyLong_Type || t == &PyUnicode_Type || t == &PyFloat_Type ||
              item == Py_None || t == &PyBool_Type || t == &PyBytes_Type || t == &PyTuple_Type))
            return 0;
    }
    return 1;
}

static int
reserve(Writer *w, Py_ssize_t extra)
{
    if (w->len + extra <= w->cap)
        return 0;
    Py_ssize_t cap = w->cap * 2;
    if (cap < w->len + extra)
        cap = w->len + extra + 64;
    char *buf = PyMem_Realloc(w->buf, (size_t)cap);
    if (buf == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    w->buf = buf;
    w->cap = cap;
    return 0;
}

static int
put(Writer *w, const void *bytes, Py_ssize_t n)
{
    if (reserve(w, n) < 0)
        return -1;
    memcpy(w->buf + w->len, bytes, (size_t)n);
    w->len += n;
    return 0;
}

static int
put_head(Writer *w, int major, uint64_t arg)
{
    unsigned char head[9];
    int n;
    head[0] = (unsigned char)(major << 5);
    if (arg < 24) {
        head[0] |= (unsigned char)arg;
        n = 1;
    } else if (arg <= 0xFF) {
        head[0] |= 24;
        head[1] = (unsigned char)arg;
        n = 2;
    } else if (arg <= 0xFFFF) {
        head[0] |= 25;
        head[1] = (unsigned char)(arg >> 8);
        head[2] = (unsigned char)arg;
        n = 3;
    } else if (arg <= 0xFFFFFFFFu) {
        head[0] |= 26;
        for (int i = 0; i < 4; i++)
            head[1 + i] = (unsigned char)(arg >> (24 - 8 * i));
        n = 5;
    } else {
        head[0] |= 27;
        for (int i = 0; i < 8; i++)
            head[1 + i] = (unsigned char)(arg >> (56 - 8 * i));
        n = 9;
    }
    return put(w, head, n);
}

/* _cbor._encode_float: the shortest of half, single and double that keeps the bits. */
static int
put_float(Writer *w, double value)
{
    unsigned char out[9];
    if (!Py_IS_NAN(value)) {
        if (PyFloat_Pack4(value, (char *)out + 1, 0) == 0) {
            if (PyFloat_Unpack4((const char *)out + 1, 0) == value) {
                unsigned char half[2];
                if (PyFloat_Pack2(value, (char *)half, 0) == 0) {
                    if (PyFloat_Unpack2((const char *)half, 0) == value) {
                        out[0] = 0xF9;
                        memcpy(out + 1, half, 2);
                        return put(w, out, 3);
                    }
                } else {
                    PyErr_Clear(); /* too large for a half */
                }
                out[0] = 0xFA;
                return put(w, out, 5);
            }
        } else {
            PyErr_Clear(); /* too large for a single */
        }
    }
    out[0] = 0xFB;
    if (PyFloat_Pack8(value, (char *)out + 1, 0) < 0)
        return -1;
    return put(w, out, 9);
}

static int put_int(Writer *w, PyObject *value);

static int
put_bignum(Writer *w, PyObject *value)
{
    /* cbor2: tag 2 (n) or 3 (-1 - n), then n's big-endian bytes, as few as hold it. */
    PyObject *zero = PyLong_FromLong(0);
    int negative = zero == NULL ? -1 : PyObject_RichCompareBool(value, zero, Py_LT);
    Py_XDECREF(zero);
    if (negative < 0)
        return -1;
    PyObject *magnitude = negative ? PyNumber_Invert(value) : Py_NewRef(value);
    if (magnitude == NULL)
        return -1;
    PyObject *bit_length = PyObject_CallMethod(magnitude, "bit_length", NULL);
    Py_ssize_t bits = bit_length == NULL ? -1 : PyLong_AsSsize_t(bit_length);
    Py_XDECREF(bit_length);
    if (bits < 0) {
        Py_DECREF(magnitude);
        return -1;
    }
    Py_ssize_t length = (bits + 7) / 8;
    PyObject *raw = PyObject_CallMethod(magnitude, "to_bytes", "ns", length, "big");
    Py_DECREF(magnitude);
    if (raw == NULL)
        return -1;
    int status = -1;
    if (put_head(w, 6, negative ? 3 : 2) == 0 && put_head(w, 2, (uint64_t)length) == 0 &&
        put(w, PyBytes_AS_STRING(raw), length) == 0)
        status = 0;
    Py_DECREF(raw);
    return status;
}

static int
put_int(Writer *w, PyObject *value)
{
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (!overflow)
        return v >= 0 ? put_head(w, 0, (uint64_t)v) : put_head(w, 1, (uint64_t)(-1 - v));
    if (overflow > 0) {
        unsigned long long u = PyLong_AsUnsignedLongLong(value);
        if (u == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            return put_bignum(w, value);
        }
        return put_head(w, 0, u);
    }
    /* below -2**63: -1 - value may still fit in 64 bits */
    PyObject *magnitude = PyNumber_Invert(value);
    if (magnitude == NULL)
        return -1;
    unsigned long long u = PyLong_AsUnsignedLongLong(magnitude);
    Py_DECREF(magnitude);
    if (u == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return put_bignum(w, value);
    }
    return put_head(w, 1, u);
}

static int put_tree(Writer *w, PyObject *tree);

static int
put_items(Writer *w, PyObject *seq)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    if (put_head(w, 4, (uint64_t)n) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++)
        if (put_tree(w, items[i]) < 0)
            return -1;
    return 0;
}

/* 0: written; -1: declined (something left to cbor2's path, or an error). */
static int
put_tree(Writer *w, PyObject *tree)
{
    PyTypeObject *t = Py_TYPE(tree);
    if (t == &PyUnicode_Type) {
        if (PyUnicode_IS_ASCII(tree)) { /* its UTF-8 is its data */
            Py_ssize_t n = PyUnicode_GET_LENGTH(tree);
            if (put_head(w, 3, (uint64_t)n) < 0)
                return -1;
            return put(w, PyUnicode_DATA(tree), n);
        }
        /* a new bytes object, not the UTF-8 copy CPython would keep inside the string */
        PyObject *utf8 = PyUnicode_AsUTF8String(tree);
        if (utf8 == NULL)
            return -1; /* a lone surrogate: cbor2's path says so */
        int status = put_head(w, 3, (uint64_t)PyBytes_GET_SIZE(utf8)) < 0 ? -1
                     : put(w, PyBytes_AS_STRING(utf8), PyBytes_GET_SIZE(utf8));
        Py_DECREF(utf8);
        return status;
    }
    if (t == &PyLong_Type)
        return put_int(w, tree);
    if (t == &PyFloat_Type)
        return put_float(w, PyFloat_AS_DOUBLE(tree));
    if (tree == Py_None)
        return put(w, "\xf6", 1);
    if (t == &PyBool_Type)
        return put(w, tree == Py_True ? "\xf5" : "\xf4", 1);
    if (tree == DELETED)
        return put(w, "\xf7", 1);
    if (t == &PyBytes_Type) {
        if (put_head(w, 2, (uint64_t)PyBytes_GET_SIZE(tree)) < 0)
            return -1;
        return put(w, PyBytes_AS_STRING(tree), PyBytes_GET_SIZE(tree));
    }
    if (w->checking && w->depth >= w->max_depth)
        return -1;
    if (++w->depth > MAX_C_DEPTH)
        return -1;
    int status;
    if (t == &PyDict_Type) {
        Py_ssize_t size = PyDict_GET_SIZE(tree);
        if (count_items(w, size) < 0 || put_head(w, 5, (uint64_t)size) < 0)
            return -1;
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        status = 0;
        while (PyDict_Next(tree, &pos, &key, &value)) {
            if ((w->checking && !simple_key(key)) || put_tree(w, key) < 0 ||
                put_tree(w, value) < 0 || PyDict_GET_SIZE(tree) != size) {
                status = -1;
                break;
            }
        }
    } else if (t == &PyTuple_Type) {
        if (count_items(w, PyTuple_GET_SIZE(tree)) < 0 || (w->checking && !tuple_items_ok(tree)))
            return -1;
        status = put_items(w, tree);
    } else if (t == &PyList_Type) {
        if (count_items(w, PyList_GET_SIZE(tree)) < 0)
            return -1;
        /* tag 8 + an array; a copy, so that no code run inside can resize it under us */
        PyObject *copy = PyList_GetSlice(tree, 0, PyList_GET_SIZE(tree));
        if (copy == NULL)
            return -1;
        status = put(w, "\xc8", 1) < 0 ? -1 : put_items(w, copy);
        Py_DECREF(copy);
    } else if (w->checking) {
        return -1; /* value types and markers: check_tree in Python, then the plain writer */
    } else if (TYPES_BY_CLASS != NULL && PyDict_Contains(TYPES_BY_CLASS, (PyObject *)t) == 1) {
        /* tag 27, [name, tree] */
        PyObject *pair = PyObject_CallOneArg(USER_ENCODE, tree);
        if (pair == NULL || !PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            Py_XDECREF(pair);
            return -1;
        }
        status = put(w, "\xd8\x1b\x82", 3) < 0 || put_tree(w, PyTuple_GET_ITEM(pair, 0)) < 0 ||
                         put_tree(w, PyTuple_GET_ITEM(pair, 1)) < 0
                     ? -1
                     : 0;
        Py_DECREF(pair);
    } else {
        int is_marker = MARKER_BASE == NULL ? 0 : PyObject_IsInstance(tree, MARKER_BASE);
        if (is_marker != 1)
            return -1;
        PyObject *id = PyObject_GetAttr(tree, s_marker_id);
        if (id == NULL)
            return -1;
        long marker_id = PyLong_Check(id) ? PyLong_AsLong(id) : -1;
        Py_DECREF(id);
        if (marker_id < 0 || marker_id > 23)
            return -1; /* cbor2's path writes 0xC0 | id: leave the odd ones to it */
        unsigned char head = (unsigned char)(0xC0 | marker_id);
        PyObject *content = PyObject_CallMethodNoArgs(tree, s_content);
        if (content == NULL)
            return -1;
        status = put(w, &head, 1) < 0 ? -1 : put_tree(w, content);
        Py_DECREF(content);
    }
    w->depth--;
    return status;
}

static PyObject *
encode(PyObject *self, PyObject *args)
{
    PyObject *tree, *limits = Py_None;
    if (!PyArg_ParseTuple(args, "O|O", &tree, &limits))
        return NULL;
    Writer w = {.buf = NULL, .len = 0, .cap = 0, .depth = 0, .checking = limits != Py_None};
    if (w.checking) {
        long long max_depth;
        if (limit_attr(limits, s_max_depth, &max_depth) < 0 ||
            limit_attr(limits, s_max_container_items, &w.max_items) < 0 ||
            limit_attr(limits, s_max_total_items, &w.total_left) < 0) {
            PyErr_Clear();
            return Py_NewRef(DECLINED);
        }
        w.max_depth = max_depth;
    }
    if (reserve(&w, 64) < 0)
        return NULL;
    PyObject *result = NULL;
    if (put_tree(&w, tree) == 0)
        result = PyBytes_FromStringAndSize(w.buf, w.len);
    PyMem_Free(w.buf);
    if (result == NULL) {
        PyErr_Clear(); /* cbor2's path says what is wrong */
        return Py_NewRef(DECLINED);
    }
    return result;
}

/* -- patch ------------------------------------------------------------------------------ */

static inline int
is_scalar(PyObject *value)
{
    PyTypeObject *t = Py_TYPE(value);
    return t == &PyLong_Type || t == &PyUnicode_Type || t == &PyFloat_Type ||
           value == Py_None || t == &PyBool_Type || t == &PyBytes_Type;
}

/* 1 when the handler is read-only (a replica's), 0 when not, -1 on an error. */
static int
readonly(PyObject *handler)
{
    PyObject *flag = PyObject_GetAttr(handler, s_readonly);
    if (flag == NULL)
        return -1;
    int result = flag == Py_True;
    Py_DECREF(flag);
    return result;
}

/* The field names of a plain record (not a RecordView), or NULL (declined). New ref. */
static PyObject *
record_fields(PyObject *record)
{
    int plain = PyObject_IsInstance(record, RECORD_BASE);
    if (plain != 1)
        return NULL;
    if (PyObject_IsInstance(record, RECORD_VIEW) != 0)
        return NULL;
    PyObject *spec = PyObject_GetAttr((PyObject *)Py_TYPE(record), s_flatsync_record);
    if (spec == NULL)
        return NULL;
    PyObject *fields = PyObject_GetAttr(spec, s_fields);
    Py_DECREF(spec);
    if (fields != NULL && !PyTuple_CheckExact(fields))
        Py_CLEAR(fields);
    return fields;
}

static int check_mapping(PyObject *handler, PyObject *delta, int depth);

/* 0: the delta fits and is of what this path applies; -1: declined. */
static int
check_record(PyObject *record, PyObject *delta, int depth)
{
    if (Py_TYPE(delta) != (PyTypeObject *)RECORD_DELTA || readonly(record) != 1)
        return -1;
    PyObject *changes = PyObject_GetAttr(delta, s_changes);
    if (changes == NULL)
        return -1;
    PyObject *fields = record_fields(record);
    int status = -1;
    if (fields == NULL || !PyDict_CheckExact(changes))
        goto done;
    Py_ssize_t pos = 0, count = PyTuple_GET_SIZE(fields);
    PyObject *key, *change;
    while (PyDict_Next(changes, &pos, &key, &change)) {
        if (!PyLong_CheckExact(key) || !is_scalar(change))
            goto done;
        Py_ssize_t index = PyLong_AsSsize_t(key);
        if (index < 0 || index >= count)
            goto done;
        PyObject *cur = PyObject_GenericGetAttr(record, PyTuple_GET_ITEM(fields, index));
        if (cur == NULL)
            goto done;
        int fits = is_scalar(cur);
        Py_DECREF(cur);
        if (!fits)
            goto done;
    }
    status = 0;
done:
    Py_XDECREF(fields);
    Py_DECREF(changes);
    return status;
}

static int
check_mapping(PyObject *handler, PyObject *delta, int depth)
{
    if (depth > MAX_C_DEPTH || Py_TYPE(handler) != (PyTypeObject *)DATA_HANDLER ||
        !PyDict_CheckExact(delta) || readonly(handler) != 1)
        return -1;
    Py_ssize_t pos = 0;
    PyObject *key, *change;
    while (PyDict_Next(delta, &pos, &key, &change)) {
        PyTypeObject *tk = Py_TYPE(key);
        if (tk != &PyLong_Type && tk != &PyUnicode_Type)
            return -1; /* other keys: the Python path checks them */
        PyObject *cur = PyDict_GetItemWithError(handler, key); /* borrowed */
        if (cur == NULL && PyErr_Occurred())
            return -1;
        if (is_scalar(change) || change == DELETED) {
            if (cur != NULL && !is_scalar(cur))
                return -1; /* a container replaced or removed: detaching is Python's */
            continue;
        }
        if (cur == NULL)
            return -1;
        if (PyDict_CheckExact(change)) {
            if (check_mapping(cur, change, depth + 1) < 0)
                return -1;
        } else if (Py_TYPE(change) == (PyTypeObject *)RECORD_DELTA) {
            if (check_record(cur, change, depth + 1) < 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

static PyObject *
event(PyObject *cls, PyObject *path, PyObject *key, PyObject *a, PyObject *b)
{
    /* new_event(cls, ((*path, key), a[, b])): tuple.__new__(cls, fields) */
    Py_ssize_t n = PyTuple_GET_SIZE(path);
    PyObject *where = PyTuple_New(n + 1);
    if (where == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(where, i, Py_NewRef(PyTuple_GET_ITEM(path, i)));
    PyTuple_SET_ITEM(where, n, Py_NewRef(key));
    PyObject *fields = b == NULL ? PyTuple_Pack(2, where, a) : PyTuple_Pack(3, where, a, b);
    Py_DECREF(where);
    if (fields == NULL)
        return NULL;
    PyObject *args = PyTuple_Pack(1, fields);
    Py_DECREF(fields);
    if (args == NULL)
        return NULL;
    PyObject *result = PyTuple_Type.tp_new((PyTypeObject *)cls, args, NULL);
    Py_DECREF(args);
    return result;
}

static PyObject *
child_path(PyObject *path, PyObject *key)
{
    Py_ssize_t n = PyTuple_GET_SIZE(path);
    PyObject *where = PyTuple_New(n + 1);
    if (where == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(where, i, Py_NewRef(PyTuple_GET_ITEM(path, i)));
    PyTuple_SET_ITEM(where, n, Py_NewRef(key));
    return where;
}

static int
emit(PyObject *events, PyObject *item)
{
    if (item == NULL)
        return -1;
    int status = PyList_Append(events, item);
    Py_DECREF(item);
    return status;
}

/* The apply pass, after check_* accepted the whole delta. events may be NULL. */
static int
apply_record(PyObject *record, PyObject *delta, PyObject *path, PyObject *events)
{
    PyObject *changes = PyObject_GetAttr(delta, s_changes);
    if (changes == NULL)
        return -1;
    PyObject *fields = record_fields(record);
    int status = -1;
    if (fields == NULL)
        goto done;
    Py_ssize_t pos = 0;
    PyObject *key, *change;
    while (PyDict_Next(changes, &pos, &key, &change)) {
        PyObject *name = PyTuple_GET_ITEM(fields, PyLong_AsSsize_t(key));
        PyObject *cur = PyObject_GenericGetAttr(record, name);
        if (cur == NULL)
            goto done;
        if (PyObject_GenericSetAttr(record, name, change) < 0) {
            Py_DECREF(cur);
            goto done;
        }
        int failed = events != NULL && emit(events, event(CHANGED, path, name, cur, change)) < 0;
        Py_DECREF(cur);
        if (failed)
            goto done;
    }
    status = 0;
done:
    Py_XDECREF(fields);
    Py_DECREF(changes);
    return status;
}

static int
apply_mapping(PyObject *handler, PyObject *delta, PyObject *path, PyObject *events)
{
    Py_ssize_t pos = 0;
    PyObject *key, *change;
    while (PyDict_Next(delta, &pos, &key, &change)) {
        PyObject *cur = PyDict_GetItemWithError(handler, key);
        if (cur == NULL && PyErr_Occurred())
            return -1;
        Py_XINCREF(cur);
        int status = 0;
        if (change == DELETED) {
            if (cur != NULL) {
                status = PyDict_DelItem(handler, key);
                if (status == 0 && events != NULL)
                    status = emit(events, event(REMOVED, path, key, cur, NULL));
            }
        } else if (is_scalar(change)) {
            status = PyDict_SetItem(handler, key, change);
            if (status == 0 && events != NULL)
                status = emit(events, cur == NULL ? event(ADDED, path, key, change, NULL)
                                                  : event(CHANGED, path, key, cur, change));
        } else {
            PyObject *inner = events == NULL ? Py_NewRef(path) : child_path(path, key);
            if (inner == NULL) {
                status = -1;
            } else {
                status = PyDict_CheckExact(change) ? apply_mapping(cur, change, inner, events)
                                                   : apply_record(cur, change, inner, events);
                Py_DECREF(inner);
            }
        }
        Py_XDECREF(cur);
        if (status < 0)
            return -1;
    }
    return 0;
}

static PyObject *
patch(PyObject *self, PyObject *args)
{
    PyObject *handler, *delta, *path, *events;
    if (!PyArg_ParseTuple(args, "OOO!O", &handler, &delta, &PyTuple_Type, &path, &events))
        return NULL;
    if (events != Py_None && !PyList_CheckExact(events)) {
        PyErr_SetString(PyExc_TypeError, "events must be a list or None");
        return NULL;
    }
    if (DATA_HANDLER == NULL)
        Py_RETURN_FALSE;
    int fits;
    if (PyDict_CheckExact(delta))
        fits = check_mapping(handler, delta, 0);
    else if (Py_TYPE(delta) == (PyTypeObject *)RECORD_DELTA)
        fits = check_record(handler, delta, 0);
    else
        fits = -1;
    if (fits < 0) {
        PyErr_Clear(); /* declined: nothing changed, the Python path decides */
        Py_RETURN_FALSE;
    }
    PyObject *told = events == Py_None ? NULL : events;
    int status = PyDict_CheckExact(delta) ? apply_mapping(handler, delta, path, told)
                                          : apply_record(handler, delta, path, told);
    if (status < 0)
        return NULL; /* out of memory half-way: as the Python path would be */
    Py_RETURN_TRUE;
}

/* -- the write hot path of DataHandler ------------------------------------------------------
 *
 * TrackedDict is a dict subclass in C with one slot of its own, the store
 * (mp_ass_subscript): DataHandler derives from it, and where the accelerator is in
 * use, DataHandler's Python __setitem__ and __delitem__ are taken out of its class
 * so that ``h[k] = v`` reaches this function without a Python call. It does
 * DataHandler.__setitem__'s hot path (a scalar overwriting a scalar of the same
 * type, by the rule of flatsync._tree._values.same_scalar) and hands everything
 * else to the Python methods, which stay the oracle: _py_setitem (which refuses a
 * replica's write too), _py_delitem, _mark_dirty. Reads are dict's own.
 */

static Py_ssize_t OFFSET_READONLY = -1, OFFSET_CHANGES = -1; /* DataHandler's slots */
static PyObject *s_py_setitem, *s_py_delitem, *s_mark_dirty;

static PyObject *
slot_at(PyObject *self, Py_ssize_t offset)
{
    return *(PyObject **)((char *)self + offset); /* borrowed; NULL when unset */
}

/* Whether a write of ``value`` over ``old`` (same exact scalar type) changes nothing. */
static int
unchanged(PyObject *old, PyObject *value)
{
    if (value == old)
        return 1;
    PyTypeObject *t = Py_TYPE(value);
    if (t == &PyFloat_Type) {
        double a = PyFloat_AS_DOUBLE(old), b = PyFloat_AS_DOUBLE(value);
        return memcmp(&a, &b, sizeof(double)) == 0; /* by bits */
    }
    if (t == &PyBool_Type || value == Py_None)
        return 0; /* not the same object: the other bool */
    return PyObject_RichCompareBool(old, value, Py_EQ); /* int, str, bytes: no user code */
}

static int
tracked_ass_subscript(PyObject *self, PyObject *key, PyObject *value)
{
    if (value == NULL) {
        PyObject *done = PyObject_CallMethodOneArg(self, s_py_delitem, key);
        Py_XDECREF(done);
        return done == NULL ? -1 : 0;
    }
    PyTypeObject *t = Py_TYPE(value);
    PyTypeObject *tk = Py_TYPE(key);
    if (OFFSET_CHANGES < 0 || !PyObject_TypeCheck(self, (PyTypeObject *)DATA_HANDLER) ||
        !(t == &PyFloat_Type || t == &PyLong_Type || t == &PyUnicode_Type ||
          t == &PyBool_Type || value == Py_None || t == &PyBytes_Type) ||
        !(tk == &PyLong_Type || tk == &PyUnicode_Type))
        goto python;
    PyObject *readonly = slot_at(self, OFFSET_READONLY);
    if (readonly != Py_False)
        goto python; /* a replica: Python refuses with its message */
    PyObject *old = PyDict_GetItemWithError(self, key); /* borrowed */
    if (old == NULL) {
        if (PyErr_Occurred())
            return -1;
        goto python; /* an insert */
    }
    if (Py_TYPE(old) != t)
        goto python;
    Py_INCREF(old);
    int same = unchanged(old, value);
    if (same != 0) {
        Py_DECREF(old);
        return same < 0 ? -1 : 0;
    }
    PyObject *changes = slot_at(self, OFFSET_CHANGES);
    if (changes == NULL || !PyDict_CheckExact(changes)) {
        Py_DECREF(old);
        goto python;
    }
    int status = 0;
    int known = PyDict_Contains(changes, key);
    if (known < 0) {
        status = -1;
    } else if (!known) {
        if (PyDict_GET_SIZE(changes) > 0) {
            status = PyDict_SetItem(changes, key, old);
        } else { /* the first change: a dict of its own (the shared _CLEAN stays empty) */
            PyObject *own = PyDict_New();
            if (own == NULL || PyDict_SetItem(own, key, old) < 0) {
                Py_XDECREF(own);
                status = -1;
            } else {
                PyObject **slot = (PyObject **)((char *)self + OFFSET_CHANGES);
                Py_XSETREF(*slot, own);
                PyObject *done = PyObject_CallMethodNoArgs(self, s_mark_dirty);
                Py_XDECREF(done);
                if (done == NULL)
                    status = -1;
            }
        }
    }
    Py_DECREF(old);
    if (status < 0)
        return -1;
    return PyDict_SetItem(self, key, value);
python:;
    PyObject *done = PyObject_CallMethodObjArgs(self, s_py_setitem, key, value, NULL);
    Py_XDECREF(done);
    return done == NULL ? -1 : 0;
}

static PyMappingMethods tracked_mapping; /* dict's, with the store above: filled at exec */

static PyTypeObject TrackedDict_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "flatsync._native._speedups.TrackedDict",
    .tp_doc = "A dict whose store runs DataHandler's write hot path in C (its base).",
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_as_mapping = &tracked_mapping,
};

static PyObject *
member_offset(PyObject *cls, const char *name, Py_ssize_t *out)
{
    PyObject *dict = ((PyTypeObject *)cls)->tp_dict;
    PyObject *descr = PyDict_GetItemString(dict, name); /* borrowed */
    if (descr == NULL || !PyObject_TypeCheck(descr, &PyMemberDescr_Type)) {
        PyErr_Format(PyExc_TypeError, "%s is not a slot of the class", name);
        return NULL;
    }
    PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
    if (member->type != T_OBJECT_EX) {
        PyErr_Format(PyExc_TypeError, "%s is not an object slot", name);
        return NULL;
    }
    *out = member->offset;
    Py_RETURN_NONE;
}

static PyObject *
configure_writes(PyObject *self, PyObject *cls)
{
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &TrackedDict_Type)) {
        PyErr_SetString(PyExc_TypeError, "configure_writes takes a TrackedDict subclass");
        return NULL;
    }
    Py_ssize_t readonly, changes;
    PyObject *ok = member_offset(cls, "_readonly", &readonly);
    if (ok == NULL)
        return NULL;
    Py_DECREF(ok);
    ok = member_offset(cls, "_changes", &changes);
    if (ok == NULL)
        return NULL;
    Py_DECREF(ok);
    set_ref(&DATA_HANDLER, cls);
    OFFSET_READONLY = readonly;
    OFFSET_CHANGES = changes;
    Py_RETURN_NONE;
}

/* -- the module ------------------------------------------------------------------------- */

static PyMethodDef methods[] = {
    {"configure_cbor", configure_cbor, METH_VARARGS, "Hand in the codec's objects."},
    {"configure_handlers", configure_handlers, METH_VARARGS, "Hand in the handlers' classes."},
    {"decode", decode, METH_VARARGS, "decode(data, limits): the tree, or DECLINED."},
    {"encode", encode, METH_VARARGS,
     "encode(tree, limits=None): CBOR bytes, or DECLINED; with limits, check_tree's checks too."},
    {"configure_writes", configure_writes, METH_O, "Hand in DataHandler (its slots)."},
    {"patch", patch, METH_VARARGS,
     "patch(handler, delta, path, events): True when applied, False when declined."},
    {NULL, NULL, 0, NULL},
};

static int
module_exec(PyObject *module)
{
#define INTERN(var, text)                                                                    \
    if ((var = PyUnicode_InternFromString(text)) == NULL)                                   \
        return -1;
    INTERN(s_max_depth, "max_depth");
    INTERN(s_max_container_items, "max_container_items");
    INTERN(s_max_string_length, "max_string_length");
    INTERN(s_max_total_items, "max_total_items");
    INTERN(s_max_hash_collisions, "max_hash_collisions");
    INTERN(s_from_content, "from_content");
    INTERN(s_from_bytes, "from_bytes");
    INTERN(s_big, "big");
    INTERN(s_readonly, "_readonly");
    INTERN(s_changes, "changes");
    INTERN(s_flatsync_record, "__flatsync_record__");
    INTERN(s_fields, "fields");
    INTERN(s_marker_id, "marker_id");
    INTERN(s_content, "content");
    INTERN(s_py_setitem, "_py_setitem");
    INTERN(s_py_delitem, "_py_delitem");
    INTERN(s_mark_dirty, "_mark_dirty");
#undef INTERN
    TrackedDict_Type.tp_base = &PyDict_Type;
    TrackedDict_Type.tp_traverse = PyDict_Type.tp_traverse;
    TrackedDict_Type.tp_clear = PyDict_Type.tp_clear;
    tracked_mapping = *PyDict_Type.tp_as_mapping;
    tracked_mapping.mp_ass_subscript = tracked_ass_subscript;
    if (PyType_Ready(&TrackedDict_Type) < 0 ||
        PyModule_AddObjectRef(module, "TrackedDict", (PyObject *)&TrackedDict_Type) < 0)
        return -1;
    DECLINED = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
    if (DECLINED == NULL)
        return -1;
    return PyModule_AddObjectRef(module, "DECLINED", DECLINED);
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "flatsync._native._speedups",
    .m_doc = "flatsync's optional C accelerator (the pure-Python path is its oracle).",
    .m_size = 0,
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&module_def);
}
