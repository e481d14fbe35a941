/* 8-bit sRGB <-> CIE L*a*b* kernels of the inference path, compiled ahead of time.
 *
 * Why C and not the numba kernels of _kernels.py: `tinct colorize photo.jpg` converts one
 * full-resolution image each way once. numba's start-up (importing it, then loading even cached
 * kernels starts LLVM) cost ~0.6 s per process, more than the rest of the work on a 12 MP photo;
 * a compiled extension loads in ~1 ms. numba keeps the float32 tensor conversions of training,
 * where one start-up is spread over hours.
 *
 * Two functions, each over a range of rows [y0, y1) with the GIL released, so that
 * tinct.color.rgb8 spreads rows over a thread pool:
 *
 *   lightness8(rgb, out, y_parts, l_gray, width, y0, y1)
 *       (H, W, 3) uint8 sRGB -> (H, W) float32 L*, from per-level tables: y_parts (3, 256) each
 *       channel's share of Y / white, l_gray (256,) L* of the gray levels (a gray pixel is one
 *       lookup).
 *
 *   lab_to_rgb8(L, ab_rows, ab_steps, row_index, row_frac, out, table, table_rows, table_cols,
 *               keep_lightness, width, low_rows, y0, y1) -> colors left clipped
 *       Full-resolution L* (H, W) float32 plus a*b* given as low-resolution rows already at
 *       width W: row y's a*b* is ab_rows[:, i] + ab_steps[:, i] * row_frac[y] with
 *       i = row_index[y] (a separable bilinear upsampling's height pass). Out: (H, W, 3) uint8.
 *       Out-of-gamut colors keep their L* and hue and lose chroma (keep_lightness), through the
 *       (table_rows, table_cols) table of the gamut's largest chroma per L* and hue
 *       (tinct.color.gamut_mapping); with no table (0 rows) they are clipped and counted, so the
 *       caller builds the table only when some color needs it and redoes those rows.
 *
 * The arithmetic is float32 and the per-pixel formulas are those of the numba kernels (roots by
 * multiplications from a bit-level guess), so that gcc vectorizes the loops; the out-of-gamut
 * pixels (few) are done apart, as there.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* AVX-512 or AVX2 + FMA where the CPU has them (chosen when the module loads), SSE2 elsewhere. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TARGETS __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TARGETS
#endif

/* Must equal tinct.color.constants / gamut_mapping (checked at import by tinct.color.rgb8). */
#define EPSILON 0.008856f
#define KAPPA 7.787f
#define FINV_T 0.2068966f
#define GAMUT_TOLERANCE 1e-4f
#define GAMUT_MARGIN 0.005f
#define GAMUT_STEPS 8
#define LINEAR_T 0.0031308f

static float M_RGB[3][3]; /* XYZ / white -> linear sRGB, float32, set by set_constants */
static double M_RGB64[3][3];
static int ready = 0;

/* Cube root of c > 0 to ~1 ulp by multiplications only (libm's cbrtf is a call, which keeps the
   loop scalar): a bit-level guess of c^(-1/3) (3 %), one third-order step, one Newton step. */
static inline float cbrt_fast(float c) {
    int32_t bits;
    memcpy(&bits, &c, 4);
    int32_t guess = 0x54A232AA - (int32_t)((float)bits * (1.0f / 3.0f));
    float y;
    memcpy(&y, &guess, 4);
    float e = 1.0f - c * y * y * y;
    y = y + y * e * (1.0f / 3.0f + e * (2.0f / 9.0f));
    float r = c * y * y;
    return r + (c - r * r * r) * (y * y * (1.0f / 3.0f));
}

/* linear_to_srgb(clip(lin, 0, 1)) * 255, rounded, as numba's _encode8 computes it (NaN -> 0):
   c^(1/2.4) = c^(5/12) = cbrt(c) * cbrt(c)^(1/4), square roots being vector instructions. */
static inline uint8_t encode8(float lin) {
    float c = lin > 0.0f ? lin : 0.0f;
    c = c < 1.0f ? c : 1.0f;
    float r = cbrt_fast(c > LINEAR_T ? c : LINEAR_T);
    float p = (float)(1.055 * 255) * (r * sqrtf(sqrtf(r))) + (float)(0.5 - 0.055 * 255);
    float v = c > LINEAR_T ? p : c * (float)(12.92 * 255) + 0.5f;
    return (uint8_t)(int32_t)v; /* truncation of v + 0.5: rounding */
}

