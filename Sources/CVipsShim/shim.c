#include "CVipsShim.h"

VipsImage *tsr_load_file(const char *path, int sequential) {
    return vips_image_new_from_file(path,
        "access", sequential ? VIPS_ACCESS_SEQUENTIAL : VIPS_ACCESS_RANDOM,
        "fail_on", VIPS_FAIL_ON_WARNING, NULL);
}
int tsr_pngsave(VipsImage *in, const char *path, int compression, int bitdepth, int filter) {
    return vips_pngsave(in, path, "compression", compression, "bitdepth", bitdepth,
                        "filter", filter, "strip", TRUE, NULL);
}
int tsr_pngsave_interlaced(VipsImage *in, const char *path) {
    return vips_pngsave(in, path, "interlace", TRUE, NULL);
}
int tsr_jpegsave(VipsImage *in, const char *path, int quality) {
    return vips_jpegsave(in, path, "Q", quality, "strip", TRUE, NULL);
}
int tsr_tiffsave(VipsImage *in, const char *path) {
    return vips_tiffsave(in, path, "compression", VIPS_FOREIGN_TIFF_COMPRESSION_DEFLATE, NULL);
}
int tsr_webpsave(VipsImage *in, const char *path, int quality, int lossless) {
    return vips_webpsave(in, path, "Q", quality, "lossless", lossless, NULL);
}

int tsr_cast(VipsImage *in, VipsImage **out, VipsBandFormat format) {
    return vips_cast(in, out, format, NULL);
}
int tsr_colourspace(VipsImage *in, VipsImage **out, VipsInterpretation space) {
    return vips_colourspace(in, out, space, NULL);
}
int tsr_copy_interpretation(VipsImage *in, VipsImage **out, VipsInterpretation space) {
    return vips_copy(in, out, "interpretation", space, NULL);
}
int tsr_extract_band(VipsImage *in, VipsImage **out, int band, int n) {
    return vips_extract_band(in, out, band, "n", n, NULL);
}
int tsr_bandjoin2(VipsImage *a, VipsImage *b, VipsImage **out) {
    return vips_bandjoin2(a, b, out, NULL);
}
int tsr_linear(VipsImage *in, VipsImage **out, const double *a, const double *b, int n) {
    return vips_linear(in, out, a, b, n, NULL);
}
int tsr_linear_uchar(VipsImage *in, VipsImage **out, const double *a, const double *b, int n) {
    return vips_linear(in, out, a, b, n, "uchar", TRUE, NULL);
}

int tsr_embed(VipsImage *in, VipsImage **out, int x, int y, int width, int height,
              VipsExtend extend, const double *background, int n) {
    VipsArrayDouble *bg = vips_array_double_new(background, n);
    int r = vips_embed(in, out, x, y, width, height, "extend", extend, "background", bg, NULL);
    vips_area_unref(VIPS_AREA(bg));
    return r;
}
int tsr_extract_area(VipsImage *in, VipsImage **out, int left, int top, int width, int height) {
    return vips_extract_area(in, out, left, top, width, height, NULL);
}
int tsr_flip(VipsImage *in, VipsImage **out, VipsDirection direction) {
    return vips_flip(in, out, direction, NULL);
}
int tsr_affine(VipsImage *in, VipsImage **out, double a, double b, double c, double d,
               double odx, double ody, int ox, int oy, int owidth, int oheight,
               VipsInterpolate *interpolate, const double *background, int n) {
    VipsArrayDouble *bg = vips_array_double_new(background, n);
    VipsArrayInt *area = vips_array_int_newv(4, ox, oy, owidth, oheight);
    int r = vips_affine(in, out, a, b, c, d,
        "interpolate", interpolate, "odx", odx, "ody", ody, "oarea", area,
        "background", bg, "extend", VIPS_EXTEND_BACKGROUND, NULL);
    vips_area_unref(VIPS_AREA(area));
    vips_area_unref(VIPS_AREA(bg));
    return r;
}
int tsr_resize(VipsImage *in, VipsImage **out, double scale, VipsKernel kernel) {
    return vips_resize(in, out, scale, "kernel", kernel, NULL);
}

int tsr_resize_xy(VipsImage *in, VipsImage **out, double hscale, double vscale, VipsKernel kernel) {
    return vips_resize(in, out, hscale, "vscale", vscale, "kernel", kernel, NULL);
}

int tsr_stats(VipsImage *in, VipsImage **out) { return vips_stats(in, out, NULL); }
int tsr_hist_find(VipsImage *in, VipsImage **out, int band) {
    return vips_hist_find(in, out, "band", band, NULL);
}
int tsr_hist_find_indexed(VipsImage *in, VipsImage *index, VipsImage **out) {
    return vips_hist_find_indexed(in, index, out, NULL);
}
int tsr_max(VipsImage *in, double *out) { return vips_max(in, out, NULL); }
int tsr_min(VipsImage *in, double *out) { return vips_min(in, out, NULL); }

int tsr_relational_const1(VipsImage *in, VipsImage **out, VipsOperationRelational op, double c) {
    return vips_relational_const1(in, out, op, c, NULL);
}
int tsr_relational(VipsImage *a, VipsImage *b, VipsImage **out, VipsOperationRelational op) {
    return vips_relational(a, b, out, op, NULL);
}
int tsr_ifthenelse(VipsImage *cond, VipsImage *in1, VipsImage *in2, VipsImage **out, int blend) {
    return vips_ifthenelse(cond, in1, in2, out, "blend", blend, NULL);
}
int tsr_add(VipsImage *a, VipsImage *b, VipsImage **out) { return vips_add(a, b, out, NULL); }
int tsr_maplut(VipsImage *in, VipsImage **out, VipsImage *lut) {
    return vips_maplut(in, out, lut, NULL);
}

int tsr_arrayjoin(VipsImage **in, VipsImage **out, int n, int across, int shim, double background) {
    VipsArrayDouble *bg = vips_array_double_new(&background, 1);
    int r = vips_arrayjoin(in, out, n, "across", across, "shim", shim, "background", bg, NULL);
    vips_area_unref(VIPS_AREA(bg));
    return r;
}

VipsImage *tsr_svgload_buffer(const void *data, size_t length, double dpi) {
    VipsImage *out = NULL;
    if (vips_svgload_buffer((void *)data, length, &out, "dpi", dpi, NULL)) return NULL;
    return out;
}


int tsr_rank(VipsImage *in, VipsImage **out, int width, int height, int index) {
    return vips_rank(in, out, width, height, index, NULL);
}
int tsr_boolean(VipsImage *a, VipsImage *b, VipsImage **out, VipsOperationBoolean op) {
    return vips_boolean(a, b, out, op, NULL);
}