static inline float finv(float f) { return f > FINV_T ? f * f * f : (f - 16.0f / 116.0f) * (1.0f / KAPPA); }

static inline void linear_px(float L, float a, float b, float *r, float *g, float *bl) {
    float fy = (L + 16.0f) * (1.0f / 116.0f);
    float fx = fy + a * (1.0f / 500.0f);
    float fz = fy - b * (1.0f / 200.0f);
    fz = fz < 0.0f ? 0.0f : fz; /* scikit-image clips z at 0 the same way */
    float x = finv(fx), y = finv(fy), z = finv(fz);
    *r = M_RGB[0][0] * x + M_RGB[0][1] * y + M_RGB[0][2] * z;
    *g = M_RGB[1][0] * x + M_RGB[1][1] * y + M_RGB[1][2] * z;
    *bl = M_RGB[2][0] * x + M_RGB[2][1] * y + M_RGB[2][2] * z;
}

/* Plain comparisons, not fminf/fmaxf: their NaN rules keep gcc from vectorizing the loop. */
static inline int outside(float r, float g, float b) {
    float lo = r < g ? r : g, hi = r > g ? r : g;
    lo = lo < b ? lo : b, hi = hi > b ? hi : b;
    return (-lo > hi - 1.0f ? -lo : hi - 1.0f) > GAMUT_TOLERANCE;
}

static inline double finv64(double f) { return f > (double)FINV_T ? f * f * f : (f - 16.0 / 116) / (double)KAPPA; }

static void linear_at(double fy, double alpha, double beta, double y_lin, double s, double *rgb) {
    double x = finv64(fy + s * alpha);
    double zf = fy - s * beta;
    double z = finv64(zf > 0 ? zf : 0);
    for (int c = 0; c < 3; c++) rgb[c] = M_RGB64[c][0] * x + M_RGB64[c][1] * y_lin + M_RGB64[c][2] * z;
}

/* Linear sRGB of L*a*b* with a*b* scaled by the largest s in [0, hi] that fits the gamut
   (GAMUT_STEPS halvings; s = 0, gray, fits for L* in [0, 100]). Only for the rare colors next to
   the gamut's cusps that the table's guess leaves outside. */
static void bisect_chroma(double L, double a, double b, double hi, double *rgb) {
    double fy = (L + 16) / 116, alpha = a / 500, beta = b / 200, y_lin = finv64(fy), lo = 0;
    for (int i = 0; i < GAMUT_STEPS; i++) {
        double mid = (lo + hi) * 0.5;
        linear_at(fy, alpha, beta, y_lin, mid, rgb);
        double mn = fmin(rgb[0], fmin(rgb[1], rgb[2])), mx = fmax(rgb[0], fmax(rgb[1], rgb[2]));
        if (fmax(-mn, mx - 1) <= (double)GAMUT_TOLERANCE) lo = mid;
        else hi = mid;
    }
    linear_at(fy, alpha, beta, y_lin, lo, rgb);
}

/* The largest in-gamut chroma at (L, hue) by bilinear interpolation in the table. */
static float max_chroma(const float *table, Py_ssize_t rows, Py_ssize_t cols, float L, float a, float b) {
    float v = L > 0.0f ? L : 0.0f; /* NaN -> 0: indices stay inside the table */
    v = (v < 100.0f ? v : 100.0f) * (float)(rows - 1) / 100.0f;
    float h = (atan2f(b, a) + (float)M_PI) * (float)(cols - 1) / (float)(2 * M_PI);
    h = h > 0.0f ? h : 0.0f;
    Py_ssize_t i = (Py_ssize_t)v, j = (Py_ssize_t)h;
    i = i < rows - 2 ? i : rows - 2;
    j = j < cols - 2 ? j : cols - 2;
    float wl = v - (float)i, wh = h - (float)j;
    const float *q = table + i * cols + j, *w = q + cols;
    float top = q[0] + (q[1] - q[0]) * wh;
    return top + (w[0] + (w[1] - w[0]) * wh - top) * wl;
}

static void gamut_map(const float *table, Py_ssize_t rows, Py_ssize_t cols, float L, float a, float b, uint8_t *o) {
    float chroma = sqrtf(a * a + b * b);
    float scale = max_chroma(table, rows, cols, L, a, b) * (1.0f - GAMUT_MARGIN) / fmaxf(chroma, 1e-6f);
    scale = scale < 1.0f ? scale : 1.0f;
    float r, g, bl;
    linear_px(L, a * scale, b * scale, &r, &g, &bl);
    if (outside(r, g, bl)) {
        double rgb[3];
        bisect_chroma(L, a, b, scale, rgb);
        r = (float)rgb[0], g = (float)rgb[1], bl = (float)rgb[2];
    }
    o[0] = encode8(r), o[1] = encode8(g), o[2] = encode8(bl);
}

/* Each row in passes, as the numba kernels do: one over all pixels without branches or calls
   (vectorized: ~10x faster than a loop with the gamut test in it), then the 8-bit lookups, then
   the few out-of-gamut pixels. Row buffers live on the stack (MAX_CHUNK pixels at a time). */
#define MAX_CHUNK 1024

TARGETS static Py_ssize_t lab_rows(const float *L, const float *ab_rows, const float *ab_steps,
                                   const int64_t *row_index, const float *row_frac, uint8_t *out, const float *table,
                                   Py_ssize_t t_rows, Py_ssize_t t_cols, int keep_lightness, Py_ssize_t width,
                                   Py_ssize_t low_rows, Py_ssize_t y0, Py_ssize_t y1) {
    float A[MAX_CHUNK], B[MAX_CHUNK];
    uint8_t bad[MAX_CHUNK], P0[MAX_CHUNK], P1[MAX_CHUNK], P2[MAX_CHUNK]; /* planar: stride-3 stores do not vectorize */
    Py_ssize_t left = 0, plane = low_rows * width;
    for (Py_ssize_t y = y0; y < y1; y++) {
        Py_ssize_t i = (Py_ssize_t)row_index[y];
        float t = row_frac[y];
        for (Py_ssize_t x0 = 0; x0 < width; x0 += MAX_CHUNK) {
            Py_ssize_t n = width - x0 < MAX_CHUNK ? width - x0 : MAX_CHUNK;
            const float *Ly = L + y * width + x0;
            const float *a0 = ab_rows + i * width + x0, *b0 = ab_rows + plane + i * width + x0;
            const float *da = ab_steps + i * width + x0, *db = ab_steps + plane + i * width + x0;
            uint8_t *o = out + (y * width + x0) * 3;
            if (t != 0.0f) {
                for (Py_ssize_t x = 0; x < n; x++) A[x] = a0[x] + da[x] * t, B[x] = b0[x] + db[x] * t;
            } else {
                for (Py_ssize_t x = 0; x < n; x++) A[x] = a0[x], B[x] = b0[x];
            }
            int count = 0;
            for (Py_ssize_t x = 0; x < n; x++) {
                float r, g, bl;
                linear_px(Ly[x], A[x], B[x], &r, &g, &bl);
                bad[x] = outside(r, g, bl);
                count += bad[x];
                P0[x] = encode8(r), P1[x] = encode8(g), P2[x] = encode8(bl);
            }
            for (Py_ssize_t x = 0; x < n; x++) o[3 * x] = P0[x], o[3 * x + 1] = P1[x], o[3 * x + 2] = P2[x];
            if (!keep_lightness || !count) continue;
            if (t_rows < 2) { /* no table yet: clipped for now, redone with the table */
                left += count;
                continue;
            }
            for (Py_ssize_t x = 0; x < n; x++)
                if (bad[x]) gamut_map(table, t_rows, t_cols, Ly[x], A[x], B[x], o + 3 * x);
        }
    }
    return left;
}

TARGETS static void lightness_rows(const uint8_t *rgb, float *out, const float *y_parts, const float *l_gray,
                                   Py_ssize_t width, Py_ssize_t y0, Py_ssize_t y1) {
    for (Py_ssize_t y = y0; y < y1; y++) {
        const uint8_t *p = rgb + y * width * 3;
        float *o = out + y * width;
        int colored = 0;
        for (Py_ssize_t x = 0; x < width; x++) colored |= (p[3 * x] != p[3 * x + 1]) | (p[3 * x] != p[3 * x + 2]);
        if (!colored) { /* a gray row, as in a gray photo: one lookup per pixel */
            for (Py_ssize_t x = 0; x < width; x++) o[x] = l_gray[p[3 * x]];
            continue;
        }
        for (Py_ssize_t x = 0; x < width; x++) o[x] = y_parts[p[3 * x]] + y_parts[256 + p[3 * x + 1]] + y_parts[512 + p[3 * x + 2]];
        for (Py_ssize_t x = 0; x < width; x++) { /* two loops: with the lookups in it this one stays scalar */
            float yv = o[x];
            float f = yv > EPSILON ? cbrt_fast(fmaxf(yv, EPSILON)) : yv * KAPPA + 16.0f / 116.0f;
            o[x] = 116.0f * f - 16.0f;
        }
    }
}

/* The gamut's largest chroma for L* = rows [y0, y1) of linspace(0, 100, t_rows) and hue =
   linspace(-pi, pi, t_cols), by TABLE_STEPS halvings of [0, 200] (sRGB chroma stays below ~135)
   in double, strict gamut (no tolerance): (t_rows, t_cols) float32. */
#define TABLE_STEPS 24

static void chroma_rows(float *out, Py_ssize_t t_rows, Py_ssize_t t_cols, Py_ssize_t y0, Py_ssize_t y1) {
    for (Py_ssize_t i = y0; i < y1; i++) {
        double L = 100.0 * (double)i / (double)(t_rows - 1), fy = (L + 16) / 116, y_lin = finv64(fy);
        for (Py_ssize_t j = 0; j < t_cols; j++) {
            double hue = j == t_cols - 1 ? M_PI : -M_PI + (double)j * (2 * M_PI / (double)(t_cols - 1));
            double alpha = cos(hue) / 500, beta = sin(hue) / 200, lo = 0, hi = 200, rgb[3];
            for (int k = 0; k < TABLE_STEPS; k++) {
                double mid = (lo + hi) / 2;
                linear_at(fy, alpha, beta, y_lin, mid, rgb);
                double mn = fmin(rgb[0], fmin(rgb[1], rgb[2])), mx = fmax(rgb[0], fmax(rgb[1], rgb[2]));
                if (mn >= 0 && mx <= 1) lo = mid;
                else hi = mid;
            }
            out[i * t_cols + j] = (float)lo;
        }
    }
}

/* Buffers are checked for size here; dtype, layout and shape consistency by tinct.color.rgb8. */
static int need(Py_buffer *buf, Py_ssize_t bytes, const char *name) {
    if (buf->len < bytes) {
        PyErr_Format(PyExc_ValueError, "%s: buffer of %zd bytes, need %zd", name, buf->len, bytes);
        return 0;
    }
    return 1;
}

static int rows_ok(Py_ssize_t y0, Py_ssize_t y1, Py_ssize_t height) {
    if (y0 < 0 || y1 > height || y0 > y1) {
        PyErr_Format(PyExc_ValueError, "rows [%zd, %zd) outside [0, %zd)", y0, y1, height);
        return 0;
    }
    return 1;
}

static PyObject *py_max_chroma_rows(PyObject *self, PyObject *args) {
    Py_buffer out;
    Py_ssize_t t_rows, t_cols, y0, y1;
    if (!ready) return PyErr_Format(PyExc_RuntimeError, "set_constants() was not called");
    if (!PyArg_ParseTuple(args, "w*nnnn", &out, &t_rows, &t_cols, &y0, &y1)) return NULL;
    int ok = t_rows >= 2 && t_cols >= 2 && rows_ok(y0, y1, t_rows) && need(&out, t_rows * t_cols * 4, "out");
    if (ok) {
        Py_BEGIN_ALLOW_THREADS chroma_rows(out.buf, t_rows, t_cols, y0, y1);
        Py_END_ALLOW_THREADS
    } else if (!PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "the table needs at least 2 rows and 2 columns");
    PyBuffer_Release(&out);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static PyObject *py_lab_to_rgb8(PyObject *self, PyObject *args) {
    Py_buffer L, ab_rows, ab_steps, row_index, row_frac, out, table;
    Py_ssize_t t_rows, t_cols, width, height, low_rows, y0, y1;
    int keep;
    if (!ready) return PyErr_Format(PyExc_RuntimeError, "set_constants() was not called");
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*w*y*nnpnnnnn", &L, &ab_rows, &ab_steps, &row_index, &row_frac, &out,
                          &table, &t_rows, &t_cols, &keep, &width, &height, &low_rows, &y0, &y1))
        return NULL;
    Py_ssize_t left = -1;
    Py_ssize_t plane = low_rows * width * (Py_ssize_t)sizeof(float);
    if (rows_ok(y0, y1, height) && need(&L, height * width * 4, "L") && need(&ab_rows, 2 * plane, "ab_rows") &&
        need(&ab_steps, 2 * plane, "ab_steps") && need(&row_index, height * 8, "row_index") &&
        need(&row_frac, height * 4, "row_frac") && need(&out, height * width * 3, "out") &&
        need(&table, t_rows * t_cols * 4, "table")) {
        const int64_t *idx = row_index.buf;
        int ok = 1;
        for (Py_ssize_t y = y0; y < y1; y++) ok &= idx[y] >= 0 && idx[y] < low_rows;
        if (!ok) PyErr_SetString(PyExc_ValueError, "row_index outside the a*b* rows");
        else {
            Py_BEGIN_ALLOW_THREADS left = lab_rows(L.buf, ab_rows.buf, ab_steps.buf, idx, row_frac.buf, out.buf,
                                                   table.buf, t_rows, t_cols, keep, width, low_rows, y0, y1);
            Py_END_ALLOW_THREADS
        }
    }
    PyBuffer_Release(&L), PyBuffer_Release(&ab_rows), PyBuffer_Release(&ab_steps), PyBuffer_Release(&row_index);
    PyBuffer_Release(&row_frac), PyBuffer_Release(&out), PyBuffer_Release(&table);
    return left < 0 ? NULL : PyLong_FromSsize_t(left);
}

static PyObject *py_lightness8(PyObject *self, PyObject *args) {
    Py_buffer rgb, out, y_parts, l_gray;
    Py_ssize_t width, height, y0, y1;
    if (!PyArg_ParseTuple(args, "y*w*y*y*nnnn", &rgb, &out, &y_parts, &l_gray, &width, &height, &y0, &y1)) return NULL;
    int ok = rows_ok(y0, y1, height) && need(&rgb, height * width * 3, "rgb") && need(&out, height * width * 4, "out") &&
             need(&y_parts, 3 * 256 * 4, "y_parts") && need(&l_gray, 256 * 4, "l_gray");
    if (ok) {
        Py_BEGIN_ALLOW_THREADS lightness_rows(rgb.buf, out.buf, y_parts.buf, l_gray.buf, width, y0, y1);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&rgb), PyBuffer_Release(&out), PyBuffer_Release(&y_parts), PyBuffer_Release(&l_gray);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

/* set_constants(m): m is the 3x3 XYZ / white -> linear sRGB matrix as 9 float64 (row-major). */
static PyObject *py_set_constants(PyObject *self, PyObject *args) {
    Py_buffer m;
    if (!PyArg_ParseTuple(args, "y*", &m)) return NULL;
    int ok = need(&m, 9 * 8, "matrix");
    if (ok) {
        const double *v = m.buf;
        for (int i = 0; i < 9; i++) M_RGB64[i / 3][i % 3] = v[i], M_RGB[i / 3][i % 3] = (float)v[i];
        ready = 1;
    }
    PyBuffer_Release(&m);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

/* The compile-time constants, for tinct.color.rgb8 to check against tinct.color.constants. */
static PyObject *py_constants(PyObject *self, PyObject *noargs) {
    return Py_BuildValue("{s:d,s:d,s:d,s:d,s:d,s:i}", "EPSILON", (double)EPSILON, "KAPPA", (double)KAPPA, "FINV_T",
                         (double)FINV_T, "GAMUT_TOLERANCE", (double)GAMUT_TOLERANCE, "GAMUT_MARGIN",
                         (double)GAMUT_MARGIN, "GAMUT_STEPS", GAMUT_STEPS);
}

static PyMethodDef methods[] = {
    {"lab_to_rgb8", py_lab_to_rgb8, METH_VARARGS, "L* + low-resolution a*b* rows -> 8-bit sRGB rows."},
    {"lightness8", py_lightness8, METH_VARARGS, "8-bit sRGB rows -> L* rows."},
    {"max_chroma_rows", py_max_chroma_rows, METH_VARARGS, "Rows of the gamut's largest-chroma table."},
    {"set_constants", py_set_constants, METH_VARARGS, "Set the XYZ/white -> linear sRGB matrix."},
    {"constants", py_constants, METH_NOARGS, "The compiled-in constants."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rgb8", "8-bit sRGB <-> L*a*b* kernels.", -1, methods};

PyMODINIT_FUNC PyInit__rgb8(void) { return PyModule_Create(&module); }
